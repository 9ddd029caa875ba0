#!/usr/bin/env bash
# lab/check-agreement.sh: prove that `wgdeploy check` predicts what real WireGuard does. For each
# config set in inventories/configs/ (relay-layout, proposal-no-endpoint, proposal-relay-endpoint),
# build a fresh lab (real wireguard-go behind real NAT, in network namespaces; see lab/README.md),
# bring the set up, ping every ordered pair of overlay addresses, run
# `wgdeploy check --configs SET --nat home,office --json` and compare per ordered pair.
#
#   sudo lab/check-agreement.sh               # all three sets: 36 comparisons; exit 0 only if all agree
#   sudo lab/check-agreement.sh relay-layout  # only the named set(s)
#
# It also asserts the truth of inventories/configs/README.md (relay-layout: every pair reachable;
# both proposals: exactly home->office and office->home unreachable), so a broken lab cannot make
# check "agree" with nonsense. `conditional` verdicts count as reachable, and are shown.
# Environment: WGDEPLOY=/path/to/wgdeploy skips `cargo build`; WGD_LAB_HANDSHAKE_TIMEOUT (seconds, 30).
# Needs root and jq. Never touches the root network namespace except for creating namespaces.
set -euo pipefail

# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SETS_DIR="$REPO/inventories/configs"
ALL_SETS=(relay-layout proposal-no-endpoint proposal-relay-endpoint)
NAT_HOSTS=home,office
# The truth on real WireGuard (inventories/configs/README.md): the ordered pairs that must FAIL.
declare -A TRUTH_FAILS=(
    [relay-layout]=""
    [proposal-no-endpoint]="home>office office>home"
    [proposal-relay-endpoint]="home>office office>home"
)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
SETS=()
while [[ $# -gt 0 ]]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        -*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
        *) [[ -v "TRUTH_FAILS[$1]" ]] || { echo "unknown config set: $1 (known: ${ALL_SETS[*]})" >&2; exit 2; }
           SETS+=("$1") ;;
    esac
    shift
done
[[ ${#SETS[@]} -gt 0 ]] || SETS=("${ALL_SETS[@]}")
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 2; }

# State, logging, the cleanup trap (EXIT/INT/TERM) and the building blocks. PREFIX is wgd-lab-<pid>-.
# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"

BIN=""                   # the wgdeploy binary
HAVE_CHECK=false         # does it have a `check` command?
declare -A VERDICT=()    # "src>dst" -> check's verdict for the current set (absent if missing)
PASSED=0                 # pairs where check agrees with ping, over all sets
FAILED=0                 # pairs where it does not (or check said nothing about the pair)
PROBLEMS=()              # everything else that makes the run fail (lab truth, exit codes, JSON)

# --------------------------------------------------------------------------------------------------
# wgdeploy check
# --------------------------------------------------------------------------------------------------
find_wgdeploy() {
    wgdeploy_bin
    BIN=$WGDEPLOY
    if "$BIN" check --help >/dev/null 2>&1; then
        HAVE_CHECK=true
    else
        log "ERROR: $BIN has no working \`check\` command; every comparison will fail"
        PROBLEMS+=("wgdeploy has no check command")
    fi
}

# run_check SET DIR: run check on the set's copy in DIR; fill VERDICT, validate exit status and JSON
run_check() {
    local set=$1 dir=$2 out="$WORK/check-$1.json" err="$WORK/check-$1.err" rc=0 from to verdict
    VERDICT=()
    $HAVE_CHECK || return 0
    "$BIN" check --configs "$dir" --nat "$NAT_HOSTS" --json >"$out" 2>"$err" || rc=$?
    CHECK_RC=$rc
    if [[ $rc != 0 && $rc != 1 ]]; then
        PROBLEMS+=("$set: check exited $rc (expected 0 or 1): $(head -c 500 "$err")")
        log "$set: check exited $rc: $(head -c 500 "$err")"
    fi
    if ! jq -e '.pairs | type == "array"' "$out" >/dev/null 2>&1; then
        PROBLEMS+=("$set: check's output has no top-level \"pairs\" array")
        log "$set: check's output has no top-level \"pairs\" array: $(head -c 500 "$out")"
        return 0
    fi
    while IFS=$'\t' read -r from to verdict; do
        if [[ -v "VERDICT[$from>$to]" && ${VERDICT[$from>$to]} != "$verdict" ]]; then
            PROBLEMS+=("$set: check lists $from>$to twice (${VERDICT[$from>$to]}, $verdict)")
        fi
        case $verdict in
            reachable|conditional|unreachable) VERDICT["$from>$to"]=$verdict ;;
            *) PROBLEMS+=("$set: check's verdict for $from>$to is '$verdict'") ;;
        esac
    done < <(jq -r '.pairs[] | [(.from // "?"), (.to // "?"), (.verdict // "?")] | @tsv' "$out")
    # Exit status: 0 when every ordered pair is reachable, 1 otherwise.
    local k any_unreachable=false all_reachable=true
    for k in "${!VERDICT[@]}"; do
        [[ ${VERDICT[$k]} == unreachable ]] && any_unreachable=true
        [[ ${VERDICT[$k]} != reachable ]] && all_reachable=false
    done
    if $any_unreachable && [[ $rc != 1 ]]; then
        PROBLEMS+=("$set: check found unreachable pairs but exited $rc (expected 1)")
    elif $all_reachable && [[ $rc != 0 ]]; then
        PROBLEMS+=("$set: check found every pair reachable but exited $rc (expected 0)")
    fi
    return 0
}

# --------------------------------------------------------------------------------------------------
# The lab side
# --------------------------------------------------------------------------------------------------
# load_set SET: copy the set to $WORK/sets/SET as 0600 files (git keeps no modes), fill CONF and
# OVERLAY, and make sure it fits the lab: exactly the lab's hosts, Endpoints only on public hosts.
load_set() {
    local set=$1 src="$SETS_DIR/$1" dir="$WORK/sets/$1" h found ep
    found=$(cd "$src" && ls -- *.conf 2>/dev/null | sed 's/\.conf$//' | sort | xargs)
    [[ $found == "$(printf '%s\n' "${HOSTS[@]}" | sort | xargs)" ]] ||
        die "$set has configs for ($found), not for the lab's hosts (${HOSTS[*]})"
    mkdir -p "$dir"
    chmod 700 "$dir"
    OVERLAY=()
    CONF=()
    for h in "${HOSTS[@]}"; do
        install -m 600 "$src/$h.conf" "$dir/$h.conf"
        CONF[$h]="$dir/$h.conf"
        OVERLAY[$h]=$(overlay_of "${CONF[$h]}")
        [[ -n ${OVERLAY[$h]} ]] || die "$set: no IPv4 Address in $h's config"
    done
    while read -r ep; do
        [[ $ep == 198.51.100.1:* || $ep == 198.51.100.2:* ]] || die "$set: unexpected Endpoint $ep"
    done < <(grep -h '^Endpoint' "$dir"/*.conf | sed 's/.*= *//')
}

# wait_possible_handshakes: wait for every keepalive peer that can handshake at all, i.e. whose
# Endpoint is the lab address of the host owning the peer's key. A keepalive peer without an
# endpoint (proposal-no-endpoint) or with another host's endpoint (proposal-relay-endpoint: office's
# key at relay1's address, which relay1 cannot decrypt) never completes one; those are only listed.
# Public<->public pairs have no keepalive and handshake on first traffic.
wait_possible_handshakes() {
    local deadline=$((SECONDS + HANDSHAKE_TIMEOUT)) host h pk ep hs ka owner pending noted=false
    declare -A name=()
    for h in "${HOSTS[@]}"; do name[$(pubkey_of "${CONF[$h]}")]=$h; done
    NO_HANDSHAKE=()
    while :; do
        pending=()
        for host in "${HOSTS[@]}"; do
            # dump, peer lines: pubkey psk endpoint allowed-ips latest-handshake rx tx keepalive
            while read -r pk _ ep _ hs _ _ ka; do
                [[ $ka == off ]] && continue
                owner=${name[$pk]:-?}
                if [[ $ep == "${UNDERLAY[$owner]:-none}":* ]]; then
                    [[ $hs == 0 ]] && pending+=("$host->$owner")
                elif ! $noted; then
                    NO_HANDSHAKE+=("$host:$owner")
                    log "not waiting for $host's keepalive peer $owner: endpoint $ep is not $owner's, it cannot handshake"
                fi
            done < <(in_host "$host" wg show "$IFACE" dump | tail -n +2)
        done
        noted=true
        if [[ ${#pending[@]} -eq 0 ]]; then
            log "every keepalive peer that can handshake has handshaken"
            return 0
        fi
        ((SECONDS < deadline)) || die "no handshake after ${HANDSHAKE_TIMEOUT}s: ${pending[*]}"
        sleep 0.5
    done
}

# ping_pairs_parallel: like ping_pairs (ping -c 3 -W 2; any reply = ok), but in two parallel rounds:
# first every pair a->b with a before b in HOSTS, then every b->a. Pinging a->b and b->a at the same
# moment would measure a WireGuard start-up race, not reachability: two hosts with no session yet
# (relay1 and web1, which handshake on first traffic) then send crossing handshake initiations; each
# answers the other's, which replaces its own pending handshake, so both responses are rejected and
# nothing flows until the retry after REKEY_TIMEOUT (5 s), longer than ping's window. Measured here:
# in 16 of 25 simultaneous starts both pings lost every packet for ~5 s (wg show on each side: tx 240 B,
# rx 148 B, no handshake).
# Each ping runs in the source host's namespaces, so cleanup finds and stops it if we are interrupted.
ping_pairs_parallel() {
    local src dst i j round pids dir="$WORK/ping"
    rm -rf "$dir"
    mkdir -p "$dir"
    log "pinging every ordered pair (ping -c 3 -W 2 -i 0.2): all a->b at once, then all b->a"
    for round in forward backward; do
        pids=()
        for ((i = 0; i < ${#HOSTS[@]}; i++)); do
            for ((j = i + 1; j < ${#HOSTS[@]}; j++)); do
                src=${HOSTS[i]} dst=${HOSTS[j]}
                [[ $round == backward ]] && src=${HOSTS[j]} dst=${HOSTS[i]}
                (
                    if in_host "$src" ping -q -n -c 3 -W 2 -i 0.2 "${OVERLAY[$dst]}" >/dev/null 2>&1; then
                        echo ok >"$dir/$src>$dst"
                    else
                        echo FAIL >"$dir/$src>$dst"
                    fi
                ) &
                pids+=($!)
            done
        done
        wait "${pids[@]}"
    done
    for src in "${HOSTS[@]}"; do
        for dst in "${HOSTS[@]}"; do
            [[ $src == "$dst" ]] && continue
            RESULT["$src>$dst"]=$(cat "$dir/$src>$dst")
        done
    done
}

# compare_set SET: per ordered pair, ping vs check and ping vs the README's truth; print the matrix
compare_set() {
    local set=$1 src dst k ping verdict cell mark want agree truth_bad=0 disagreements=()
    printf '\n=== %s: ping / check verdict (check exit status %s)\n' "$set" "${CHECK_RC:-n/a}"
    printf '%-12s' 'from \ to'
    for dst in "${HOSTS[@]}"; do printf '%-24s' "$dst"; done
    printf '\n'
    for src in "${HOSTS[@]}"; do
        printf '%-12s' "$src"
        for dst in "${HOSTS[@]}"; do
            if [[ $src == "$dst" ]]; then printf '%-24s' '-'; continue; fi
            k="$src>$dst"
            ping=${RESULT[$k]}
            verdict=${VERDICT[$k]:-missing}
            case $verdict in
                reachable|conditional) [[ $ping == ok ]] && agree=true || agree=false ;;
                unreachable) [[ $ping == FAIL ]] && agree=true || agree=false ;;
                *) agree=false ;;
            esac
            want=ok
            [[ " ${TRUTH_FAILS[$set]} " == *" $k "* ]] && want=FAIL
            mark=""
            if $agree; then
                PASSED=$((PASSED + 1))
            else
                FAILED=$((FAILED + 1))
                mark=" !!"
                disagreements+=("$k")
            fi
            if [[ $ping != "$want" ]]; then
                mark+=" ?"
                truth_bad=$((truth_bad + 1))
                PROBLEMS+=("$set: lab says $k $ping, but the truth is $want")
            fi
            cell="$ping / $verdict$mark"
            printf '%-24s' "$cell"
        done
        printf '\n'
    done
    printf '(overlay: '
    for src in "${HOSTS[@]}"; do printf '%s=%s ' "$src" "${OVERLAY[$src]}"; done
    printf ')\n'
    if ((${#disagreements[@]})); then
        echo "check disagrees with ping (!!) on: ${disagreements[*]}"
        for k in "${disagreements[@]}"; do
            src=${k%%>*} dst=${k#*>}
            if [[ ! -v "VERDICT[$k]" ]]; then
                echo "  check said nothing (valid) about $src -> $dst"
            else
                jq -c --arg f "$src" --arg t "$dst" '.pairs[]? | select(.from == $f and .to == $t)' \
                    "$WORK/check-$set.json" 2>/dev/null | sed 's/^/  check said: /' || true
            fi
        done
    fi
    # check's reasons for the pairs it does not call reachable (informational)
    if $HAVE_CHECK && [[ -s $WORK/check-$set.json ]]; then
        jq -r '.pairs[]? | select(.verdict != "reachable")
               | "check: \(.from) -> \(.to) \(.verdict) (\(.leg // "?")): \(.rule // "no rule given")"' \
            "$WORK/check-$set.json" 2>/dev/null || true
    fi
    if ((truth_bad)); then
        echo "the lab does not show the truth of inventories/configs/README.md (?) on $truth_bad pair(s): the lab is broken"
    else
        echo "lab truth as documented: ${TRUTH_FAILS[$set]:-every pair reachable}${TRUTH_FAILS[$set]:+ fail, the rest reachable}"
    fi
    local entry host peer hs
    for entry in "${NO_HANDSHAKE[@]}"; do
        host=${entry%%:*} peer=${entry#*:}
        hs=$(in_host "$host" wg show "$IFACE" dump | awk -v pk="$(pubkey_of "${CONF[$peer]}")" 'NR > 1 && $1 == pk { print $5 }')
        echo "$host's peer $peer: $([[ $hs == 0 ]] && echo "never handshook" || echo "handshook (latest $hs)")"
    done
}

run_set() {
    local set=$1 h
    log "===== $set"
    load_set "$set"
    CHECK_RC=""
    run_check "$set" "$WORK/sets/$set"
    log "$set: check ran (exit status ${CHECK_RC:-n/a}); building a fresh lab"
    make_standard_lab
    check_nat_closed home nat-home 198.18.1.0/24
    check_nat_closed office nat-office 198.18.2.0/24
    log "$set: wg-quick up on every host"
    for h in "${HOSTS[@]}"; do wg_up "$h" "${CONF[$h]}"; done
    wait_possible_handshakes
    ping_pairs_parallel
    compare_set "$set"
    log "$set: tearing the lab down"
    lab_reset
}

main() {
    WORK=$(mktemp -d /tmp/wgd-lab.XXXXXX)
    chmod 700 "$WORK"
    log "sets: ${SETS[*]}; prefix: $PREFIX; workdir: $WORK"
    HOSTS=(relay1 web1 home office)
    find_wgdeploy
    local set p
    for set in "${SETS[@]}"; do run_set "$set"; done

    echo
    for p in "${PROBLEMS[@]}"; do echo "problem: $p"; done
    echo "$PASSED passed, $FAILED failed"
    if ((FAILED || ${#PROBLEMS[@]})); then
        log "RESULT: FAIL ($FAILED disagreements, ${#PROBLEMS[@]} other problems)"
        return 1
    fi
    log "RESULT: OK: check agrees with ping on every ordered pair of ${#SETS[@]} config set(s)"
}

main
