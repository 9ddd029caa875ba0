#!/usr/bin/env bash
# lab/lifecycle-e2e.sh: what a fleet's life does to it, end to end over real SSH onto real
# WireGuard behind real NAT (the standard lab of apply-e2e.sh): routed subnets added and removed
# later, a NAT-ed host's port across a syncconf, and a lost or replaced state file.
#
#   sudo lab/lifecycle-e2e.sh          # all scenarios; exit 0 only if every one passes
#   sudo lab/lifecycle-e2e.sh 2 6      # only these (1 always runs: it converges the lab)
#
# Scenarios (issue 9, sections 1-3):
#   1 apply converges the lab
#   2 a subnet routed behind NAT-ed home is added: every host that carries it gets a kernel route
#     through wg0 (wg syncconf adds none), web1 (direct) and office (through relay1) reach an
#     address in it; a deleted route and a stray one are reported by `status` (exit 1) and put right
#     by the next apply
#   3 the subnet is removed: its routes go; the address is unreachable again
#   4 a peers-only change on idle NAT-ed home keeps its UDP port, so relay1 reaches it at once
#   5 `Table = off` set by a template: a new subnet gets no route and none is reported missing
#   6 the state file lost: plan, status and check write nothing; plan stops every host with the fix
#     (status still shows them up);
#     apply (all hosts, or --hosts home) changes nothing; partly lost: every host listing the lost
#     key stops too; `--rekey web1` replaces web1's key on it and all its peers (plan labels it,
#     never prints it); --rekey with a --hosts that leaves a peer out is refused; a run holding the
#     state lock makes apply refuse
#   7 per-host settings (issue 12): web1 gets `mtu` and a `post_up`/`post_down` pair: after the
#     apply its interface runs the planned MTU and the hook ran (it writes into web1's private
#     /run); a new MTU is a restart (the plan says so and names MTU; the hooks ran down then up);
#     a `post_up` without a down-hook is warned about in the plan; `dns` on a host without
#     `resolvconf` fails that host in the plan and apply before anything is written, and with a
#     `resolvconf` in the host's private /usr/local/sbin wg-quick hands it the DNS servers
#   8 peers-only applies (PersistentKeepalive flipped on NAT-ed home and office, 20 times) under a
#     fast ping both ways between home and office through relay1: no request goes unanswered (each
#     syncconf used to remove and re-insert every peer's AllowedIPs, and a packet routed in that gap
#     was dropped)
#   9 LANs behind two NAT-ed hosts (issue 13): a real LAN host behind home and one behind office
#     (namespaces without WireGuard, routed through their owner): LAN ↔ LAN through relay1, web1 ↔
#     each LAN, each LAN ↔ the overlay hosts; the owners forward; `check --json` on the same
#     inventory lists both subnets with every pair reachable
#   10 `rotate` (issue 14) under a continuous fast ping (every 2 ms) NAT-ed home ↔ NAT-ed office
#     through relay1, and web1 → home: relay1 rotated (the relayed path), then home (a NAT-ed
#     host), WGD_LAB_ROTATIONS times each (default 2); the time lost (unanswered requests × 2 ms)
#     is printed per rotation and ping; `rollback` of the last rotation: the state holds home's
#     old key again byte for byte and the apply after it is a no-op; then the fleet switches to
#     `keys: on-host` and the rotations are measured again (it stays on-host: run 10 last)
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELECTED=("$@")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir lifecycle

SUBNET=198.18.77.0/24 SUBNET_IP=198.18.77.1
OTHER_SUBNET=198.18.88.0/24 OTHER_IP=198.18.88.1

# route_of HOST PREFIX: HOST's route for exactly PREFIX through the overlay interface (empty: none)
route_of() { in_host "$1" ip -4 route show dev "$IFACE" exact "$2" 2>/dev/null; }
# reaches HOST ADDR: ADDR answers HOST's pings (3 tries)
reaches() { in_host "$1" ping -q -n -c 3 -i 0.3 -W 2 "$2" >/dev/null 2>&1; }
# routes_line HOST LIST: HOST's inventory block gains (or, with an empty LIST, loses) `routes: LIST`
routes_line() {
    sed -i "/^  $1:\$/,/^    ssh:/ { /^    routes:/d }" "$INV"
    [[ -z $2 ]] || sed -i "/^  $1:\$/a\\    routes: [$2]" "$INV"
}
listen_port() { in_host "$1" wg show "$IFACE" listen-port; }

# --------------------------------------------------------------------------------------------------
scenario_1() {
    log "scenario 1: apply converges the lab"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "1: apply exited $RC"; return; }
    if all_pairs_ping; then pass "1: every host pings every other host"; else fail "1: some pairs do not ping"; fi
}

scenario_2() {
    log "scenario 2: a subnet routed behind NAT-ed home"
    # The subnet's address lives on home itself; it answers pings that reach home through wg0.
    in_host home ip addr add "$SUBNET_IP/32" dev lo
    reaches web1 "$SUBNET_IP" && fail "2: web1 reaches $SUBNET_IP before the subnet is in the inventory"
    routes_line home "$SUBNET"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "2: apply exited $RC"; return; }
    grep -Eq "web1 +syncconf +applied" "$OUT" || fail "2: web1 did not get the subnet by syncconf"
    local host
    for host in relay1 web1 office; do
        [[ -n $(route_of "$host" "$SUBNET") ]] || fail "2: $host has no route for $SUBNET through $IFACE after the apply"
    done
    [[ -z $(route_of home "$SUBNET") ]] || fail "2: home routes its own subnet into the tunnel"
    local before after
    before=$(peer_counter web1 "$(pubkey_of "$(conf_file home)")" tx)
    reaches web1 "$SUBNET_IP" || fail "2: web1 cannot reach $SUBNET_IP behind home"
    after=$(peer_counter web1 "$(pubkey_of "$(conf_file home)")" tx)
    ((after > before)) || fail "2: web1's traffic to $SUBNET_IP did not cross the tunnel to home ($before -> $after bytes)"
    reaches office "$SUBNET_IP" || fail "2: office cannot reach $SUBNET_IP through relay1"
    wgd status "$INV"
    [[ $RC == 0 ]] || fail "2: status exited $RC on the converged lab"
    grep -q ROUTES "$OUT" && fail "2: status reports route drift on the converged lab"

    # Drift: web1's route deleted, a stray one added; status says so, apply repairs both.
    in_host web1 ip route del "$SUBNET" dev "$IFACE"
    in_host web1 ip route add 198.18.99.0/24 dev "$IFACE"
    wgd status "$INV"
    [[ $RC == 1 ]] || fail "2: status exited $RC with a missing route (want 1)"
    grep -q "ROUTES: no route for $SUBNET" "$OUT" || fail "2: status does not name the missing route"
    grep -q "ROUTES: stale route 198.18.99.0/24" "$OUT" || fail "2: status does not name the stale route"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 2 ]] || fail "2: plan exited $RC with route drift (want 2)"
    grep -A3 "web1" "$OUT" | grep -q "no route for $SUBNET" || fail "2: plan does not show web1's missing route"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "2: the repairing apply exited $RC"
    [[ -n $(route_of web1 "$SUBNET") ]] || fail "2: apply did not put web1's route back"
    [[ -z $(route_of web1 198.18.99.0/24) ]] || fail "2: apply did not remove web1's stale route"
    reaches web1 "$SUBNET_IP" || fail "2: web1 cannot reach $SUBNET_IP after the repair"
    pass "2: $SUBNET routed on relay1, web1 and office by syncconf; web1 and office reach it; drift reported and repaired"
}

scenario_3() {
    log "scenario 3: the subnet is removed"
    routes_line home ""
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "3: apply exited $RC"; return; }
    local host
    for host in relay1 web1 office; do
        [[ -z $(route_of "$host" "$SUBNET") ]] || fail "3: $host still routes $SUBNET into $IFACE"
    done
    reaches web1 "$SUBNET_IP" && fail "3: web1 still reaches $SUBNET_IP"
    wgd status "$INV"
    [[ $RC == 0 ]] || fail "3: status exited $RC"
    pass "3: $SUBNET gone from every host's routes"
}

scenario_4() {
    log "scenario 4: a peers-only change on idle NAT-ed home keeps its port"
    in_host office ip addr add "$OTHER_IP/32" dev lo
    local port
    port=$(listen_port home)
    # office's new subnet changes home's entry for relay1 (its catch-all) and nothing else of home.
    routes_line office "$OTHER_SUBNET"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "4: apply exited $RC"; return; }
    grep -Eq "home +syncconf +applied" "$OUT" || fail "4: home was not changed by syncconf"
    [[ $(listen_port home) == "$port" ]] || fail "4: home's listen port changed $port -> $(listen_port home)"
    # relay1 knows home only by the endpoint it learned: it must still be right, at once.
    in_host relay1 ping -q -n -c 1 -W 1 "${OVERLAY[home]}" >/dev/null 2>&1 ||
        in_host relay1 ping -q -n -c 1 -W 1 "${OVERLAY[home]}" >/dev/null 2>&1 ||
        fail "4: relay1 cannot reach home right after the apply"
    reaches home "$OTHER_IP" || fail "4: home cannot reach $OTHER_IP behind office"
    routes_line office ""
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "4: removing office's subnet exited $RC"
    pass "4: home kept port $port across a syncconf; relay1 reached it at once"
}

scenario_5() {
    log "scenario 5: Table = off set by a template"
    mkdir -p "$WORK/tpl"
    sed '/^Address = /a\Table = off' "$REPO/templates/wg-quick.conf.j2" >"$WORK/tpl/wg-quick.conf.j2"
    wgd apply "$INV" --yes --templates "$WORK/tpl"
    [[ $RC == 0 ]] || { fail "5: applying the template exited $RC"; return; }
    grep -q '^Table = off' "$(conf_file web1)" || fail "5: web1's config has no Table = off"
    routes_line home "$SUBNET"
    wgd apply "$INV" --yes --templates "$WORK/tpl"
    [[ $RC == 0 ]] || fail "5: adding the subnet exited $RC"
    grep -Eq "web1 +syncconf +applied" "$OUT" || fail "5: web1 did not get the subnet by syncconf"
    [[ -z $(route_of web1 "$SUBNET") ]] || fail "5: web1 got a route for $SUBNET although its config says Table = off"
    wgd status "$INV" --templates "$WORK/tpl"
    [[ $RC == 0 ]] || fail "5: status exited $RC (Table = off: no route is missing)"
    routes_line home ""
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "5: going back to the built-in template exited $RC"
    if all_pairs_ping 60; then pass "5: Table = off: no route added, none reported missing; back to the built-in template, all pairs ping"
    else fail "5: some pairs do not ping after the template round trip"; fi
}

# no_state_written WHAT: the state file must still be absent
no_state_written() { [[ ! -e $STATE ]] || { fail "6: $1 wrote a state file"; rm -f "$STATE"; }; }

scenario_6() {
    log "scenario 6: the state file lost, partly lost, replaced on purpose"
    local host saved="$WORK/state.saved"
    declare -A stamp=()
    for host in "${HOSTS[@]}"; do stamp[$host]=$(conf_stamp "$host"); done
    mv "$STATE" "$saved"

    wgd plan "$INV"
    [[ $RC == 1 ]] || fail "6: plan without the state exited $RC (want 1)"
    for host in "${HOSTS[@]}"; do
        grep -q "! $host: error: the state file does not know the key \`$host\` runs" "$OUT" ||
            fail "6: plan does not stop $host for its unknown key"
    done
    grep -q "wgdeploy adopt" "$OUT" && grep -q -- "--rekey" "$OUT" || fail "6: plan does not name adopt and --rekey"
    no_state_written plan
    # status observes the hosts whatever the state says of their keys: up, but not as planned.
    wgd status "$INV"
    [[ $RC == 0 ]] || fail "6: status without the state exited $RC (the hosts are up: want 0)"
    grep -q "differs from the inventory" "$OUT" || fail "6: status without the state does not say the hosts differ"
    no_state_written status
    in_ops "$WGDEPLOY" check "$INV" >/dev/null 2>&1 || true
    no_state_written check
    wgd apply "$INV" --yes
    [[ $RC == 1 ]] || fail "6: apply without the state exited $RC (want 1)"
    wgd apply "$INV" --yes --hosts home
    [[ $RC == 1 ]] || fail "6: apply --hosts home without the state exited $RC (want 1)"
    no_state_written apply
    for host in "${HOSTS[@]}"; do
        [[ $(conf_stamp "$host") == "${stamp[$host]}" ]] || fail "6: $host's config changed without the state"
    done

    # Partly lost: web1's entry gone. web1 and every host listing it stop.
    jq 'del(.hosts.web1)' "$saved" >"$STATE"
    chmod 600 "$STATE"
    local digest
    digest=$(sha256sum <"$STATE")
    wgd plan "$INV"
    [[ $RC == 1 ]] || fail "6: plan with web1's key lost exited $RC (want 1)"
    grep -q "! web1: error: the state file does not know the key \`web1\` runs" "$OUT" || fail "6: web1 not stopped"
    for host in relay1 home office; do
        grep -q "! $host: error: \`$host\` lists \`web1\`" "$OUT" || fail "6: $host (which lists web1) not stopped"
    done
    [[ $(sha256sum <"$STATE") == "$digest" ]] || fail "6: plan rewrote the state"

    cp "$saved" "$STATE"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 0 ]] || fail "6: plan with the state restored exited $RC (want 0)"

    # Replaced on purpose.
    local old_key
    old_key=$(pubkey_of "$(conf_file web1)")
    wgd plan "$INV" --rekey web1 --hosts web1
    [[ $RC == 1 ]] && grep -q "leaves out" "$OUT" || fail "6: --rekey web1 --hosts web1 was not refused"
    wgd plan "$INV" --rekey web1
    [[ $RC == 0 ]] || fail "6: plan --rekey web1 exited $RC"
    grep -q "(new key of web1)" "$OUT" || fail "6: plan --rekey does not label web1's new key"
    grep -q "PrivateKey = (redacted, changed)" "$OUT" || fail "6: plan --rekey does not show web1's key changing"
    cmp -s "$saved" "$STATE" || fail "6: plan --rekey wrote the state"
    flock -x -o "$STATE.lock" sleep 20 &   # -o: the lock is flock's own, gone when it is killed
    local holder=$!
    sleep 0.3
    wgd apply "$INV" --yes --rekey web1
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
    [[ $RC == 1 ]] && grep -q "another wgdeploy run holds" "$OUT" || fail "6: apply ran although another run held the state lock"
    wgd apply "$INV" --yes --rekey web1
    [[ $RC == 0 ]] || fail "6: apply --rekey web1 exited $RC"
    local new_key
    new_key=$(pubkey_of "$(conf_file web1)")
    [[ $new_key != "$old_key" ]] || fail "6: web1's key did not change"
    for host in relay1 home office; do
        grep -q "PublicKey = $new_key" "$(conf_file "$host")" || fail "6: $host does not list web1's new key"
    done
    [[ $(in_host web1 wg show "$IFACE" public-key) == "$new_key" ]] || fail "6: web1 does not run its new key"
    cmp -s "$saved" "$STATE" && fail "6: apply --rekey did not save the new key"
    if all_pairs_ping 30; then pass "6: a lost state stops every host it would re-key, writes nothing; --rekey re-keys web1 everywhere, all pairs ping"
    else fail "6: some pairs do not ping after --rekey"; fi
}

# host_settings HOST LINES...: the inventory's settings become exactly these lines in HOST's block
# (none: no settings anywhere); every earlier one, on any host, goes. They are marked `# s7`.
host_settings() {
    local host=$1 line; shift
    sed -i '/# s7$/d' "$INV"
    for line in "$@"; do
        sed -i "/^  $host:\$/a\\    $line   # s7" "$INV"
    done
}
hook_log() { tr '\n' ' ' 2>/dev/null <"$WORK/hosts/$1/run/wgd-hooks"; }
mtu_of() { in_host "$1" cat "/sys/class/net/$IFACE/mtu"; }

scenario_7() {
    log "scenario 7: per-host settings: mtu, hooks, dns"
    host_settings web1 "mtu: 1380" 'post_up: ["echo up >> /run/wgd-hooks"]' 'post_down: ["echo down >> /run/wgd-hooks"]'
    wgd plan "$INV"
    [[ $RC == 0 ]] || { fail "7: plan exited $RC"; return; }
    grep -q "~ web1: restart" "$OUT" || fail "7: web1's new settings are not a restart"
    grep -q "interface changes: MTU, PostDown, PostUp" "$OUT" || fail "7: the plan does not name MTU and the hooks"
    grep -q "+MTU = 1380" "$OUT" && grep -q "+PostUp = echo up >> /run/wgd-hooks" "$OUT" || fail "7: the diff does not show MTU and PostUp"
    grep -q "has no matching" "$OUT" && fail "7: a paired hook is warned about"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "7: apply exited $RC"; return; }
    [[ $(mtu_of web1) == 1380 ]] || fail "7: web1's $IFACE has MTU $(mtu_of web1), planned 1380"
    [[ $(hook_log web1) == "up " ]] || fail "7: web1's PostUp did not run once (log: $(hook_log web1))"

    host_settings web1 "mtu: 1400" 'post_up: ["echo up >> /run/wgd-hooks"]' 'post_down: ["echo down >> /run/wgd-hooks"]'
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "7: the MTU change exited $RC"; return; }
    grep -q "interface changes: MTU$" "$OUT" || fail "7: the MTU change's reason does not name MTU alone"
    grep -Eq "web1 +restart +applied" "$OUT" || fail "7: the MTU change was not applied as a restart"
    [[ $(mtu_of web1) == 1400 ]] || fail "7: web1's $IFACE has MTU $(mtu_of web1) after the change, planned 1400"
    [[ $(hook_log web1) == "up down up " ]] || fail "7: the restart did not run PostDown then PostUp (log: $(hook_log web1))"
    all_pairs_ping 30 || fail "7: some pairs do not ping with web1's MTU 1400"

    # An up-hook with nothing to undo it: the plan warns, naming lock-out protection.
    host_settings office 'post_up: ["echo up >> /run/wgd-hooks"]'
    wgd plan "$INV"
    grep -A4 "~ office" "$OUT" | grep -q "warning: \`post_up\` has no matching \`pre_down\`/\`post_down\`: if lock-out protection reverts" ||
        fail "7: the plan does not warn about office's post_up without a down-hook"

    # DNS needs resolvconf: without it, home fails in the plan and nothing is written there.
    host_settings home "dns: [1.1.1.1, corp.example]"
    local stamp
    stamp=$(conf_stamp home)
    wgd plan "$INV"
    [[ $RC == 1 ]] || fail "7: plan with dns on home (no resolvconf) exited $RC (want 1)"
    grep -q "! home: error: the config sets \`DNS = 1.1.1.1, corp.example\` but \`resolvconf\` is not installed on this host" "$OUT" ||
        fail "7: the plan does not stop home for its missing resolvconf"
    grep -q "help: install \`resolvconf\` (the \`openresolv\` package" "$OUT" || fail "7: the plan does not give the fix"
    wgd apply "$INV" --yes
    [[ $RC == 1 ]] || fail "7: apply with dns on home (no resolvconf) exited $RC (want 1)"
    [[ $(conf_stamp home) == "$stamp" ]] || fail "7: home's config was written although resolvconf is missing"

    # A resolvconf of the host's own (its private /usr/local/sbin) that records what wg-quick gives.
    mkdir -p "$WORK/hosts/home/sbin"
    printf '#!/bin/sh\n{ echo "resolvconf $*"; cat; } >> /run/resolvconf.log\n' >"$WORK/hosts/home/sbin/resolvconf"
    chmod 755 "$WORK/hosts/home/sbin/resolvconf"
    in_host home mount --bind "$WORK/hosts/home/sbin" /usr/local/sbin
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "7: apply with resolvconf on home exited $RC"
    grep -q "nameserver 1.1.1.1" "$WORK/hosts/home/run/resolvconf.log" 2>/dev/null &&
        grep -q "search corp.example" "$WORK/hosts/home/run/resolvconf.log" ||
        fail "7: wg-quick did not hand home's DNS to resolvconf ($(cat "$WORK/hosts/home/run/resolvconf.log" 2>/dev/null))"

    host_settings web1
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "7: going back to no settings exited $RC"
    [[ $(mtu_of web1) == 1420 ]] || fail "7: web1's MTU is $(mtu_of web1) without the setting (wg-quick's default 1420)"
    if all_pairs_ping 30; then pass "7: MTU and hooks applied as planned, an MTU change is a restart, unpaired hooks warned about, DNS needs resolvconf"
    else fail "7: some pairs do not ping after the settings were removed"; fi
}

# unanswered LOG MARGIN: the icmp_seq numbers in ping's LOG never answered, up to MARGIN requests
# before the last one answered (a request still in flight when ping is stopped is no loss).
unanswered() {
    awk -v margin="$2" 'match($0, /icmp_seq=[0-9]+/) { seq = substr($0, RSTART + 9, RLENGTH - 9) + 0; got[seq] = 1; if (seq > last) last = seq }
                        END { for (i = 1; i <= last - margin; i++) if (!(i in got)) printf "%d ", i }' "$1"
}

scenario_8() {
    local rounds=${WGD_LAB_BLIP_ROUNDS:-20}
    log "scenario 8: $rounds peers-only applies under a fast ping through relay1"
    local i keepalive=25 rc=0 synced=0 from to lost=0 missing stats
    local -A pinger=()
    # home -> office and back, 500 requests a second each way, all through relay1: on both ends the
    # route of every packet is relay1's AllowedIPs, which wg syncconf used to remove and re-insert.
    # (Started without a wrapping subshell so $! is ping itself; stopped with SIGALRM, on which ping
    # prints its statistics.)
    for from in home office; do
        to=office; [[ $from == office ]] && to=home
        nsenter --target "${HOLDER[$from]}" --net --mount --uts -- \
            ping -n -i 0.002 -c 1000000 "${OVERLAY[$to]}" >"$WORK/blip-$from.log" 2>&1 &
        pinger[$from]=$!
    done
    sleep 1
    for ((i = 1; i <= rounds; i++)); do
        keepalive=$((keepalive == 25 ? 24 : 25))
        sed -i "s/^  keepalive: .*/  keepalive: $keepalive/" "$INV"
        wgd apply "$INV" --yes --hosts home,office >/dev/null
        [[ $RC == 0 ]] || { rc=$RC; sed 's/^/    | /' "$OUT"; }
        [[ $(grep -Ec "(home|office) +syncconf +applied" "$OUT") == 2 ]] && synced=$((synced + 1))
    done
    sleep 1
    for from in home office; do kill -ALRM "${pinger[$from]}"; wait "${pinger[$from]}" || true; done
    for from in home office; do
        to=office; [[ $from == office ]] && to=home
        stats=$(grep 'packets transmitted' "$WORK/blip-$from.log")
        # The last 0.5 s of requests were sent after the applies ended.
        missing=$(unanswered "$WORK/blip-$from.log" 250)
        log "$from -> $to during the applies: $stats; unanswered before the last 0.5 s: ${missing:-none}"
        [[ $stats != *" 0 received"* ]] || fail "8: $from's ping got no answer at all"
        lost=$((lost + $(wc -w <<<"$missing")))
    done
    if ((keepalive != 25)); then
        sed -i "s/^  keepalive: .*/  keepalive: 25/" "$INV"
        wgd apply "$INV" --yes >/dev/null
    fi
    [[ $rc == 0 ]] || fail "8: an apply exited $rc"
    ((synced == rounds)) || fail "8: only $synced of $rounds applies changed home and office by syncconf"
    ((lost == 0)) || fail "8: $lost requests lost between home and office during $rounds peers-only applies"
    if ((rc == 0 && synced == rounds && lost == 0)); then
        pass "8: $rounds peers-only applies on home and office, 0 requests lost either way"
    fi
}

# lost_ms LOG: the time lost by a 2 ms ping (unanswered requests × 2 ms, the last 0.5 s aside).
lost_ms() { local missing; missing=$(unanswered "$1" 250); echo $(($(wc -w <<<"$missing") * 2)); }

HOME_KEY_BEFORE_LAST='' WORST_MS=0
# rotate_under_ping MODE ROUNDS: rotates relay1, then home, ROUNDS times, each under a 2 ms ping
# home -> office and back (through relay1) and web1 -> home (a direct tunnel to NAT-ed home);
# prints the time each ping lost per rotation.
rotate_under_ping() {
    local mode=$1 rounds=$2 i host from to pid ms pair line before after
    local pairs=("home office" "office home" "web1 home")
    for ((i = 1; i <= rounds; i++)); do
        for host in relay1 home; do
            local -a pids=()
            before=$(in_host "$host" wg show "$IFACE" public-key)
            [[ $mode == local && $host == home ]] && HOME_KEY_BEFORE_LAST=$(jq -r '.hosts.home.private_key' "$STATE")
            for pair in "${pairs[@]}"; do
                read -r from to <<<"$pair"
                nsenter --target "${HOLDER[$from]}" --net --mount --uts -- \
                    ping -n -i 0.002 -c 1000000 "${OVERLAY[$to]}" >"$WORK/rot-$from-$to.log" 2>&1 &
                pids+=($!)
            done
            sleep 0.5
            wgd rotate "$INV" --yes --hosts "$host" >/dev/null
            [[ $RC == 0 ]] || { fail "10: rotate --hosts $host ($mode keys) exited $RC"; sed 's/^/    | /' "$OUT"; }
            sleep 1.5
            for pid in "${pids[@]}"; do kill -ALRM "$pid"; wait "$pid" || true; done
            after=$(in_host "$host" wg show "$IFACE" public-key)
            [[ $after != "$before" ]] || fail "10: $host runs the same key after rotate ($mode keys)"
            line="$mode keys, rotation $i of $host:"
            for pair in "${pairs[@]}"; do
                read -r from to <<<"$pair"
                ms=$(lost_ms "$WORK/rot-$from-$to.log")
                ((ms > WORST_MS)) && WORST_MS=$ms
                line+=" $from->$to ${ms} ms;"
            done
            log "$line"
        done
    done
}

scenario_10() {
    local rounds=${WGD_LAB_ROTATIONS:-2}
    log "scenario 10: rotate relay1 and home, $rounds times each, under a 2 ms ping (keys: local, then on-host)"
    rotate_under_ping local "$rounds"
    # Rollback of the last rotation (home): the state's key back byte for byte, apply a no-op.
    local rotated back
    rotated=$(jq -r '.hosts.home.private_key' "$STATE")
    wgd rollback "$INV" --yes
    [[ $RC == 0 ]] || fail "10: rollback of the rotation exited $RC"
    back=$(jq -r '.hosts.home.private_key' "$STATE")
    [[ $back != "$rotated" ]] || fail "10: rollback left home's rotated key in the state"
    [[ $back == "$HOME_KEY_BEFORE_LAST" ]] || fail "10: the state's key of home after rollback is not the one before the rotation"
    [[ $(in_host home wg show "$IFACE" public-key) == "$(wg pubkey <<<"$back")" ]] || fail "10: home does not run the key the state holds after rollback"
    [[ $(conf_value "$(conf_file home)" PrivateKey) == "$back" ]] || fail "10: home's config and the state disagree after rollback"
    wgd plan "$INV" --detailed-exitcode
    [[ $RC == 0 ]] || { fail "10: plan after the rollback exited $RC (want 0: nothing to do)"; sed 's/^/    | /' "$OUT"; }
    all_pairs_ping 30 || fail "10: some pairs do not ping after the rollback"
    # The same fleet switched to keys made on the hosts (each keeps the key it runs), rotated again.
    sed -i 's/^  keepalive: 25$/  keepalive: 25\n  keys: on-host/' "$INV"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || fail "10: apply with keys: on-host exited $RC"
    rotate_under_ping on-host "$rounds"
    all_pairs_ping 30 || fail "10: some pairs do not ping after the on-host rotations"
    # One handshake, not WireGuard's 5 s handshake retry (REKEY_TIMEOUT) nor a keepalive interval.
    ((WORST_MS <= 2000)) || fail "10: a rotation lost ${WORST_MS} ms of pings (bound: 2000 ms)"
    pass "10: ${rounds}×2 rotations in each key mode; worst time lost by one ping: ${WORST_MS} ms; rollback returns home's old key into the state, nothing left to apply"
}

# lan_behind HOST SHORT PREFIX24 (e.g. 198.18.91): a namespace SHORT holding a LAN host .2 behind
# HOST (.1 on HOST's lan0), default route through HOST. No WireGuard there: only HOST can carry it.
lan_behind() {
    local host=$1 prefix=$3
    new_netns "$2"
    ip -n "$NS_NAME" link add lan1 type veth peer name lan0 netns "${HOLDER[$host]}"
    ip -n "$NS_NAME" addr add "$prefix.2/24" dev lan1
    ip -n "$NS_NAME" link set lan1 up
    ip -n "$NS_NAME" route add default via "$prefix.1"
    in_host "$host" ip addr add "$prefix.1/24" dev lan0
    in_host "$host" ip link set lan0 up
    LAN_NS[$host]=$NS_NAME
}
declare -A LAN_NS=()

# lan_reaches NS ADDR: from the LAN namespace NS, ADDR answers pings (3 tries)
lan_reaches() { nsx "$1" ping -q -n -c 3 -i 0.3 -W 2 "$2" >/dev/null 2>&1; }

scenario_9() {
    log "scenario 9: LANs behind NAT-ed home and office reach each other and the overlay"
    local lan_a=198.18.91 lan_b=198.18.92 bad=0 host
    lan_behind home lan-home "$lan_a"
    lan_behind office lan-office "$lan_b"
    routes_line home "$lan_a.0/24"
    routes_line office "$lan_b.0/24"
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "9: apply exited $RC"; return; }
    for host in home office; do
        [[ $(in_host "$host" sysctl -n net.ipv4.ip_forward) == 1 ]] || { fail "9: $host owns a subnet but does not forward"; bad=1; }
    done
    refresh_overlay
    wait_handshakes
    lan_reaches "${LAN_NS[home]}" "$lan_b.2" || { fail "9: home's LAN cannot reach office's LAN through relay1"; bad=1; }
    lan_reaches "${LAN_NS[office]}" "$lan_a.2" || { fail "9: office's LAN cannot reach home's LAN through relay1"; bad=1; }
    for host in relay1 web1 home office; do
        reaches "$host" "$lan_a.2" || { fail "9: $host cannot reach home's LAN host"; bad=1; }
        reaches "$host" "$lan_b.2" || { fail "9: $host cannot reach office's LAN host"; bad=1; }
        lan_reaches "${LAN_NS[home]}" "${OVERLAY[$host]}" || { fail "9: home's LAN cannot reach $host"; bad=1; }
    done
    set +e
    in_ops "$WGDEPLOY" check "$INV" --json >"$WORK/check.json" 2>&1
    local rc=$?
    set -e
    [[ $rc == 0 ]] || { fail "9: check of the inventory with two LANs exited $rc"; bad=1; }
    for prefix in "$lan_a.0/24" "$lan_b.0/24"; do
        grep -q "\"$prefix\"" "$WORK/check.json" || { fail "9: check --json does not list the subnet $prefix"; bad=1; }
    done
    routes_line home ""
    routes_line office ""
    wgd apply "$INV" --yes
    [[ $RC == 0 ]] || { fail "9: removing the subnets exited $RC"; bad=1; }
    ((bad)) || pass "9: LAN ↔ LAN through relay1, every host ↔ both LANs; check lists both subnets"
}

# --------------------------------------------------------------------------------------------------
make_ssh_lab
write_lab_inventory "$INV" standard
HOSTS=(relay1 web1 home office)
scenario_1
for n in 2 3 4 5 6 7 8 9 10; do
    selected "$n" && "scenario_$n"
done
if ((FAILURES > 0)); then
    log "$FAILURES check(s) FAILED"
    exit 1
fi
log "all selected scenarios passed"
