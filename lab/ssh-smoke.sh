#!/usr/bin/env bash
# lab/ssh-smoke.sh: prove the operator side of the lab: every lab host runs a real sshd on the
# management network, and the plain OpenSSH client, run from the ops namespace, deploys and runs
# WireGuard there exactly as wgdeploy will.
#
#   sudo lab/ssh-smoke.sh        # exit 0 only if every check passes; last line "N passed, M failed"
#
# Builds make_ssh_lab (relay1, web1, home and office behind their NATs, sshd on 198.18.0.1-4), then
# over ssh (StrictHostKeyChecking=yes, the lab's known_hosts, BatchMode):
#   1. `hostname` on every host answers that host's name (the session runs in its namespaces);
#   2. installs the rendered examples/nat-relay configs with `cat > /etc/wireguard/wg0.conf` and runs
#      `wg-quick up wg0`: each ssh must return promptly, and the interface must outlive the session;
#   3. every host pings every other overlay address, home<->office relayed by relay1;
#   4. `wg-quick down wg0`, then `wg-quick up wg0` again (a restart), and pings again;
#   5. a host whose key is not in known_hosts is refused, and accepted once its key is added.
# It also checks the management network opens no path around the NATs.
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`; WGD_LAB_HANDSHAKE_TIMEOUT (seconds, 30).
# Needs root. Cleans up on exit, also on failure: processes by pid, then the namespaces.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INVENTORY="$REPO/examples/nat-relay/inventory.yaml"
PROMPT_LIMIT=10          # seconds a `wg-quick up` over ssh may take before it counts as hanging
# The remote command that brings WireGuard up. No pty (ssh's default with a command): wireguard-go
# daemonizes itself (re-exec, stdio on /dev/null, reparented to init) and nothing sends it SIGHUP,
# so plain wg-quick returns in ~0.5 s and the interface stays. Over a pty (ssh -t) the daemon would
# be killed by SIGHUP when the session ends: there use `setsid -w wg-quick up wg0` (checked below).
WG_UP="wg-quick up wg0"
WG_DOWN="wg-quick down wg0"

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
case ${1:-} in
    "") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

# The plain OpenSSH client, run from ops with the lab's key and known_hosts (set once the lab has
# its keys). -F /dev/null: no user or system ssh_config.
SSH=()
set_ssh() {
    SSH=(ssh -F /dev/null -i "$SSH_DIR/id_ed25519" -o IdentitiesOnly=yes
        -o UserKnownHostsFile="$SSH_DIR/known_hosts" -o GlobalKnownHostsFile=/dev/null
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5)
}

# ssh_as HOST CMD: run CMD on HOST over ssh
ssh_as() {
    local host=$1; shift
    in_ops "${SSH[@]}" "root@${MGMT[$host]}" "$@"
}

# timed_ssh HOST CMD: run CMD over ssh with a hard limit; sets ELAPSED (seconds, 2 decimals) and RC
timed_ssh() {
    local host=$1 t0 t1; shift
    t0=$EPOCHREALTIME
    RC=0
    in_ops timeout $((PROMPT_LIMIT * 3)) "${SSH[@]}" "root@${MGMT[$host]}" "$@" \
        >"$WORK/hosts/$host/ssh-cmd.log" 2>&1 </dev/null || RC=$?
    t1=$EPOCHREALTIME
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# wg_alive HOST: the interface exists and its userspace daemon answers
wg_alive() {
    in_host "$1" ip link show "$IFACE" >/dev/null 2>&1 && in_host "$1" wg show "$IFACE" >/dev/null 2>&1
}

# wg_daemon HOST: "pid P ppid Q" of the wireguard-go process in HOST's network namespace
wg_daemon() {
    local p
    for p in $(lab_pids "${HOST_NS[$1]}"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == wireguard-go ]] || continue
        echo "pid $p ppid $(awk '{print $4}' "/proc/$p/stat")"
        return 0
    done
    echo "no wireguard-go"
}

# all_pairs_ok: every ordered pair in RESULT is ok
all_pairs_ok() {
    local k bad=0
    for k in "${!RESULT[@]}"; do [[ ${RESULT[$k]} == ok ]] || bad=$((bad + 1)); done
    ((bad == 0 && ${#RESULT[@]} == ${#HOSTS[@]} * (${#HOSTS[@]} - 1)))
}

# --------------------------------------------------------------------------------------------------
check_management_network() {
    log "management network: no path around the NATs"
    local h gw
    declare -A want_gw=([home]=198.18.1.1 [office]=198.18.2.1)
    for h in home office; do
        gw=$(ip -n "${HOST_NS[$h]}" -4 route show default | awk '{print $3; exit}')
        if [[ $gw == "${want_gw[$h]}" ]]; then
            pass "$h: default route via its NAT router ($gw)"
        else
            fail "$h: default route is '$gw', not its NAT router (${want_gw[$h]})"
        fi
        if [[ $(ip -n "${HOST_NS[$h]}" -4 route show dev mgmt0) == "198.18.0.0/24 "* &&
              $(ip -n "${HOST_NS[$h]}" -4 route show dev mgmt0 | wc -l) == 1 ]]; then
            pass "$h: mgmt0 carries only 198.18.0.0/24"
        else
            fail "$h: unexpected routes on mgmt0: $(ip -n "${HOST_NS[$h]}" -4 route show dev mgmt0 | xargs)"
        fi
    done
    if in_host home ping -q -n -c 1 -W 1 "${MGMT[office]}" >/dev/null 2>&1 ||
       in_host home ping -q -n -c 1 -W 1 "${MGMT[relay1]}" >/dev/null 2>&1; then
        fail "home reaches other hosts over mgmt (bridge ports not isolated)"
    else
        pass "hosts cannot reach each other over mgmt (isolated bridge ports), only ops"
    fi
    # 3 = NET_ADDR_SET: the bridge keeps its MAC as ports join (see add_bridge in lib.sh); an
    # inherited one changed under the hosts' ARP caches and lost pings to ops at random.
    if [[ $(nsx "$OPS_NS" cat /sys/class/net/mgmt/addr_assign_type) == 3 ]]; then
        pass "the mgmt bridge has a fixed MAC address"
    else
        fail "the mgmt bridge's MAC follows its ports (hosts' ARP entries for ops go stale)"
    fi
    if in_host home ping -q -n -c 3 -W 2 -i 0.2 "$MGMT_OPS" >/dev/null 2>&1; then
        pass "home reaches ops ($MGMT_OPS) over mgmt"
    else
        fail "home cannot reach ops over mgmt"
    fi
    if in_ops ping -q -n -c 1 -W 1 198.51.100.1 >/dev/null 2>&1; then
        fail "ops reaches the lab internet"
    else
        pass "ops has no route to the lab internet"
    fi
    if [[ $(in_ops sysctl -n net.ipv4.ip_forward) == 0 ]]; then pass "ops does not forward"; else fail "ops forwards"; fi
    # The NATs are still closed with mgmt in place (dies otherwise).
    check_nat_closed home nat-home 198.18.1.0/24
    check_nat_closed office nat-office 198.18.2.0/24
    pass "home and office stay unreachable from the lab internet (check_nat_closed)"
}

step1_hostnames() {
    log "1. hostname over ssh"
    local h out env
    for h in "${HOSTS[@]}"; do
        if out=$(ssh_as "$h" hostname 2>&1) && [[ $out == "$h" ]]; then
            pass "ssh root@${MGMT[$h]} hostname -> $out"
        else
            fail "ssh root@${MGMT[$h]} hostname -> '$out' (expected $h)"
        fi
    done
    # A session's home is the host's own /root: what it writes to ~ stays in the host
    local marker=".wgd-lab-marker-$$"
    if ssh_as home "pwd && touch ~/$marker" >/dev/null 2>&1 && [[ -e $WORK/hosts/home/root/$marker ]] &&
        [[ ! -e /root/$marker && ! -e $WORK/hosts/office/root/$marker ]]; then
        pass "home's session writes ~ into home's own /root, not the machine's or office's"
    else
        fail "home's ~ is not private to home"
    fi
    rm -f "/root/$marker"
    # sshd_config SetEnv reaches the session
    # shellcheck disable=SC2016  # expanded by the remote shell
    env=$(ssh_as home 'echo "$WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"' 2>&1)
    if [[ $env == 1 ]]; then
        pass "sshd SetEnv: WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 in the session"
    else
        fail "sshd SetEnv did not reach the session (got '$env')"
    fi
}

step2_deploy() {
    log "2. render, copy over ssh, $WG_UP over ssh"
    render_lab "$INVENTORY"
    local h mode
    for h in "${HOSTS[@]}"; do
        ssh_as "$h" "umask 077 && cat > /etc/wireguard/$IFACE.conf" <"${CONF[$h]}" ||
            { fail "$h: copying $IFACE.conf over ssh failed"; continue; }
        mode=$(in_host "$h" stat -c %a "/etc/wireguard/$IFACE.conf")
        if in_host "$h" cmp -s "/etc/wireguard/$IFACE.conf" "${CONF[$h]}" && [[ $mode == 600 ]]; then
            pass "$h: /etc/wireguard/$IFACE.conf installed over ssh (mode $mode, in the host's private /etc/wireguard)"
        else
            fail "$h: installed config differs or mode is $mode"
        fi
    done
    wg_up_all "up"
}

# wg_up_all WHAT: `$WG_UP` over ssh on every host; each must return within PROMPT_LIMIT and the
# interface must be there after the session ended
wg_up_all() {
    local h
    for h in "${HOSTS[@]}"; do
        timed_ssh "$h" "$WG_UP"
        if ((RC == 0)) && awk -v e="$ELAPSED" -v l="$PROMPT_LIMIT" 'BEGIN { exit !(e < l) }'; then
            pass "$h: ssh '$WG_UP' ($1) returned 0 in ${ELAPSED}s"
        else
            fail "$h: ssh '$WG_UP' ($1) returned $RC after ${ELAPSED}s"
            sed 's/^/    /' "$WORK/hosts/$h/ssh-cmd.log" >&2
        fi
    done
    # Every session has ended now: the daemons must have survived them.
    sleep 0.5
    for h in "${HOSTS[@]}"; do
        if wg_alive "$h" && [[ $(ssh_as "$h" "wg show $IFACE listen-port" 2>/dev/null) =~ ^[0-9]+$ ]]; then
            pass "$h: $IFACE still up after the ssh session ended (wireguard-go $(wg_daemon "$h"))"
        else
            fail "$h: $IFACE is gone after the ssh session ended"
        fi
    done
}

# pings WHAT: wait for the keepalive handshakes, ping every ordered pair, home<->office via relay1
pings() {
    local what=$1 ep
    wait_handshakes
    ping_matrix
    if all_pairs_ok; then
        pass "$what: all ${#RESULT[@]} ordered pairs reach each other"
    else
        fail "$what: some pairs failed (matrix above)"
    fi
    local a b
    for a in home office; do
        b=home; [[ $a == home ]] && b=office
        if check_relayed "$a" "$b" relay1; then
            pass "$what: $a -> $b relayed by relay1"
        else
            fail "$what: $a -> $b not relayed by relay1"
        fi
    done
    # relay1 sees the NAT-ed hosts at their routers' WAN addresses: WireGuard took the lab
    # internet through the NATs, not a management-network shortcut.
    local h pk
    for h in home office; do
        pk=$(pubkey_of "${CONF[$h]}")
        ep=$(in_host relay1 wg show "$IFACE" endpoints | awk -v pk="$pk" '$1 == pk { print $2 }')
        if [[ $ep == "${UNDERLAY[nat-$h]}":* ]]; then
            pass "$what: relay1 sees $h at $ep (its NAT router's WAN)"
        else
            fail "$what: relay1 sees $h at '$ep', expected ${UNDERLAY[nat-$h]}:*"
        fi
    done
}

step4_restart() {
    log "4. restart over ssh: $WG_DOWN, then $WG_UP"
    local h
    for h in "${HOSTS[@]}"; do
        timed_ssh "$h" "$WG_DOWN"
        if ((RC == 0)) && ! in_host "$h" ip link show "$IFACE" >/dev/null 2>&1; then
            pass "$h: ssh '$WG_DOWN' returned 0 in ${ELAPSED}s, $IFACE gone"
        else
            fail "$h: ssh '$WG_DOWN' returned $RC, or $IFACE is still there"
        fi
    done
    if [[ -z $(in_host relay1 iptables -S FORWARD | grep -- "-i $IFACE -o $IFACE" || true) ]]; then
        pass "relay1: PostDown removed its FORWARD rule"
    else
        fail "relay1: FORWARD rule left after down"
    fi
    wg_up_all "restart"
    pings "after restart"
}

# pty: ssh -t gives the session a terminal; when it closes, the session's processes get SIGHUP,
# and wireguard-go (same session) would die with it. setsid -w gives wg-quick a session of its
# own without a terminal, waits for it, and returns its exit status.
step_pty() {
    log "pty session (ssh -tt): setsid -w $WG_UP"
    local h=web1
    ssh_as "$h" "$WG_DOWN" >/dev/null 2>&1 || true
    RC=0
    in_ops timeout $((PROMPT_LIMIT * 3)) "${SSH[@]}" -tt "root@${MGMT[$h]}" "setsid -w $WG_UP" \
        >/dev/null 2>&1 </dev/null || RC=$?
    sleep 1
    if ((RC == 0)) && wg_alive "$h"; then
        pass "$h: over a pty, 'setsid -w $WG_UP' returned 0 and $IFACE outlived the session"
    else
        fail "$h: over a pty, 'setsid -w $WG_UP' returned $RC, $IFACE alive: $(wg_alive "$h" && echo yes || echo no)"
    fi
}

step5_unknown_host_key() {
    log "5. a host whose key is not in known_hosts"
    make_public_host stranger 198.51.100.20
    start_sshd stranger 9 --no-known-hosts
    local out rc=0
    out=$(ssh_as stranger hostname 2>&1) || rc=$?
    if ((rc == 255)) && [[ $out == *"Host key verification failed"* ]]; then
        pass "stranger (${MGMT[stranger]}, key not in known_hosts): refused: ${out##*$'\n'}"
    else
        fail "stranger: expected a refused host key, got rc $rc: $out"
    fi
    known_hosts_add stranger
    out=$(ssh_as stranger hostname 2>&1) || true
    if [[ $out == stranger ]]; then
        pass "stranger accepted once known_hosts_add stranger ran"
    else
        fail "stranger still refused after known_hosts_add: $out"
    fi
}

# The inventories write_lab_inventory writes are valid wgdeploy inventories.
check_inventories() {
    log "write_lab_inventory: the lab inventories validate"
    local kind file
    for kind in standard two-relays "scale 8" "scale 100"; do
        file="$WORK/inventory-${kind// /-}.yaml"
        # shellcheck disable=SC2086  # "scale N" is two arguments
        write_lab_inventory "$file" $kind
        if "$WGDEPLOY" plan --offline "$file" --state "$WORK/state-${kind// /-}.json" >"$file.plan" 2>&1; then
            pass "write_lab_inventory $kind: wgdeploy plan --offline accepts it"
        else
            fail "write_lab_inventory $kind: wgdeploy plan --offline rejects it: $(head -5 "$file.plan")"
        fi
    done
}

main() {
    WORK=$(mktemp -d /tmp/wgd-lab.XXXXXX)
    chmod 700 "$WORK"
    log "prefix: $PREFIX; workdir: $WORK"
    wgdeploy_bin

    log "building the ssh lab"
    make_ssh_lab
    set_ssh
    HOSTS=(relay1 web1 home office)
    pass "sshd on ${HOSTS[*]} (mgmt $(for h in "${HOSTS[@]}"; do printf '%s ' "${MGMT[$h]}"; done| xargs)), pids $(for h in "${HOSTS[@]}"; do printf '%s ' "${SSHD_PID[$h]}"; done | xargs)"

    check_management_network
    step1_hostnames
    step2_deploy
    log "3. pings"
    pings "after up over ssh"
    step4_restart
    step_pty
    step5_unknown_host_key
    check_inventories

    echo
    echo "$PASSED passed, $FAILURES failed"
    if ((FAILURES)); then
        log "RESULT: FAIL"
        return 1
    fi
    log "RESULT: OK: wgdeploy's configs deployed and restarted over real SSH into every lab host"
}

main
