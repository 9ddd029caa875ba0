#!/usr/bin/env bash
# lab/rollback-e2e.sh: generations, rollback, `apply --atomic`, lock-out protection and `status`
# end to end, over real SSH onto real WireGuard behind real NAT (the same lab as apply-e2e.sh).
#
#   sudo lab/rollback-e2e.sh          # all scenarios; exit 0 only if every one passes
#   sudo lab/rollback-e2e.sh 1 4      # only these (1 always runs: it deploys v1 and v2)
#
# Scenarios (issue 5):
#   1 apply v1, apply v2, rollback: every host's config is byte-identical to v1 and all pairs ping;
#     every changing apply recorded a generation (root-only dir, 0600 config, deployment id shared by
#     the run, inventory digest, version) and a journal line
#   2 apply v3, then rollback --to v1's id: byte-identical to v1 again; rollback --dry-run first
#     shows the diff with keys redacted and changes nothing
#   3 rollback with a host down: the others roll back, the down host is named, exit 1
#   4 apply --atomic where one host's wg-quick fails: that host puts itself back, every other host
#     this run changed is rolled back; all configs byte-identical to before; all pairs ping
#   5 lock-out: a config whose PostUp blocks new SSH connections; the host reverts by itself within
#     --confirm-timeout, SSH works again, the report says so
#   6 status --ping (text and --json) on the converged lab agrees with check on every ordered pair
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELECTED=("$@")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir rollback

# snapshot NAME: copy every host's config to $WORK/snap/NAME/HOST.conf
snapshot() {
    local host
    mkdir -p "$WORK/snap/$1"
    for host in "${HOSTS[@]}"; do cp "$(conf_file "$host")" "$WORK/snap/$1/$host.conf"; done
}
# same_as NAME [HOSTS...]: every (given) host's config is byte-identical to snapshot NAME
same_as() {
    local name=$1 host bad=0; shift
    for host in "${@:-${HOSTS[@]}}"; do
        cmp -s "$(conf_file "$host")" "$WORK/snap/$name/$host.conf" || { echo "  $host differs from $name"; bad=1; }
    done
    return "$bad"
}
# last_id: the newest deployment id in the journal
last_id() { tail -n 1 "$JOURNAL" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }

# --------------------------------------------------------------------------------------------------
scenario_1() {
    log "scenario 1: apply v1, apply v2, rollback"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: apply v1 exited $RC"; return; }
    V1=$(last_id)
    snapshot v1
    local host meta
    for host in "${HOSTS[@]}"; do
        meta="$(gen_dir "$host")/1.meta"
        [[ -f $meta ]] || { fail "1: $host recorded no generation"; continue; }
        grep -qx "deployment=$V1" "$meta" || fail "1: $host's generation is not from deployment $V1"
        grep -qx "kind=apply" "$meta" || fail "1: $host's generation kind is not apply"
        grep -q "^inventory=sha256:[0-9a-f]\{64\}$" "$meta" || fail "1: $host's generation has no inventory digest"
        grep -q "^version=" "$meta" || fail "1: $host's generation has no version"
        cmp -s "$(gen_dir "$host")/1.conf" "$(conf_file "$host")" || fail "1: $host's generation 1 is not its config"
        [[ $(stat -c %a "$(gen_dir "$host")/1.conf") == 600 ]] || fail "1: $host's generation config is not 0600"
        [[ $(stat -c %a "$WORK/hosts/$host/var-lib-wgdeploy/$IFACE") == 700 ]] || fail "1: $host's state dir is not 0700"
        [[ -e $WORK/hosts/$host/var-lib-wgdeploy/$IFACE/armed ]] && fail "1: $host is still armed after the confirm"
    done
    grep -q "\"command\":\"apply\"" "$JOURNAL" && grep -q "\"relay1\":\"changed\"" "$JOURNAL" ||
        fail "1: the journal has no apply entry with relay1 changed"

    # v2: a keepalive change (peers only) everywhere
    sed -i 's/^  keepalive: 25$/  keepalive: 20/' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: apply v2 exited $RC"; return; }
    V2=$(last_id)
    [[ $V2 != "$V1" ]] || fail "1: v2 has the same deployment id as v1"
    snapshot v2
    same_as v1 >/dev/null && fail "1: v2 did not change the configs"
    grep -qx "deployment=$V2" "$(gen_dir home)/2.meta" || fail "1: home's generation 2 is not from $V2 (keepalive lives on NAT-ed hosts)"

    wgd rollback "$INV" --yes
    [[ $RC == 0 ]] || fail "1: rollback exited $RC"
    grep -q "Rolling back to deployment $V1" "$OUT" || fail "1: rollback did not go back to $V1"
    if same_as v1; then pass "1: after rollback every config is byte-identical to v1"; else fail "1: configs differ from v1 after rollback"; fi
    grep -qx "kind=rollback" "$(gen_dir home)/3.meta" || fail "1: home's rollback was not recorded as generation 3 (kind=rollback)"
    grep -q "\"command\":\"rollback\",\"target\":\"$V1\"" "$JOURNAL" || fail "1: the journal has no rollback entry targeting $V1"
    if all_pairs_ping 30; then pass "1: all pairs ping after the rollback"; else fail "1: some pairs do not ping after the rollback"; fi
}

scenario_2() {
    log "scenario 2: apply v3, rollback --dry-run, rollback --to v1"
    sed -i '/^  web1:$/a\    address: 100.64.0.77' "$INV"      # v3: keepalive 20 + web1 moves
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "2: apply v3 exited $RC"; return; }
    snapshot v3
    wgd rollback "$INV" --to "$V1" --dry-run
    [[ $RC == 0 ]] || fail "2: rollback --dry-run exited $RC"
    grep -q "PrivateKey = (redacted)" "$OUT" || grep -q "^[-+ ]PersistentKeepalive" "$OUT" || fail "2: the dry run shows no diff"
    grep -qE '[A-Za-z0-9+/]{43}=' <(grep -i 'privatekey\|presharedkey' "$OUT") && fail "2: a secret key appears in the dry run"
    same_as v3 >/dev/null || fail "2: --dry-run changed a config"
    wgd rollback "$INV" --to "${V1:0:19}" --yes     # a unique prefix of the id
    [[ $RC == 0 ]] || fail "2: rollback --to exited $RC"
    if same_as v1; then pass "2: rollback --to $V1 (by prefix): byte-identical to v1"; else fail "2: configs differ from v1"; fi
    if all_pairs_ping 60; then pass "2: all pairs ping"; else fail "2: some pairs do not ping"; fi
}

scenario_3() {
    log "scenario 3: rollback with web1 down"
    # The deployment to go to: v3 (apply in scenario 2). Take web1 off the management network.
    local v3
    v3=$(grep '"command":"apply"' "$JOURNAL" | tail -n 1 | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
    ip -n "${HOST_NS[web1]}" link set mgmt0 down
    wgd rollback "$INV" --to "$v3" --yes --timeout 3
    ip -n "${HOST_NS[web1]}" link set mgmt0 up
    [[ $RC == 1 ]] || fail "3: rollback with a host down exited $RC (want 1)"
    grep -q "web1" "$OUT" && grep -qi "web1.*\(cannot connect\|no answer\|timed out\|unreachable\)\|\(cannot connect\|no answer\|timed out\).*198.18.0.2" "$OUT" ||
        fail "3: the report does not name web1 as unreachable"
    if same_as v3 relay1 home office; then pass "3: relay1, home, office rolled back to v3; web1 reported"; else fail "3: the reachable hosts did not roll back"; fi
    same_as v1 web1 || fail "3: web1 (down) changed"
    # Bring web1 along so the lab is whole again.
    wgd rollback "$INV" --to "$v3" --yes
    [[ $RC == 0 ]] || fail "3: rolling web1 forward exited $RC"
    snapshot v3
}

scenario_4() {
    log "scenario 4: apply --atomic, office's wg-quick fails"
    snapshot before4
    # office gets a wg-quick that refuses to bring up an MTU 1380 config (in office's mounts only).
    cp "$(command -v wg-quick)" "$WORK/wg-quick.real"
    cat >"$WORK/wg-quick.failing" <<SH
#!/bin/sh
if [ "\$1" = up ] && grep -q '^MTU = 1380' /etc/wireguard/$IFACE.conf; then
    echo "simulated failure: this host cannot run MTU 1380" >&2; exit 1
fi
exec bash "$WORK/wg-quick.real" "\$@"
SH
    chmod 755 "$WORK/wg-quick.failing"
    in_host office mount --bind "$WORK/wg-quick.failing" "$(command -v wg-quick)"
    sed -i 's/^  keepalive: 20$/  keepalive: 20\n  mtu: 1380/' "$INV"
    wgd apply "$INV" --yes --atomic
    [[ $RC == 1 ]] || fail "4: apply --atomic with a failing host exited $RC (want 1)"
    grep -q "simulated failure" "$OUT" || fail "4: office's failure is not reported"
    grep -Eq "relay1 +restart +rolled back" "$OUT" || fail "4: relay1 is not reported rolled back"
    in_host office umount "$(command -v wg-quick)"
    if same_as before4; then pass "4: --atomic: every config is byte-identical to before"; else fail "4: configs differ after the atomic rollback"; fi
    if all_pairs_ping 60; then pass "4: all pairs ping after the atomic rollback"; else fail "4: some pairs do not ping"; fi
    grep -q '"outcome":"rolled-back"' "$JOURNAL" || fail "4: the journal does not record the run as rolled back"
    sed -i '/^  mtu: 1380$/d' "$INV"
}

scenario_5() {
    log "scenario 5: lock-out protection"
    snapshot before5
    mkdir -p "$WORK/tpl"
    # web1's config gains a PostUp that drops new SSH connections (established ones survive).
    local rule="INPUT -i mgmt0 -p tcp --dport 22 -m conntrack --ctstate NEW -j DROP"
    awk -v rule="$rule" '{ print } /^{% endif %}$/ && !done && mtu_seen { print "{% if host == \"web1\" %}\nPostUp = iptables -w -I " rule "\nPostDown = iptables -w -D " rule "\n{% endif %}"; done = 1 } /MTU/ { mtu_seen = 1 }' \
        "$REPO/templates/wg-quick.conf.j2" >"$WORK/tpl/wg-quick.conf.j2"
    grep -q "PostUp = iptables" "$WORK/tpl/wg-quick.conf.j2" || { fail "5: could not build the template"; return; }
    local t0=$SECONDS
    wgd apply "$INV" --yes --templates "$WORK/tpl" --confirm-timeout 10
    log "apply took $((SECONDS - t0))s"
    [[ $RC == 1 ]] || fail "5: the locked-out apply exited $RC (want 1)"
    grep -q "put back its previous config by itself" "$OUT" || fail "5: the report does not say web1 reverted by itself"
    grep -q "SSH works again" "$OUT" || fail "5: the report does not say SSH works again"
    if lab_ssh web1 true; then pass "5: SSH to web1 works again"; else fail "5: SSH to web1 does not work"; fi
    if same_as before5; then pass "5: web1 reverted to its previous config (byte-identical)"; else fail "5: configs differ after the revert"; fi
    in_host web1 iptables -w -S INPUT | grep -q "dport 22" && fail "5: the SSH-blocking rule is still in place"
    if all_pairs_ping 60; then pass "5: all pairs ping after the revert"; else fail "5: some pairs do not ping"; fi
}

scenario_6() {
    log "scenario 6: status --ping agrees with check (text and --json)"
    wgd status "$INV" --ping
    [[ $RC == 0 ]] || fail "6: status --ping exited $RC"
    grep -q "ping agrees with check on all 12 ordered pairs" "$OUT" || fail "6: status does not say ping agrees with check on all 12 pairs"
    grep -q "DISAGREE" "$OUT" && fail "6: status reports disagreements"
    grep -q "generation" "$OUT" || fail "6: status shows no generation"
    # --json: stdout is one document a monitoring script can rely on; stderr stays apart.
    local json="$WORK/status.json" rc=0
    in_ops "$WGDEPLOY" status "$INV" --ping --json --known-hosts "${KNOWN_HOSTS:-$WORK/ssh/known_hosts}" \
        >"$json" 2>"$WORK/status.err" </dev/null || rc=$?
    [[ $rc == 0 ]] || fail "6: status --ping --json exited $rc: $(cat "$WORK/status.err")"
    jq -e '.healthy == true
           and (.hosts | length) == 4
           and all(.hosts[]; .health == "up" and .generation.number >= 1 and (.live.peers | length) >= 1)
           and .ping.counts.pairs == 12 and .ping.counts.agree == 12 and .ping.counts.disagree == 0
           and all(.ping.pairs[]; .ping == "ok" and .disagrees == false)' "$json" >/dev/null ||
        fail "6: status --json does not describe 4 healthy hosts and 12 agreeing pairs: $(head -c 2000 "$json")"
    local key
    while read -r key; do
        grep -qF "$key" "$json" && fail "6: a private key appears in status --json"
    done < <(jq -r '.. | objects | .private_key? // empty' "$STATE")
    pass "6: status --ping agrees with check on all 12 pairs, in text and in --json"

    # A host whose interface is down: named DOWN, not pinged from, the failed pings to it explained;
    # exit 1. `apply` brings it back up.
    in_host home env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wg-quick down "$IFACE" >/dev/null 2>&1 ||
        fail "6: could not take home's interface down"
    wgd status "$INV" --ping
    [[ $RC == 1 ]] || fail "6: status with home's interface down exited $RC (want 1)"
    grep -q "home: $IFACE interface not running (DOWN)" "$OUT" || fail "6: status does not call home DOWN"
    grep -q "! home: no pings from this host: its interface $IFACE is not running" "$OUT" ||
        fail "6: status pinged from home although its interface is down"
    grep -q "DISAGREE relay1 → home: check predicts reachable, ping failed (home's interface is not running)" "$OUT" ||
        fail "6: the failed pings to home do not say why"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] && grep -Eq "home +up +applied" "$OUT" || fail "6: apply did not bring home's interface up"
    if all_pairs_ping 60; then pass "6: a down interface is reported as such, and apply brings it back"; else fail "6: some pairs do not ping after home came back"; fi
}

# --------------------------------------------------------------------------------------------------
make_ssh_lab
write_lab_inventory "$INV" standard
HOSTS=(relay1 web1 home office)
scenario_1
for n in 2 3 4 5 6; do
    selected "$n" && "scenario_$n"
done
if ((FAILURES == 0)); then log "RESULT: OK: every rollback scenario passed"; else log "RESULT: FAILED: $FAILURES check(s)"; exit 1; fi
