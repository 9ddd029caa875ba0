#!/usr/bin/env bash
# lab/scale-lab.sh: build the N-host benchmark lab (make_scale_lab), time it, check every sshd
# answers, optionally bring WireGuard up on every host over ssh, and time the teardown.
#
#   sudo lab/scale-lab.sh 32                # build, ssh `hostname` on every host, tear down
#   sudo lab/scale-lab.sh 100 --wg          # also render the scale inventory and, over ssh, install
#                                           # wg0.conf + `wg-quick up wg0` on every host in parallel,
#                                           # then wait for handshakes and ping samples
#   sudo lab/scale-lab.sh 8 --jobs 4        # hosts built (and ssh'd to) 4 at a time (default 8)
#
# N: 3..240 (relay1, relay2, then pub1, nat1, pub2, nat2, ...). Prints one timing line per phase.
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build` (only with --wg). Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=""
JOBS=8
WG=false
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --wg) WG=true ;;
        --jobs) JOBS=${2:?}; shift ;;
        -h|--help) usage; exit 0 ;;
        [0-9]*) N=$1 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ -n $N ]] || { usage >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# on_all JOBS FUNC: FUNC HOST for every lab host, JOBS at a time; fails if any fails
on_all() {
    local jobs=$1 fn=$2 h running=0 failed=0
    for h in "${LAB_HOSTS[@]}"; do
        "$fn" "$h" &
        running=$((running + 1))
        if ((running >= jobs)); then wait -n || failed=$((failed + 1)); running=$((running - 1)); fi
    done
    while ((running > 0)); do wait -n || failed=$((failed + 1)); running=$((running - 1)); done
    ((failed == 0)) || { log "$failed host(s) failed"; return 1; }
}

ssh_hostname() {
    local out
    if ! out=$(lab_ssh "$1" hostname 2>&1) || [[ $out != "$1" ]]; then
        echo "$1: ssh hostname -> $out" >&2
        return 1
    fi
}

ssh_wg_up() {
    local h=$1
    lab_ssh "$h" "umask 077 && cat > /etc/wireguard/$IFACE.conf && wg-quick up $IFACE" \
        <"$WORK/render/$h/$IFACE.conf" >"$WORK/hosts/$h/wg-up.log" 2>&1 ||
        { echo "$h: wg-quick up over ssh failed:" >&2; cat "$WORK/hosts/$h/wg-up.log" >&2; return 1; }
}

main() {
    local t h
    WORK=$(mktemp -d /tmp/wgd-lab.XXXXXX)
    chmod 700 "$WORK"
    if $WG; then
        wgdeploy_bin
    fi

    t=$(now)
    make_scale_lab "$N" "$JOBS"
    log "TIMING build: $N hosts in $(since "$t")s ($JOBS at a time)"

    t=$(now)
    on_all "$JOBS" ssh_hostname
    log "TIMING ssh hostname on all $N hosts: $(since "$t")s"

    check_nat_closed nat1 nat-nat1 198.18.1.0/24

    if $WG; then
        mkdir -p "$WORK/render"
        write_lab_inventory "$WORK/inventory.yaml" scale "$N"
        t=$(now)
        "$WGDEPLOY" render "$WORK/inventory.yaml" --out "$WORK/render" --state "$WORK/state.json" >&2
        log "TIMING render: $(since "$t")s"
        t=$(now)
        on_all "$JOBS" ssh_wg_up
        log "TIMING copy + wg-quick up over ssh on all $N hosts: $(since "$t")s ($JOBS at a time)"
        HOSTS=("${LAB_HOSTS[@]}")
        for h in "${HOSTS[@]}"; do
            CONF[$h]="$WORK/render/$h/$IFACE.conf"
            OVERLAY[$h]=$(overlay_of "${CONF[$h]}")
        done
        t=$(now)
        wait_handshakes
        log "TIMING all keepalive handshakes: $(since "$t")s"
        # Samples: every host -> relay1 and relay2; nat1 <-> nat2 (homed on different relays).
        local fails=0 dst
        for h in "${HOSTS[@]}"; do
            for dst in relay1 relay2; do
                [[ $h == "$dst" ]] && continue
                in_host "$h" ping -q -n -c 1 -W 3 "${OVERLAY[$dst]}" >/dev/null 2>&1 ||
                    { echo "FAIL: $h -> $dst"; fails=$((fails + 1)); }
            done
        done
        if [[ -n ${OVERLAY[nat2]:-} ]]; then
            in_host nat1 ping -q -n -c 2 -W 3 "${OVERLAY[nat2]}" >/dev/null 2>&1 || { echo "FAIL: nat1 -> nat2"; fails=$((fails + 1)); }
            in_host nat2 ping -q -n -c 2 -W 3 "${OVERLAY[nat1]}" >/dev/null 2>&1 || { echo "FAIL: nat2 -> nat1"; fails=$((fails + 1)); }
        fi
        ((fails == 0)) || die "$fails sample pings failed"
        log "sample pings ok (every host -> relay1, relay2; nat1 <-> nat2 across relays)"
    fi

    t=$(now)
    lab_reset
    log "TIMING teardown: $(since "$t")s"
}

main
