#!/usr/bin/env bash
# lab/bench-latency.sh: wgdeploy over a slow network. Builds the scale lab (lab/lib.sh
# make_scale_lab), puts lab/latency-proxy.py in front of every sshd (RTT ms round trip, TCP
# handshake included) and times, per lab size, every operation against the issue-16 bars:
#
#   sudo bash lab/bench-latency.sh                    # 100 ms RTT; sizes 8 and 100 (above 8 hosts:
#                                                     # one relay, every other host a spoke on it)
#   sudo bash lab/bench-latency.sh --rtt 50 8         # another latency, one size
#   sudo bash lab/bench-latency.sh --parallel 32 100  # an explicit --parallel (default: wgdeploy's)
#   sudo bash lab/bench-latency.sh --ansible 8        # also Ansible, same job, same proxy (pip
#                                                     # installs ansible-core into /tmp once)
#   sudo bash lab/bench-latency.sh --slow-start 8     # the proxy also models TCP slow start (a
#                                                     # new connection sends 10 segments a round trip)
#
# Per operation: wall time, the operator's peak RSS, the CPU time the hosts used (lab_cpu_watch: a
# cgroup around their sshd) and the operator's, and per host (median / max over hosts): SSH
# connections, exec requests and turns (round trips: see WGDEPLOY_STATS in the README). Operations:
# fresh apply, no-op re-apply (median of 3), plan, status, peers-only change (keepalive 25 -> 21),
# rollback (to 25: peers-only), restart (an MTU change). Also: one OpenSSH `ssh HOST true` through
# the proxy, for scale, the no-op without latency (bar ~0.2 s for 8 hosts), and the hosts' CPU for
# an empty OpenSSH login to every host at once (`ssh HOST true`: sshd and the login shell alone).
# Uses a release build (WGDEPLOY=/path/to/wgdeploy skips the build). Needs root. Not in CI (about
# 20 s for 8 hosts, 1 min with --ansible, 1.5 min for 100).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RTT=100
PARALLEL=()
ANSIBLE=false
SIZES=()
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --rtt) RTT=${2:?}; shift ;;
        --parallel) PARALLEL=(--parallel "${2:?}"); shift ;;
        --ansible) ANSIBLE=true ;;
        --slow-start) export LATENCY_INITCWND=10 ;;
        -h|--help) usage; exit 0 ;;
        [0-9]*) SIZES+=("$1") ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(8 100)
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"
WORK=$(mktemp -d /tmp/wgd-latency.XXXXXX)
chmod 755 "$WORK"
wgdeploy_bin --release
RUNS=${WGD_BENCH_RUNS:-3}

# bar SIZE OP: the issue's bar for OP at SIZE hosts (100 ms RTT), or "" when it sets none
bar() {
    local small=$(($1 <= 8)) op=$2
    [[ $RTT == 100 ]] || { echo "-"; return; }
    case $op in
        no-op) if ((small)); then echo 0.85; elif (($1 >= 100)); then echo 1.5; else echo -; fi ;;
        fresh) if ((small)); then echo 1.3; elif (($1 >= 100)); then echo 5.0; else echo -; fi ;;
        peers-only) if ((small)); then echo 1.3; elif (($1 >= 100)); then echo 3.0; else echo -; fi ;;
        no-op-direct) if ((small)); then echo 0.2; else echo -; fi ;;
        *) echo "-" ;;
    esac
}

# per_host FILE: "median/max" of connections, execs and turns over the hosts of a stats file
per_host() {
    local col out=()
    if [[ ! -s $1 ]] || (($(wc -l <"$1") < 2)); then printf -- '-\t-\t-\n'; return; fi
    for col in 2 3 4; do
        out+=("$(tail -n +2 "$1" | cut -f"$col" | sort -n |
            awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] "/" v[NR] }')")
    done
    printf '%s\t%s\t%s\n' "${out[@]}"
}

declare -a ROWS=() RATIOS=()
# cpu_between BEFORE AFTER: the difference of two lab_cpu_used readings, or "-"
cpu_between() {
    if [[ $1 == - || $2 == - ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; fi
}
declare -A WGD_TIME=()   # "SIZE OP" -> wgdeploy's wall seconds (no-op: the median)
# timed SIZE OP OKRC INVENTORY ARGS...: one wgdeploy run from the ops namespace, timed, with its
# peak RSS, CPU times and stats; fails the bench unless it exits with one of OKRC (e.g. "0" or
# "0 1"). The hosts' CPU is read a moment after wgdeploy exits (sessions end a half round trip
# later, through the proxy). Sets LAST (seconds) and adds a row.
timed() {
    local size=$1 op=$2 okrc=$3 t0 t1 rc rss user sys stats cpu0 cpu1
    shift 3
    stats="$WORK/stats.tsv"
    rm -f "$stats"
    cpu0=$(lab_cpu_used)
    t0=$(date +%s.%N)
    set +e
    in_ops env WGDEPLOY_STATS="$stats" /usr/bin/time -f '%M %U %S' -o "$WORK/rss" \
        "$WGDEPLOY" "$@" --known-hosts "$WORK/ssh/known_hosts" >"$WORK/out.txt" 2>&1 </dev/null
    rc=$?
    set -e
    t1=$(date +%s.%N)
    sleep 0.3
    cpu1=$(lab_cpu_used)
    [[ " $okrc " == *" $rc "* ]] || { cat "$WORK/out.txt" >&2; die "wgdeploy $* exited $rc"; }
    LAST=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    read -r rss user sys < <(tail -1 "$WORK/rss")
    ROWS+=("$size	$op	$LAST	$(bar "$size" "$op")	$((rss / 1024))	$(cpu_between "$cpu0" "$cpu1")	$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')	$(per_host "$stats")")
    log "N=$size $op: ${LAST}s"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# ansible_bin: ansible-playbook from a venv under /tmp (made once, on demand; never in CI)
ansible_bin() {
    local venv=/tmp/wgd-ansible-venv
    if [[ ! -x $venv/bin/ansible-playbook ]]; then
        log "installing ansible-core into $venv (once)"
        if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q ansible-core >&2; }; then
            log "cannot install ansible-core: skipping Ansible"
            return 1
        fi
    fi
    ANSIBLE_PLAYBOOK=$venv/bin/ansible-playbook
}

# ansible_run SIZE OP: the playbook lab/bench-ansible.yml through the same proxy (fails the bench
# on error); its wall time in LAST
ansible_run() {
    local size=$1 op=$2 t0 t1
    t0=$(date +%s.%N)
    in_ops env ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_SSH_ARGS="-F $WORK/ssh/config -o ControlMaster=no" \
        ANSIBLE_PIPELINING=True ANSIBLE_FORKS=100 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
        "$ANSIBLE_PLAYBOOK" -i "$WORK/ansible-hosts.ini" "$REPO/lab/bench-ansible.yml" \
        -e "render=$WORK/render-ansible iface=$IFACE" >"$WORK/ansible.txt" 2>&1 </dev/null ||
        { cat "$WORK/ansible.txt" >&2; die "ansible $op failed"; }
    t1=$(date +%s.%N)
    LAST=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    ROWS+=("$size	ansible $op	$LAST	-	-	-	-	-	-	-")
    RATIOS+=("$size hosts, $op: Ansible $LAST s, wgdeploy ${WGD_TIME[$size $op]} s: $(awk -v a="$LAST" -v w="${WGD_TIME[$size $op]}" 'BEGIN { printf "%.1f", a / w }')x")
    log "N=$size ansible $op: ${LAST}s"
}

for n in "${SIZES[@]}"; do
    lab_reset
    rm -rf "$WORK"/inventory* "$WORK"/direct* "$WORK/render"
    make_scale_lab "$n"
    lab_cpu_watch
    write_lab_inventory "$WORK/direct.yaml" scale "$n"
    # Above 8 hosts, the issue's shape: one relay and every other host a spoke homed on it (the
    # scale lab's public hosts would form a mesh, whose fresh `wg-quick up` is wg-quick's own cost).
    if ((n > 8)); then
        awk '/^  [a-z0-9]+:$/ { host = $1; sub(/:$/, "", host) }
             host != "" && host != "relay1" && /^    (endpoint|relay|via):/ { next }
             host != "" && host != "relay1" && /^    ssh:/ { print "    via: relay1" }
             { print }' "$WORK/direct.yaml" >"$WORK/hub.yaml"
        mv "$WORK/hub.yaml" "$WORK/direct.yaml"
    fi
    # Keys and addresses made once, outside the timing (as after a first `plan`).
    in_ops "$WGDEPLOY" render "$WORK/direct.yaml" --out "$WORK/render" >/dev/null
    start_latency_proxy "$RTT"
    proxied_inventory "$WORK/direct.yaml" "$WORK/inventory.yaml"
    cp "$WORK/direct.wgdeploy-state.json" "$WORK/inventory.wgdeploy-state.json"
    INV=$WORK/inventory.yaml

    # For scale: one OpenSSH connection and command through the proxy.
    t0=$(date +%s.%N)
    in_ops ssh -F "$WORK/ssh/config" -p "$((LATENCY_PORT_BASE + 1))" "root@$MGMT_OPS" true
    t1=$(date +%s.%N)
    ROWS+=("$n	ssh HOST true (OpenSSH)	$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')	-	-	-	-	-	-	-")

    timed "$n" fresh 0 apply "$INV" --yes "${PARALLEL[@]}"
    grep -q FAILED "$WORK/out.txt" && { cat "$WORK/out.txt" >&2; die "fresh apply of $n hosts had failures"; }
    runs=()
    for ((r = 0; r < RUNS; r++)); do
        timed "$n" no-op 0 apply "$INV" --yes "${PARALLEL[@]}"
        runs+=("$LAST")
        grep -q "Nothing to do" "$WORK/out.txt" || { cat "$WORK/out.txt" >&2; die "re-apply of $n hosts was not a no-op"; }
        ((r == RUNS - 1)) || unset 'ROWS[-1]'
    done
    WGD_TIME["$n no-op"]=$(median "${runs[@]}")
    ROWS[-1]=$(awk -F'\t' -v OFS='\t' -v m="$(median "${runs[@]}")" '{ $3 = m " (median of '"$RUNS"')"; print }' <<<"${ROWS[-1]}")
    timed "$n" plan 0 plan "$INV" "${PARALLEL[@]}"
    timed "$n" status "0 1" status "$INV" "${PARALLEL[@]}"
    sed -i 's/^  keepalive: 25$/  keepalive: 21/' "$INV"
    timed "$n" peers-only 0 apply "$INV" --yes "${PARALLEL[@]}"
    WGD_TIME["$n peers-only"]=$LAST
    grep -q syncconf "$WORK/out.txt" || { cat "$WORK/out.txt" >&2; die "keepalive change was not a syncconf"; }
    timed "$n" rollback 0 rollback "$INV" --yes "${PARALLEL[@]}"
    sed -i 's/^  keepalive: 21$/  keepalive: 25/' "$INV"
    sed -i 's/^  keepalive: 25$/  keepalive: 25\n  mtu: 1380/' "$INV"
    timed "$n" restart 0 apply "$INV" --yes "${PARALLEL[@]}"
    grep -q restart "$WORK/out.txt" || { cat "$WORK/out.txt" >&2; die "MTU change was not a restart"; }
    grep -q FAILED "$WORK/out.txt" && { cat "$WORK/out.txt" >&2; die "restart of $n hosts had failures"; }
    stop_latency_proxy

    # Without latency: the same no-op, straight to the hosts (bar: ~0.2 s for 8 hosts).
    awk -v ops="host: $MGMT_OPS," -v net="$MGMT_NET." -v base="$LATENCY_PORT_BASE" '
        index($0, ops) { match($0, /port: [0-9]+/); p = substr($0, RSTART + 6, RLENGTH - 6)
                         sub(ops, "host: " net (p - base) ","); sub(/port: [0-9]+/, "port: 22") }
        { print }' "$INV" >"$WORK/direct.yaml"
    cp "$WORK/inventory.wgdeploy-state.json" "$WORK/direct.wgdeploy-state.json"
    cp "$WORK/inventory.wgdeploy-journal.jsonl" "$WORK/direct.wgdeploy-journal.jsonl" 2>/dev/null || true
    runs=()
    for ((r = 0; r < RUNS; r++)); do
        timed "$n" no-op-direct 0 apply "$WORK/direct.yaml" --yes "${PARALLEL[@]}"
        runs+=("$LAST")
        grep -q "Nothing to do" "$WORK/out.txt" || { cat "$WORK/out.txt" >&2; die "direct re-apply was not a no-op"; }
        ((r == RUNS - 1)) || unset 'ROWS[-1]'
    done
    ROWS[-1]=$(awk -F'\t' -v OFS='\t' -v m="$(median "${runs[@]}")" '{ $3 = m " (median of '"$RUNS"')"; print }' <<<"${ROWS[-1]}")

    # The floor under any tool that logs in over SSH: an empty OpenSSH login to every host at once
    # (sshd's fork, re-exec, key exchange and session, the login shell), no proxy. Only the hosts'
    # CPU counts here (n OpenSSH clients cost the operator far more than wgdeploy).
    cpu0=$(lab_cpu_used)
    for h in "${LAB_HOSTS[@]}"; do
        in_ops ssh "${SSH_OPTS[@]}" -o ControlMaster=no "root@${MGMT[$h]}" true </dev/null &
    done
    wait
    sleep 0.3
    ROWS+=("$n	empty logins (ssh HOST true, all at once)	-	-	-	$(cpu_between "$cpu0" "$(lab_cpu_used)")	-	-	-	-")

    if $ANSIBLE && ansible_bin; then
        start_latency_proxy "$RTT"
        : >"$WORK/ansible-hosts.ini"
        for h in "${LAB_HOSTS[@]}"; do
            echo "$h ansible_host=$MGMT_OPS ansible_port=$((LATENCY_PORT_BASE + ${MGMT[$h]##*.})) ansible_user=root" \
                >>"$WORK/ansible-hosts.ini"
        done
        # Ansible's job: the configs wgdeploy deployed (keepalive 25 + MTU), copied + syncconf'd.
        mkdir -p "$WORK/render-ansible"
        for h in "${LAB_HOSTS[@]}"; do
            mkdir -p "$WORK/render-ansible/$h"
            cp "$(conf_file "$h")" "$WORK/render-ansible/$h/$IFACE.conf"
        done
        ansible_run "$n" no-op
        sed -i 's/^PersistentKeepalive = 25$/PersistentKeepalive = 21/' "$WORK"/render-ansible/*/"$IFACE.conf"
        ansible_run "$n" peers-only
        stop_latency_proxy
    fi
done

# The lines around the table stay out of `column`: a line without tabs would widen its first column.
printf '\nwgdeploy at %s ms RTT (lab/latency-proxy.py%s); load average: %s\n' "$RTT" "${LATENCY_INITCWND:+, TCP slow start from $LATENCY_INITCWND segments}" "$(cut -d' ' -f1-3 /proc/loadavg)"
{
    printf 'hosts\toperation\twall (s)\tbar (s)\tpeak RSS (MiB)\thosts CPU (s)\twgdeploy CPU (s)\tconnections/host\texecs/host\tturns/host\n'
    printf '%s\n' "${ROWS[@]}"
} | column -t -s $'\t'
printf '(per host: median/max over the hosts; no-op-direct: without the proxy; hosts CPU: all hosts together, on the\n same %s cores as wgdeploy, the proxy and the OpenSSH reference)\n' "$(nproc)"
if ((${#RATIOS[@]})); then
    printf '\nAnsible (lab/bench-ansible.yml, same proxy, pipelining on) against wgdeploy, same run:\n'
    printf '  %s\n' "${RATIOS[@]}"
fi
