# host-key.sh IFACE CREATE: the host's own key with `keys: on-host`, as its public half only.
# Without a key file, a key in the config already there (written by wgdeploy with `keys: local`,
# or by hand), else the running interface's, is the host's identity and is kept; with none,
# CREATE (`yes`: apply) makes one with `wg genkey`, while a plan only says there is none yet. An existing key file is never
# replaced. The private key never appears on a command line or in the answer.
paths "$1"
create=$2
umask 077
echo '@@wgdeploy-host-key 1'
command -v wg >/dev/null 2>&1 || fail "wg is not installed (wireguard-tools)"
if [ ! -s "$key_file" ]; then
  host_key=$(config_key)
  # A key a PostUp hook set (`wg set IFACE private-key FILE`) is the running interface's.
  [ -n "$host_key" ] || host_key=$(wg show "$name" private-key 2>/dev/null | grep -v '^(none)$')
  if [ -z "$create" ]; then
    if [ -n "$host_key" ]; then
      public=$(printf '%s\n' "$host_key" | wg pubkey 2>/dev/null) || fail "the key $name runs is not a WireGuard key"
      printf '@@public-key %s\n@@end\n' "$public"
    else
      printf '@@public-key none\n@@end\n'
    fi
    exit 0
  fi
  mkdir -p "$dir" || fail "cannot create $dir"
  tmp=$(mktemp "$key_file.XXXXXX") || fail "cannot create a temp file in $dir"
  if [ -n "$host_key" ]; then printf '%s\n' "$host_key" > "$tmp"; else wg genkey > "$tmp"; fi || { rm -f "$tmp"; fail "cannot write a key to $tmp"; }
  host_key=
  chmod 600 "$tmp" && sync "$tmp" 2>/dev/null
  # `ln` refuses to replace a key another run made meanwhile: that one stays.
  ln "$tmp" "$key_file" 2>/dev/null && echo '@@created'
  rm -f "$tmp"
fi
[ -r "$key_file" ] || fail "cannot read $key_file"
first_line host_key "$key_file"
public=$(printf '%s\n' "$host_key" | wg pubkey 2>/dev/null) || fail "$key_file holds no WireGuard private key"
host_key=
printf '@@public-key %s\n@@end\n' "$public"
