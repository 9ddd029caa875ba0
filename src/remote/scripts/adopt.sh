# adopt.sh IFACE: `wgdeploy adopt` reads what a host runs now, secrets included, so its keys and
# addresses can be kept. The private key and the preshared keys are framed by length and read by
# `wg` itself, never named on a command line. Changes nothing on the host.
paths "$1"
# secret NAME: frame the output of `wg show IFACE NAME` (trailing newlines dropped), never a line.
secret() { value=$(wg show "$name" "$1" 2>/dev/null); printf '@@%s %s\n' "$1" ${#value}; printf '%s\n' "$value"; value=; }
echo '@@wgdeploy-adopt 1'
printf '@@user %s\n' "${LOGNAME:-$(id -un 2>/dev/null)}"
echo '@@tools'
for tool in wg ip; do command -v "$tool" >/dev/null 2>&1 && echo "$tool"; done
echo '@@dir'
if [ -d "$dir" ]; then if [ -r "$dir" ] && [ -x "$dir" ]; then echo ok; else echo unreadable; fi; else echo absent; fi
frame config "$config"
echo '@@generations'
generations "$gens"
if wg show "$name" >/dev/null 2>&1; then
  echo '@@live yes'
  secret private-key
  secret preshared-keys
  echo '@@listen-port'
  wg show "$name" listen-port 2>/dev/null
  echo '@@dump'
  dump "$name"
  echo '@@addresses'
  ip -o addr show dev "$name" 2>/dev/null | awk '{ print $4 }'
fi
echo '@@end'
