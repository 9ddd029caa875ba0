#!/usr/bin/env bash
# lab/adopt-e2e.sh: adopting a fleet that already runs WireGuard (issue 9, section 4), end to end
# over real SSH onto real WireGuard behind real NAT (the lab of apply-e2e.sh).
#
#   sudo lab/adopt-e2e.sh
#
# The hosts start with hand-written configs in the relay layout (own keys from `wg genkey`, web1's
# set by a PostUp hook instead of its config; preshared keys on every directly connected pair;
# addresses inside the overlay but not where the allocator would put them; web1 on port 51999; an
# extra peer on relay1 the inventory does not know), brought up with wg-quick. Then, in order:
#   1 `plan` says each host "replaces a config not written by wgdeploy" (text and --json); `apply`
#     without --replace-unmanaged refuses every host, exit 1, and changes nothing
#   2 `adopt` reads keys (web1's from the running interface), addresses and preshared keys into the
#     state (0600, adopted), reports the listen port (with the `listen_port: 51999` line that keeps
#     it), the interface settings and hooks it keeps or not (web1's key-setting hook, relay1's
#     forwarding hook), the unknown peer, prints no secret and changes nothing on the hosts
#   3 `plan` after adopt: no key changes (no `(redacted, changed)`, every PublicKey unchanged)
#   4 `apply --yes` while home pings office through relay1: 0 lost pings; only web1 restarts (the
#     PostUp hook that set its key goes); the live public keys are the hand-written ones;
#     generation 0 on each host is the hand-written config byte for byte (0600, kind=original)
#   5 `rollback --yes` right after that first apply: the hand-written configs are back byte for byte
#     and all pairs ping
#   6 office made un-adopted (its entry dropped from the state, its generations gone): `apply
#     --replace-unmanaged` replaces it with a new key (`(redacted, changed)` in the plan), keeping
#     the hand-written config as generation 0; all pairs ping
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir adopt
HOSTS=(relay1 web1 home office)

# same_as_original [HOSTS...]: each host's config is byte-identical to its hand-written one
same_as_original() {
    local host bad=0
    for host in "${@:-${HOSTS[@]}}"; do
        cmp -s "$(conf_file "$host")" "$WORK/orig/$host.conf" || { echo "  $host differs from its hand-written config"; bad=1; }
    done
    return "$bad"
}
# no_secret_in FILE: no private or preshared key of the hand-written configs appears in FILE
no_secret_in() {
    local key
    for key in "${SECRETS[@]}"; do grep -qF -- "$key" "$1" && return 1; done
    return 0
}
# plan_json FILE: `wgdeploy plan --json` (stdout only) into FILE
plan_json() {
    in_ops "$WGDEPLOY" plan "$INV" --json --known-hosts "$WORK/ssh/known_hosts" >"$1" 2>"$WORK/plan.err" </dev/null || true
}

# --------------------------------------------------------------------------------------------------
# The hand-written fleet
# --------------------------------------------------------------------------------------------------
make_ssh_lab
write_lab_inventory "$INV" standard
sed -i 's/^  keepalive: 25$/  keepalive: 25\n  preshared_keys: true/' "$INV"

declare -A PRIV=() PUB=() ADDR=([relay1]=100.64.0.1 [web1]=100.64.0.10 [home]=100.64.0.20 [office]=100.64.0.30)
for host in "${HOSTS[@]}"; do PRIV[$host]=$(wg genkey); PUB[$host]=$(wg pubkey <<<"${PRIV[$host]}"); done
PSK_RW=$(wg genpsk) PSK_RH=$(wg genpsk) PSK_RO=$(wg genpsk) PSK_WH=$(wg genpsk) PSK_WO=$(wg genpsk)
STRANGER=$(wg genkey | wg pubkey)
SECRETS=("${PRIV[@]}" "$PSK_RW" "$PSK_RH" "$PSK_RO" "$PSK_WH" "$PSK_WO")
mkdir -p "$WORK/orig"
cat >"$WORK/orig/relay1.conf" <<EOF
# relay1 -- written by hand, 2024
[Interface]
Address = ${ADDR[relay1]}/24
ListenPort = 51820
PrivateKey = ${PRIV[relay1]}
PostUp = sysctl -q -w net.ipv4.ip_forward=1
PostUp = iptables -C FORWARD -i %i -o %i -j ACCEPT 2>/dev/null || iptables -I FORWARD -i %i -o %i -j ACCEPT
PostDown = iptables -D FORWARD -i %i -o %i -j ACCEPT 2>/dev/null || true

# web1
[Peer]
PublicKey = ${PUB[web1]}
PresharedKey = $PSK_RW
AllowedIPs = ${ADDR[web1]}/32
Endpoint = 198.51.100.2:51999

# home (behind NAT)
[Peer]
PublicKey = ${PUB[home]}
PresharedKey = $PSK_RH
AllowedIPs = ${ADDR[home]}/32

# office (behind NAT)
[Peer]
PublicKey = ${PUB[office]}
PresharedKey = $PSK_RO
AllowedIPs = ${ADDR[office]}/32

# an old laptop nobody remembers
[Peer]
PublicKey = $STRANGER
AllowedIPs = 100.64.0.99/32
EOF
# web1's key is not in its config: a PostUp hook sets it from a file (adopt reads it from the
# running interface).
install -m 600 /dev/null "$WORK/hosts/web1/etc-wireguard/web1.key"
printf '%s\n' "${PRIV[web1]}" >"$WORK/hosts/web1/etc-wireguard/web1.key"
cat >"$WORK/orig/web1.conf" <<EOF
[Interface]
ListenPort = 51999
Address = ${ADDR[web1]}/24
PostUp = wg set %i private-key /etc/wireguard/web1.key

# relay1
[Peer]
PublicKey = ${PUB[relay1]}
PresharedKey = $PSK_RW
Endpoint = 198.51.100.1:51820
AllowedIPs = ${ADDR[relay1]}/32

# home
[Peer]
PublicKey = ${PUB[home]}
PresharedKey = $PSK_WH
AllowedIPs = ${ADDR[home]}/32

# office
[Peer]
PublicKey = ${PUB[office]}
PresharedKey = $PSK_WO
AllowedIPs = ${ADDR[office]}/32
EOF
nat_conf() {    # nat_conf HOST PSK_WITH_RELAY PSK_WITH_WEB1
    cat <<EOF
[Interface]
Address = ${ADDR[$1]}/24
PrivateKey = ${PRIV[$1]}

[Peer]
PublicKey = ${PUB[relay1]}
PresharedKey = $2
AllowedIPs = 100.64.0.0/24
Endpoint = 198.51.100.1:51820
PersistentKeepalive = 25

[Peer]
PublicKey = ${PUB[web1]}
PresharedKey = $3
AllowedIPs = ${ADDR[web1]}/32
Endpoint = 198.51.100.2:51999
PersistentKeepalive = 25
EOF
}
nat_conf home "$PSK_RH" "$PSK_WH" >"$WORK/orig/home.conf"
nat_conf office "$PSK_RO" "$PSK_WO" >"$WORK/orig/office.conf"
for host in "${HOSTS[@]}"; do wg_up "$host" "$WORK/orig/$host.conf"; done
log "hand-written configs are up"
if all_pairs_ping 30; then pass "0: the hand-written fleet works (all pairs ping)"; else fail "0: the hand-written fleet does not work"; fi

# --------------------------------------------------------------------------------------------------
log "1: plan and apply on unmanaged hosts"
wgd plan "$INV"
[[ $RC == 0 ]] || fail "1: plan exited $RC"
n=$(grep -c "replaces a config not written by wgdeploy" "$OUT" || true)
[[ $n == 4 ]] || fail "1: plan says 'replaces a config not written by wgdeploy' $n times (want 4)"
plan_json "$WORK/plan1.json"
jq -e '[.hosts[] | select(.replaces_unmanaged and (.reasons | index("replaces a config not written by wgdeploy")))] | length == 4' "$WORK/plan1.json" >/dev/null ||
    fail "1: plan --json does not carry the reason for all 4 hosts"
wgd apply "$INV" --yes
[[ $RC == 1 ]] || fail "1: apply without --replace-unmanaged exited $RC (want 1)"
n=$(grep -c "refusing to replace" "$OUT" || true)
[[ $n -ge 4 ]] || fail "1: apply refused $n hosts (want all 4)"
grep -q -- "--replace-unmanaged" "$OUT" && grep -q "wgdeploy adopt" "$OUT" || fail "1: the refusal does not name adopt and --replace-unmanaged"
ls "$(gen_dir relay1)"/*.conf >/dev/null 2>&1 && fail "1: a refused apply recorded a generation"
if same_as_original; then pass "1: plan names the unmanaged configs; apply refuses all 4 and changes nothing"; else fail "1: a refused apply changed a config"; fi

# --------------------------------------------------------------------------------------------------
log "2: adopt"
wgd adopt "$INV"
[[ $RC == 0 ]] || fail "2: adopt exited $RC"
grep -q "Adopted 4 host(s)" "$OUT" || fail "2: adopt did not adopt 4 hosts"
grep -q "not kept: listen port 51999" "$OUT" && grep -q 'add `listen_port: 51999` under `web1:`' "$OUT" ||
    fail "2: adopt does not report web1's listen port with the line that keeps it"
grep -q "not in the inventory: peer $STRANGER" "$OUT" || fail "2: adopt does not list relay1's unknown peer"
grep -q "not kept: PostUp = wg set %i private-key .*: the key it sets is kept" "$OUT" ||
    fail "2: adopt does not say what becomes of web1's key-setting hook"
awk '/^relay1: adopted/,/^web1: adopted/' "$OUT" | grep -q "kept: PostUp = sysctl -q -w net.ipv4.ip_forward=1" ||
    fail "2: adopt does not recognise relay1's forwarding hook as one wgdeploy renders"
awk '/^web1: adopted/,/^office: adopted/' "$OUT" | grep -q "kept: private key from the running interface" ||
    fail "2: adopt did not take web1's key (set by a PostUp hook) from the running interface"
no_secret_in "$OUT" || fail "2: a secret key appears in adopt's output"
[[ $(stat -c %a "$STATE") == 600 ]] || fail "2: the state file is not 0600"
for host in "${HOSTS[@]}"; do
    [[ $(jq -r ".hosts.$host.private_key" "$STATE") == "${PRIV[$host]}" ]] || fail "2: $host's key in the state is not its own"
    [[ $(jq -r ".hosts.$host.adopted" "$STATE") == true ]] || fail "2: $host is not marked adopted"
    [[ $(jq -r ".hosts.$host.addresses[0]" "$STATE") == "${ADDR[$host]}" ]] || fail "2: $host's address is not kept"
done
[[ $(jq -r '.preshared_keys["home,relay1"]' "$STATE") == "$PSK_RH" ]] || fail "2: the home/relay1 preshared key is not kept"
if same_as_original; then pass "2: adopt kept keys, addresses and preshared keys, reported the port and the unknown peer, changed nothing"; else fail "2: adopt changed a config"; fi
sed -i '/^  web1:$/a\    listen_port: 51999' "$INV"     # the line adopt asked for

# --------------------------------------------------------------------------------------------------
log "3: plan after adopt"
wgd plan "$INV"
[[ $RC == 0 ]] || fail "3: plan exited $RC"
bad=0
grep -q "(redacted, changed)" "$OUT" && { fail "3: the plan changes a key"; bad=1; }
# Lines may move (peers are sorted by name, fields put in wgdeploy's order): what counts is that no
# value appears that the hand-written configs did not have.
while read -r key; do
    [[ " ${PUB[*]} " == *" $key "* ]] || { fail "3: the plan brings in public key $key"; bad=1; }
done < <(sed -n 's/^ *+PublicKey = //p' "$OUT")
while read -r value; do
    [[ " ${ADDR[*]/%//24} 51820 51999 " == *" $value "* ]] || { fail "3: the plan changes an address or port to $value"; bad=1; }
done < <(sed -n 's/^ *+\(Address\|ListenPort\) = //p' "$OUT")
grep -qF -- "-PublicKey = $STRANGER" "$OUT" || { fail "3: the plan does not drop relay1's unknown peer"; bad=1; }
n=$(grep -c "adopted (\`wgdeploy adopt\`)" "$OUT" || true)
[[ $n == 4 ]] || { fail "3: plan names $n hosts as adopted (want 4)"; bad=1; }
no_secret_in "$OUT" || { fail "3: a secret key appears in the plan"; bad=1; }
plan_json "$WORK/plan3.json"
no_secret_in "$WORK/plan3.json" || { fail "3: a secret key appears in plan --json"; bad=1; }
((bad)) || pass "3: after adopt the plan keeps every key, address and port; only relay1's unknown peer goes"

# --------------------------------------------------------------------------------------------------
log "4: apply while home pings office"
declare -A pid=()
for host in "${HOSTS[@]}"; do pid[$host]=$(wg_pid "$host"); done
nsenter --target "${HOLDER[home]}" --net --mount --uts -- \
    ping -n -i 0.05 -c 100000 "${ADDR[office]}" >"$WORK/ping.log" 2>&1 &
pinger=$!
sleep 1
wgd apply "$INV" --yes
rc=$RC
sleep 2
kill -ALRM "$pinger"; wait "$pinger" || true
stats=$(grep 'packets transmitted' "$WORK/ping.log")
missing=$(awk 'match($0, /icmp_seq=[0-9]+/) { seq = substr($0, RSTART + 9, RLENGTH - 9) + 0; got[seq] = 1; if (seq > last) last = seq }
               END { for (i = 1; i <= last; i++) if (!(i in got)) printf "%d ", i }' "$WORK/ping.log")
# As in apply-e2e.sh, a loss is a gap: a request unanswered below the last one answered. And the
# replies must go on to the end: the last one answered is among the last 20 sent (1 s of pings;
# ping ran 2 s past the apply), so an outage that began during the apply and lasted is a loss too.
sent=${stats%% packets transmitted*}
last=$(grep -o 'icmp_seq=[0-9]*' "$WORK/ping.log" | cut -d= -f2 | sort -n | tail -n 1)
log "home -> office during the apply: $stats; unanswered before the last reply: ${missing:-none}; last answered $last of $sent"
[[ $rc == 0 ]] || fail "4: apply exited $rc"
if [[ -z $missing && -n $last && $((sent - last)) -le 20 ]]; then
    pass "4: 0 pings lost home -> office through relay1 during the apply ($sent sent, the last $((sent - last)) still in flight)"
else
    fail "4: pings lost during the apply (gaps: ${missing:-none}; last answered ${last:-none} of $sent)"
fi
before=$FAILURES
for host in "${HOSTS[@]}"; do
    # web1 restarts: its config loses the PostUp hook that set its key (an interface change).
    [[ $host == web1 || $(wg_pid "$host") == "${pid[$host]}" ]] || fail "4: $host was restarted"
    [[ $(in_host "$host" wg show "$IFACE" public-key) == "${PUB[$host]}" ]] || fail "4: $host runs another key"
    head -n 1 "$(conf_file "$host")" | grep -q "generated by wgdeploy" || fail "4: $host's config is not wgdeploy's"
    g=$(gen_dir "$host")
    cmp -s "$g/0.conf" "$WORK/orig/$host.conf" || fail "4: $host's generation 0 is not its hand-written config"
    [[ $(stat -c %a "$g/0.conf" 2>/dev/null) == 600 ]] || fail "4: $host's generation 0 is not 0600"
    grep -qx "kind=original" "$g/0.meta" 2>/dev/null && grep -q "^deployment=" "$g/0.meta" || fail "4: $host's 0.meta does not say kind=original"
    grep -qx "kind=apply" "$g/1.meta" 2>/dev/null || fail "4: $host's first apply is not generation 1"
done
grep -Eq "web1 +restart +applied" "$OUT" || fail "4: web1 did not restart (its PostUp hook goes)"
((FAILURES == before)) && pass "4: only web1 restarted (its key hook goes), keys unchanged, generation 0 holds each hand-written config byte for byte"
if all_pairs_ping 30; then pass "4: all pairs ping after the apply"; else fail "4: some pairs do not ping after the apply"; fi

# --------------------------------------------------------------------------------------------------
log "5: rollback right after the first apply"
wgd rollback "$INV" --yes
[[ $RC == 0 ]] || fail "5: rollback exited $RC"
grep -q "Rolling back to the original configs" "$OUT" || fail "5: rollback did not go to the original configs"
if same_as_original; then pass "5: rollback put every hand-written config back byte for byte"; else fail "5: configs differ from the hand-written ones"; fi
if all_pairs_ping 30; then pass "5: all pairs ping on the hand-written configs again"; else fail "5: some pairs do not ping after the rollback"; fi

# --------------------------------------------------------------------------------------------------
log "6: apply --replace-unmanaged on a host that was not adopted"
rm -rf "$WORK/hosts/office/var-lib-wgdeploy/$IFACE"
jq 'del(.hosts.office) | .preshared_keys |= with_entries(select(.key | test("office") | not))' "$STATE" >"$STATE.new"
chmod 600 "$STATE.new" && mv "$STATE.new" "$STATE"
wgd apply "$INV" --yes --replace-unmanaged
[[ $RC == 0 ]] || fail "6: apply --replace-unmanaged exited $RC"
grep -q "+PrivateKey = (redacted, changed)" "$OUT" || fail "6: the plan does not show office's new key"
grep -q -- "--replace-unmanaged: replaced" "$OUT" || fail "6: the plan does not say office is replaced"
[[ $(in_host office wg show "$IFACE" public-key) != "${PUB[office]}" ]] || fail "6: office kept its old key"
cmp -s "$(gen_dir office)/0.conf" "$WORK/orig/office.conf" || fail "6: office's generation 0 is not its hand-written config"
grep -qx "kind=original" "$(gen_dir office)/0.meta" 2>/dev/null || fail "6: office's 0.meta does not say kind=original"
no_secret_in "$OUT" || fail "6: a secret key appears in the output"
if all_pairs_ping 60; then pass "6: office replaced with a new key, generation 0 kept; all pairs ping"; else fail "6: some pairs do not ping"; fi

if ((FAILURES == 0)); then log "RESULT: OK: $PASSED checks passed, every adopt scenario passed"; else log "RESULT: FAILED: $FAILURES check(s)"; exit 1; fi
