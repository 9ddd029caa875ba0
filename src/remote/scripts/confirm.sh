# confirm.sh IFACE SYSTEMD TOKEN DEPLOYMENT KIND DIGEST VERSION KEEP: run over a fresh SSH connection
# after an armed step: proves the host is still reachable and, under the lock, either confirms the
# step TOKEN (disarms the timer, records a generation, keeps the last KEEP) or tells what happened
# instead: the host already reverted, or the step never finished (revert now).
paths "$1"; systemd=$2; token=$3; deployment=$4; kind=$5; digest=$6; version=$7; keep=$8
umask 077
take_lock 60
# Every changed host runs this on the confirm's critical path: the shell reads the small state
# files and lists the generations itself, starting no process for it.
armed='' applied='' reverted='' now=''
first_line armed "$state/armed"; first_line applied "$state/applied"
if [ "$armed" != "$token" ]; then
  first_line reverted "$state/reverted"
  # (Word splitting is intended: the file holds "TOKEN TIME".)
  # shellcheck disable=SC2086
  set -- $reverted
  if [ "${1:-}" = "$token" ]; then printf '@@reverted %s\n' "${2:-}"; else echo '@@not-armed'; fi
elif [ "$applied" != "$token" ]; then
  sh "$state/revert.sh" "$token" locked
  disarm
  echo '@@reverted-now'
else
  disarm
  rm -f "$state/armed" "$state/armed.conf" "$state/armed.up" "$state/armed.pid" "$state/applied"
  echo '@@confirmed'
  n=$(( $(newest_generation) + 1 ))
  # One clock reading for the generation's time and the answer's @@now.
  # shellcheck disable=SC2046
  set -- $(date -u '+%Y-%m-%dT%H:%M:%SZ %s'); time=$1 now=$2
  # (cp makes a new copy 0600 under umask 077; a leftover copy would keep its own mode: cleared.)
  rm_present "$gens/$n.conf.tmp"
  { cp "$config" "$gens/$n.conf.tmp" && mv -f "$gens/$n.conf.tmp" "$gens/$n.conf" &&
    printf 'deployment=%s\nkind=%s\ntime=%s\ninventory=%s\nversion=%s\n' "$deployment" "$kind" "$time" "$digest" "$version" > "$gens/$n.meta.tmp" &&
    mv -f "$gens/$n.meta.tmp" "$gens/$n.meta"; } || fail "confirmed, but cannot record generation $n in $gens"
  prune_generations "$keep"
  prune_kept_keys
  printf '@@generation %s\n' "$n"
fi
printf '@@now %s\n' "${now:-$(date +%s)}"
live_answer
