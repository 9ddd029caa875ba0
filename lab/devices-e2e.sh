#!/usr/bin/env bash
# lab/devices-e2e.sh: devices wgdeploy never logs into (`manage: false`), end to end on real
# WireGuard behind real NAT. The standard SSH lab (relay1, web1, home, office, each with sshd) gets
# two devices, each behind its own NAT router and with no sshd at all: `phone` (its key generated
# by wgdeploy) and `laptop` (its own key pair; the inventory holds only its public key).
#
#   sudo lab/devices-e2e.sh          # exit 0 only if every check passes
#
# 1 plan lists both devices as "device (not managed over SSH)", never exported; apply converges the
#   managed hosts without contacting a device (there is no sshd to contact)
# 2 `wgdeploy export` hands out each device's config (0600 files); the lab installs them by hand
#   (`wg-quick up` inside the device's namespace; the laptop's private key pasted over the
#   placeholder, as its owner would) and every ordered pair of the six hosts pings
# 3 plan again: nothing to do, each device "unchanged since exported"; `check` proves every pair;
#   the state holds no private key for the laptop and no output shows a key
# 4 status: each device with the latest handshake its peers saw; status --ping reaches the devices
# 5 a change that reaches a device (the phone's address): plan shows the redacted diff since the
#   export; apply updates relay1; a new export, installed again, and every pair pings
#
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

e2e_workdir devices

# export_device HOST: `wgdeploy export` into $WORK/export/HOST.conf (no network needed: run here)
export_device() {
    local host=$1
    mkdir -p "$WORK/export"
    "$WGDEPLOY" export "$INV" "$host" --out "$WORK/export/$host.conf" >"$OUT" 2>&1 ||
        { cat "$OUT" >&2; die "export of $host failed"; }
    [[ $(stat -c %a "$WORK/export/$host.conf") == 600 ]] || fail "export: $host's file is not 0600"
}

# install_device HOST: what the device's owner does: put the exported config in place (the laptop's
# own private key over the placeholder) and bring it up, inside the device's namespace.
install_device() {
    local host=$1 conf="$WORK/export/$1.conf"
    if [[ $host == laptop ]]; then
        grep -q "^PrivateKey = <paste the device's private key here>$" "$conf" ||
            fail "export: the laptop's config has no placeholder for its private key"
        sed -i "s|^PrivateKey = .*|PrivateKey = $(cat "$WORK/laptop.key")|" "$conf"
    fi
    if [[ -n $(wg_pid "$host") ]]; then
        in_host "$host" wg-quick down "/etc/wireguard/$IFACE.conf" >/dev/null 2>&1 || true
    fi
    wg_up "$host" "$conf"
}

# no_secret_in FILE: no private or preshared key of the state, nor the laptop's, appears in FILE
no_secret_in() {
    local file=$1 key
    for key in $(grep -oE '"(private_key|[a-z0-9.-]+,[a-z0-9.-]+)": "[A-Za-z0-9+/]{43}="' "$STATE" | grep -oE '[A-Za-z0-9+/]{43}=') \
        "$(cat "$WORK/laptop.key")"; do
        if grep -qF -- "$key" "$file"; then return 1; fi
    done
    return 0
}

# --------------------------------------------------------------------------------------------------
make_ssh_lab
make_nat_router nat-phone 198.51.100.13 198.18.3
make_nat_host phone nat-phone 198.18.3.2
make_nat_router nat-laptop 198.51.100.14 198.18.4
make_nat_host laptop nat-laptop 198.18.4.2
write_lab_inventory "$INV" standard
(umask 077 && wg genkey >"$WORK/laptop.key")
LAPTOP_PUB=$(wg pubkey <"$WORK/laptop.key")
cat >>"$INV" <<YAML
  phone:
    manage: false
  laptop:
    manage: false
    public_key: $LAPTOP_PUB
YAML
HOSTS=(relay1 web1 home office phone laptop)

log "1: plan and apply with two devices"
wgd plan "$INV"
[[ $RC == 0 ]] || fail "1: plan exited $RC"
if ! grep -q '^~ phone: device (not managed over SSH): never exported' "$OUT" ||
    ! grep -q '^~ laptop: device (not managed over SSH): never exported' "$OUT"; then
    fail "1: plan does not list both devices as never exported"
fi
wgd apply "$INV" --yes
[[ $RC == 0 ]] || fail "1: apply exited $RC"
grep -Eq 'relay1 +[a-z]+ +applied' "$OUT" || fail "1: relay1 was not applied"
grep -Eq '^(phone|laptop) ' "$OUT" && fail "1: a device appears in apply's summary table (was it contacted?)"
[[ -e $(conf_file phone) || -e $(conf_file laptop) ]] && fail "1: something wrote a device's config"
grep -q "$LAPTOP_PUB" "$(conf_file relay1)" || fail "1: relay1 has no peer entry with the laptop's own key"
pass "1: plan lists the devices; apply changed the managed hosts only"

log "2: export, install by hand, every pair pings"
export_device phone
export_device laptop
install_device phone
install_device laptop
if all_pairs_ping 30; then pass "2: the exported configs work: every pair of six hosts pings"; else fail "2: some pairs do not ping"; fi

log "3: plan again, check, secrets"
wgd plan "$INV" --detailed-exitcode
[[ $RC == 0 ]] || fail "3: plan --detailed-exitcode exited $RC (want 0)"
if ! grep -q '^= phone: device (not managed over SSH): unchanged since exported' "$OUT" ||
    ! grep -q '^= laptop: device (not managed over SSH): unchanged since exported' "$OUT"; then
    fail "3: plan does not say the devices are unchanged since their export"
fi
"$WGDEPLOY" check "$INV" >"$WORK/check.txt" 2>&1 || fail "3: check failed: $(cat "$WORK/check.txt")"
grep -q 'every host reaches every other host, both ways' "$WORK/check.txt" || fail "3: check does not prove every pair"
jq -e '.hosts.laptop | has("private_key") | not' "$STATE" >/dev/null ||
    fail "3: the state holds a private key for the laptop"
grep -qF -- "$(cat "$WORK/laptop.key")" "$STATE" && fail "3: the laptop's private key is in the state"
no_secret_in "$OUT" || fail "3: plan output shows a key"
pass "3: nothing to do, devices unchanged since export; check proves every pair; no secret leaked"

log "4: status"
wgd status "$INV"
[[ $RC == 0 ]] || fail "4: status exited $RC"
if grep -Eq '^= phone: device \(not managed over SSH\): latest handshake .* ago with relay1' "$OUT" &&
    grep -Eq '^= laptop: device \(not managed over SSH\): latest handshake .* ago with relay1' "$OUT"; then
    pass "4: status shows each device's latest handshake with relay1"
else
    fail "4: status does not show the devices' handshakes"
fi
# The managed hosts ping the devices too: real reachability agrees with check's prediction.
wgd status "$INV" --ping
if [[ $RC == 0 ]] && grep -q 'ping agrees with check on all 20 ordered pairs' "$OUT" &&
    grep -Eq '^ +relay1 +- +(ok/ok *){5}$' "$OUT"; then
    pass "4: status --ping: the managed hosts reach both devices, as check predicts"
else
    fail "4: status --ping exited $RC or disagrees with check"
fi

log "5: a change that reaches a device"
sed -i '/^  phone:$/a\    address: 100.64.0.77' "$INV"
wgd plan "$INV"
grep -q '^~ phone: device (not managed over SSH): changed since exported' "$OUT" ||
    fail "5: plan does not say the phone's config changed since its export"
grep -q '^    +Address = 100.64.0.77/24' "$OUT" || fail "5: plan does not show the phone's new address"
no_secret_in "$OUT" || fail "5: plan output shows a key"
wgd apply "$INV" --yes
[[ $RC == 0 ]] || fail "5: apply exited $RC"
export_device phone
install_device phone
if all_pairs_ping 30; then pass "5: after the change and a new export, every pair pings"; else fail "5: some pairs do not ping"; fi

if ((FAILURES > 0)); then
    log "$FAILURES check(s) FAILED"
    exit 1
fi
log "all checks passed"
