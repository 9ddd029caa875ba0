#!/usr/bin/env bash
# lab/onhost-e2e.sh: `keys: on-host` (issue 14), end to end over real SSH onto real WireGuard
# behind real NAT (the standard lab of apply-e2e.sh): each host makes its own private key and only
# its public half ever reaches the operator.
#
#   sudo lab/onhost-e2e.sh
#
# In order:
#   1 `check` works before any key exists; `render --out` is refused until the hosts made theirs;
#     `plan` on the fresh lab creates no key on any host and labels each one `(key HOST will make)`
#   2 the first `apply`: every host has /etc/wireguard/wg0.key (0600), its config names that key,
#     the live interface runs it; every pair pings
#   3 the re-apply is a no-op (`plan --detailed-exitcode` 0, no config rewritten)
#   3b a keepalive change applied, then `rollback`: every config is back byte for byte (the
#     generations travel with the marker, the host merges its key in again); all pairs ping
#   4 the state lost: `plan` re-keys nothing (exit 0, nothing to do) and `apply` converges with no
#     config rewritten; the new state holds the hosts' public keys and no private key
#   5 the state lost again: `adopt` records the hosts' public keys and no private key; the plan after
#     it has nothing to do
#   6 web1 rebuilt (key file, config and interface gone): apply makes it a new key and stops its
#     peers (they list the old one); `apply --rekey web1` gives them the new one; all pairs ping
#   6b `rotate`: every host makes a pending key and switches to it, its peers list the new public
#     key, the old key is kept under /var/lib/wgdeploy/wg0/keys (0600); all pairs ping; `rollback`
#     brings back every config byte for byte and each host's old key from its own files; the apply
#     after it is a no-op; `status --json`'s key_since_unix is the rotation's time after it, and
#     earlier again after the rollback
#   7 no host's private key (read on the host: the old and the new of web1, every rotated and every
#     kept key) appears in the state files, the journal, the `render --out` files or any output
#     captured during the run
#   8 office leaves the inventory: it is decommissioned (recognised by the public key it reported,
#     its key file removed) and forgotten
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir onhost
CAPTURED="$WORK/captured.txt"
HOSTS=(relay1 web1 home office)

key_file() { echo "$WORK/hosts/$1/etc-wireguard/$IFACE.key"; }
# run: wgd, and every output kept for the final search
run() { wgd "$@"; cat "$OUT" >>"$CAPTURED"; }

make_ssh_lab
write_lab_inventory "$INV" standard
sed -i 's/^  keepalive: 25$/  keepalive: 25\n  keys: on-host/' "$INV"

log "1: plan on the fresh lab"
in_ops "$WGDEPLOY" check "$INV" >"$WORK/check.txt" 2>&1 || fail "1: check of the inventory before any key exists failed"
set +e; in_ops "$WGDEPLOY" render "$INV" --out "$WORK/too-early" >"$WORK/render.txt" 2>&1; rc=$?; set -e
[[ $rc == 1 ]] && grep -q "run \`wgdeploy apply\` first" "$WORK/render.txt" || fail "1: render --out before the hosts made their keys was not refused"
[[ ! -e $WORK/too-early ]] || fail "1: render --out wrote configs naming stand-in keys"
run plan "$INV"
[[ $RC == 0 ]] || fail "1: plan exited $RC"
for host in "${HOSTS[@]}"; do
    [[ ! -e $(key_file "$host") ]] || fail "1: plan made a key on $host"
    grep -q "(key $host will make)" "$OUT" || fail "1: plan does not label $host's key to be made"
done
[[ ! -e $STATE ]] || fail "1: plan wrote the state"
pass "1: plan makes no key and labels the keys the hosts will make"

log "2: first apply"
run apply "$INV" --yes
[[ $RC == 0 ]] || fail "2: apply exited $RC"
declare -A PRIV=()
for host in "${HOSTS[@]}"; do
    file=$(key_file "$host")
    [[ -s $file ]] || { fail "2: $host has no key file"; continue; }
    [[ $(stat -c %a "$file") == 600 ]] || fail "2: $host's key file is mode $(stat -c %a "$file")"
    PRIV[$host]=$(cat "$file")
    [[ $(conf_value "$(conf_file "$host")" PrivateKey) == "${PRIV[$host]}" ]] || fail "2: $host's config does not name its own key"
    [[ $(in_host "$host" wg show "$IFACE" public-key) == "$(wg pubkey <<<"${PRIV[$host]}")" ]] || fail "2: $host does not run its own key"
    [[ $(stat -c %a "$(conf_file "$host")") == 600 ]] || fail "2: $host's config is not 0600"
done
if all_pairs_ping 30; then pass "2: every host made its own key and runs it; all pairs ping"
else fail "2: some pairs do not ping"; fi

log "3: re-apply"
declare -A stamp=()
for host in "${HOSTS[@]}"; do stamp[$host]=$(conf_stamp "$host"); done
run plan "$INV" --detailed-exitcode
[[ $RC == 0 ]] || fail "3: plan after apply exited $RC (want 0: nothing to do)"
run apply "$INV" --yes
[[ $RC == 0 ]] || fail "3: re-apply exited $RC"
for host in "${HOSTS[@]}"; do
    [[ $(conf_stamp "$host") == "${stamp[$host]}" ]] || fail "3: re-apply rewrote $host's config"
done
pass "3: re-apply is a no-op"

log "3b: a change, then rollback"
mkdir -p "$WORK/before"
for host in "${HOSTS[@]}"; do cp "$(conf_file "$host")" "$WORK/before/$host.conf"; done
sed -i 's/^  keepalive: 25$/  keepalive: 20/' "$INV"
run apply "$INV" --yes
[[ $RC == 0 ]] || fail "3b: apply of a keepalive change exited $RC"
cmp -s "$(conf_file home)" "$WORK/before/home.conf" && fail "3b: the keepalive change did not reach home"
run rollback "$INV" --yes
[[ $RC == 0 ]] || fail "3b: rollback exited $RC"
for host in "${HOSTS[@]}"; do
    cmp -s "$(conf_file "$host")" "$WORK/before/$host.conf" || fail "3b: $host's config is not the one before the change after rollback"
done
sed -i 's/^  keepalive: 20$/  keepalive: 25/' "$INV"
for host in "${HOSTS[@]}"; do stamp[$host]=$(conf_stamp "$host"); done
if all_pairs_ping 30; then pass "3b: rollback puts back each config byte for byte (the host's key merged in again); all pairs ping"
else fail "3b: some pairs do not ping after the rollback"; fi

log "4: the state lost"
mv "$STATE" "$WORK/state.saved"
run plan "$INV" --detailed-exitcode
[[ $RC == 0 ]] || fail "4: plan without the state exited $RC (want 0: the keys are read back)"
grep -q "redacted, changed" "$OUT" && fail "4: plan without the state changes a key"
run apply "$INV" --yes
[[ $RC == 0 ]] || fail "4: apply without the state exited $RC"
for host in "${HOSTS[@]}"; do
    [[ $(conf_stamp "$host") == "${stamp[$host]}" ]] || fail "4: apply without the state rewrote $host's config"
    [[ $(jq -r ".hosts.\"$host\".public_key" "$STATE") == "$(wg pubkey <<<"${PRIV[$host]}")" ]] || fail "4: the new state does not hold $host's public key"
done
jq -e '[.hosts[] | has("private_key")] | any' "$STATE" >/dev/null && fail "4: the state holds a private key"
if all_pairs_ping 10; then pass "4: a lost state re-keys nothing; apply converges, all pairs ping"
else fail "4: some pairs do not ping after the state was lost"; fi

log "5: adopt after a lost state"
mv "$STATE" "$WORK/state.before-adopt"
run adopt "$INV"
[[ $RC == 0 ]] || fail "5: adopt exited $RC"
for host in "${HOSTS[@]}"; do
    [[ $(jq -r ".hosts.\"$host\".public_key" "$STATE") == "$(wg pubkey <<<"${PRIV[$host]}")" ]] || fail "5: adopt did not record $host's public key"
done
jq -e '[.hosts[] | has("private_key")] | any' "$STATE" >/dev/null && fail "5: adopt wrote a private key into the state"
run plan "$INV" --detailed-exitcode
[[ $RC == 0 ]] || fail "5: plan after adopt exited $RC (want 0)"
pass "5: adopt records the public keys only; the plan after it has nothing to do"

log "6: web1 rebuilt: a new key, accepted with --rekey"
rm -f "$(key_file web1)" "$(conf_file web1)"
in_host web1 ip link del "$IFACE" 2>/dev/null || true
run apply "$INV" --yes
[[ $RC == 1 ]] || fail "6: apply with web1's new key exited $RC (want 1: its peers are stopped)"
new_web1=$(cat "$(key_file web1)")
[[ $new_web1 != "${PRIV[web1]}" ]] || fail "6: web1 kept its old key"
for host in relay1 home office; do
    grep -q "! $host: error: \`$host\` lists \`web1\`.*was \`web1\` rebuilt?" "$OUT" || fail "6: $host (which lists web1) not stopped as a rebuilt web1"
done
run apply "$INV" --yes --rekey web1
[[ $RC == 0 ]] || fail "6: apply --rekey web1 exited $RC"
PRIV[web1-rebuilt]=$new_web1
for host in relay1 home office; do
    grep -q "PublicKey = $(wg pubkey <<<"$new_web1")" "$(conf_file "$host")" || fail "6: $host does not list web1's new key"
done
if all_pairs_ping 30; then pass "6: a rebuilt host's new key stops its peers until --rekey; then all pairs ping"
else fail "6: some pairs do not ping after --rekey web1"; fi

log "6b: rotate every host, then roll the rotation back"
mkdir -p "$WORK/before-rotate"
for host in "${HOSTS[@]}"; do cp "$(conf_file "$host")" "$WORK/before-rotate/$host.conf"; done
declare -A OLD=()
for host in "${HOSTS[@]}"; do OLD[$host]=$(cat "$(key_file "$host")"); done
# key_since HOST: `status --json`'s key_since_unix of HOST (learned from the host's generations)
key_since() { jq -r --arg h "$1" '.hosts[] | select(.name == $h) | .key_since_unix' "$WORK/status.json"; }
sleep 1
rotated_at=$(date +%s)
run rotate "$INV" --yes
[[ $RC == 0 ]] || fail "6b: rotate exited $RC"
grep -q "deployment .* (rotate): ok" "$OUT" || fail "6b: the summary does not name the rotation"
for host in "${HOSTS[@]}"; do
    new=$(cat "$(key_file "$host")")
    PRIV[$host-rotated]=$new
    [[ $new != "${OLD[$host]}" ]] || fail "6b: $host kept its key"
    [[ ! -e $(key_file "$host").next ]] || fail "6b: $host's pending key was not promoted"
    kept="$WORK/hosts/$host/var-lib-wgdeploy/$IFACE/keys/$(wg pubkey <<<"${OLD[$host]}" | tr '/+=' '_.-').key"
    [[ -f $kept && $(cat "$kept") == "${OLD[$host]}" ]] || fail "6b: $host's old key is not kept (looked for $kept)"
    [[ -f $kept && $(stat -c %a "$kept") == 600 ]] || fail "6b: $host's kept key is not 0600"
    [[ $(in_host "$host" wg show "$IFACE" public-key) == "$(wg pubkey <<<"$new")" ]] || fail "6b: $host does not run its new key"
    for peer in "${HOSTS[@]}"; do
        [[ $peer == "$host" ]] && continue
        if grep -q "# Name = $host" "$(conf_file "$peer")"; then
            grep -q "PublicKey = $(wg pubkey <<<"$new")" "$(conf_file "$peer")" || fail "6b: $peer does not list $host's new key"
        fi
    done
done
jq -e '[.hosts[] | has("private_key")] | any' "$STATE" >/dev/null && fail "6b: the state holds a private key after rotate"
in_ops "$WGDEPLOY" status "$INV" --json --known-hosts "$WORK/ssh/known_hosts" >"$WORK/status.json" 2>>"$CAPTURED" </dev/null || true
cat "$WORK/status.json" >>"$CAPTURED"
for host in "${HOSTS[@]}"; do
    since=$(key_since "$host")
    [[ $since =~ ^[0-9]+$ ]] && ((since >= rotated_at)) || fail "6b: status says $host's key is in use since ${since:-?}, before the rotation at $rotated_at"
    [[ $(jq -r --arg h "$host" '.hosts[] | select(.name == $h) | .key_age_days' "$WORK/status.json") == 0 ]] || fail "6b: status gives $host's new key an age in days other than 0"
done
if all_pairs_ping 30; then pass "6b: rotate: every host runs a new key it made, its peers list it, all pairs ping"
else fail "6b: some pairs do not ping after rotate"; fi
run rollback "$INV" --yes
[[ $RC == 0 ]] || fail "6b: rollback of the rotation exited $RC"
for host in "${HOSTS[@]}"; do
    cmp -s "$(conf_file "$host")" "$WORK/before-rotate/$host.conf" || fail "6b: $host's config is not the one before the rotation"
    [[ $(cat "$(key_file "$host")") == "${OLD[$host]}" ]] || fail "6b: $host's key file is not its old key after rollback"
    [[ $(in_host "$host" wg show "$IFACE" public-key) == "$(wg pubkey <<<"${OLD[$host]}")" ]] || fail "6b: $host does not run its old key after rollback"
    [[ $(jq -r ".hosts.\"$host\".public_key" "$STATE") == "$(wg pubkey <<<"${OLD[$host]}")" ]] || fail "6b: the state does not hold $host's old public key after rollback"
done
run plan "$INV" --detailed-exitcode
[[ $RC == 0 ]] || fail "6b: plan after the rollback of the rotation exited $RC (want 0)"
in_ops "$WGDEPLOY" status "$INV" --json --known-hosts "$WORK/ssh/known_hosts" >"$WORK/status.json" 2>>"$CAPTURED" </dev/null || true
cat "$WORK/status.json" >>"$CAPTURED"
for host in "${HOSTS[@]}"; do
    since=$(key_since "$host")
    [[ $since =~ ^[0-9]+$ ]] && ((since < rotated_at)) || fail "6b: after the rollback, status says $host's key is in use since ${since:-?}, not since before the rotation"
done
if all_pairs_ping 30; then pass "6b: rollback of the rotation: old keys back from the hosts' own files, configs byte for byte, nothing left to apply"
else fail "6b: some pairs do not ping after the rollback of the rotation"; fi
# Every key the hosts hold now (current and kept) joins the search below.
for host in "${HOSTS[@]}"; do
    n=0
    for kept in "$WORK/hosts/$host/var-lib-wgdeploy/$IFACE/keys"/*.key; do
        [[ -f $kept ]] && PRIV[$host-kept-$n]=$(cat "$kept") && n=$((n + 1))
    done
done

log "7: no private key on the operator's side"
in_ops "$WGDEPLOY" render "$INV" --out "$WORK/rendered" >>"$CAPTURED" 2>&1 || fail "7: render --out failed"
run status "$INV"
in_ops "$WGDEPLOY" check --configs "$WORK/rendered" >>"$CAPTURED" 2>&1 || fail "7: check --configs on the rendered files failed"
found=0
for host in "${!PRIV[@]}"; do
    for place in "$STATE" "$WORK/state.saved" "$WORK/state.before-adopt" "$JOURNAL" "$CAPTURED" "$WORK"/rendered/*; do
        if grep -qF -- "${PRIV[$host]}" "$place"; then fail "7: $host's private key is in $place"; found=1; fi
    done
done
((found)) || pass "7: no host's private key in the state, the journal, render --out or any output"

log "8: office leaves the inventory"
sed -i '/^  office:$/,/^    ssh:/d' "$INV"
run apply "$INV" --yes
[[ $RC == 0 ]] || fail "8: apply without office exited $RC"
[[ ! -e $(conf_file office) ]] || fail "8: office's config is still there"
[[ ! -e $(key_file office) ]] || fail "8: office's key file is still there"
grep -q "$IFACE.key removed" "$OUT" || fail "8: the summary does not say office's key file was removed"
jq -e '.hosts | has("office")' "$STATE" >/dev/null && fail "8: the state still holds office"
grep -qF -- "${PRIV[office]}" "$OUT" && fail "8: office's private key is in the output"
pass "8: office, known by its public key only, is decommissioned (its key file removed) and forgotten"

if ((FAILURES > 0)); then
    log "$FAILURES check(s) FAILED"
    exit 1
fi
log "all passed"
