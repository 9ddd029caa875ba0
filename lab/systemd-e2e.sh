#!/usr/bin/env bash
# lab/systemd-e2e.sh: wgdeploy's systemd path end to end: relay1 and home (behind NAT) boot Debian
# with systemd as PID 1 (systemd-nspawn containers of a cached Debian root, in the lab's network
# namespaces, sshd inside), web1 and office are the init-less lab hosts of apply-e2e.sh.
#
#   sudo lab/systemd-e2e.sh          # all scenarios; exit 0 only if every one passes
#   sudo lab/systemd-e2e.sh 1 4      # only these (1 always runs: it converges the lab)
#
# Scenarios (issue 15):
#   1 apply: wg-quick@wg0 enabled and active on relay1 and home, every pair pings, home<->office
#     crosses relay1; re-apply is a no-op (no write, no unit restart)
#   2 a peers-only change is a syncconf (the unit is not restarted, 0 pings lost on a continuous
#     home -> office ping through relay1); an address change restarts through the unit
#   3 lock-out protection through systemd-run: a PostUp that blocks new SSH connections on relay1
#     is reverted by the transient timer; a confirmed apply leaves no wgdeploy timer behind
#   4 reboot: relay1 and home come back with the applied config (unit enabled), relay1 forwards
#     (sysctl.d), its FORWARD rule exists once, all pairs ping, `plan` has nothing to do
#   5 an apply interrupted right after the config write (SSH sessions killed), then a reboot: the
#     config is byte-identical to the old or the new one, the unit runs it, the re-apply converges
#   6 rollback and status against the systemd hosts
#   7 an init-less host whose setsid has no -w (busybox's): a clear per-host error naming what is
#     missing; the systemd hosts, which do not need it, and the others plan normally
#
# The container root is built once per machine with mmdebstrap (about 25 s) and cached under
# /var/cache/wgdeploy-lab (WGD_LAB_CACHE). Environment: WGDEPLOY=/path/to/wgdeploy skips
# `cargo build`. Needs root, mmdebstrap and systemd-container.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELECTED=("$@")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }
for tool in mmdebstrap systemd-nspawn; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install mmdebstrap systemd-container)" >&2; exit 2; }
done

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"
# shellcheck source=lab/systemd-lib.sh
source "$REPO/lab/systemd-lib.sh"

e2e_workdir systemd
SYSTEMD_HOSTS=(relay1 home)

# unit HOST ARGS...: systemctl on HOST (a container) over SSH, e.g. `unit relay1 is-active
# wg-quick@wg0` (systemctl run by nsenter from outside cannot talk to the container's systemd: it
# is in another PID namespace); output and errors on stdout, never fails
unit() { local host=$1; shift; lab_ssh "$host" systemctl "$@" 2>&1 || true; }
# unit_pid HOST: the main pid of HOST's wg-quick@wg0 invocation: a restart gives a new
# InvocationID (wg-quick exits, so its MainPID is 0; the invocation id changes on every start)
unit_run() { unit "$1" show -p InvocationID --value "wg-quick@$IFACE"; }
# unit_journal: the wg-quick unit's journal on every systemd host (shown when something failed)
unit_journal() {
    local host
    for host in "${SYSTEMD_HOSTS[@]}"; do
        echo "--- $host: journalctl -u wg-quick@$IFACE"
        lab_ssh "$host" journalctl --no-pager -n 60 -u "wg-quick@$IFACE" 2>&1 | grep -v '│\|┌\|└' | sed 's/^/    /'
    done
}

# make_systemd_lab: the standard lab (lab_plan standard, write_lab_inventory standard) with relay1
# and home booting systemd; web1 and office as in make_ssh_lab
make_systemd_lab() {
    _lab_from_plan standard
    make_internet
    make_public_container relay1 198.51.100.1
    make_public_host web1 198.51.100.2
    make_nat_router nat-home 198.51.100.11 198.18.1
    make_nat_router nat-office 198.51.100.12 198.18.2
    make_nat_container home nat-home 198.18.1.2
    make_nat_host office nat-office 198.18.2.2
    make_ops
    lab_ssh_keys
    start_container relay1 1
    start_container home 3
    start_sshd web1 2
    start_sshd office 4
    wait_booted relay1
    wait_booted home
}

# --------------------------------------------------------------------------------------------------
scenario_1() {
    log "scenario 1: apply to systemd hosts"
    local f0=$FAILURES
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: apply exited $RC"; unit_journal; return; }
    local host state
    for host in "${SYSTEMD_HOSTS[@]}"; do
        state=$(unit "$host" is-enabled "wg-quick@$IFACE")
        [[ $state == enabled ]] || fail "1: wg-quick@$IFACE is not enabled on $host ($state)"
        state=$(unit "$host" is-active "wg-quick@$IFACE")
        [[ $state == active ]] || fail "1: wg-quick@$IFACE is not active on $host ($state)"
    done
    if all_pairs_ping 30; then pass_if "$f0" "1: apply: every pair pings; wg-quick@$IFACE enabled and active on relay1 and home"; else fail "1: some pairs do not ping"; fi
    check_relayed home office relay1 || fail "1: home -> office is not relayed by relay1"
    [[ $(in_host relay1 sysctl -n net.ipv4.ip_forward) == 1 ]] || fail "1: forwarding is off on relay1"
    grep -q 'net.ipv4.ip_forward = 1' "$WORK/hosts/relay1/sysctl.d/99-wgdeploy-$IFACE.conf" ||
        fail "1: relay1's forwarding is not persisted in sysctl.d"

    # Re-apply: nothing to do; no write, no unit restart, no apply step (its lock file is not opened).
    declare -A stamp=() run=()
    for host in "${HOSTS[@]}"; do
        stamp[$host]=$(conf_stamp "$host")
        rm -f "$WORK/hosts/$host/etc-wireguard/.$IFACE.wgdeploy.lock"
    done
    for host in "${SYSTEMD_HOSTS[@]}"; do run[$host]=$(unit_run "$host"); done
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] && grep -q "Nothing to do" "$OUT" || fail "1: re-apply exited $RC or did not say there is nothing to do"
    for host in "${HOSTS[@]}"; do
        [[ $(conf_stamp "$host") == "${stamp[$host]}" ]] || fail "1: re-apply rewrote $host's config"
        [[ -e $WORK/hosts/$host/etc-wireguard/.$IFACE.wgdeploy.lock ]] && fail "1: re-apply ran an apply step on $host"
    done
    for host in "${SYSTEMD_HOSTS[@]}"; do
        [[ $(unit_run "$host") == "${run[$host]}" ]] || fail "1: re-apply restarted wg-quick@$IFACE on $host"
    done
    pass_if "$f0" "1: re-apply is a no-op (no write, no step, no unit restart)"
}

# pass_if F0 MESSAGE: pass, unless a check failed since FAILURES was F0 (the failure said why)
pass_if() { if ((FAILURES == $1)); then pass "$2"; fi; }

# ping_gaps FILE: icmp_seq numbers never answered below the last answered one (apply-e2e scenario 3)
ping_gaps() {
    awk 'match($0, /icmp_seq=[0-9]+/) { seq = substr($0, RSTART + 9, RLENGTH - 9) + 0; got[seq] = 1; if (seq > last) last = seq }
         END { for (i = 1; i <= last; i++) if (!(i in got)) printf "%d ", i }' "$1"
}

scenario_2() {
    log "scenario 2: a peers-only change reloads without a restart; an address change restarts the unit"
    # Peers only: keepalive 25 -> 20 (home and office) and a new NAT-ed host cafe (relay1, web1).
    make_nat_router nat-cafe 198.51.100.13 198.18.3
    make_nat_host cafe nat-cafe 198.18.3.2
    start_sshd cafe 6
    cat >>"$INV" <<EOF2
  cafe:
    via: relay1
    ssh: { host: 198.18.0.6, user: root, identity: $WORK/ssh/id_ed25519 }
EOF2
    sed -i 's/^  keepalive: 25$/  keepalive: 20/' "$INV"
    local host pinger missing stats
    declare -A run=() pid=()
    for host in "${SYSTEMD_HOSTS[@]}"; do run[$host]=$(unit_run "$host"); pid[$host]=$(wg_pid "$host"); done
    refresh_overlay
    nsenter --target "${HOLDER[home]}" --net --mount --uts -- \
        ping -n -i 0.05 -c 100000 "${OVERLAY[office]}" >"$WORK/ping.log" 2>&1 &
    pinger=$!
    sleep 1
    wgd apply "$INV" --yes
    local rc=$RC
    sleep 1
    kill -ALRM "$pinger"; wait "$pinger" || true
    stats=$(grep 'packets transmitted' "$WORK/ping.log")
    missing=$(ping_gaps "$WORK/ping.log")
    log "home -> office (through relay1) during the apply: $stats; unanswered before the last reply: ${missing:-none}"
    [[ $rc == 0 ]] || fail "2: the peers-only apply exited $rc"
    [[ -z $missing && $stats != *" 0 received"* ]] || fail "2: pings lost through relay1 during the peers-only apply (icmp_seq ${missing:-all}): $stats"
    grep -Eq "relay1 +syncconf +applied" "$OUT" || fail "2: relay1 did not reload peers"
    grep -Eq "home +syncconf +applied" "$OUT" || fail "2: home did not reload peers"
    for host in "${SYSTEMD_HOSTS[@]}"; do
        [[ $(unit_run "$host") == "${run[$host]}" && $(wg_pid "$host") == "${pid[$host]}" ]] ||
            fail "2: $host's wg-quick@$IFACE was restarted by a peers-only change"
        [[ $(unit "$host" is-active "wg-quick@$IFACE") == active ]] || fail "2: wg-quick@$IFACE is not active on $host after the reload"
    done
    HOSTS+=(cafe)
    if all_pairs_ping 30; then pass "2: peers-only change: syncconf on relay1 and home, unit not restarted, 0 pings lost ($stats)"; else fail "2: some pairs do not ping after the peers-only change"; fi

    # An address change on home restarts it through the unit. Before it, home's interface is
    # brought up by hand, outside the unit (as on a host someone set up before wgdeploy): the
    # restart must still take it down and bring it up as the unit.
    lab_ssh home "systemctl stop wg-quick@$IFACE && wg-quick up $IFACE >/dev/null 2>&1" || fail "2: could not bring home up by hand"
    [[ $(unit home is-active "wg-quick@$IFACE") != active ]] && in_host home wg show "$IFACE" >/dev/null ||
        fail "2: home's interface is not up outside the unit"
    sed -i '/^  home:$/a\    address: 100.64.0.33' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "2: the address change exited $RC"; unit_journal; }
    grep -Eq "home +restart +applied" "$OUT" || fail "2: home was not restarted"
    grep -q 'Address = 100.64.0.33/' "$(conf_file home)" || fail "2: home's config lacks its new address"
    [[ $(unit home is-active "wg-quick@$IFACE") == active ]] || fail "2: wg-quick@$IFACE is not active on home after the restart"
    in_host home ip -4 -o addr show dev "$IFACE" | grep -q '100.64.0.33/' || fail "2: home's interface does not have 100.64.0.33"
    if all_pairs_ping 60; then pass "2: address change: home restarted through wg-quick@$IFACE on 100.64.0.33; all pairs ping"; else fail "2: some pairs do not ping after the restart"; fi
}

# snapshot NAME / same_as NAME [HOSTS...]: every host's config copied / compared byte for byte
snapshot() {
    local host
    mkdir -p "$WORK/snap/$1"
    for host in "${HOSTS[@]}"; do cp "$(conf_file "$host")" "$WORK/snap/$1/$host.conf"; done
}
same_as() {
    local name=$1 host bad=0; shift
    for host in "${@:-${HOSTS[@]}}"; do
        cmp -s "$(conf_file "$host")" "$WORK/snap/$name/$host.conf" || { echo "  $host differs from $name"; bad=1; }
    done
    return "$bad"
}
# wgdeploy_units HOST: wgdeploy's timers and services known to HOST's systemd (none when disarmed)
wgdeploy_units() {
    unit "$1" list-timers --all --no-legend | grep wgdeploy
    unit "$1" list-units --all --no-legend 'wgdeploy-*' | grep wgdeploy
    return 0
}

scenario_3() {
    log "scenario 3: lock-out protection through systemd-run on relay1"
    snapshot before3
    mkdir -p "$WORK/tpl"
    local rule="INPUT -i mgmt0 -p tcp --dport 22 -m conntrack --ctstate NEW -j DROP"
    awk -v rule="$rule" '{ print } /^{% endif %}$/ && !done && mtu_seen { print "{% if host == \"relay1\" %}\nPostUp = iptables -w -I " rule "\nPostDown = iptables -w -D " rule "\n{% endif %}"; done = 1 } /MTU/ { mtu_seen = 1 }' \
        "$REPO/templates/wg-quick.conf.j2" >"$WORK/tpl/wg-quick.conf.j2"
    grep -q "PostUp = iptables" "$WORK/tpl/wg-quick.conf.j2" || { fail "3: could not build the template"; return; }
    local t0=$SECONDS
    wgd apply "$INV" --yes --templates "$WORK/tpl" --confirm-timeout 10
    log "locked-out apply took $((SECONDS - t0))s"
    [[ $RC == 1 ]] || fail "3: the locked-out apply exited $RC (want 1)"
    grep -q "put back its previous config by itself" "$OUT" || fail "3: the report does not say relay1 reverted by itself"
    grep -q "SSH works again" "$OUT" || fail "3: the report does not say SSH works again"
    if lab_ssh relay1 true; then pass "3: SSH to relay1 works again"; else fail "3: SSH to relay1 does not work"; fi
    if same_as before3; then pass "3: relay1 reverted to its previous config (byte-identical)"; else fail "3: configs differ after the revert"; fi
    in_host relay1 iptables -w -S INPUT | grep -q "dport 22" && fail "3: the SSH-blocking rule is still in place"
    # It was the transient timer: its service ran revert.sh; nothing of it is left.
    unit relay1 status "wgdeploy-revert-$IFACE.service" >/dev/null
    lab_ssh relay1 journalctl --no-pager -u "wgdeploy-revert-$IFACE.service" 2>/dev/null | grep -q . ||
        fail "3: no trace of the wgdeploy-revert-$IFACE service in relay1's journal"
    [[ -z $(wgdeploy_units relay1) ]] || fail "3: wgdeploy units left on relay1 after the revert: $(wgdeploy_units relay1)"
    [[ $(unit relay1 is-active "wg-quick@$IFACE") == active ]] || fail "3: wg-quick@$IFACE is not active on relay1 after the revert"
    if all_pairs_ping 60; then pass "3: relay1 reverted by its systemd-run timer; all pairs ping"; else fail "3: some pairs do not ping after the revert"; fi

    # A confirmed apply (relay1 gains a harmless PostUp: a restart through its unit, armed and
    # confirmed) leaves no wgdeploy timer or service behind.
    sed -i 's/^PostUp = iptables -w -I INPUT.*$/PostUp = true/; /^PostDown = iptables -w -D INPUT/d' "$WORK/tpl/wg-quick.conf.j2"
    local f0=$FAILURES
    wgd apply "$INV" --yes --templates "$WORK/tpl"
    [[ $RC == 0 ]] || { fail "3: the confirmed apply exited $RC"; unit_journal; }
    grep -Eq "relay1 +restart +applied" "$OUT" || fail "3: relay1 was not restarted"
    grep -q '^PostUp = true$' "$(conf_file relay1)" || fail "3: relay1 does not run the confirmed config"
    [[ $(unit relay1 is-active "wg-quick@$IFACE") == active ]] || fail "3: wg-quick@$IFACE is not active on relay1 after the confirmed apply"
    [[ -z $(wgdeploy_units relay1) ]] || fail "3: wgdeploy timer left on relay1 after a confirmed apply: $(wgdeploy_units relay1)"
    [[ -e $WORK/hosts/relay1/var-lib-wgdeploy/$IFACE/armed ]] && fail "3: relay1 is still armed after the confirm"
    pass_if "$f0" "3: a confirmed apply through systemd leaves no wgdeploy timer (systemctl list-timers --all)"
    # Back to the built-in template (relay1 restarts again, confirmed again).
    wgd apply "$INV" --yes
    [[ $RC == 0 && -z $(wgdeploy_units relay1) ]] || fail "3: going back to the built-in template exited $RC or left a timer"
    if all_pairs_ping 60; then pass "3: all pairs ping after the confirmed applies"; else fail "3: some pairs do not ping after the confirmed applies"; fi
}

# power_cycle [--kill] HOST...: reboot the containers: clean shutdown (--kill: power cut), then the network namespace loses
# what a reboot loses (it outlives the container in the lab: iptables rules, forwarding sysctls,
# leftover links), then boot again
power_cycle() {
    local host how=""
    [[ $1 == --kill ]] && { how=--kill; shift; }     # pull the plug instead of shutting down
    for host in "$@"; do stop_container "$host" $how; done
    for host in "$@"; do
        ip netns exec "${HOST_NS[$host]}" sh -c 'iptables -w -F; iptables -w -X; iptables -w -t nat -F;
            sysctl -q -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0; ip link del dev "$1" 2>/dev/null; true' sh "$IFACE"
        [[ $(ip netns exec "${HOST_NS[$host]}" sysctl -n net.ipv4.ip_forward) == 0 ]] || fail "power_cycle: forwarding still on in $host's namespace"
        boot_container "$host"
    done
    for host in "$@"; do wait_booted "$host"; done
}

scenario_4() {
    log "scenario 4: reboot relay1 and home"
    local f0=$FAILURES
    snapshot before4
    power_cycle "${SYSTEMD_HOSTS[@]}"
    local host
    for host in "${SYSTEMD_HOSTS[@]}"; do
        [[ $(unit "$host" is-enabled "wg-quick@$IFACE") == enabled ]] || fail "4: wg-quick@$IFACE is not enabled on $host after the reboot"
        [[ $(unit "$host" is-active "wg-quick@$IFACE") == active ]] || { fail "4: wg-quick@$IFACE is not active on $host after the reboot"; unit_journal; }
    done
    same_as before4 || fail "4: a config changed across the reboot"
    [[ $(in_host relay1 sysctl -n net.ipv4.ip_forward) == 1 ]] || fail "4: forwarding is off on relay1 after the reboot"
    [[ $(unit relay1 is-active systemd-sysctl) == active ]] || fail "4: systemd-sysctl did not run on relay1: $(unit relay1 status systemd-sysctl)"
    grep -q 'net.ipv4.ip_forward = 1' "$WORK/hosts/relay1/sysctl.d/99-wgdeploy-$IFACE.conf" || fail "4: relay1's sysctl.d file lost forwarding"
    local rules
    rules=$(in_host relay1 iptables -w -S FORWARD | grep -c -- "-i $IFACE -o $IFACE" || true)
    [[ $rules == 1 ]] || fail "4: relay1 has $rules FORWARD rules for $IFACE -> $IFACE after the reboot (want 1)"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 0 ]] || fail "4: plan after the reboot exited $RC (want 0: nothing to do)"
    if all_pairs_ping 60; then pass_if "$f0" "4: after a reboot relay1 and home run their applied configs (unit enabled), relay1 forwards, one FORWARD rule, plan has nothing to do, all pairs ping"; else fail "4: some pairs do not ping after the reboot"; fi
}

# kill_sessions HOST: kill the host's SSH sessions (every sshd in its namespace but the listener)
kill_sessions() {
    local pid listener
    listener=$(container_sshd "$1")
    for pid in $(ip netns pids "${HOST_NS[$1]}"); do
        [[ $pid == "$listener" ]] && continue
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sshd ]] && { kill -KILL "$pid" 2>/dev/null || true; }  # it may have exited since the listing
    done
    return 0
}

scenario_5() {
    log "scenario 5: an apply interrupted right after the config write, then a reboot (home)"
    local old="$WORK/home-old.conf" new="$WORK/home-new.conf" ino apply_pid i seen round how outcome f0=$FAILURES
    # Round 1: the sessions die, then a clean reboot; round 2: the sessions die and the power is
    # cut at once, racing wgdeploy's own attempt to put the old config back over a new connection.
    for round in 1 2; do
        how=""; ((round == 2)) && how=--kill
        cp "$(conf_file home)" "$old"
        ino=$(stat -c %i "$(conf_file home)")
        # Each round moves home: an address change, so a restart through the unit.
        if grep -q '100.64.0.33' "$INV"; then sed -i 's/100.64.0.33/100.64.0.34/' "$INV"; else sed -i 's/100.64.0.34/100.64.0.33/' "$INV"; fi
        "$WGDEPLOY" render "$INV" --out "$WORK/render" >/dev/null
        cp "$WORK/render/home/$IFACE.conf" "$new"
        in_ops "$WGDEPLOY" apply "$INV" --yes --hosts home --known-hosts "$WORK/ssh/known_hosts" >"$OUT" 2>&1 </dev/null &
        apply_pid=$!
        # The rename replaces the inode: kill the sessions the moment it happens.
        for ((i = 0; i < 2000; i++)); do
            [[ $(stat -c %i "$(conf_file home)" 2>/dev/null) != "$ino" ]] && break
            sleep 0.005
        done
        kill_sessions home
        if ((round == 1)); then
            if wait "$apply_pid"; then outcome="the apply finished anyway"; else outcome="the apply failed"; fi
            power_cycle home
        else
            power_cycle --kill home
            if wait "$apply_pid"; then outcome="the apply finished anyway"; else outcome="the apply failed"; fi
        fi
        log "  round $round: sessions killed $((i * 5)) ms into the apply, on the config's rename; ${how:-clean} reboot; $outcome"
        sed 's/^/    | /' "$OUT" | grep -E 'FAILED|applied' | tail -n 2
        seen=$(conf_file home)
        if cmp -s "$seen" "$new"; then log "  after the reboot home has the new config"
        elif cmp -s "$seen" "$old"; then log "  after the reboot home has the old config"
        else fail "5: round $round: home's config is neither the old nor the new one after the reboot"; fi
        [[ $(unit home is-active "wg-quick@$IFACE") == active ]] || { fail "5: round $round: wg-quick@$IFACE is not active on home after the reboot"; unit_journal; }
        in_host home ip -4 -o addr show dev "$IFACE" | grep -q "$(overlay_of "$seen")/" ||
            fail "5: round $round: home's interface does not run the config on disk"
        wgd apply "$INV" --yes
        [[ $RC == 0 ]] || fail "5: round $round: the re-apply exited $RC"
        cmp -s "$(conf_file home)" "$new" || fail "5: round $round: the re-apply did not converge home"
        ls "$WORK/hosts/home/etc-wireguard/" | grep -q 'wgdeploy-tmp' && fail "5: round $round: a temp file survived the re-apply"
        [[ -z $(wgdeploy_units home) ]] || fail "5: round $round: wgdeploy units left on home: $(wgdeploy_units home)"
    done
    if all_pairs_ping 60; then pass_if "$f0" "5: interrupted applies + reboots (clean, power cut): home came back with a whole config each time, the re-apply converged, all pairs ping"; else fail "5: some pairs do not ping"; fi
}

# last_id: the newest deployment id in the journal
last_id() { tail -n 1 "$JOURNAL" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }

scenario_6() {
    log "scenario 6: rollback and status on systemd hosts"
    local f0=$FAILURES
    wgd apply "$INV" --yes
    snapshot v1
    sed -i '/^  relay1:$/a\    address: 100.64.0.10' "$INV"      # relay1 moves: a restart through its unit
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "6: apply v2 exited $RC"
    same_as v1 relay1 >/dev/null && fail "6: v2 did not change relay1"
    wgd rollback "$INV" --yes
    [[ $RC == 0 ]] || fail "6: rollback exited $RC"
    grep -Eq "relay1 +restart +applied" "$OUT" || fail "6: relay1 was not restarted by the rollback"
    if same_as v1; then pass "6: rollback: every config byte-identical to before"; else fail "6: configs differ after the rollback"; fi
    local host
    for host in "${SYSTEMD_HOSTS[@]}"; do
        [[ $(unit "$host" is-active "wg-quick@$IFACE") == active ]] || fail "6: wg-quick@$IFACE is not active on $host after the rollback"
        [[ -z $(wgdeploy_units "$host") ]] || fail "6: wgdeploy units left on $host after the rollback"
    done
    if all_pairs_ping 60; then pass "6: all pairs ping after the rollback"; else fail "6: some pairs do not ping after the rollback"; fi
    # Forward again to what the inventory says (the state file keeps relay1's pinned address),
    # so that status compares the hosts with an inventory they run.
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "6: rolling forward exited $RC"
    local pairs=$(( ${#HOSTS[@]} * (${#HOSTS[@]} - 1) ))
    wgd status "$INV" --ping
    [[ $RC == 0 ]] || fail "6: status --ping exited $RC"
    grep -q "ping agrees with check on all $pairs ordered pairs" "$OUT" && pass "6: status --ping agrees with check on all $pairs ordered pairs" ||
        fail "6: status does not say ping agrees with check on all $pairs pairs"
    # home's unit stopped: status names it DOWN (exit 1); apply starts the unit again.
    unit home stop "wg-quick@$IFACE" >/dev/null
    wgd status "$INV"
    [[ $RC == 1 ]] || fail "6: status with home's unit stopped exited $RC (want 1)"
    grep -q "home: $IFACE interface not running (DOWN)" "$OUT" || fail "6: status does not call home DOWN"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] && grep -Eq "home +up +applied" "$OUT" || fail "6: apply did not bring home up"
    [[ $(unit home is-active "wg-quick@$IFACE") == active ]] || fail "6: apply did not start wg-quick@$IFACE on home"
    if all_pairs_ping 60; then pass_if "$f0" "6: status reports a stopped unit as DOWN; apply starts it again; all pairs ping"; else fail "6: some pairs do not ping after home came back"; fi
}


scenario_7() {
    log "scenario 7: an init-less host without a working setsid -w is a clear error; systemd hosts need none"
    # office (no systemd) gets busybox's behaviour: a setsid without -w (in office's mounts only).
    printf '#!/bin/sh\necho "setsid: unrecognized option: w" >&2\nexit 1\n' >"$WORK/setsid-without-w"
    chmod 755 "$WORK/setsid-without-w"
    in_host office mount --bind "$WORK/setsid-without-w" "$(command -v setsid)"
    wgd plan "$INV"
    in_host office umount "$(command -v setsid)"
    local f0=$FAILURES
    [[ $RC == 1 ]] || fail "7: plan with office lacking setsid -w exited $RC (want 1)"
    grep -A3 "office" "$OUT" | grep -q "neither systemd" && grep -A4 "office" "$OUT" | grep -q "util-linux" ||
        fail "7: no error naming what office lacks (systemd or setsid -w) and the package"
    grep -q "= relay1: nothing to do" "$OUT" && grep -q "= home: nothing to do" "$OUT" && grep -q "= web1: nothing to do" "$OUT" ||
        fail "7: the other hosts were not planned normally"
    pass_if "$f0" "7: an init-less host without setsid -w is named with the fix; the systemd hosts and the others plan normally"
}

# --------------------------------------------------------------------------------------------------
t_build=$SECONDS
systemd_root
make_systemd_lab
log "lab built in $((SECONDS - t_build))s (container root: $SYSTEMD_ROOT)"
write_lab_inventory "$INV" standard
HOSTS=(relay1 web1 home office)
declare -A TOOK=()
t=$SECONDS; scenario_1; TOOK[1]=$((SECONDS - t))
for n in 2 3 4 5 6 7; do
    if selected "$n"; then t=$SECONDS; "scenario_$n"; TOOK[$n]=$((SECONDS - t)); fi
done
log "time per scenario: $(for n in 1 2 3 4 5 6 7; do [[ -n ${TOOK[$n]:-} ]] && printf '%s: %ss  ' "$n" "${TOOK[$n]}"; done)"
if ((FAILURES == 0)); then log "RESULT: OK: every systemd scenario passed ($PASSED checks)"; else log "RESULT: FAILED: $FAILURES check(s)"; exit 1; fi
