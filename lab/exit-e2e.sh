#!/usr/bin/env bash
# lab/exit-e2e.sh: exit nodes (full tunnel, issue 13) end to end over real SSH onto real WireGuard
# behind real NAT (the standard lab of apply-e2e.sh), with a responder on the lab internet
# (198.51.100.100, its own namespace) that counts, by source address, the pings it answers.
#
#   sudo lab/exit-e2e.sh          # exit 0 only if every check passes
#   sudo lab/exit-e2e.sh 2 5      # only these (1 always runs: it converges the lab)
#
# Scenarios:
#   1 apply converges the lab; without an exit, NAT-ed home and office reach the responder from
#     their NAT routers' addresses (198.51.100.11 and .12)
#   2 web1 (public) and relay1 (office's home relay) become exits; home uses web1, office uses
#     relay1: the plan restarts both (a /0 comes), apply confirms although the managed NAT-ed hosts
#     now send everything into the tunnel (the operator is on their connected management network,
#     which wg-quick's `suppress_prefixlength 0` rule leaves in the main table), the responder sees
#     home from web1's address and office from relay1's and never from their NAT routers, every
#     overlay pair pings, SSH still works, status reports no drift (the /0 is wg-quick's policy
#     routing, not a missing or stale route), each exit has exactly one masquerade rule
#   3 apply again: nothing to do; a peers-only change on home (wg syncconf) keeps the fwmark
#     wg-quick gave its own packets for the /0 (without it they would loop into the tunnel), home
#     still exits through web1; web1's interface dies without its PostDown (rules left behind),
#     apply brings it up: still exactly one masquerade and one of each FORWARD rule (no stacking),
#     and home (its sessions refreshed by syncconf) still exits through web1
#   4 exits off (use_exit and exit removed): the /0s, wg-quick's policy rules and the masquerade
#     and FORWARD rules are gone; home and office reach the responder from their NAT routers again
#   5 office reaches the operator through a policy route that wg-quick's rules come before (as an
#     operator reached through the default route): switched to a full tunnel, office is cut off,
#     puts its previous config back by itself (--confirm-timeout 10), the report says so and names
#     the full tunnel in its fix, SSH works again, office's config is the one from before
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`; WGD_LAB_DEBUG=1 shows the prober's
# rules, routes and WireGuard state and web1's FORWARD and nat rules when a probe gets no answer.
# Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELECTED=("$@")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir exit

RESPONDER=198.51.100.100
MASQ="-s 100.64.0.0/24 ! -o $IFACE -j MASQUERADE"

# make_responder: a namespace on the lab internet answering pings, one counting rule per source
make_responder() {
    new_netns responder
    RESPONDER_NS=$NS_NAME
    attach "$RESPONDER_NS" eth0 "$RESPONDER/24" "$INET_NS" br0
    local source
    for source in 198.51.100.1 198.51.100.2 198.51.100.11 198.51.100.12; do
        nsx "$RESPONDER_NS" iptables -w -A INPUT -p icmp --icmp-type echo-request -s "$source" -j ACCEPT
    done
}

# probe HOST: HOST pings the responder (replies required); sets SEEN[source] = requests that arrived
# from each lab internet address
declare -A SEEN=()
probe() {
    local host=$1 pkts source deadline=$((SECONDS + 20))
    # Right after a restart the first handshake may have gone to a peer that was restarting too:
    # WireGuard retries after 5 s, so a probe without an answer is repeated for a while.
    while :; do
        nsx "$RESPONDER_NS" iptables -w -Z INPUT
        in_host "$host" ping -q -n -c 3 -i 0.2 -W 2 "$RESPONDER" >/dev/null 2>&1 && break
        if ((SECONDS >= deadline)); then
            fail "$host gets no answer from the responder $RESPONDER"
            break
        fi
        sleep 1
    done
    SEEN=()
    while read -r pkts source; do SEEN[$source]=$pkts; done < <(
        nsx "$RESPONDER_NS" iptables -w -nvxL INPUT | awk 'NR > 2 { print $1, $8 }')
    log "$host -> responder: from .1 ${SEEN[198.51.100.1]}, .2 ${SEEN[198.51.100.2]}, .11 ${SEEN[198.51.100.11]}, .12 ${SEEN[198.51.100.12]}"
}

# arrives_from HOST SOURCE: HOST's pings reach the responder from SOURCE, and from no other address
arrives_from() {
    local host=$1 want=$2 source
    probe "$host"
    ((${SEEN[$want]:-0} >= 3)) || { fail "$host's pings did not arrive from $want"; return 1; }
    for source in "${!SEEN[@]}"; do
        [[ $source == "$want" ]] && continue
        ((${SEEN[$source]} == 0)) || { fail "$host's pings also arrived from $source"; return 1; }
    done
    return 0
}

# rule_count HOST TABLE CHAIN RULE: how many times RULE is in CHAIN of TABLE on HOST (iptables -S form)
rule_count() { in_host "$1" iptables -w -t "$2" -S "$3" | grep -cxF -- "-A $3 $4" || true; }
# has_policy_rule HOST: wg-quick's policy routing for a /0 is in place on HOST
# (Output captured first: with pipefail, `grep -q` closing the pipe early can fail the pipeline.)
has_policy_rule() { [[ $(in_host "$1" ip -4 rule show) == *"suppress_prefixlength 0"* ]]; }
# allowed_of HOST PEER: the AllowedIPs HOST's config gives PEER (from the file's "# Name = PEER")
allowed_of() { awk -v p="$2" '$0 == "# Name = " p { on = 1 } on && $1 == "AllowedIPs" { sub(/^[^=]*= */, ""); print; exit }' "$(conf_file "$1")"; }
# set_line HOST LINE: HOST's inventory block gains LINE (e.g. `exit: true`)
set_line() { sed -i "/^  $1:\$/a\\    $2" "$INV"; }

# --------------------------------------------------------------------------------------------------
scenario_1() {
    log "scenario 1: apply converges; no exit yet"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: apply exited $RC"; return; }
    all_pairs_ping || fail "1: some pairs do not ping"
    arrives_from home 198.51.100.11 && arrives_from office 198.51.100.12 &&
        pass "1: without an exit, home and office reach the internet from their NAT routers"
}

scenario_2() {
    log "scenario 2: web1 and relay1 become exits; home uses web1, office uses relay1"
    local failures=$FAILURES
    set_line web1 "exit: true"
    set_line relay1 "exit: true"
    set_line home "use_exit: web1"
    set_line office "use_exit: relay1"
    wgd plan "$INV"
    grep -q "0.0.0.0/0" "$OUT" || fail "2: the plan does not show the /0"
    grep -q "a peer's /0 comes or goes" "$OUT" || fail "2: the plan does not say why home and office restart"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "2: apply exited $RC"; return; }
    local host
    for host in home office; do
        grep -Eq "$host +restart +applied" "$OUT" || fail "2: $host was not restarted"
        [[ -e $WORK/hosts/$host/var-lib-wgdeploy/$IFACE/armed ]] && fail "2: $host is still armed: the change was not confirmed"
        has_policy_rule "$host" || fail "2: $host has no wg-quick policy rule for its /0"
        lab_ssh "$host" true || fail "2: SSH to $host does not work with the full tunnel up"
    done
    [[ $(allowed_of home web1) == *"0.0.0.0/0"* ]] || fail "2: home's entry for web1 lacks 0.0.0.0/0: $(allowed_of home web1)"
    [[ $(allowed_of office relay1) == *"0.0.0.0/0"* ]] || fail "2: office's entry for relay1 lacks 0.0.0.0/0"
    [[ $(allowed_of home relay1) != *"0.0.0.0/0"* ]] || fail "2: home's entry for relay1 has a /0"
    has_policy_rule web1 && fail "2: web1 (an exit, using none) routes its own traffic into the tunnel"
    for host in web1 relay1; do
        [[ $(rule_count "$host" nat POSTROUTING "$MASQ") == 1 ]] || fail "2: $host has not exactly one masquerade rule"
    done
    all_pairs_ping 30 || fail "2: some overlay pairs do not ping with the exits in place"
    arrives_from home 198.51.100.2 || fail "2: home's internet traffic does not leave through web1"
    arrives_from office 198.51.100.1 || fail "2: office's internet traffic does not leave through relay1"
    wgd status "$INV"
    [[ $RC == 0 ]] || fail "2: status exited $RC"
    grep -q ROUTES "$OUT" && fail "2: status reports route drift for the /0"
    if ((FAILURES == failures)); then pass "2: apply confirmed on home and office; home exits via web1, office via relay1; overlay pairs ping; no drift"; fi
}

scenario_3() {
    log "scenario 3: no stacked rules"
    local failures=$FAILURES
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "3: the second apply exited $RC"
    grep -q "Nothing to do" "$OUT" || fail "3: the second apply changed something"
    # A peers-only change on home (its keepalive) is a syncconf: it must keep the mark wg-quick gave
    # home's own packets for the /0, or they follow the policy rule into the tunnel and home loses
    # every peer.
    set_line home "keepalive: 24"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "3: the peers-only apply on home exited $RC"
    grep -Eq "home +syncconf +applied" "$OUT" || fail "3: home was not changed by syncconf"
    [[ $(in_host home wg show "$IFACE" fwmark) == 0xca6c ]] || fail "3: home's fwmark is $(in_host home wg show "$IFACE" fwmark) after the syncconf (want wg-quick's 0xca6c)"
    all_pairs_ping 30 || fail "3: some pairs do not ping after the syncconf on home"
    arrives_from home 198.51.100.2 || fail "3: home no longer exits through web1 after the syncconf"
    # web1's interface dies without running PostDown: its rules stay, and the next up must not add them again.
    in_host web1 ip link del "$IFACE"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "3: the apply that brings web1 back exited $RC"
    grep -Eq "web1 +up +applied" "$OUT" || fail "3: web1 was not brought up"
    [[ $(rule_count web1 nat POSTROUTING "$MASQ") == 1 ]] || fail "3: web1's masquerade rule stacked: $(rule_count web1 nat POSTROUTING "$MASQ")"
    local rule
    # (As `iptables -S` prints them.)
    for rule in "-s 100.64.0.0/24 -i $IFACE ! -o $IFACE -j ACCEPT" \
        "-d 100.64.0.0/24 ! -i $IFACE -o $IFACE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"; do
        [[ $(rule_count web1 filter FORWARD "$rule") == 1 ]] || fail "3: web1's FORWARD rule '$rule' is not there exactly once"
    done
    all_pairs_ping 30 || fail "3: some pairs do not ping after web1 came back"
    arrives_from home 198.51.100.2 || fail "3: home no longer exits through web1"
    if ((FAILURES == failures)); then pass "3: second apply: nothing to do; a syncconf on home keeps its fwmark and exit; web1 back up with one masquerade and one of each FORWARD rule"; fi
}

scenario_4() {
    log "scenario 4: exits off"
    local failures=$FAILURES
    sed -i '/^    exit: true$/d; /^    use_exit: /d' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "4: apply exited $RC"; return; }
    local host
    for host in home office; do
        grep -q "0.0.0.0/0" "$(conf_file "$host")" && fail "4: $host's config still has a /0"
        [[ $(in_host "$host" wg show "$IFACE" allowed-ips) == *"0.0.0.0/0"* ]] && fail "4: $host's interface still has a /0"
        has_policy_rule "$host" && fail "4: $host still has wg-quick's policy rule"
    done
    for host in web1 relay1; do
        [[ $(rule_count "$host" nat POSTROUTING "$MASQ") == 0 ]] || fail "4: $host still masquerades"
        [[ $(in_host "$host" iptables -w -S FORWARD) == *"! -o $IFACE"* ]] && fail "4: $host still has an exit FORWARD rule"
    done
    all_pairs_ping 30 || fail "4: some pairs do not ping"
    arrives_from home 198.51.100.11 || fail "4: home does not reach the internet from its NAT router again"
    arrives_from office 198.51.100.12 || fail "4: office does not reach the internet from its NAT router again"
    if ((FAILURES == failures)); then pass "4: exits off: no /0, no policy rule, no masquerade; home and office use their own uplinks"; fi
}

scenario_5() {
    log "scenario 5: a full tunnel that takes the operator's path: lock-out protection reverts it"
    local failures=$FAILURES
    # office reaches the operator through a policy route (table 100, rule 32000) instead of the main
    # table: to wg-quick's rules, added in front of it, that is as good as the default route.
    in_host office sh -ec "ip route del $MGMT_NET.0/24 dev mgmt0
        ip route add $MGMT_NET.0/24 dev mgmt0 table 100
        ip rule add pref 32000 to $MGMT_NET.0/24 lookup 100"
    lab_ssh office true || fail "5: SSH to office does not work through its policy route"
    cp "$(conf_file office)" "$WORK/office-before.conf"
    set_line relay1 "exit: true"
    set_line office "use_exit: relay1"
    wgd apply "$INV" --yes --confirm-timeout 10
    [[ $RC == 1 ]] || fail "5: the apply that cuts office off exited $RC (want 1)"
    grep -q "put back its previous config by itself" "$OUT" || fail "5: the report does not say office reverted by itself"
    grep -q "use_exit. full tunnel" "$OUT" || fail "5: the report's help does not name the full tunnel"
    lab_ssh office true || fail "5: SSH to office does not work after the revert"
    cmp -s "$WORK/office-before.conf" "$(conf_file office)" || fail "5: office's config is not the one from before"
    has_policy_rule office && fail "5: office still has wg-quick's policy rule after the revert"
    # Back to the main table's route, exits off.
    in_host office sh -ec "ip rule del pref 32000; ip route del $MGMT_NET.0/24 dev mgmt0 table 100
        ip route add $MGMT_NET.0/24 dev mgmt0 src $MGMT_NET.4"
    sed -i '/^    exit: true$/d; /^    use_exit: /d' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "5: the apply after the revert exited $RC"
    all_pairs_ping 30 || fail "5: some pairs do not ping after the revert"
    if ((FAILURES == failures)); then pass "5: office cut off by its full tunnel put its config back by itself; the report says so and names the fix; SSH works"; fi
}

# --------------------------------------------------------------------------------------------------
make_ssh_lab
make_responder
write_lab_inventory "$INV" standard
HOSTS=(relay1 web1 home office)
scenario_1
for n in 2 3 4 5; do
    selected "$n" && "scenario_$n"
done
if ((FAILURES > 0)); then
    log "$FAILURES check(s) FAILED"
    exit 1
fi
log "all scenarios passed ($PASSED)"
