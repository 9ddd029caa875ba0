#!/usr/bin/env bash
# lab/dual-stack.sh: endpoints per address family on real WireGuard (userspace wireguard-go), in
# Linux network namespaces. The lab internet carries IPv4 and IPv6: relay1 has an address of each
# family, web6 has IPv6 only, home and office sit behind IPv4-only NAT routers. wgdeploy must give
# home and office the relay's IPv4 endpoint and web6 its IPv6 one, and every host must reach every
# other (home/office <-> web6 through relay1, since they share no family).
# Then the issue's case: home told to dial the relay's IPv6 endpoint. `wgdeploy check --configs`
# must call it unreachable, and real ping must agree.
#
#   sudo lab/dual-stack.sh
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`; WGD_LAB_HANDSHAKE_TIMEOUT (seconds, 30).
# See lab/README.md. Needs root. Never touches the root network namespace except for creating
# namespaces (no addresses, routes or links there).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${1:-} in
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
esac
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

# The lab internet's IPv6 (fd00::/8, inside the lab's namespaces only).
V6_NET=fd00:5133:6400
RELAY_V6="$V6_NET::1"
WEB6_V6="$V6_NET::20"

# add_v6 HOST_NS ADDR: an IPv6 address on eth0, usable at once (no duplicate address detection)
add_v6() {
    ip -n "$1" addr add "$2/64" dev eth0 nodad
}

# make_v6_only_host HOST ADDR: a host on the lab internet with an IPv6 address and no IPv4 at all
make_v6_only_host() {
    local host=$1 port
    make_host "$host"
    VETH_SEQ=$((VETH_SEQ + 1))
    port="p$VETH_SEQ"
    ip -n "$INET_NS" link add "$port" type veth peer name eth0 netns "${HOST_NS[$host]}"
    ip -n "$INET_NS" link set "$port" master br0 up
    ip -n "${HOST_NS[$host]}" link set eth0 up
    add_v6 "${HOST_NS[$host]}" "$2"
    UNDERLAY[$host]=$2
}

write_inventory() {
    cat >"$WORK/inventory.yaml" <<EOF
network:
  addresses: [100.64.0.0/24]
hosts:
  relay1:
    endpoint: [198.51.100.1, "[$RELAY_V6]:51820"]
    relay: true
  web6:
    endpoint: "[$WEB6_V6]:51820"
  home: {}
  office: {}
EOF
}

# endpoint_in CONF PEER: the Endpoint a config gives the peer named PEER ("" when none)
endpoint_in() {
    awk -v peer="$2" '
        /^\[Peer\]/ { mine = 0 }
        $0 == "# Name = " peer { mine = 1 }
        mine && $1 == "Endpoint" { print $3; exit }' "$1"
}

expect_endpoint() {
    local got
    got=$(endpoint_in "${CONF[$1]}" "$2")
    if [[ $got == "$3" ]]; then pass "$1 dials $2 at $3"; else fail "$1 dials $2 at '$got', expected $3"; fi
}

main() {
    WORK=$(mktemp -d /tmp/wgd-lab.XXXXXX)
    chmod 700 "$WORK"
    PASSED=0 FAILURES=0
    log "prefix: $PREFIX; workdir: $WORK"
    HOSTS=(relay1 web6 home office)
    write_inventory
    render_lab "$WORK/inventory.yaml"

    # What wgdeploy chose, before anything runs.
    expect_endpoint home relay1 198.51.100.1:51820
    expect_endpoint office relay1 198.51.100.1:51820
    expect_endpoint web6 relay1 "[$RELAY_V6]:51820"
    expect_endpoint relay1 web6 "[$WEB6_V6]:51820"
    if grep -q "# Name = web6" "${CONF[home]}"; then fail "home lists web6 (no common family)"; else pass "home does not list web6"; fi
    if "$WGDEPLOY" check "$WORK/inventory.yaml" --state "$WORK/render/state.json" >"$WORK/check.txt"; then
        pass "wgdeploy check: every pair reachable"
    else
        cat "$WORK/check.txt"; fail "wgdeploy check did not prove the inventory"
    fi

    log "building the lab (IPv4 and IPv6 internet)"
    make_internet
    make_public_host relay1 198.51.100.1
    add_v6 "${HOST_NS[relay1]}" "$RELAY_V6"
    make_v6_only_host web6 "$WEB6_V6"
    make_nat_router nat-home 198.51.100.11 198.18.1
    make_nat_router nat-office 198.51.100.12 198.18.2
    make_nat_host home nat-home 198.18.1.2
    make_nat_host office nat-office 198.18.2.2
    check_nat_closed home nat-home 198.18.1.0/24
    check_nat_closed office nat-office 198.18.2.0/24
    # The underlay families are real: web6 has no IPv4, home has no IPv6 route.
    if in_host web6 ip -4 -o addr show scope global | grep -q .; then fail "web6 has an IPv4 address"; else pass "web6 has no IPv4 address"; fi
    if in_host home ping -q -n -c 1 -W 1 "$RELAY_V6" >/dev/null 2>&1; then fail "home reaches the relay over IPv6"; else pass "home cannot reach the relay over IPv6"; fi
    if in_host web6 ping -q -n -c 1 -W 2 "$RELAY_V6" >/dev/null 2>&1; then pass "web6 reaches the relay over IPv6"; else fail "web6 cannot reach the relay over IPv6"; fi

    log "wg-quick up on every host"
    local h
    for h in "${HOSTS[@]}"; do wg_up "$h" "${CONF[$h]}"; done
    wait_handshakes
    ping_matrix
    local k
    for k in "${!RESULT[@]}"; do
        if [[ ${RESULT[$k]} == ok ]]; then pass "ping $k"; else fail "ping $k"; fi
    done
    show_endpoints relay1
    if check_relayed home web6 relay1; then pass "home -> web6 relayed by relay1"; else fail "home -> web6 not relayed"; fi
    if check_relayed web6 office relay1; then pass "web6 -> office relayed by relay1"; else fail "web6 -> office not relayed"; fi

    # The issue's case: home told to dial the relay's IPv6 endpoint.
    log "home now dials the relay's IPv6 endpoint (the issue's case)"
    local broken="$WORK/broken"
    mkdir -p "$broken"
    for h in "${HOSTS[@]}"; do install -m 600 "${CONF[$h]}" "$broken/$h.conf"; done
    sed -i "s/^Endpoint = 198.51.100.1:51820$/Endpoint = [$RELAY_V6]:51820/" "$broken/home.conf"
    grep -q "^Endpoint = \[$RELAY_V6\]:51820$" "$broken/home.conf" || die "could not rewrite home's endpoint"
    local verdict
    verdict=$("$WGDEPLOY" check --configs "$broken" --nat home,office --json || true)
    if jq -e '[.pairs[] | select(.from == "home" and .to == "relay1")][0] | .verdict == "unreachable" and (.rule | contains("has only IPv4"))' <<<"$verdict" >/dev/null; then
        pass "check --configs: home -> relay1 unreachable ($(jq -r '[.pairs[] | select(.from == "home" and .to == "relay1")][0].rule' <<<"$verdict"))"
    else
        fail "check --configs did not report home's IPv6 endpoint: $(jq -c '[.pairs[] | select(.from == "home")]' <<<"$verdict")"
    fi
    in_host home wg-quick down "/etc/wireguard/$IFACE.conf" >/dev/null 2>&1 || die "wg-quick down failed on home"
    wg_up home "$broken/home.conf"
    sleep 3
    if in_host home ping -q -n -c 3 -W 2 -i 0.2 "${OVERLAY[relay1]}" >/dev/null 2>&1; then
        fail "home still reaches relay1 with an IPv6 endpoint (check would be wrong)"
    else
        pass "home cannot reach relay1 with the IPv6 endpoint, as check says"
    fi

    echo
    echo "$PASSED passed, $FAILURES failed"
    if ((FAILURES)); then
        log "RESULT: FAIL"
        return 1
    fi
    log "RESULT: OK: each host dialled an endpoint of its family, every pair reached; the v4 host told to dial v6 fails, as check predicts"
}

main
