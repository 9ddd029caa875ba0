# confirm.sh IFACE SYSTEMD TOKEN DEPLOYMENT KIND DIGEST VERSION KEEP: run over a fresh SSH connection
# after an armed step: proves the host is still reachable and, under the lock, either confirms the
# step TOKEN (disarms the timer, records a generation, keeps the last KEEP) or tells what happened
# instead: the host already reverted, or the step never finished (revert now).
paths "$1"; systemd=$2; token=$3; deployment=$4; kind=$5; digest=$6; version=$7; keep=$8
umask 077
take_lock 60
if [ "$(cat "$state/armed" 2>/dev/null)" != "$token" ]; then
  # (Word splitting is intended: the file holds "TOKEN TIME".)
  # shellcheck disable=SC2046
  set -- $(cat "$state/reverted" 2>/dev/null)
  if [ "${1:-}" = "$token" ]; then printf '@@reverted %s\n' "${2:-}"; else echo '@@not-armed'; fi
elif [ "$(cat "$state/applied" 2>/dev/null)" != "$token" ]; then
  sh "$state/revert.sh" "$token" locked
  disarm
  echo '@@reverted-now'
else
  disarm
  rm -f "$state/armed" "$state/armed.conf" "$state/armed.up" "$state/armed.pid" "$state/applied"
  echo '@@confirmed'
  # shellcheck disable=SC2012
  last=$(ls "$gens" 2>/dev/null | sed -n 's/^\([0-9][0-9]*\)\.meta$/\1/p' | sort -n | tail -n 1)
  n=$(( ${last:-0} + 1 ))
  { cp "$config" "$gens/$n.conf.tmp" && chmod 600 "$gens/$n.conf.tmp" && mv -f "$gens/$n.conf.tmp" "$gens/$n.conf" &&
    printf 'deployment=%s\nkind=%s\ntime=%s\ninventory=%s\nversion=%s\n' "$deployment" "$kind" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$digest" "$version" > "$gens/$n.meta.tmp" &&
    mv -f "$gens/$n.meta.tmp" "$gens/$n.meta"; } || fail "confirmed, but cannot record generation $n in $gens"
  # shellcheck disable=SC2012
  ls "$gens" | sed -n 's/^\([0-9][0-9]*\)\.meta$/\1/p' | sort -rn | awk -v keep="$keep" '$1 != 0 && NR > keep' | while read -r old; do rm -f "$gens/$old.meta" "$gens/$old.conf"; done
  printf '@@generation %s\n' "$n"
fi
printf '@@now %s\n' "$(date +%s)"
live_answer
