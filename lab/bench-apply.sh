#!/usr/bin/env bash
# lab/bench-apply.sh: time `wgdeploy apply` on lab hosts over real SSH: a fresh apply (every host
# brought up) and a no-op re-apply (every host surveyed, nothing to do), for N = 8, 32, 100 hosts.
#
#   sudo lab/bench-apply.sh              # N = 8 32 100, 3 no-op runs each (the median is reported)
#   sudo lab/bench-apply.sh 8 32         # only these sizes
#
# Bars (issue 4): no-op re-apply of 8 hosts <= 0.7 s and of 100 hosts <= 3 s; fresh apply of 8 hosts
# <= 2 s. Uses a release build (WGDEPLOY=/path/to/wgdeploy skips the build). Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(8 32 100)
RUNS=${WGD_BENCH_RUNS:-3}
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"
WORK=$(mktemp -d /tmp/wgd-bench.XXXXXX)
chmod 755 "$WORK"
wgdeploy_bin --release

# timed ARGS...: wall seconds of one wgdeploy run from the ops namespace (fails the bench on error)
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    in_ops "$WGDEPLOY" "$@" --known-hosts "$WORK/ssh/known_hosts" --yes >"$WORK/out.txt" 2>&1 </dev/null ||
        { cat "$WORK/out.txt" >&2; die "wgdeploy $* failed"; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A FRESH=() NOOP=() BUILD=()
for n in "${SIZES[@]}"; do
    lab_reset
    rm -f "$WORK/inventory.yaml"*
    t0=$SECONDS
    make_scale_lab "$n"
    BUILD[$n]=$((SECONDS - t0))
    write_lab_inventory "$WORK/inventory.yaml" scale "$n"
    # Keys and addresses are generated once, outside the timing (as after a first `plan`).
    in_ops "$WGDEPLOY" render "$WORK/inventory.yaml" --out "$WORK/render" >/dev/null
    FRESH[$n]=$(timed apply "$WORK/inventory.yaml")
    grep -q "FAILED" "$WORK/out.txt" && die "fresh apply of $n hosts had failures"
    runs=()
    for ((r = 0; r < RUNS; r++)); do
        runs+=("$(timed apply "$WORK/inventory.yaml")")
        grep -q "Nothing to do" "$WORK/out.txt" || die "re-apply of $n hosts was not a no-op"
    done
    NOOP[$n]=$(median "${runs[@]}")
    log "N=$n: lab built in ${BUILD[$n]}s; fresh apply ${FRESH[$n]}s; no-op re-apply ${NOOP[$n]}s (runs: ${runs[*]})"
done

printf '\n%-8s %-16s %-22s %s\n' hosts "fresh apply (s)" "no-op re-apply (s)" "bars"
for n in "${SIZES[@]}"; do
    bars=""
    case $n in
        8) bars="fresh <= 2, no-op <= 0.7" ;;
        100) bars="no-op <= 3" ;;
    esac
    printf '%-8s %-16s %-22s %s\n' "$n" "${FRESH[$n]}" "${NOOP[$n]}" "$bars"
done
printf '(Ansible, same job on 8 such hosts, per the issue: ~34 s fresh, ~29 s no-op)\n\n'
