# adopt.sh IFACE KEYS: `wgdeploy adopt` reads what a host runs now so its keys and addresses can be
# kept. KEYS `private` (`keys: local`): secrets included; the private key and the preshared keys
# are framed by length and read by `wg` itself, never named on a command line. KEYS `public`
# (`keys: on-host`): the host keeps its key, so only its public half is sent (the config's
# PrivateKey line reads back as the on-host marker) and no preshared key. Changes nothing on the host.
paths "$1"; keys=$2
# secret NAME: frame the output of `wg show IFACE NAME` (trailing newlines dropped), never a line.
secret() { value=$(wg show "$name" "$1" 2>/dev/null); printf '@@%s %s\n' "$1" ${#value}; printf '%s\n' "$value"; value=; }
echo '@@wgdeploy-adopt 1'
printf '@@user %s\n' "${LOGNAME:-$(id -un 2>/dev/null)}"
echo '@@tools'
for tool in wg ip; do command -v "$tool" >/dev/null 2>&1 && echo "$tool"; done
echo '@@dir'
if [ -d "$dir" ]; then if [ -r "$dir" ] && [ -x "$dir" ]; then echo ok; else echo unreadable; fi; else echo absent; fi
if [ "$keys" = public ]; then
  # The config's own PrivateKey (a key, not the marker): its public half, and the config without it.
  own=$(config_key)
  if [ -n "$own" ]; then
    printf '@@config-public-key %s\n' "$(printf '%s\n' "$own" | wg pubkey 2>/dev/null)"
    host_key=$own; own=
    frame_without_key config "$config"
  else
    frame config "$config"
  fi
else
  frame config "$config"
fi
echo '@@generations'
generations "$gens"
if wg show "$name" >/dev/null 2>&1; then
  echo '@@live yes'
  if [ "$keys" = public ]; then
    printf '@@live-public-key %s\n' "$(wg show "$name" public-key 2>/dev/null)"
  else
    secret private-key
    secret preshared-keys
  fi
  echo '@@listen-port'
  wg show "$name" listen-port 2>/dev/null
  echo '@@dump'
  dump "$name"
  echo '@@addresses'
  ip -o addr show dev "$name" 2>/dev/null | awk '{ print $4 }'
fi
echo '@@end'
