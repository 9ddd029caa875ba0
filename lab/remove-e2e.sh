#!/usr/bin/env bash
# lab/remove-e2e.sh: hosts removed from the inventory are decommissioned (issue 9, section 5), over
# real SSH onto real WireGuard (wireguard-go) behind real NAT, in network namespaces.
#
#   sudo lab/remove-e2e.sh            # all scenarios; exit 0 only if every one passes
#   sudo lab/remove-e2e.sh 1 4        # only these scenarios (1 always runs: it converges the lab)
#
# Scenarios:
#   1 the standard lab is applied (the state remembers how each host was reached); office (NAT-ed)
#     leaves the inventory: plan shows `remove` for office and syncconf for its peers (human and
#     --json); apply decommissions it: no interface, no config in /etc/wireguard (its last config
#     kept as a generation), no sysctl.d file; the others no longer list it; all remaining pairs
#     ping; office is gone from the state file
#   2 office comes back into the inventory: a clean `up` with a new key; all pairs ping
#   3 office leaves again with its sshd stopped: apply reports it as failed (exit 1) and keeps it in
#     the state; `--keep-removed`: not contacted, exit 0, still in the state; sshd back: apply
#     decommissions it
#   4 the two-relay lab: office is re-homed on relay1 and relay2 (a forwarding host) removed:
#     relay2 has no interface, forwarding off, no FORWARD rule, no sysctl.d file; all pairs ping
#   5 (after 4) web1 renamed www (same SSH target): the state carries web1's key and addresses over to
#     www, so nothing is decommissioned and no peer sees a key change; www's own
#     change applies on that machine; all pairs ping
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root and jq.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELECTED=("$@")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir remove

# drop_host NAME: take NAME's block out of the inventory; the block is saved in $WORK/NAME.block
drop_host() {
    awk -v host="  $1:" -v saved="$WORK/$1.block" '
        $0 == host { skip = 1; print > saved; next }
        skip && /^  [A-Za-z0-9_.-]+:$/ { skip = 0 }
        skip && /^    / { print > saved; next }
        { skip = 0; print }' "$INV" >"$INV.new"
    mv "$INV.new" "$INV"
    grep -q "^  $1:\$" "$INV" && die "drop_host: $1 is still in the inventory"
    return 0
}

# add_back NAME: put NAME's saved block back at the end of the inventory
add_back() { cat "$WORK/$1.block" >>"$INV"; }

# in_state NAME: the state file has an entry for NAME
in_state() { jq -e --arg h "$1" '.hosts | has($h)' "$STATE" >/dev/null; }

# lists_key HOST PUBKEY: HOST's live interface has PUBKEY as a peer
lists_key() { in_host "$1" wg show "$IFACE" peers 2>/dev/null | grep -qxF "$2"; }

# decommissioned HOST N: HOST has no interface, no config, no sysctl.d file, its last config kept
decommissioned() {
    local host=$1 n=$2 dir="$WORK/hosts/$1" left
    in_host "$host" ip link show dev "$IFACE" >/dev/null 2>&1 && fail "$n: $host still has $IFACE"
    left=$(find "$dir/etc-wireguard" -name '*.conf*' -printf '%f ' 2>/dev/null)
    [[ -z $left ]] || fail "$n: $host's /etc/wireguard still holds $left"
    [[ -e $dir/sysctl.d/99-wgdeploy-$IFACE.conf ]] && fail "$n: $host still has its sysctl.d file"
    local newest
    newest=$(find "$dir/var-lib-wgdeploy/$IFACE/generations" -name '*.meta' -printf '%f\n' 2>/dev/null | sort -n | tail -1)
    [[ -n $newest && -f $dir/var-lib-wgdeploy/$IFACE/generations/${newest%.meta}.conf ]] ||
        fail "$n: $host's last config was not kept as a generation"
    in_state "$host" && fail "$n: $host is still in the state file"
    return 0
}

# --------------------------------------------------------------------------------------------------
scenario_1() {
    log "scenario 1: office leaves the inventory and is decommissioned"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: the first apply exited $RC"; return; }
    all_pairs_ping || fail "1: not every pair pings before the removal"
    jq -e '.hosts.office.interface == "'"$IFACE"'" and .hosts.office.ssh.host == "198.18.0.4"
           and .hosts.office.ssh.user == "root" and (.hosts.office.ssh.identity | endswith("/ssh/id_ed25519"))' \
        "$STATE" >/dev/null || fail "1: the state does not remember how office was reached"
    local office_key
    office_key=$(pubkey_of "$(conf_file office)")
    drop_host office
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 2 ]] || fail "1: plan exited $RC (want 2: changes)"
    grep -q '^- office: remove' "$OUT" || fail "1: plan does not show office as remove"
    grep -q "take \`$IFACE\` down" "$OUT" || fail "1: plan does not say office's interface goes down"
    grep -q '^~ relay1: syncconf' "$OUT" && grep -q '^~ web1: syncconf' "$OUT" ||
        fail "1: plan does not reload the peers of office (relay1, web1)"
    grep -Eq '^Plan: 3 to change \(2 syncconf, 1 remove\)' "$OUT" || fail "1: the summary line does not count the removal"
    grep -qF "$(jq -r .hosts.office.private_key "$STATE")" "$OUT" && fail "1: office's private key is in the plan"
    wgd plan "$INV" --json
    jq -e '.summary.remove == 1 and ([.hosts[] | select(.host == "office" and .class == "remove")] | length) == 1' \
        "$OUT" >/dev/null || fail "1: plan --json does not show office as remove"
    in_state office || fail "1: plan forgot office"

    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "1: apply exited $RC"
    grep -Eq '^office +remove +removed' "$OUT" || fail "1: the summary does not show office removed"
    grep -q 'forgotten in the state file: office' "$OUT" || fail "1: apply does not say office was forgotten"
    decommissioned office 1
    local host
    for host in relay1 web1 home; do
        lists_key "$host" "$office_key" && fail "1: $host still lists office"
    done
    HOSTS=(relay1 web1 home)
    if all_pairs_ping 30; then pass "1: office decommissioned and forgotten; the others dropped it; all remaining pairs ping"
    else fail "1: some remaining pairs do not ping"; fi
    OFFICE_KEY=$office_key
}

scenario_2() {
    log "scenario 2: office comes back"
    add_back office
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "2: apply exited $RC"
    grep -Eq '^office +up +applied' "$OUT" || fail "2: office was not brought up as a fresh host"
    [[ $(pubkey_of "$(conf_file office)") != "$OFFICE_KEY" ]] || fail "2: office came back with its old key"
    HOSTS=(relay1 web1 home office)
    if all_pairs_ping 30; then pass "2: office re-added with a new key; all pairs ping"; else fail "2: some pairs do not ping"; fi
}

scenario_3() {
    log "scenario 3: an unreachable removed host is reported and kept; --keep-removed leaves it alone"
    drop_host office
    kill "${SSHD_PID[office]}"
    sleep 0.2
    wgd apply "$INV" --yes --timeout 5
    [[ $RC == 1 ]] || fail "3: apply with office unreachable exited $RC (want 1)"
    grep -q 'office.*removed from the inventory, but cannot be decommissioned' "$OUT" ||
        fail "3: no clear error for the unreachable removed host"
    in_state office || fail "3: the unreachable office was forgotten"
    wgd apply "$INV" --yes --keep-removed --timeout 5
    [[ $RC == 0 ]] || fail "3: apply --keep-removed exited $RC (want 0)"
    grep -Eq '^(- |! )office' "$OUT" && fail "3: apply --keep-removed planned something for office"
    grep -q 'office: removed from the inventory, left alone (--keep-removed); still in the state file' "$OUT" ||
        fail "3: apply --keep-removed does not say it left office alone"
    in_state office || fail "3: --keep-removed forgot office"
    # sshd back: the removal goes through.
    in_host office /usr/sbin/sshd -f "$WORK/hosts/office/ssh/sshd_config" -E "$WORK/hosts/office/ssh/sshd.log"
    sleep 0.3
    wgd plan "$INV" --hosts web1
    grep -q 'office: removed from the inventory, left alone (not selected by --hosts)' "$OUT" ||
        fail "3: plan --hosts web1 does not say office is left alone"
    wgd apply "$INV" --yes --hosts office
    [[ $RC == 0 ]] || fail "3: apply --hosts office exited $RC"
    grep -Eq '^office +remove +removed' "$OUT" || fail "3: office was not decommissioned once reachable"
    decommissioned office 3
    pass "3: unreachable removed host: exit 1 and kept; --keep-removed: exit 0 and kept; reachable again: decommissioned"
}

scenario_4() {
    log "scenario 4: a forwarding host (relay2) is removed"
    lab_reset
    make_ssh_lab_two_relays
    write_lab_inventory "$INV" two-relays
    rm -f "$STATE"
    HOSTS=(relay1 relay2 web1 home office)
    CONF=() OVERLAY=()
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "4: apply exited $RC"; return; }
    [[ $(in_host relay2 sysctl -n net.ipv4.ip_forward) == 1 ]] || fail "4: relay2 does not forward before its removal"
    in_host relay2 iptables -S FORWARD | grep -q -- "-i $IFACE" || fail "4: relay2 has no FORWARD rule before its removal"
    sed -i '/^  office:$/,/^    ssh:/ s/via: relay2/via: relay1/' "$INV"
    drop_host relay2
    wgd plan "$INV"
    grep -q '^- relay2: remove' "$OUT" || fail "4: plan does not show relay2 as remove"
    grep -q 'net.ipv4.ip_forward: 1 → 0' "$OUT" || fail "4: plan does not say relay2's forwarding goes off"
    grep -q "remove /etc/sysctl.d/99-wgdeploy-$IFACE.conf" "$OUT" || fail "4: plan does not say the sysctl.d file goes"
    grep -q 'PostDown hooks delete the FORWARD rules' "$OUT" || fail "4: plan does not say the FORWARD rules go"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "4: apply exited $RC"
    decommissioned relay2 4
    [[ $(in_host relay2 sysctl -n net.ipv4.ip_forward) == 0 ]] || fail "4: forwarding is still on on relay2"
    in_host relay2 iptables -S FORWARD | grep -q -- "$IFACE" && fail "4: a FORWARD rule for $IFACE is left on relay2"
    HOSTS=(relay1 web1 home office)
    if all_pairs_ping 30; then pass "4: relay2 decommissioned with forwarding off; office re-homed; all pairs ping"
    else fail "4: some pairs do not ping"; fi
}

scenario_5() {
    log "scenario 5: web1 is renamed www in the inventory (same SSH target): it keeps its key, nothing is decommissioned"
    local key
    key=$(pubkey_of "$(conf_file web1)")
    sed -i 's/^  web1:$/  www:/' "$INV"
    wgd plan "$INV"
    grep -q '^renamed: web1 is now www (reached the same way): it keeps its key and addresses' "$OUT" ||
        fail "5: plan does not say web1 was renamed www"
    grep -q '^- web1: remove' "$OUT" && fail "5: plan decommissions the renamed host"
    grep -q 'new key of www' "$OUT" && fail "5: plan gives the renamed host a new key"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "5: apply exited $RC"
    in_state web1 && fail "5: web1 is still in the state file"
    jq -e '.hosts.www.ssh.host == "198.18.0.2"' "$STATE" >/dev/null || fail "5: the state does not remember www"
    in_host web1 ip link show dev "$IFACE" >/dev/null 2>&1 || fail "5: the renamed host has no interface"
    [[ $(pubkey_of "$(conf_file web1)") == "$key" ]] || fail "5: the renamed host's key changed"
    local host
    for host in "${HOSTS[@]}"; do
        [[ $host == web1 ]] && continue
        grep -q "PublicKey = $key" "$(conf_file "$host")" || fail "5: $host no longer lists the renamed host's key"
    done
    if all_pairs_ping 30; then pass "5: renamed web1 -> www: same key, nothing decommissioned; all pairs ping"
    else fail "5: some pairs do not ping after the rename"; fi
}

# --------------------------------------------------------------------------------------------------
make_ssh_lab
write_lab_inventory "$INV" standard
HOSTS=(relay1 web1 home office)
scenario_1
for n in 2 3 4 5; do
    selected "$n" && "scenario_$n"
done
log "$PASSED passed, $FAILURES failed"
if ((FAILURES > 0)); then
    exit 1
fi
log "all selected scenarios passed"
