# facts.sh IFACE KEY_AGE SYSCTL...: one round trip that gathers everything wgdeploy needs to plan a
# host; with KEY_AGE (`yes`) also since when it runs its key (status: it reads every generation).
iface=$1 key_age=$2; shift 2
paths "$iface"
armed='' reverted='' value=''
echo '@@wgdeploy-facts 1'
printf '@@user %s\n' "${LOGNAME:-$(id -un 2>/dev/null)}"
echo '@@os'
# shellcheck disable=SC1091
( . /etc/os-release 2>/dev/null && printf '%s\n' "${PRETTY_NAME:-$ID}" ) || uname -sr
echo '@@tools'
# resolvconf: wg-quick needs it for a config with `DNS =`.
for tool in wg wg-quick flock awk stat resolvconf; do command -v "$tool" >/dev/null 2>&1 && echo "$tool"; done
echo '@@systemd'
if [ -d "$root/run/systemd/system" ] && command -v systemctl >/dev/null 2>&1; then
  echo yes
  printf 'enabled %s\n' "$(systemctl is-enabled "$unit" 2>/dev/null || true)"
else
  # Without systemd, wg-quick runs in its own session (`setsid -w`, util-linux >= 2.26; busybox's
  # setsid has no -w) so the userspace daemon outlives the SSH session. Tried on every survey,
  # running interface or not: any change the plan shows (and its revert) needs it.
  setsid -w true < /dev/null > /dev/null 2>&1 || echo no-setsid
fi
echo '@@dir'
if [ -d "$dir" ]; then if [ -r "$dir" ] && [ -x "$dir" ]; then echo ok; else echo unreadable; fi; else echo absent; fi
# (stat straight in the substitution: its subshell execs it, no second fork.) The config's frame
# takes its length from the stamp rather than from a `wc`, unless the stamp has none or is a
# symlink's own (stat does not follow it; cat does).
config_stamp=$(stat -c "$stamp_format" "$config" 2>/dev/null) || config_stamp=absent
printf '@@stamp %s\n' "$config_stamp"
config_size=${config_stamp#* }; config_size=${config_size%% *}
case $config_size in '' | *[!0-9]*) config_size= ;; esac
[ -L "$config" ] && config_size=
masked_frame config "$config" "$config_size"
frame sysctl-file "$sysctl_file"
first_line armed "$state/armed"; printf '@@armed %s\n' "$armed"
first_line reverted "$state/reverted"; printf '@@reverted %s\n' "$reverted"
echo '@@generations'
generations "$gens"
[ -z "$key_age" ] || key_since
echo '@@sysctl'
# `sysctl -n KEY` reads /proc/sys/KEY-with-slashes; reading it directly starts no process.
for key in "$@"; do sysctl_path "$key"; first_line value "$proc"; printf '%s\n' "$key=$value"; done
echo '@@link'
[ -e "$root/sys/class/net/$name" ] && echo present
echo '@@dump'
# The host's clock (`@@now`, for handshake ages) comes from the dump's awk; `date` only if it
# cannot read /proc.
dump "$name" now || printf '@@now %s\n' "$(date +%s)"
routes "$name"
echo '@@end'
