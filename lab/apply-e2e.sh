#!/usr/bin/env bash
# lab/apply-e2e.sh: `wgdeploy plan` and `wgdeploy apply` end to end, over real SSH (OpenSSH sshd on
# every lab host), onto real WireGuard (wireguard-go) behind real NAT, in network namespaces.
#
#   sudo lab/apply-e2e.sh            # all scenarios; exit 0 only if every one passes
#   sudo lab/apply-e2e.sh 1 2 5      # only these scenarios (1 always runs: it converges the lab)
#
# Scenarios (issue 4):
#   1 apply converges the lab: every host pings every other; home<->office crosses relay1
#   2 apply again: "nothing to do"; no file rewritten, no apply step run, no restart
#   3 a new NAT-ed host is added: 0 packets lost on a continuous home->office ping, the other hosts
#     only reload peers (no restart), the new host reaches everyone
#   4 a host's address changes: that host restarts, everything reachable again
#   5 plan: exit 0 with nothing to do on the converged lab; after an edit, exit 2 with the diff,
#     keys redacted (no key from the state file appears anywhere in the output)
#   6 unknown host key, changed host key, wrong client key, unreachable host, missing wg-quick:
#     each a clear error naming the host; the other hosts are unaffected
#   7 the SSH session of a host dies at many points of an apply: its config is always exactly the old
#     or the new one, never partial; apply again converges
#   8 the two-relay lab: apply, then every pair pings (home on relay1, office on relay2)
#   9 a non-root SSH user on web1: without `become` a clear error; `become: sudo` where sudo wants a
#     password, a clear error and nothing touched; with NOPASSWD, a restart is armed, applied and
#     confirmed through `sudo -n`, the config is root's, 0600, and every pair pings
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELECTED=("$@")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir e2e

# --------------------------------------------------------------------------------------------------
scenario_1() {
    log "scenario 1: apply converges the lab"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: apply exited $RC"; return; }
    grep -q "relay1 .*applied" "$OUT" || fail "1: the summary table does not show relay1 applied"
    if all_pairs_ping; then pass "1: every host pings every other host"; else fail "1: some pairs do not ping"; fi
    has_peer home office && fail "1: home lists office as a peer"
    has_peer office home && fail "1: office lists home as a peer"
    check_relayed home office relay1 || fail "1: home -> office is not relayed by relay1"
    [[ $(stat -c %a "$(conf_file relay1)") == 600 ]] || fail "1: relay1's config is not 0600"
    [[ $(in_host relay1 sysctl -n net.ipv4.ip_forward) == 1 ]] || fail "1: forwarding is off on relay1"
    grep -q 'net.ipv4.ip_forward = 1' "$WORK/hosts/relay1/sysctl.d/99-wgdeploy-$IFACE.conf" ||
        fail "1: relay1's forwarding is not persisted in sysctl.d"
    [[ -e $WORK/hosts/web1/sysctl.d/99-wgdeploy-$IFACE.conf ]] && fail "1: web1 (not a relay) got a sysctl.d file"
    return 0
}

scenario_2() {
    log "scenario 2: apply again changes nothing"
    local host
    declare -A stamp=() pid=()
    for host in "${HOSTS[@]}"; do
        stamp[$host]=$(conf_stamp "$host"); pid[$host]=$(wg_pid "$host")
        # The apply step (and only it) opens this lock file: its absence afterwards proves no step ran.
        rm -f "$WORK/hosts/$host/etc-wireguard/.$IFACE.wgdeploy.lock"
    done
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "2: apply exited $RC"
    grep -q "Nothing to do" "$OUT" || fail "2: apply did not say there is nothing to do"
    for host in "${HOSTS[@]}"; do
        [[ $(conf_stamp "$host") == "${stamp[$host]}" ]] || fail "2: $host's config was rewritten"
        [[ $(wg_pid "$host") == "${pid[$host]}" ]] || fail "2: $host's interface was restarted"
        [[ -e $WORK/hosts/$host/etc-wireguard/.$IFACE.wgdeploy.lock ]] && fail "2: an apply step ran on $host"
    done
    pass "2: second apply: nothing written, nothing reloaded or restarted"
}

scenario_3() {
    log "scenario 3: add a NAT-ed host while home pings office"
    make_nat_router nat-cafe 198.51.100.13 198.18.3
    make_nat_host cafe nat-cafe 198.18.3.2
    start_sshd cafe 6
    cat >>"$INV" <<EOF
  cafe:
    via: relay1
    ssh: { host: 198.18.0.6, user: root, identity: $WORK/ssh/id_ed25519 }
EOF
    local host
    declare -A pid=()
    for host in "${HOSTS[@]}"; do pid[$host]=$(wg_pid "$host"); done
    refresh_overlay
    # Started without a wrapping subshell so $! is ping itself; background jobs of a script ignore
    # SIGINT, so it is stopped with SIGALRM, on which ping also prints its statistics.
    nsenter --target "${HOLDER[home]}" --net --mount --uts -- \
        ping -n -i 0.05 -c 100000 "${OVERLAY[office]}" >"$WORK/ping.log" 2>&1 &
    local pinger=$!
    sleep 1
    wgd apply "$INV" --yes
    local rc=$RC
    sleep 1
    kill -ALRM "$pinger"; wait "$pinger" || true
    local stats missing
    stats=$(grep 'packets transmitted' "$WORK/ping.log")
    # A request still in flight when ping is stopped counts as lost in ping's summary, though nothing
    # dropped it; so the loss that matters is a gap: a sequence number below the last one answered.
    missing=$(awk 'match($0, /icmp_seq=[0-9]+/) { seq = substr($0, RSTART + 9, RLENGTH - 9) + 0; got[seq] = 1; if (seq > last) last = seq }
                   END { for (i = 1; i <= last; i++) if (!(i in got)) printf "%d ", i }' "$WORK/ping.log")
    log "home -> office during the apply: $stats; unanswered before the last reply: ${missing:-none}"
    [[ $rc == 0 ]] || fail "3: apply exited $rc"
    [[ -z $missing && $stats != *" 0 received"* ]] || fail "3: packets lost between home and office during the apply (icmp_seq ${missing:-all}): $stats"
    for host in "${HOSTS[@]}"; do
        [[ $(wg_pid "$host") == "${pid[$host]}" ]] || fail "3: $host was restarted (only peers should reload)"
    done
    grep -Eq "relay1 +syncconf +applied" "$OUT" || fail "3: relay1 did not reload peers"
    grep -Eq "web1 +syncconf +applied" "$OUT" || fail "3: web1 did not reload peers"
    grep -Eq "cafe +up +applied" "$OUT" || fail "3: cafe was not brought up"
    HOSTS+=(cafe)
    if all_pairs_ping; then pass "3: cafe added with 0% loss home->office; all pairs ping"; else fail "3: some pairs do not ping"; fi
}

scenario_4() {
    log "scenario 4: change web1's address"
    local before
    before=$(wg_pid web1)
    # Pin web1 to a new address (the inventory's web1 block gains an `address:` line).
    sed -i '/^  web1:$/a\    address: 100.64.0.77' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "4: apply exited $RC"
    grep -Eq "web1 +restart +applied" "$OUT" || fail "4: web1 was not restarted"
    [[ $(wg_pid web1) != "$before" ]] || fail "4: web1's interface was not restarted"
    grep -q 'Address = 100.64.0.77/' "$(conf_file web1)" || fail "4: web1's config lacks its new address"
    if all_pairs_ping 60; then pass "4: web1 restarted on 100.64.0.77; all pairs ping"; else fail "4: some pairs do not ping"; fi
}

# every_key_from_state: every private and preshared key wgdeploy generated (base64), one per line
every_key_from_state() { grep -oE '"[A-Za-z0-9+/]{43}="' "$STATE" | tr -d '"' | sort -u; }

no_key_in_output() {
    local key count=0
    while read -r key; do
        count=$((count + 1))
        if grep -qF -- "$key" "$OUT"; then fail "$1: a key from the state file appears in the output"; return; fi
    done < <(every_key_from_state)
    ((count >= ${#HOSTS[@]})) || fail "$1: found only $count keys in $STATE (expected one per host at least)"
}

scenario_5() {
    log "scenario 5: plan"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 0 ]] || fail "5: plan on a converged lab exited $RC (want 0)"
    grep -q "Plan: 0 to change" "$OUT" || fail "5: plan on a converged lab shows changes"
    sed -i 's/^  keepalive: 25$/  keepalive: 20/' "$INV"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 2 ]] || fail "5: plan after an edit exited $RC (want 2)"
    grep -q -- "-PersistentKeepalive = 25" "$OUT" && grep -q -- "+PersistentKeepalive = 20" "$OUT" ||
        fail "5: the diff does not show the keepalive change"
    grep -q "PrivateKey = (redacted)" "$OUT" || true # shown only when the interface section is in context
    no_key_in_output 5
    wgd plan "$INV" --json
    [[ $RC == 0 ]] || fail "5: plan --json exited $RC"
    no_key_in_output "5 (json)"
    jq -e '.summary.changed > 0 and ([.hosts[] | select(.class == "syncconf")] | length) > 0' "$OUT" >/dev/null ||
        fail "5: plan --json does not show the syncconf changes"
    # No terminal and no --yes: apply shows the plan and refuses; nothing changes on the hosts.
    local before
    before=$(conf_stamp home)
    wgd apply "$INV"
    [[ $RC == 1 ]] || fail "5: apply without --yes and without a terminal exited $RC (want 1)"
    grep -q "refusing to apply without confirmation" "$OUT" || fail "5: apply without --yes did not refuse clearly"
    [[ $(conf_stamp home) == "$before" ]] || fail "5: apply without confirmation changed home's config"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "5: applying the edit exited $RC"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 0 ]] || fail "5: plan after applying the edit exited $RC (want 0)"
    pass "5: plan exits 0 when converged, 2 with a redacted diff after an edit"
}

scenario_6() {
    log "scenario 6: SSH and host failures are clear and isolated"
    local kh="$WORK/kh-test" bad="$WORK/inventory-bad.yaml"

    # Unknown host key: web1 missing from known_hosts.
    grep -v "^${MGMT[web1]} " "$WORK/ssh/known_hosts" >"$kh"
    KNOWN_HOSTS=$kh wgd plan "$INV"
    [[ $RC == 1 ]] || fail "6 unknown key: plan exited $RC"
    grep -q "web1" "$OUT" && grep -q "SHA256:" "$OUT" && grep -q -- "--accept-new" "$OUT" ||
        fail "6 unknown key: no fingerprint / --accept-new hint for web1"
    grep -q "= relay1: nothing to do" "$OUT" || fail "6 unknown key: relay1 was not planned"
    # --accept-new records it; then it is known.
    KNOWN_HOSTS=$kh wgd plan "$INV" --accept-new
    [[ $RC == 0 ]] || fail "6 accept-new: plan exited $RC"
    grep -q "^${MGMT[web1]} " "$kh" || fail "6 accept-new: web1's key was not recorded"

    # Changed host key: relay1 listed with another host's key; refused even with --accept-new.
    awk -v r="${MGMT[relay1]}" -v w="${MGMT[web1]}" '$1 == w { print r, $2, $3 } $1 != r { print }' \
        "$WORK/ssh/known_hosts" >"$kh"
    KNOWN_HOSTS=$kh wgd plan "$INV" --accept-new
    [[ $RC == 1 ]] || fail "6 changed key: plan exited $RC"
    grep -qi "relay1" "$OUT" && grep -qi "changed" "$OUT" || fail "6 changed key: no clear error for relay1"
    grep -q "= web1: nothing to do" "$OUT" || fail "6 changed key: web1 was not planned"
    cmp -s <(awk -v r="${MGMT[relay1]}" -v w="${MGMT[web1]}" '$1 == w { print r, $2, $3 } $1 != r { print }' "$WORK/ssh/known_hosts") "$kh" ||
        fail "6 changed key: known_hosts was modified"

    # Wrong client key for office; unreachable address for home.
    ssh-keygen -q -t ed25519 -N '' -f "$WORK/other_key"
    awk -v other="$WORK/other_key" '
        /^  office:$/ { host = "office" } /^  home:$/ { host = "home" } /^  [a-z0-9]+:$/ && !/office|home/ { host = "" }
        host == "office" && /ssh:/ { sub(/identity: [^ }]+/, "identity: " other) }
        host == "home" && /ssh:/ { sub(/host: [0-9.]+/, "host: 198.18.0.200") }
        { print }' "$INV" >"$bad"
    cp "$STATE" "$WORK/inventory-bad.wgdeploy-state.json"
    set +e
    in_ops "$WGDEPLOY" plan "$bad" --known-hosts "$WORK/ssh/known_hosts" --timeout 3 >"$OUT" 2>&1
    RC=$?
    set -e
    sed 's/^/    | /' "$OUT"
    [[ $RC == 1 ]] || fail "6 auth/unreachable: plan exited $RC"
    grep -A3 "office" "$OUT" | grep -qi "auth" || fail "6 wrong key: no authentication error for office"
    grep -A3 "home" "$OUT" | grep -Eqi "198.18.0.200|unreachable|timed out" || fail "6 unreachable: no clear error for home"
    grep -q "= relay1: nothing to do" "$OUT" || fail "6 auth/unreachable: relay1 was not planned"

    # Missing wg-quick on web1 (hidden inside web1's mount namespace only).
    : >"$WORK/empty"
    in_host web1 mount --bind "$WORK/empty" "$(command -v wg-quick)"
    wgd plan "$INV"
    in_host web1 umount "$(command -v wg-quick)"
    [[ $RC == 1 ]] || fail "6 missing wg-quick: plan exited $RC"
    grep -A2 "web1" "$OUT" | grep -q "wireguard-tools" || fail "6 missing wg-quick: no error naming the package"
    grep -q "= office: nothing to do" "$OUT" || fail "6 missing wg-quick: office was not planned"
    pass "6: unknown/changed host key, wrong key, unreachable host, missing wg-quick: clear, isolated errors"
}

# kill_sessions HOST: kill the host's SSH sessions (every sshd in its namespace but the listener)
kill_sessions() {
    local pid
    for pid in $(ip netns pids "${HOST_NS[$1]}"); do
        [[ $pid == "${SSHD_PID[$1]}" ]] && continue
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sshd ]] && { kill -KILL "$pid" 2>/dev/null || true; }  # it may have exited since the listing
    done
    return 0
}

scenario_7() {
    log "scenario 7: SSH dies mid-apply"
    local a="$WORK/web1-a.conf" b="$WORK/web1-b.conf" delay apply_pid seen torn=0 interrupted=0
    # Two versions of web1: address .77 (current) and .78, flipped each round.
    for delay in 0.05 0.1 0.15 0.2 0.3 0.4 0.6 0.8; do
        cp "$(conf_file web1)" "$a"
        if grep -q '100.64.0.77' "$INV"; then sed -i 's/100.64.0.77/100.64.0.78/' "$INV"; else sed -i 's/100.64.0.78/100.64.0.77/' "$INV"; fi
        in_ops "$WGDEPLOY" apply "$INV" --yes --hosts web1 --known-hosts "$WORK/ssh/known_hosts" >"$OUT" 2>&1 </dev/null &
        apply_pid=$!
        sleep "$delay"
        kill_sessions web1
        wait "$apply_pid" && interrupted=$interrupted || interrupted=$((interrupted + 1))
        # What is on the host must be exactly the old config or exactly the new one.
        "$WGDEPLOY" render "$INV" --out "$WORK/render" >/dev/null
        cp "$WORK/render/web1/$IFACE.conf" "$b"
        seen=$(conf_file web1)
        if cmp -s "$seen" "$a"; then log "  killed after ${delay}s: web1 has the old config"
        elif cmp -s "$seen" "$b"; then log "  killed after ${delay}s: web1 has the new config"
        else torn=$((torn + 1)); log "  killed after ${delay}s: web1's config is NEITHER old nor new"; fi
        ls "$WORK/hosts/web1/etc-wireguard/" | grep -q 'wgdeploy-tmp' && log "  (a temp file was left; the next apply clears it)"
    done
    log "$interrupted of 8 applies were interrupted"
    [[ $torn == 0 ]] || fail "7: $torn partial configs"
    ((interrupted > 0)) || fail "7: no apply was interrupted (the kill came too late every time)"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "7: the re-apply exited $RC"
    ls "$WORK/hosts/web1/etc-wireguard/" | grep -q 'wgdeploy-tmp' && fail "7: a temp file survived the re-apply"
    if all_pairs_ping 60; then pass "7: never a partial config; the re-apply converged; all pairs ping"; else fail "7: some pairs do not ping after the re-apply"; fi
}

scenario_8() {
    log "scenario 8: two relays"
    lab_reset
    make_ssh_lab_two_relays
    write_lab_inventory "$INV" two-relays
    rm -f "$STATE"
    HOSTS=(relay1 relay2 web1 home office)
    CONF=() OVERLAY=()
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "8: apply exited $RC"; return; }
    if all_pairs_ping; then pass "8: two-relay lab: every pair pings"; else fail "8: some pairs do not ping"; fi
    check_relayed home office relay1 || fail "8: home -> office does not cross relay1"
    check_relayed home office relay2 || fail "8: home -> office does not cross relay2"
}

# newest_generation HOST: the number of the newest generation recorded on HOST (0: none)
newest_generation() {
    find "$WORK/hosts/$1/var-lib-wgdeploy/$IFACE/generations" -maxdepth 1 -name '*.meta' -printf '%f\n' 2>/dev/null |
        sed 's/\.meta$//' | sort -n | tail -1 | grep . || echo 0
}

# web1_ssh USER [BECOME]: web1's inventory `ssh:` connects as USER (with `become: BECOME`)
web1_ssh() {
    local extra=${2:+ become: $2,}
    sed -i -E "/^  web1:\$/,/^    ssh:/ s/user: [a-z]+,( become: [a-z]+,)?/user: $1,$extra/" "$INV"
    grep -q "user: $1,$extra" "$INV" || die "web1_ssh: web1's ssh line was not rewritten"
}

scenario_9() {
    log "scenario 9: a non-root SSH user: refused without become, sudo without a password, then applied through sudo -n"
    add_login_user web1 deploy nopasswd
    add_login_user web1 nosudo none
    local stamp gens
    stamp=$(conf_stamp web1)
    gens=$(newest_generation web1)

    web1_ssh deploy
    wgd plan "$INV"
    [[ $RC == 1 ]] || fail "9: plan as deploy without become exited $RC (want 1)"
    grep -q '`deploy` cannot read /etc/wireguard' "$OUT" && grep -q 'become: sudo' "$OUT" ||
        fail "9: no clear error for a user who cannot read /etc/wireguard"

    web1_ssh nosudo sudo
    wgd apply "$INV" --yes
    [[ $RC == 1 ]] || fail "9: apply as nosudo exited $RC (want 1)"
    grep -q 'web1.*`sudo -n` needs a password' "$OUT" || fail "9: no clear error when sudo needs a password"
    grep -qi 'NOPASSWD' "$OUT" || fail "9: the sudo error does not say how to fix it"
    grep -q 'Nothing to do on the other hosts' "$OUT" || fail "9: with web1 failed, apply does not say the rest had nothing to do"
    [[ $(conf_stamp web1) == "$stamp" ]] || fail "9: web1's config was touched although sudo was refused"

    web1_ssh deploy sudo
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 0 ]] || fail "9: plan through sudo on a converged host exited $RC (want 0: same facts as root)"

    # A change that restarts web1: arming, the change and the confirm all run through `sudo -n`.
    sed -i '/^    address: 100\.64\.0\.7[0-9]$/d' "$INV"
    sed -i '/^  web1:$/a\    address: 100.64.0.78' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "9: apply through sudo exited $RC"
    grep -Eq "web1 +restart +applied" "$OUT" || fail "9: web1 was not restarted through sudo"
    grep -q 'Address = 100.64.0.78/' "$(conf_file web1)" || fail "9: web1's config lacks its new address"
    [[ $(stat -c '%U %a' "$(conf_file web1)") == "root 600" ]] ||
        fail "9: web1's config is $(stat -c '%U %a' "$(conf_file web1)"), want root 600"
    local newest
    newest=$(newest_generation web1)
    ((newest > gens)) && cmp -s "$WORK/hosts/web1/var-lib-wgdeploy/$IFACE/generations/$newest.conf" "$(conf_file web1)" ||
        fail "9: no generation of the new config recorded through sudo (was the change confirmed?)"
    refresh_overlay
    if all_pairs_ping 60; then pass "9: deploy (sudo -n) applied web1's change and confirmed it; all pairs ping"; else fail "9: some pairs do not ping"; fi
    web1_ssh root
}

# --------------------------------------------------------------------------------------------------
make_ssh_lab
write_lab_inventory "$INV" standard
HOSTS=(relay1 web1 home office)
scenario_1
for n in 2 3 4 5 6 7 8 9; do
    selected "$n" && "scenario_$n"
done
if ((FAILURES > 0)); then
    log "$FAILURES check(s) FAILED"
    exit 1
fi
log "all selected scenarios passed"
