# host-key.sh IFACE MODE: the host's own key with `keys: on-host`, as its public half only.
# MODE `rotate` (`wgdeploy rotate`): a pending key is made beside it ($pending_key, kept when one
# is pending already, so a retried rotation names the same key) and its public half is answered;
# apply.sh switches to it when the config names it. The current key is the one the config runs: a
# config that runs a pending or kept key (a step reverted by lock-out protection, an interrupted
# run) makes that one current again.
# Without a key file, a key in the config already there (written by wgdeploy with `keys: local`,
# or by hand), else the running interface's, is the host's identity and is kept; with none,
# CREATE (`yes`: apply) makes one with `wg genkey`, while a plan only says there is none yet. An existing key file is never
# replaced. The private key never appears on a command line or in the answer.
paths "$1"
create=$2
rotate=
if [ "$create" = rotate ]; then rotate=yes; fi
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
running=$(config_key)
if [ -n "$running" ] && [ -n "$create" ]; then
  running_public=$(printf '%s\n' "$running" | wg pubkey 2>/dev/null)
  running=
  if [ -n "$running_public" ] && [ "$(public_of "$key_file")" != "$running_public" ]; then
    found=$(key_with "$running_public")
    if [ -n "$found" ]; then take_lock 30; promote_key "$found"; echo '@@promoted'; fi
  fi
fi
running=
if [ -n "$rotate" ]; then
  if [ -z "$(public_of "$pending_key")" ]; then
    tmp=$(mktemp "$pending_key.XXXXXX") || fail "cannot create a temp file in $dir"
    wg genkey > "$tmp" || { rm -f "$tmp"; fail "cannot write a key to $tmp"; }
    chmod 600 "$tmp" && sync "$tmp" 2>/dev/null
    mv -f "$tmp" "$pending_key" || { rm -f "$tmp"; fail "cannot write $pending_key"; }
    echo '@@created'
  fi
  key_file=$pending_key
fi
first_line host_key "$key_file"
public=$(printf '%s\n' "$host_key" | wg pubkey 2>/dev/null) || fail "$key_file holds no WireGuard private key"
host_key=
printf '@@public-key %s\n@@end\n' "$public"
