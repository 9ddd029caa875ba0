# lab/lib.sh: building blocks for wgdeploy's namespace labs (real WireGuard behind real NAT).
# Sourced, never run, by lab/nat-relay.sh and lab/check-agreement.sh, at the top level of the script
# and after its argument parsing and root check (the declarations below must be global).
#
# Sourcing it:
#   - sets PREFIX (namespace name prefix, unique to the run), IFACE and HANDSHAKE_TIMEOUT (from
#     WGD_LAB_HANDSHAKE_TIMEOUT, default 30 s), and exports
#     WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1;
#   - declares the lab state (below), starts the log clock, and installs the EXIT/INT/TERM traps
#     that always run `cleanup`.
# The script then sets WORK (its temp dir, removed by cleanup), HOSTS (display order), OVERLAY and
# CONF (host -> its wg-quick file), builds a topology with make_internet, make_public_host,
# make_nat_router and make_nat_host, and uses wg_up, wait_handshakes, ping_matrix and friends.
# lab_reset tears the current topology down (processes, namespaces, per-host dirs) without exiting,
# so one run can build several fresh labs in a row. See lab/README.md.

# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------
PREFIX="wgd-lab-$$-"                 # every namespace of this run starts with this
IFACE=wg0
HANDSHAKE_TIMEOUT=${WGD_LAB_HANDSHAKE_TIMEOUT:-30}

# wg-quick falls back to wireguard-go when the kernel has no module; wireguard-go refuses on Linux
# without this. nsenter/ip netns exec keep the environment, so exporting once is enough.
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1

# --------------------------------------------------------------------------------------------------
# State (everything cleanup needs to undo)
# --------------------------------------------------------------------------------------------------
WORK=""                  # temp dir: rendered configs, per-host /run and /etc/wireguard, logs
NAMESPACES=()            # namespaces we created, in creation order
declare -A HOLDER=()     # host -> pid of the long-lived process holding its mount+UTS namespaces
declare -A HOST_NS=()    # host -> network namespace name
declare -A OVERLAY=()    # host -> overlay IPv4 address (read from the host's config)
declare -A UNDERLAY=()   # host -> its address on the lab internet (public hosts and NAT routers)
declare -A CONF=()       # host -> path of its wg-quick config (for public keys)
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
# Teardown and cleanup
# --------------------------------------------------------------------------------------------------
# lab_teardown: stop every process in the run's namespaces, by pid, and delete the namespaces.
# Tolerates a half-built lab; never fails.
lab_teardown() {
    local -
    local ns pids pid i alive
    set +e
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
        alive=0
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
    return 0
}

# lab_reset: tear the current lab down and forget it, so the next make_* calls build a fresh one
# (new namespaces, new wireguard-go daemons, empty per-host /run and /etc/wireguard). WORK stays.
lab_reset() {
    lab_teardown
    NAMESPACES=()
    HOLDER=()
    HOST_NS=()
    UNDERLAY=()
    RESULT=()
    INET_NS=""
    VETH_SEQ=0
    [[ -n $WORK ]] && rm -rf "$WORK/hosts"
    local ns
    while read -r ns _; do
        [[ $ns == "$PREFIX"* ]] && die "namespace $ns survived the teardown"
    done < <(ip netns list 2>/dev/null)
    return 0
}

# cleanup: always runs (EXIT trap), tolerates a half-built lab.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    log "cleanup: stopping processes and deleting namespaces (exit status $rc)"
    lab_teardown
    # Temp files. Bind mounts only ever existed inside private mount namespaces.
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

# make_standard_lab: the topology of lab/README.md (relay1 .1 and web1 .2 public; home and office
# behind their own NAT routers .11 and .12, LANs 198.18.1.0/24 and 198.18.2.0/24)
make_standard_lab() {
    make_internet
    make_public_host relay1 198.51.100.1
    make_public_host web1 198.51.100.2
    make_nat_router nat-home 198.51.100.11 198.18.1
    make_nat_router nat-office 198.51.100.12 198.18.2
    make_nat_host home nat-home 198.18.1.2
    make_nat_host office nat-office 198.18.2.2
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

# overlay_of CONF: the first IPv4 Address of a wg-quick file, without its prefix length
overlay_of() { conf_value "$1" Address | tr ',' '\n' | tr -d ' ' | grep -m1 -v : | cut -d/ -f1; }

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

# ping_pairs: ping every ordered pair of overlay addresses; fills RESULT ("src>dst" -> ok | FAIL)
ping_pairs() {
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
}

# print_matrix: RESULT as a from/to matrix, plus the overlay addresses
print_matrix() {
    local src dst
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

# ping_matrix: ping every ordered pair of overlay addresses; fills RESULT, prints the matrix
ping_matrix() {
    ping_pairs
    print_matrix
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
    src_pk=$(pubkey_of "${CONF[$src]}")
    dst_pk=$(pubkey_of "${CONF[$dst]}")
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
    for h in "${HOSTS[@]}"; do name[$(pubkey_of "${CONF[$h]}")]=$h; done
    while read -r pk ep; do
        log "$host sees ${name[$pk]:-?} at $ep"
    done < <(in_host "$host" wg show "$IFACE" endpoints)
}

# has_peer HOST OTHER: does HOST's live interface list OTHER's public key?
has_peer() {
    local pk
    pk=$(pubkey_of "${CONF[$2]}")
    in_host "$1" wg show "$IFACE" peers | grep -qxF "$pk"
}
