# remove.sh IFACE SYSTEMD DEPLOYMENT: undoes a first deployment (`apply --atomic` when another host
# failed): the interface goes down, the config goes, and so do the generations that deployment
# recorded, since they never stood. SYSTEMD is `yes` or empty.
paths "$1"; systemd=$2; deployment=$3
take_lock 30
if ip link show dev "$name" >/dev/null 2>&1; then { take_down; } > "$log" 2>&1 || { echo '@@log'; cat "$log"; fail "cannot take $name down"; }; fi
rm -f "$config" || fail "cannot remove $config"
for meta in "$gens"/*.meta; do
  [ -f "$meta" ] && grep -qxF "deployment=$deployment" "$meta" && rm -f "$meta" "${meta%.meta}.conf"
done
echo '@@done remove'
live_answer
