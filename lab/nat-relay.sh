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
PREFIX="wgd-lab-$$-"                 # every namespace of this run starts with this
IFACE=wg0
HANDSHAKE_TIMEOUT=${WGD_LAB_HANDSHAKE_TIMEOUT:-30}
MODE=normal

# wg-quick falls back to wireguard-go when the kernel has no module; wireguard-go refuses on Linux
# without this. nsenter/ip netns exec keep the environment, so exporting once is enough.
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1

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

# --------------------------------------------------------------------------------------------------
# State (everything cleanup needs to undo)
# --------------------------------------------------------------------------------------------------
WORK=""                  # temp dir: rendered configs, per-host /run and /etc/wireguard, logs
NAMESPACES=()            # namespaces we created, in creation order
declare -A HOLDER=()     # host -> pid of the long-lived process holding its mount+UTS namespaces
declare -A HOST_NS=()    # host -> network namespace name
declare -A OVERLAY=()    # host -> overlay IPv4 address (read from the rendered config)
declare -A UNDERLAY=()   # host -> its address on the lab internet (public hosts and NAT routers)
declare -A RESULT=()     # "src>dst" -> ok | FAIL
HOSTS=()                 # WireGuard hosts, in display order
INET_NS=""               # namespace holding the lab internet bridge
VETH_SEQ=0
START=$SECONDS

# Log through a saved copy of stderr: a trap can fire while a function's output is redirected to
# /dev/null (e.g. during `in_host ... ping >/dev/null 2>&1`), and cleanup must still be heard.
exec {LOG_FD}>&2
log() { printf '[%3ds] %s\n' $((SECONDS - START)) "$*" >&"$LOG_FD"; }
die() { log "FATAL: $*"; exit 1; }

# --------------------------------------------------------------------------------------------------
# Cleanup: always runs (EXIT trap), tolerates a half-built lab.
# --------------------------------------------------------------------------------------------------
cleanup() {
    local rc=$? ns pids pid i
    trap - EXIT INT TERM
    set +e
    log "cleanup: stopping processes and deleting namespaces (exit status $rc)"
    # Everything we ever created, plus anything carrying our unique prefix (belt and braces).
    local all=("${NAMESPACES[@]}")
    while read -r ns _; do
        [[ $ns == "$PREFIX"* ]] && all+=("$ns")
    done < <(ip netns list 2>/dev/null)
    # 1. TERM every process living in our namespaces (wireguard-go daemons, holders), by pid.
    pids=()
    for ns in "${all[@]}"; do
        [[ -e /run/netns/$ns ]] || continue
        pids+=($(ip netns pids "$ns" 2>/dev/null))
    done
    pids+=("${HOLDER[@]}")
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    # 2. Delete the namespaces (this also removes their links, the bridges and iptables rules).
    for ns in "${all[@]}"; do
        [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    done
    # 3. Temp files. Bind mounts only ever existed inside private mount namespaces.
    [[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
    log "cleanup done; total time $((SECONDS - START))s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------
# new_netns SHORT -> creates "$PREFIX$SHORT", lo up, prints nothing; name in NS_NAME
new_netns() {
    NS_NAME="$PREFIX$1"
    ip netns add "$NS_NAME"
    NAMESPACES+=("$NS_NAME")
    ip -n "$NS_NAME" link set lo up
}

# nsx NS CMD...: run in a namespace that has no per-host mount namespace (internet, routers)
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# in_host HOST CMD...: run inside a lab host's network + mount + UTS namespaces
in_host() {
    local host=$1; shift
    nsenter --target "${HOLDER[$host]}" --net --mount --uts -- "$@"
}

# make_internet: the lab "internet" 198.51.100.0/24, a bridge inside its own namespace
make_internet() {
    new_netns inet
    INET_NS=$NS_NAME
    ip -n "$INET_NS" link add br0 type bridge
    ip -n "$INET_NS" link set br0 up
}

# attach NS IFNAME ADDR/LEN BRIDGE_NS BRIDGE: veth from a bridge in BRIDGE_NS into NS as IFNAME.
# Both ends are created directly inside their namespaces; nothing appears in the root namespace.
attach() {
    local ns=$1 ifname=$2 addr=$3 brns=$4 br=$5
    VETH_SEQ=$((VETH_SEQ + 1))
    local port="p$VETH_SEQ"
    ip -n "$brns" link add "$port" type veth peer name "$ifname" netns "$ns"
    ip -n "$brns" link set "$port" master "$br" up
    ip -n "$ns" addr add "$addr" dev "$ifname"
    ip -n "$ns" link set "$ifname" up
}

# make_host HOST: network namespace + a long-lived holder process owning private mount and UTS
# namespaces, with per-host directories bind-mounted over /run (so /run/wireguard control sockets
# are private), /etc/wireguard and /etc/sysctl.d, and the hostname set to HOST.
make_host() {
    local host=$1 dir="$WORK/hosts/$1"
    new_netns "$host"
    HOST_NS[$host]=$NS_NAME
    mkdir -p "$dir/run/wireguard" "$dir/etc-wireguard" "$dir/sysctl.d"
    chmod 700 "$dir/etc-wireguard"
    # `ip netns exec` execs unshare, which execs sh, which execs sleep: $! stays the holder's pid.
    ip netns exec "$NS_NAME" unshare --mount --uts --propagation private -- sh -c '
        set -e
        mount --bind "$1/run" /run
        mount --bind "$1/etc-wireguard" /etc/wireguard
        mount --bind "$1/sysctl.d" /etc/sysctl.d
        hostname "$2"
        touch "$1/ready"
        exec sleep infinity' sh "$dir" "$host" </dev/null >"$dir/holder.log" 2>&1 &
    HOLDER[$host]=$!
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -e $dir/ready ]] && return 0
        kill -0 "${HOLDER[$host]}" 2>/dev/null || break
        sleep 0.1
    done
    die "holder for $host did not start: $(cat "$dir/holder.log")"
}

# make_public_host HOST ADDR: a host directly on the lab internet
make_public_host() {
    local host=$1 addr=$2
    make_host "$host"
    attach "${HOST_NS[$host]}" eth0 "$addr/24" "$INET_NS" br0
    UNDERLAY[$host]=$addr
}

# make_nat_router NAME WAN_ADDR LAN_PREFIX (e.g. 198.18.1): WAN on the lab internet, LAN bridge
# LAN_PREFIX.1/24, MASQUERADE out of WAN, forwarding on, NEW inbound from WAN dropped.
make_nat_router() {
    local name=$1 wan=$2 lan=$3 ns
    new_netns "$name"
    ns=$NS_NAME
    attach "$ns" wan "$wan/24" "$INET_NS" br0
    UNDERLAY[$name]=$wan
    ip -n "$ns" link add lan type bridge
    ip -n "$ns" addr add "$lan.1/24" dev lan
    ip -n "$ns" link set lan up
    nsx "$ns" sysctl -q -w net.ipv4.ip_forward=1
    nsx "$ns" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
    nsx "$ns" iptables -P FORWARD DROP
    nsx "$ns" iptables -A FORWARD -i lan -o wan -j ACCEPT
    nsx "$ns" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    nsx "$ns" iptables -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    nsx "$ns" iptables -A INPUT -i wan -j DROP
}

# make_nat_host HOST ROUTER ADDR: a host on ROUTER's LAN, default route via the router
make_nat_host() {
    local host=$1 router=$2 addr=$3 rns="$PREFIX$2"
    make_host "$host"
    attach "${HOST_NS[$host]}" eth0 "$addr/24" "$rns" lan
    local gw
    gw=$(ip -n "$rns" -4 -o addr show dev lan | awk '{split($4, a, "/"); print a[1]}')
    ip -n "${HOST_NS[$host]}" route add default via "$gw"
}

# check_nat_closed HOST ROUTER LAN_CIDR: HOST reaches the lab internet, but nothing on the internet
# reaches HOST, even a prober that routes LAN_CIDR via the router's WAN (NEW inbound is dropped).
check_nat_closed() {
    local host=$1 router=$2 lan=$3 probe="$PREFIX$1-probe"
    in_host "$host" ping -q -n -c 1 -W 2 198.51.100.1 >/dev/null || die "$host cannot reach the lab internet"
    new_netns "$host-probe"
    attach "$probe" eth0 198.51.100.250/24 "$INET_NS" br0
    ip -n "$probe" route add "$lan" via "${UNDERLAY[$router]}"
    nsx "$probe" ping -q -n -c 1 -W 2 198.51.100.1 >/dev/null || die "probe cannot reach relay1"
    if nsx "$probe" ping -q -n -c 1 -W 1 "$(ip -n "${HOST_NS[$host]}" -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]}')" >/dev/null 2>&1; then
        die "$host is reachable from the lab internet through $router: the NAT is open"
    fi
    if nsx "$probe" ping -q -n -c 1 -W 1 "${UNDERLAY[$router]}" >/dev/null 2>&1; then
        die "$router answers NEW inbound on its WAN"
    fi
    ip netns del "$probe"
    log "$router: $host reaches the internet; NEW inbound to $host and to the router is dropped"
}

# conf_value FILE KEY: first value of "KEY = value" in a wg-quick file
conf_value() { awk -v k="$2" '$1 == k && $2 == "=" { sub(/^[^=]*= */, ""); print; exit }' "$1"; }

# pubkey_of CONF: public key derived from the config's PrivateKey
pubkey_of() { conf_value "$1" PrivateKey | wg pubkey; }

# wg_up HOST CONF: install CONF as the host's /etc/wireguard/wg0.conf and `wg-quick up` it.
# wireguard-go daemonizes (re-execs itself detached, stdio on /dev/null) so it outlives wg-quick.
wg_up() {
    local host=$1 conf=$2 dir="$WORK/hosts/$1"
    install -m 600 "$conf" "$dir/etc-wireguard/$IFACE.conf"
    if ! in_host "$host" wg-quick up "/etc/wireguard/$IFACE.conf" >"$dir/wg-quick.log" 2>&1; then
        cat "$dir/wg-quick.log" >&2
        die "wg-quick up failed on $host"
    fi
    in_host "$host" wg show "$IFACE" >/dev/null || die "$host: $IFACE not answering after wg-quick up"
}

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

# wait_handshakes: every peer configured with PersistentKeepalive (the NAT-ed side of each NAT
# crossing) must complete a handshake. Public<->public pairs have no keepalive and handshake on
# first traffic, so they are not waited for.
wait_handshakes() {
    local deadline=$((SECONDS + HANDSHAKE_TIMEOUT)) host pending
    while :; do
        pending=()
        for host in "${HOSTS[@]}"; do
            # dump, peer lines: pubkey psk endpoint allowed-ips latest-handshake rx tx keepalive
            while read -r pk _ ep _ hs _ _ ka; do
                [[ $ka != off && $hs == 0 ]] && pending+=("$host->$ep")
            done < <(in_host "$host" wg show "$IFACE" dump | tail -n +2)
        done
        if [[ ${#pending[@]} -eq 0 ]]; then
            log "all keepalive peers have handshaken"
            return 0
        fi
        ((SECONDS < deadline)) || die "no handshake after ${HANDSHAKE_TIMEOUT}s: ${pending[*]}"
        sleep 0.5
    done
}

# ping_matrix: ping every ordered pair of overlay addresses; fills RESULT, prints the matrix
ping_matrix() {
    local src dst
    log "pinging every ordered pair (ping -c 3 -W 2 -i 0.2)"
    for src in "${HOSTS[@]}"; do
        for dst in "${HOSTS[@]}"; do
            [[ $src == "$dst" ]] && continue
            if in_host "$src" ping -q -n -c 3 -W 2 -i 0.2 "${OVERLAY[$dst]}" >/dev/null 2>&1; then
                RESULT["$src>$dst"]=ok
            else
                RESULT["$src>$dst"]=FAIL
            fi
        done
    done
    printf '\n%-12s' 'from \ to'
    for dst in "${HOSTS[@]}"; do printf '%-16s' "$dst"; done
    printf '\n'
    for src in "${HOSTS[@]}"; do
        printf '%-12s' "$src"
        for dst in "${HOSTS[@]}"; do
            if [[ $src == "$dst" ]]; then printf '%-16s' '-'
            else printf '%-16s' "${RESULT[$src>$dst]}"; fi
        done
        printf '\n'
    done
    printf '(overlay: '
    for src in "${HOSTS[@]}"; do printf '%s=%s ' "$src" "${OVERLAY[$src]}"; done
    printf ')\n\n'
}

# peer_counter HOST PUBKEY FIELD: rx|tx bytes for one peer from `wg show dump`
peer_counter() {
    in_host "$1" wg show "$IFACE" dump | awk -v pk="$2" -v f="$3" \
        'NR > 1 && $1 == pk { print (f == "rx" ? $6 : $7) }'
}

# forward_counter HOST: packets matched by the relay's FORWARD wg0 -> wg0 ACCEPT rule
forward_counter() {
    in_host "$1" iptables -L FORWARD -n -v -x |
        awk -v i="$IFACE" '$3 == "ACCEPT" && $6 == i && $7 == i { print $1; exit }'
}

# relay_deltas SRC DST RELAY: send N big pings SRC->DST and measure on RELAY how much of it was
# forwarded wg0->wg0 (FORWARD rule packets), received from SRC and sent to DST (WireGuard bytes).
# Sets D_FWD, D_RX, D_TX, RELAY_N, RELAY_SIZE.
RELAY_N=20
RELAY_SIZE=1000
relay_deltas() {
    local src=$1 dst=$2 relay=$3 src_pk dst_pk f0 f1 rx0 rx1 tx0 tx1
    src_pk=$(pubkey_of "$WORK/render/$src/$IFACE.conf")
    dst_pk=$(pubkey_of "$WORK/render/$dst/$IFACE.conf")
    f0=$(forward_counter "$relay"); rx0=$(peer_counter "$relay" "$src_pk" rx); tx0=$(peer_counter "$relay" "$dst_pk" tx)
    in_host "$src" ping -q -n -c "$RELAY_N" -i 0.05 -W 2 -s "$RELAY_SIZE" "${OVERLAY[$dst]}" >/dev/null 2>&1 || true
    f1=$(forward_counter "$relay"); rx1=$(peer_counter "$relay" "$src_pk" rx); tx1=$(peer_counter "$relay" "$dst_pk" tx)
    D_FWD=$((f1 - f0)) D_RX=$((rx1 - rx0)) D_TX=$((tx1 - tx0))
    echo "$src -> $dst ($RELAY_N x ${RELAY_SIZE}-byte pings): on $relay FORWARD $IFACE->$IFACE +$D_FWD packets," \
        "wg rx from $src +$D_RX bytes, wg tx to $dst +$D_TX bytes"
}

# check_relayed SRC DST RELAY: SRC->DST must be decrypted, forwarded and re-encrypted by RELAY,
# requests and replies both (2N forwarded packets, N payloads in from SRC and out to DST).
check_relayed() {
    relay_deltas "$@"
    if ((D_FWD >= 2 * RELAY_N && D_RX >= RELAY_N * RELAY_SIZE && D_TX >= RELAY_N * RELAY_SIZE)); then
        echo "  => relayed by $3 (requests and replies)"
        return 0
    fi
    echo "  => NOT relayed by $3 as expected"
    return 1
}

# show_endpoints HOST: the endpoints HOST has for each peer (NAT-ed peers show their router's WAN)
show_endpoints() {
    local host=$1 h pk ep
    declare -A name=()
    for h in "${HOSTS[@]}"; do name[$(pubkey_of "$WORK/render/$h/$IFACE.conf")]=$h; done
    while read -r pk ep; do
        log "$host sees ${name[$pk]:-?} at $ep"
    done < <(in_host "$host" wg show "$IFACE" endpoints)
}

# has_peer HOST OTHER: does HOST's live interface list OTHER's public key?
has_peer() {
    local pk
    pk=$(pubkey_of "$WORK/render/$2/$IFACE.conf")
    in_host "$1" wg show "$IFACE" peers | grep -qxF "$pk"
}

# --------------------------------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------------------------------
render() {
    local bin=${WGDEPLOY:-}
    if [[ -z $bin ]]; then
        log "building wgdeploy"
        (cd "$REPO" && cargo build -q)
        bin="$REPO/target/debug/wgdeploy"
    fi
    mkdir -p "$WORK/render"
    "$bin" render "$INVENTORY" --out "$WORK/render" --state "$WORK/render/state.json" >&2
}

# break_proposal: the seed PR's layout, home lists office directly (its /32, no endpoint)
break_proposal() {
    local conf="$WORK/render/home/$IFACE.conf"
    cat >>"$conf" <<EOF

[Peer]
# Name = office (hand-added "broken proposal": NAT-ed host listing a NAT-ed host, no endpoint)
PublicKey = $(pubkey_of "$WORK/render/office/$IFACE.conf")
AllowedIPs = ${OVERLAY[office]}/32
EOF
    log "broken proposal: added a direct [Peer] for office (${OVERLAY[office]}/32, no endpoint) to home"
}

main() {
    WORK=$(mktemp -d /tmp/wgd-lab.XXXXXX)
    chmod 700 "$WORK"
    log "mode: $MODE; prefix: $PREFIX; workdir: $WORK"
    render

    HOSTS=(relay1 web1 home office)
    local h found
    found=$(cd "$WORK/render" && find . -mindepth 2 -maxdepth 2 -name "$IFACE.conf" | cut -d/ -f2 | sort | xargs)
    [[ $found == "$(printf '%s\n' "${HOSTS[@]}" | sort | xargs)" ]] ||
        die "rendered hosts ($found) are not the lab's hosts (${HOSTS[*]})"
    for h in "${HOSTS[@]}"; do
        OVERLAY[$h]=$(conf_value "$WORK/render/$h/$IFACE.conf" Address | tr ',' '\n' | grep -m1 -v : | cut -d/ -f1)
        [[ -n ${OVERLAY[$h]} ]] || die "no IPv4 Address in $h's config"
    done

    log "building the lab"
    make_internet
    make_public_host relay1 198.51.100.1
    make_public_host web1 198.51.100.2
    make_nat_router nat-home 198.51.100.11 198.18.1
    make_nat_router nat-office 198.51.100.12 198.18.2
    make_nat_host home nat-home 198.18.1.2
    make_nat_host office nat-office 198.18.2.2

    # Every Endpoint the renderer wrote must be a public host of this lab.
    local ep
    while read -r ep; do
        [[ $ep == 198.51.100.1:* || $ep == 198.51.100.2:* ]] || die "unexpected Endpoint $ep in rendered configs"
    done < <(grep -h '^Endpoint' "$WORK"/render/*/"$IFACE.conf" | sed 's/.*= *//')

    check_nat_closed home nat-home 198.18.1.0/24
    check_nat_closed office nat-office 198.18.2.0/24

    [[ $MODE == broken ]] && break_proposal

    log "wg-quick up on every host"
    for h in "${HOSTS[@]}"; do wg_up "$h" "$WORK/render/$h/$IFACE.conf"; done
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
