# revert.sh TOKEN [locked]: lock-out protection, written to the host by an armed apply. Puts back the
# config from before the apply TOKEN (and the interface's state: up or not) unless that apply was
# confirmed or superseded meanwhile. It runs on the host alone (a timer fires it), so what it acts
# on follows from where the apply wrote it, ROOT/var/lib/wgdeploy/IFACE/revert.sh; `systemd` is set
# by the line wgdeploy puts in front of it (with lib.sh) when the host runs systemd.
systemd=${systemd:-}
here=${0%/*}
root=${here%/var/lib/wgdeploy/*}
paths "${here##*/}"
if [ "${2:-}" != locked ]; then exec 9>>"$lock"; flock 9; fi
[ "$(cat "$state/armed" 2>/dev/null)" = "$1" ] || exit 0
{
  was_up=; [ -f "$state/armed.up" ] && was_up=1
  is_up=; ip link show dev "$name" >/dev/null 2>&1 && is_up=1
  same=
  if [ -f "$state/armed.conf" ]; then cmp -s "$state/armed.conf" "$config" && same=1; elif [ ! -f "$config" ]; then same=1; fi
  if [ -n "$is_up" ] && { [ -z "$same" ] || [ -z "$was_up" ]; }; then take_down; is_up=; fi
  if [ -z "$same" ]; then
    if [ -f "$state/armed.conf" ]; then cp -p "$state/armed.conf" "$temp_prefix.revert" && mv -f "$temp_prefix.revert" "$config"; else rm -f "$config"; fi
  fi
  if [ -n "$was_up" ] && [ -z "$is_up" ]; then bring_up; fi
} > "$state/revert.log" 2>&1
printf '%s %s\n' "$1" "$(date +%s)" > "$state/reverted"
rm -f "$state/armed" "$state/armed.conf" "$state/armed.up" "$state/armed.pid" "$state/applied"
