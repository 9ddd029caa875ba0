#!/usr/bin/env bash
# lab/nat-relay.sh: prove on real WireGuard (userspace wireguard-go), behind real NAT, in Linux
# network namespaces, that the configs wgdeploy renders for examples/nat-relay/inventory.yaml let
# every host ping every other host's overlay address, and that NAT-ed to NAT-ed traffic really is
# relayed.
#
#   sudo lab/nat-relay.sh                    # every ordered pair must pass; exit 0 only then
#   sudo lab/nat-relay.sh --broken-proposal  # add a direct home->office peer (no endpoint) to home's
#                                            # config; exit 0 only if exactly home<->office fails
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`; WGD_LAB_HANDSHAKE_TIMEOUT (seconds, 30).
# See lab/README.md. Needs root. Never touches the root network namespace except for creating
# namespaces (no addresses, routes or links there).
set -euo pipefail

# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INVENTORY="$REPO/examples/nat-relay/inventory.yaml"
MODE=normal

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --broken-proposal) MODE=broken ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# State, logging, the cleanup trap and the building blocks (make_*, in_host, wg_up, wait_handshakes,
# ping_matrix, check_relayed, has_peer, ...). PREFIX is wgd-lab-<pid>-.
# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

# --------------------------------------------------------------------------------------------------
# Scenario-specific checks
# --------------------------------------------------------------------------------------------------
# forward_rules_do_not_stack: restarting the relay runs its PostUp again; the rendered
# `iptables -C … || iptables -I …` must leave exactly one FORWARD accept, and PostDown must remove it.
forward_rules_do_not_stack() {
    local conf="/etc/wireguard/$IFACE.conf" count
    count_rules() { in_host relay1 iptables -S FORWARD | grep -c -- "-i $IFACE -o $IFACE -j ACCEPT" || true; }
    in_host relay1 wg-quick down "$conf" >/dev/null 2>&1 || die "wg-quick down failed on relay1"
    count=$(count_rules)
    [[ $count == 0 ]] || { echo "FAIL: PostDown left $count FORWARD rule(s) on relay1"; return 1; }
    # Simulate a rule left behind by an earlier run, then bring the interface up again.
    in_host relay1 iptables -I FORWARD -i "$IFACE" -o "$IFACE" -j ACCEPT
    in_host relay1 wg-quick up "$conf" >/dev/null 2>&1 || die "wg-quick up failed on relay1 after restart"
    count=$(count_rules)
    [[ $count == 1 ]] || { echo "FAIL: relay1 has $count FORWARD accepts after a restart (rules stacked)"; return 1; }
    echo "ok: relay1 restarted with a leftover rule present: still exactly 1 FORWARD accept"
}

# --------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------
# break_proposal: the seed PR's layout, home lists office directly (its /32, no endpoint)
break_proposal() {
    local conf="${CONF[home]}"
    cat >>"$conf" <<EOF

[Peer]
# Name = office (hand-added "broken proposal": NAT-ed host listing a NAT-ed host, no endpoint)
PublicKey = $(pubkey_of "${CONF[office]}")
AllowedIPs = ${OVERLAY[office]}/32
EOF
    log "broken proposal: added a direct [Peer] for office (${OVERLAY[office]}/32, no endpoint) to home"
}

main() {
    WORK=$(mktemp -d /tmp/wgd-lab.XXXXXX)
    chmod 700 "$WORK"
    log "mode: $MODE; prefix: $PREFIX; workdir: $WORK"
    HOSTS=(relay1 web1 home office)
    render_lab "$INVENTORY"
    local h

    log "building the lab"
    make_standard_lab

    # Every Endpoint the renderer wrote must be a public host of this lab.
    local ep
    while read -r ep; do
        [[ $ep == 198.51.100.1:* || $ep == 198.51.100.2:* ]] || die "unexpected Endpoint $ep in rendered configs"
    done < <(grep -h '^Endpoint' "$WORK"/render/*/"$IFACE.conf" | sed 's/.*= *//')

    check_nat_closed home nat-home 198.18.1.0/24
    check_nat_closed office nat-office 198.18.2.0/24

    [[ $MODE == broken ]] && break_proposal

    log "wg-quick up on every host"
    for h in "${HOSTS[@]}"; do wg_up "$h" "${CONF[$h]}"; done
    local fwd
    fwd=$(in_host relay1 sysctl -n net.ipv4.ip_forward)
    log "relay1 PostUp ran: net.ipv4.ip_forward=$fwd, FORWARD rule: $(in_host relay1 iptables -S FORWARD | grep -- "-i $IFACE" || echo none)"
    [[ $fwd == 1 ]] || die "relay1's PostUp did not enable forwarding"
    wait_handshakes
    show_endpoints relay1

    ping_matrix

    local passed=0 failed=0 bad=0 k want
    for k in "${!RESULT[@]}"; do
        if [[ ${RESULT[$k]} == ok ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        want=ok
        [[ $MODE == broken && ($k == "home>office" || $k == "office>home") ]] && want=FAIL
        if [[ ${RESULT[$k]} != "$want" ]]; then
            echo "unexpected: $k ${RESULT[$k]} (expected $want)"
            bad=$((bad + 1))
        fi
    done

    # Structural checks on the live interfaces.
    if [[ $MODE == normal ]]; then
        for k in "home office" "office home"; do
            set -- $k
            if has_peer "$1" "$2"; then
                echo "FAIL: $1 has a peer entry for $2"; bad=$((bad + 1))
            else
                echo "ok: $1 has no peer entry for $2"
            fi
        done
        check_relayed home office relay1 || bad=$((bad + 1))
        check_relayed office home relay1 || bad=$((bad + 1))
        forward_rules_do_not_stack || bad=$((bad + 1))
    else
        has_peer home office && echo "ok: home lists office directly (the broken proposal is live)" ||
            { echo "FAIL: the broken peer is not live on home"; bad=$((bad + 1)); }
        # Where the packets die (informational):
        relay_deltas home office relay1
        if ((D_FWD == 0)); then
            echo "  => home's packets for office pick peer office (longest prefix), which has no endpoint: nothing reaches relay1"
        fi
        relay_deltas office home relay1
        if ((D_FWD > 0 && D_FWD < 2 * RELAY_N)); then
            echo "  => relay1 forwards office's requests to home, which drops them: inner source ${OVERLAY[office]}" \
                "belongs to peer office in home's AllowedIPs, not to relay1 (no replies come back)"
        fi
    fi

    echo
    echo "$passed passed, $failed failed"
    if ((bad)); then
        log "RESULT: FAIL ($bad unexpected outcomes, mode $MODE)"
        return 1
    fi
    if [[ $MODE == broken ]]; then
        log "RESULT: OK: exactly home<->office failed with the broken proposal, as predicted"
    else
        log "RESULT: OK: every ordered pair reached, home<->office relayed by relay1"
    fi
}

main
