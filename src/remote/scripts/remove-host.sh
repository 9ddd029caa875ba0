# remove-host.sh IFACE SYSTEMD EXPECTED OWN_KEY DEPLOYMENT KIND DIGEST VERSION KEY...: decommissions
# the interface of a host removed from the inventory, under the same lock as every apply step:
# drops a pending lock-out revert, keeps the config as the last generation (DEPLOYMENT, KIND, DIGEST
# and VERSION go in its meta), takes the interface down (its PostDown hooks run), disables the unit
# (SYSTEMD: `yes` or empty), removes the config, its backup, the sysctl.d file and the key file
# `keys: on-host` made (only when it holds the removed host's key: the kept generation holds it
# too), and switches off
# the forwarding sysctls among KEY... that only that file turned on. Refuses if the config's stamp
# is no longer EXPECTED (it changed since the plan), and leaves everything untouched (`@@not-ours`)
# when the interface runs another public key than OWN_KEY: the machine is someone else now.
paths "$1"; systemd=$2; expected=$3; own=$4; deployment=$5; kind=$6; digest=$7; version=$8
shift 8
umask 077
mkdir -p "$dir" || fail "cannot create $dir"
take_lock 30
[ "$(stamp "$config")" = "$expected" ] || fail "$name.conf changed on the host since the plan was made; run wgdeploy again"
# Only the host wgdeploy deployed under this name is decommissioned: the key must be the one it gave
# it (derived on the host; the private key never leaves it).
if [ -f "$config" ]; then running=$(sed -n 's/^[[:space:]]*PrivateKey[[:space:]]*=[[:space:]]*//p' "$config" | head -n 1 | wg pubkey 2>/dev/null)
elif ip link show dev "$name" >/dev/null 2>&1; then running=$(wg show "$name" public-key 2>/dev/null)
else running=$own; fi
if [ -n "$own" ] && [ "$running" != "$own" ]; then echo '@@not-ours'; echo '@@done remove'; echo '@@end'; exit 0; fi
decide_generation
forwarding=$(decide_forwarding "$@")
# A pending lock-out revert would put the config back: with nothing armed its timer does nothing.
rm -f "$state/armed" "$state/armed.conf" "$state/armed.up" "$state/armed.pid" "$state/applied"
case $gen in
  new\ *)
    n=${gen#new }
    { mkdir -p "$gens" && chmod 700 "$state_root" "$state" "$gens"; } || fail "cannot create $gens"
    { cp "$config" "$gens/$n.conf.tmp" && chmod 600 "$gens/$n.conf.tmp" && mv -f "$gens/$n.conf.tmp" "$gens/$n.conf" &&
      printf 'deployment=%s\nkind=%s\ntime=%s\ninventory=%s\nversion=%s\n' "$deployment" "$kind" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$digest" "$version" > "$gens/$n.meta.tmp" &&
      mv -f "$gens/$n.meta.tmp" "$gens/$n.meta"; } || fail "cannot keep $name.conf as generation $n in $gens"
    ;;
esac
printf '@@generation %s\n' "$gen"
if [ -n "$systemd" ] && systemctl is-active --quiet "$unit" 2>/dev/null; then
  systemctl stop "$unit" > "$log" 2>&1 9>&- || { echo '@@log'; cat "$log"; fail "systemctl stop $unit failed"; }
fi
if ip link show dev "$name" >/dev/null 2>&1; then
  if [ -f "$config" ]; then setsid -w wg-quick down "$name" < /dev/null > "$log" 2>&1 9>&- || { echo '@@log'; cat "$log"; }; fi
  if ip link show dev "$name" >/dev/null 2>&1; then ip link del dev "$name" || fail "cannot take $name down"; echo '@@link-deleted'; fi
fi
if [ -n "$systemd" ] && systemctl is-enabled --quiet "$unit" 2>/dev/null; then
  systemctl disable "$unit" > /dev/null 2>&1 9>&- || fail "systemctl disable $unit failed"
  echo '@@disabled'
fi
rm -f "$config" "$backup" "$log" || fail "cannot remove $config"
if [ -e "$sysctl_file" ]; then rm -f "$sysctl_file" || fail "cannot remove $sysctl_file"; echo '@@removed-sysctl-file'; fi
if [ -f "$key_file" ] && [ -n "$running" ] && [ "$(wg pubkey < "$key_file" 2>/dev/null)" = "$running" ]; then
  # A pending key from an unfinished `wgdeploy rotate` never ran: it goes too. Keys the host ran
  # before (under $retired_keys) stay with the generations, which hold them as well.
  rm -f "$key_file" "$pending_key" || fail "cannot remove $key_file"; echo '@@removed-key-file'
fi
echo '@@switched-off'
for key; do
  case $forwarding in
    *"off $key"*) sysctl -q -w "$key=0" || fail "cannot set $key=0"; echo "$key" ;;
  esac
done
echo '@@done remove'
echo '@@end'
