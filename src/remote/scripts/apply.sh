# apply.sh IFACE STAMP WRITE_LEN ACTION SYSTEMD ENABLE SYSCTL_MODE SYSCTL_TEXT TOKEN FIRST_SECONDS
#          SECONDS KEEP_ORIGINAL VERSION REVERT_SH [sysctl=KEY | route=PREFIX@TABLE]...
# The apply step: lock, compare-and-swap on the config's stamp (STAMP), lock-out protection armed
# before anything changes (TOKEN non-empty; the timer first fires after FIRST_SECONDS, and is
# restarted at SECONDS when the step ends; REVERT_SH is the text of revert.sh), the original config
# kept as generation 0 (KEEP_ORIGINAL), an atomic write with a backup of a config of WRITE_LEN bytes
# arriving on stdin (empty: no write), ACTION (none, syncconf, restart, up; the routes to drop
# after a syncconf are the trailing route= arguments), `systemctl enable` (ENABLE), the sysctl.d
# file (SYSCTL_MODE keep, write SYSCTL_TEXT, or remove), the sysctls to switch on (trailing sysctl=),
# then the live state for verification. Flags are `yes` or empty. Stops at the first failure with
# `@@fail REASON` so the caller can say exactly what went wrong.
paths "$1"
expected=$2 write_len=$3 action=$4 systemd=$5 enable=$6 sysctl_mode=$7 sysctl_text=$8
token=$9; shift 9
first_seconds=$1 seconds=$2 keep_original=$3 version=$4 revert_sh=$5; shift 5
tmp='' armed=''

# Once armed, a failing step puts the previous config back at once instead of leaving a broken
# interface until the timer fires.
# Its timer then has nothing left to do: stopped with it (a systemd timer would otherwise linger,
# and run revert.sh for nothing, until it fires).
fail() {
  printf '@@fail %s\n' "$*"; [ -n "${tmp:-}" ] && rm -f "$tmp"
  if [ -n "${armed:-}" ]; then
    sh "$state/revert.sh" "$armed" locked && echo '@@reverted-now'
    disarm
  fi
  exit 1
}
# wg-quick's output goes to a log file and its daemon (wireguard-go without the kernel module) must
# not hold the SSH channel open: stdin from /dev/null, output to the log, own session (so no hangup
# reaches it when a terminal session ends). The lock's descriptor is closed for it: a daemon
# inheriting it would hold the lock for its whole life and block every later apply.
quick() { setsid -w wg-quick "$1" "$name" < /dev/null > "$log" 2>&1 9>&- || { echo '@@log'; cat "$log"; fail "wg-quick $1 $name failed"; }; }
unit_do() { systemctl "$1" "$unit" 2> "$log" 9>&- || { echo '@@log'; cat "$log"; fail "systemctl $1 $unit failed"; }; }
# With systemd, the interface may also run outside the unit (brought up by hand with wg-quick
# before wgdeploy managed the host, or left half-up): `systemctl stop` does not touch it, and
# `systemctl start` then fails on the existing link. Take it down with its current config's hooks
# (the link deleted if that fails), as a revert does.
systemd_down() {
  unit_do stop
  if ip link show dev "$name" >/dev/null 2>&1; then
    wg-quick down "$name" < /dev/null > "$log" 2>&1 9>&- || ip link del dev "$name" || { echo '@@log'; cat "$log"; fail "cannot take $name down"; }
  fi
}

umask 077
[ -d "$dir" ] || mkdir -p "$dir" || fail "cannot create /etc/wireguard"
take_lock 30
[ "$(stamp "$config")" = "$expected" ] || fail "$name.conf changed on the host since the plan was made; run wgdeploy again"
# A temp file left by an interrupted earlier run is never a config: clear it under the lock.
rm_present "$temp_prefix".*

if [ -n "$token" ]; then
  [ -d "$gens" ] || { mkdir -p "$gens" && chmod 700 "$state_root" "$state" "$gens"; } || fail "cannot create $state"
  if [ -f "$state/armed" ]; then
    # An earlier apply was never confirmed: this run supersedes its timer and keeps its snapshot,
    # which is the last confirmed config.
    disarm
  else
    rm_present "$state/armed.conf" "$state/armed.up"
    if [ -f "$config" ]; then cp -p "$config" "$state/armed.conf" || fail "cannot keep a copy of $name.conf for lock-out protection"; fi
    if [ -e "$root/sys/class/net/$name" ]; then : > "$state/armed.up"; fi
  fi
  rm_present "$state/reverted" "$state/applied" "$state/armed.pid"
  printf '%s' "$revert_sh" > "$state/revert.sh" || fail "cannot write $state/revert.sh"
  printf '%s\n' "$token" > "$state/armed" || fail "cannot arm the lock-out protection"
  # Nothing has changed yet: a timer that cannot be armed just stops the step. systemd needs the
  # unit name free (the sleeper of an earlier arming was stopped above).
  if [ -n "$systemd" ]; then disarm; fi
  start_timer "$first_seconds" "$token" "$seconds" || { rm -f "$state/armed"; fail "cannot arm the lock-out protection (systemd-run)"; }
  armed=$token
  echo '@@armed'
  # The config wgdeploy is about to replace for the first time is kept as generation 0, in the
  # layout of every other generation, and never pruned. A later run that finds the host still
  # unmanaged (its first apply was reverted) keeps the config it finds then.
  if [ -n "$keep_original" ] && [ -f "$config" ]; then
    { cp "$config" "$gens/0.conf.tmp" && chmod 600 "$gens/0.conf.tmp" && mv -f "$gens/0.conf.tmp" "$gens/0.conf" &&
      printf 'deployment=%s\nkind=original\ntime=%s\ninventory=\nversion=%s\n' "$token" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$version" > "$gens/0.meta.tmp" &&
      mv -f "$gens/0.meta.tmp" "$gens/0.meta"; } || fail "cannot keep the original config as generation 0 in $gens"
    echo '@@done original'
  fi
fi

if [ -n "$write_len" ]; then
  # Named by the shell's pid: the lock makes this run the only one, and leftovers were cleared
  # above. Made 0600 by the umask.
  tmp=$temp_prefix.$$
  cat > "$tmp" || fail "cannot receive the config"
  [ "$(($(wc -c < "$tmp")))" = "$write_len" ] || fail "the config arrived incomplete; nothing was changed"
  # `keys: on-host`: the host's own key goes where the config names it (the file is 0600 under
  # umask 077; the key is never on a command line).
  # The key is the one whose public half the config's comment names: the current one, the
  # pending one `wgdeploy rotate` made (promoted below once the config is in place), or one the
  # host ran before (a rollback), so an old key comes back from the host's own files.
  use_key=
  if grep -qxF "$key_line" "$tmp"; then
    [ -s "$key_file" ] || [ -s "$pending_key" ] || fail "$key_file is missing: the config expects this host's own key there"
    wanted=$(LC_ALL=C awk '$1 == "#" && $2 == "PublicKey" && $3 == "=" { print $4; exit }' "$tmp")
    use_key=$key_file
    if [ -n "$wanted" ]; then
      use_key=$(key_with "$wanted")
      [ -n "$use_key" ] || fail "none of this host's keys ($key_file, a pending or a kept one) has the public key $wanted the config names"
    fi
    first_line host_key "$use_key"
    LC_ALL=C awk -v key="$host_key" -v marker="$key_line" '$0 == marker { print "PrivateKey = " key; next } { print }' "$tmp" > "$tmp.key" ||
      fail "cannot put this host's key into the config"
    host_key=
    mv -f "$tmp.key" "$tmp" || fail "cannot put this host's key into the config"
  fi
  sync "$tmp" || fail "cannot write the config to disk"
fi
# A restart takes the interface down while the old config is still in place, so the PostDown hooks
# that run are the ones matching the PostUp hooks that ran (the new config's PostDown would undo
# what never happened, and fail).
if [ "$action" = restart ]; then
  if [ -n "$systemd" ]; then systemd_down; elif ip link show dev "$name" >/dev/null 2>&1; then quick down; fi
  uapi_gone
fi
if [ -n "$write_len" ]; then
  if [ -f "$config" ]; then ln -f "$config" "$backup" 2>/dev/null || cp -p "$config" "$backup" || fail "cannot keep a backup of $name.conf"; fi
  mv -f "$tmp" "$config" || fail "cannot put the new config in place"
  tmp=
  sync "$dir" 2>/dev/null
  echo '@@written'
  # The key the config now runs is the host's current key from here on.
  if [ -n "$use_key" ] && [ "$use_key" != "$key_file" ]; then promote_key "$use_key"; echo '@@done key'; fi
fi
case $action in
  syncconf)
    guarded_syncconf :
    for item in "$@"; do
      case $item in
        route=*)
          item=${item#route=}; prefix=${item%%@*}; table=${item#*@}
          drop_route "$name" "$table" "$prefix" 2> "$log" || { echo '@@log'; cat "$log"; fail "cannot remove the route of $prefix from $name"; }
          ;;
      esac
    done
    ;;
  restart | up)
    if [ -n "$systemd" ]; then
      # Not running, but a half-up link (or a unit left active over a dead device) would make the
      # start fail or do nothing.
      [ "$action" = up ] && systemd_down
      unit_do start
    else
      # A half-up interface (link present, wg-quick never finished) would make `up` fail; its hooks
      # may not have run, so a failing `down` falls back to deleting the link.
      if [ "$action" = up ] && ip link show dev "$name" >/dev/null 2>&1; then wg-quick down "$name" < /dev/null > "$log" 2>&1 9>&- || ip link del dev "$name"; fi
      uapi_gone
      quick up
    fi
    ;;
esac
[ "$action" = none ] || echo "@@done $action"
if [ -n "$enable" ]; then
  systemctl enable "$unit" >/dev/null 2>&1 || fail "systemctl enable $name failed"
  echo '@@done enable'
fi
case $sysctl_mode in
  remove)
    rm -f "$sysctl_file" || fail "cannot remove $sysctl_file"
    echo '@@done sysctl-file'
    ;;
  write)
    { mkdir -p "$root/etc/sysctl.d" && printf '%s' "$sysctl_text" > "$sysctl_file.tmp" && chmod 644 "$sysctl_file.tmp" && mv -f "$sysctl_file.tmp" "$sysctl_file"; } || fail "cannot write $sysctl_file"
    echo '@@done sysctl-file'
    ;;
esac
for item in "$@"; do
  case $item in
    sysctl=*)
      key=${item#sysctl=}
      sysctl -q -w "$key=1" || fail "cannot set $key=1"
      echo '@@done sysctl'
      ;;
  esac
done
if [ -n "$armed" ]; then
  # The confirm checks this: an apply step cut short is reverted, never confirmed. The step is
  # over: the confirm window starts now, not when the step started. Without systemd the timer reads
  # when from the uptime after the token (start_timer), rounded up so that it never fires before
  # the window is over (none readable: it fires at its first limit); a systemd timer is started
  # again.
  up=; read -r up < /proc/uptime 2>/dev/null; up=${up%%.*}
  case $up in '' | *[!0-9]*) up= ;; *) up=$((up + 1)) ;; esac
  printf '%s\n%s\n' "$armed" "$up" > "$state/applied" || fail "cannot write $state/applied"
  if [ -n "$systemd" ]; then
    disarm
    start_timer "$seconds" "$armed" || fail "cannot restart the lock-out timer"
  fi
fi
live_answer
