# lab/lib.sh: building blocks for wgdeploy's namespace labs (real WireGuard behind real NAT).
# Sourced, never run, by lab/nat-relay.sh and lab/check-agreement.sh, at the top level of the script
# and after its argument parsing and root check (the declarations below must be global).
#
# Sourcing it:
#   - sets PREFIX (namespace name prefix, unique to the run), IFACE and HANDSHAKE_TIMEOUT (from
#     WGD_LAB_HANDSHAKE_TIMEOUT, default 30 s), and exports
#     WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1;
#   - declares the lab state (below), starts the log clock, and installs the EXIT/INT/TERM traps
#     that always run `cleanup`.
# The script then sets WORK (its temp dir, removed by cleanup), HOSTS (display order), OVERLAY and
# CONF (host -> its wg-quick file), builds a topology with make_internet, make_public_host,
# make_nat_router and make_nat_host, and uses wg_up, wait_handshakes, ping_matrix and friends.
# lab_reset tears the current topology down (processes, namespaces, per-host dirs) without exiting,
# so one run can build several fresh labs in a row. See lab/README.md.
#
# The operator side (lab/ssh-smoke.sh, and wgdeploy's SSH tests): make_ops builds a namespace holding
# the management bridge 198.18.0.254/24, start_sshd gives a host a veth on it and a real sshd;
# make_ssh_lab, make_ssh_lab_two_relays and make_scale_lab build whole labs with sshd everywhere,
# write_lab_inventory writes the matching wgdeploy inventory, and in_ops / lab_ssh run the operator.
# shellcheck shell=bash

# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------
PREFIX="wgd-lab-$$-"                 # every namespace of this run starts with this
IFACE=wg0
HANDSHAKE_TIMEOUT=${WGD_LAB_HANDSHAKE_TIMEOUT:-30}

# wg-quick falls back to wireguard-go when the kernel has no module; older wireguard-go refuses on
# Linux without this (Debian 12's 0.0.20220316 only prints a warning box). nsenter/ip netns exec keep
# the environment, so exporting once is enough. SSH sessions get it from sshd_config SetEnv.
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1

# --------------------------------------------------------------------------------------------------
# State (everything cleanup needs to undo)
# --------------------------------------------------------------------------------------------------
WORK=""                  # temp dir: rendered configs, per-host /run and /etc/wireguard, logs
NAMESPACES=()            # namespaces we created, in creation order
declare -A HOLDER=()     # host -> pid of the long-lived process holding its mount+UTS namespaces
declare -A HOST_NS=()    # host -> network namespace name
declare -A OVERLAY=()    # host -> overlay IPv4 address (read from the host's config)
declare -A UNDERLAY=()   # host -> its address on the lab internet (public hosts and NAT routers)
declare -A CONF=()       # host -> path of its wg-quick config (for public keys)
declare -A RESULT=()     # "src>dst" -> ok | FAIL
HOSTS=()                 # WireGuard hosts, in display order
INET_NS=""               # namespace holding the lab internet bridge
VETH_SEQ=0
# Operator side (make_ops, lab_ssh_keys, start_sshd, make_*_lab)
OPS_NS=""                # namespace of the operator: the management bridge `mgmt`, ssh and wgdeploy run here
declare -A MGMT=()       # host -> its management address 198.18.0.N (sshd listens there)
declare -A SSHD_PID=()   # host -> pid of its sshd listener (from its PidFile)
LAB_HOSTS=()             # hosts of the lab built by make_ssh_lab*/make_scale_lab, in plan order
LAB_KIND=""              # standard | two-relays | scale (what write_lab_inventory writes by default)
LAB_N=0                  # make_scale_lab's N
SSH_DIR=""               # $WORK/ssh: the operator's key, known_hosts, authorized_keys, ssh config
SSH_OPTS=()              # ssh client options for the lab (lab_ssh_keys sets them)
CPU_CGROUP=""            # cgroup holding the hosts' sshd, for their CPU time (lab_cpu_watch)
START=$SECONDS

# Log through a saved copy of stderr: a trap can fire while a function's output is redirected to
# /dev/null (e.g. during `in_host ... ping >/dev/null 2>&1`), and cleanup must still be heard.
exec {LOG_FD}>&2
log() { printf '[%3ds] %s\n' $((SECONDS - START)) "$*" >&"$LOG_FD"; }
die() { log "FATAL: $*"; exit 1; }

# pass / fail MESSAGE: one check's result, counted in PASSED and FAILURES (a failed check does not
# stop the script: every check runs, the script decides at the end).
PASSED=0
FAILURES=0
pass() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILURES=$((FAILURES + 1)); echo "FAIL: $*"; }

# selected N: scenario N was asked for on the command line (SELECTED), or none was (all run)
selected() {
    [[ ${#SELECTED[@]} -eq 0 ]] && return 0
    local s
    for s in "${SELECTED[@]}"; do [[ $s == "$1" ]] && return 0; done
    return 1
}

# wgdeploy_bin [--release]: WGDEPLOY is the wgdeploy binary the lab runs: as given in the
# environment; else target/PROFILE/wgdeploy of the checkout at REPO (debug, or release for
# benchmarks) when nothing under src/ or templates/, nor Cargo.toml or Cargo.lock, changed after it
# was built (then no cargo is needed: `sudo` drops ~/.cargo/bin from PATH); else a fresh build with
# the cargo find_cargo finds. An out-of-date binary is never run: a lab run would test old code.
wgdeploy_bin() {
    [[ -n ${WGDEPLOY:-} ]] && return 0
    local profile=debug flag=() bin newer="" cargo
    if [[ ${1:-} == --release ]]; then profile=release flag=(--release); fi
    bin="$REPO/target/$profile/wgdeploy"
    if [[ -x $bin ]]; then
        newer=$(find "$REPO/src" "$REPO/templates" "$REPO/Cargo.toml" "$REPO/Cargo.lock" \
            -newer "$bin" -print -quit 2>/dev/null)
        if [[ -z $newer ]]; then
            log "using target/$profile/wgdeploy (built after the last change to the sources)"
            WGDEPLOY=$bin
            return 0
        fi
    fi
    if ! cargo=$(find_cargo); then
        local why="there is no target/$profile/wgdeploy"
        [[ -n $newer ]] && why="target/$profile/wgdeploy is older than ${newer#"$REPO/"}"
        die "$why, and no cargo was found to build it (not on PATH, which sudo resets, nor in ~/.cargo/bin of ${SUDO_USER:-${USER:-root}} or root): build it as yourself first, \`cargo build${flag[*]:+ ${flag[*]}}\` in $REPO, then run this again"
    fi
    log "building wgdeploy ($profile) with $cargo"
    cargo_build "$cargo" -q "${flag[@]}" || die "cargo build failed"
    WGDEPLOY=$bin
}

# find_cargo: prints the path of a cargo to build with. Not only from PATH: under sudo, PATH is
# sudo's secure_path, without ~/.cargo/bin. So also $CARGO (cargo sets it for what it runs), the
# invoking user's ~/.cargo/bin (SUDO_USER), $CARGO_HOME/bin or ~/.cargo/bin, root's, and
# /usr/local/cargo/bin (the Rust container images).
find_cargo() {
    local candidate home=""
    [[ -n ${SUDO_USER:-} ]] && home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    for candidate in "${CARGO:-}" "$(command -v cargo 2>/dev/null)" ${home:+"$home/.cargo/bin/cargo"} \
        "${CARGO_HOME:-${HOME:-/root}/.cargo}/bin/cargo" /root/.cargo/bin/cargo /usr/local/cargo/bin/cargo; do
        if [[ -n $candidate && -x $candidate ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# cargo_build CARGO ARGS...: `cargo build ARGS` in REPO. Under sudo, when the checkout belongs to
# the user who ran sudo, as that user (HOME theirs, so rustup finds their toolchain): target/ stays
# theirs, and their next `cargo build` is not refused files root wrote.
cargo_build() {
    local cargo=$1
    shift
    local path="${cargo%/*}:/usr/local/bin:/usr/bin:/bin"
    if [[ -n ${SUDO_USER:-} && $SUDO_USER != root && $(stat -c %U "$REPO") == "$SUDO_USER" ]]; then
        (cd "$REPO" && sudo -u "$SUDO_USER" -H env "PATH=$path" "$cargo" build "$@")
    else
        (cd "$REPO" && PATH="$path:$PATH" "$cargo" build "$@")
    fi
}

# --------------------------------------------------------------------------------------------------
# Teardown and cleanup
# --------------------------------------------------------------------------------------------------
# lab_pids NS...: pids of every process whose network namespace is one of NS (one pass over /proc,
# like `ip netns pids`, but for all namespaces at once; fast with hundreds of namespaces)
lab_pids() {
    local ns ino link p
    declare -A want=()
    for ns in "$@"; do
        [[ -e /run/netns/$ns ]] || continue
        ino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) && want["net:[$ino]"]=1
    done
    ((${#want[@]})) || return 0
    # /proc/PID/ns/net -> "net:[INODE]"; processes may vanish while we look
    while read -r p link; do
        [[ -n $link && -n ${want[$link]:-} ]] && { p=${p#/proc/}; echo "${p%%/*}"; }
    done < <(find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%p %l\n' 2>/dev/null)
    return 0
}

# pid_alive PID: the process exists and is not a zombie. Processes started by parallel builders
# are reparented to init once their subshell exits, and init may take a while to reap them after
# they die; `kill -0` would count those zombies as alive.
pid_alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }                   # after "pid (comm) ": state is the next field
    [[ ${stat%% *} != Z ]]
}

# lab_teardown: stop every process in the run's namespaces, by pid, and delete the namespaces.
# Tolerates a half-built lab; never fails. Processes: the holders, sshd listeners and their
# per-connection children (and whatever a session started, e.g. wireguard-go), the wireguard-go
# daemons, ssh clients running in the ops namespace. Looks again after killing, since a process
# can fork (an sshd accepting a connection) between the look and the kill.
lab_teardown() {
    local -
    local ns pid i alive round
    set +e
    # Everything we ever created, plus anything carrying our unique prefix (belt and braces).
    local all=("${NAMESPACES[@]}")
    while read -r ns _; do
        [[ $ns == "$PREFIX"* ]] && all+=("$ns")
    done < <(ip netns list 2>/dev/null)
    for round in 1 2 3; do
        # 1. TERM every process living in our namespaces, by pid (and the pids we recorded).
        local pids=()
        mapfile -t pids < <(lab_pids "${all[@]}")
        ((round == 1)) && pids+=("${HOLDER[@]}" "${SSHD_PID[@]}")
        ((${#pids[@]})) || break
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for ((i = 0; i < 50; i++)); do
            alive=0
            for pid in "${pids[@]}"; do pid_alive "$pid" && { alive=1; break; }; done
            ((alive)) || break
            sleep 0.1
        done
        for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    done
    wait 2>/dev/null
    # 2. Delete the namespaces (this also removes their links, the bridges and iptables rules).
    # One `ip` for all of them: hundreds of namespaces in a scale lab.
    for ns in "${all[@]}"; do
        [[ -e /run/netns/$ns ]] && echo "netns del $ns"
    done | ip -force -batch - 2>/dev/null
    for ns in "${all[@]}"; do
        [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    done
    # 3. The hosts' CPU cgroup, empty now.
    if [[ -n $CPU_CGROUP ]]; then
        rmdir "$CPU_CGROUP" 2>/dev/null || log "WARNING: cgroup $CPU_CGROUP left behind"
        CPU_CGROUP=""
    fi
    return 0
}

# lab_reset: tear the current lab down and forget it, so the next make_* calls build a fresh one
# (new namespaces, new wireguard-go daemons, empty per-host /run and /etc/wireguard). WORK stays.
lab_reset() {
    lab_teardown
    NAMESPACES=()
    HOLDER=()
    HOST_NS=()
    UNDERLAY=()
    RESULT=()
    INET_NS=""
    VETH_SEQ=0
    OPS_NS=""
    MGMT=()
    SSHD_PID=()
    LAB_HOSTS=()
    LAB_KIND=""
    LAB_N=0
    SSH_DIR=""
    SSH_OPTS=()
    [[ -n $WORK ]] && rm -rf "$WORK/hosts" "$WORK/ssh"
    local ns
    while read -r ns _; do
        [[ $ns == "$PREFIX"* ]] && die "namespace $ns survived the teardown"
    done < <(ip netns list 2>/dev/null)
    return 0
}

# cleanup: always runs (EXIT trap), tolerates a half-built lab.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    log "cleanup: stopping processes and deleting namespaces (exit status $rc)"
    lab_teardown
    local ns
    while read -r ns _; do
        [[ $ns == "$PREFIX"* ]] && log "WARNING: namespace $ns survived the teardown"
    done < <(ip netns list 2>/dev/null)
    # Temp files. Bind mounts only ever existed inside private mount namespaces.
    [[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
    log "cleanup done; total time $((SECONDS - START))s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Under `set -e` an unexpected failure would end the run with only "exit status 1": say which
# command on which line it was (only while -e is on: a `set +e` region expects failures; and only
# in the script's own shell: a background job's failure is its waiter's business).
set -E
# shellcheck disable=SC2154 # _rc is set by the trap itself
trap '_rc=$?; [[ $- == *e* && $BASHPID == "$$" ]] && log "FATAL: line $LINENO exited $_rc: $BASH_COMMAND"' ERR

# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------
# new_netns SHORT -> creates "$PREFIX$SHORT", lo up, prints nothing; name in NS_NAME
new_netns() {
    NS_NAME="$PREFIX$1"
    ip netns add "$NS_NAME"
    NAMESPACES+=("$NS_NAME")
    ip -n "$NS_NAME" link set lo up
}

# nsx NS CMD...: run in a namespace that has no per-host mount namespace (internet, routers)
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# in_host HOST CMD...: run inside a lab host's network + mount + UTS namespaces
in_host() {
    local host=$1; shift
    nsenter --target "${HOLDER[$host]}" --net --mount --uts -- "$@"
}

# add_login_user HOST USER SUDO: a login user on HOST alone, for tests of non-root SSH users. HOST's
# mount namespace gets private copies of /etc/passwd, /etc/group and /etc/shadow with USER added
# (uid 40000+, home in HOST's directory, no password: key login only), and a private /etc/sudoers.d:
# SUDO=nopasswd lets USER run anything through `sudo -n`, SUDO=none gives USER no sudo rule. The
# machine's own user database is never touched. Needs `sudo` installed for SUDO to mean anything.
add_login_user() {
    local host=$1 user=$2 sudo=$3 dir="$WORK/hosts/$1/etc-users" uid
    [[ -n ${HOLDER[$host]:-} ]] || die "add_login_user: no lab host $host"
    [[ $user =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "add_login_user: bad user name $user"
    case $sudo in nopasswd | none) ;; *) die "add_login_user: SUDO must be nopasswd or none" ;; esac
    if [[ ! -d $dir ]]; then
        mkdir -p "$dir/sudoers.d"
        cp /etc/passwd /etc/group "$dir/"
        cp /etc/shadow "$dir/shadow"
        chmod 640 "$dir/shadow"
        if [[ -d /etc/sudoers.d ]]; then cp -a /etc/sudoers.d/. "$dir/sudoers.d/"; fi
        chmod 755 "$dir/sudoers.d"
        in_host "$host" sh -ec '
            mount --bind "$1/passwd" /etc/passwd
            mount --bind "$1/group" /etc/group
            mount --bind "$1/shadow" /etc/shadow
            mkdir -p /etc/sudoers.d
            mount --bind "$1/sudoers.d" /etc/sudoers.d' sh "$dir"
    fi
    uid=$((40000 + $(wc -l <"$dir/passwd")))
    local home="$WORK/hosts/$host/home-$user"
    mkdir -p "$home/.ssh"
    cp "$SSH_DIR/authorized_keys" "$home/.ssh/authorized_keys"
    chown -R "$uid:$uid" "$home"
    echo "$user:x:$uid:$uid:lab user:$home:/bin/sh" >>"$dir/passwd"
    echo "$user:x:$uid:" >>"$dir/group"
    # `*`: no password can match, and (unlike `!`) sshd does not treat the account as locked.
    echo "$user:*:19000:0:99999:7:::" >>"$dir/shadow"
    if [[ $sudo == nopasswd ]]; then
        echo "$user ALL=(root) NOPASSWD: ALL" >"$dir/sudoers.d/lab-$user"
        chmod 440 "$dir/sudoers.d/lab-$user"
    fi
}

# add_bridge NS NAME: a bridge in NS with a fixed MAC address. A bridge whose MAC was not set takes
# the lowest MAC of its ports, so it changes as ports are added: hosts that had resolved the
# bridge's own address (the NAT routers' gateways, ops on the management network) then send to a
# MAC nobody has until their ARP entry times out. That lost pings to ops at random right after the
# lab was built.
add_bridge() {
    local mac
    mac=$(printf '02:%02x:%02x:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
    # Given at creation, the address counts as set (addr_assign_type 3) and is kept from then on.
    ip -n "$1" link add "$2" address "$mac" type bridge
}

# make_internet: the lab "internet" 198.51.100.0/24, a bridge inside its own namespace
make_internet() {
    new_netns inet
    INET_NS=$NS_NAME
    add_bridge "$INET_NS" br0
    ip -n "$INET_NS" link set br0 up
}

# attach NS IFNAME ADDR/LEN BRIDGE_NS BRIDGE [PORT]: veth from a bridge in BRIDGE_NS into NS as
# IFNAME. Both ends are created directly inside their namespaces; nothing appears in the root
# namespace. The bridge side is PORT, by default p<sequence number> (builders running in parallel
# subshells pass their own unique PORT, since the sequence number is per shell).
attach() {
    local ns=$1 ifname=$2 addr=$3 brns=$4 br=$5 port=${6:-}
    if [[ -z $port ]]; then
        VETH_SEQ=$((VETH_SEQ + 1))
        port="p$VETH_SEQ"
    fi
    ip -n "$brns" link add "$port" type veth peer name "$ifname" netns "$ns"
    ip -n "$brns" link set "$port" master "$br" up
    ip -n "$ns" addr add "$addr" dev "$ifname"
    ip -n "$ns" link set "$ifname" up
}

# make_host HOST: network namespace + a long-lived holder process owning private mount and UTS
# namespaces, with per-host directories bind-mounted over /run (so /run/wireguard control sockets
# are private), /etc/wireguard, /etc/sysctl.d, /var/lib/wgdeploy (generations, lock-out protection)
# and /root (root's home: an SSH session starts there
# with HOME=/root, so what it writes to ~ stays in the host, and the machine's own ~/.bashrc and
# ~/.profile do not run in lab sessions: PATH is sshd's default, as on a fresh host), and the
# hostname set to HOST.
make_host() {
    local host=$1 dir="$WORK/hosts/$1"
    new_netns "$host"
    HOST_NS[$host]=$NS_NAME
    mkdir -p "$dir/run/wireguard" "$dir/etc-wireguard" "$dir/sysctl.d" "$dir/root" "$dir/var-lib-wgdeploy"
    chmod 700 "$dir/etc-wireguard" "$dir/root" "$dir/var-lib-wgdeploy"
    mkdir -p /var/lib/wgdeploy   # the mount point (stays empty on the machine itself)
    # `ip netns exec` execs unshare, which execs sh, which execs sleep: $! stays the holder's pid.
    # shellcheck disable=SC2016  # $1 and $2 belong to the inner sh
    ip netns exec "$NS_NAME" unshare --mount --uts --propagation private -- sh -c '
        set -e
        mount --bind "$1/run" /run
        mount --bind "$1/etc-wireguard" /etc/wireguard
        mount --bind "$1/sysctl.d" /etc/sysctl.d
        mount --bind "$1/root" /root
        mount --bind "$1/var-lib-wgdeploy" /var/lib/wgdeploy
        hostname "$2"
        touch "$1/ready"
        exec sleep infinity' sh "$dir" "$host" </dev/null >"$dir/holder.log" 2>&1 &
    HOLDER[$host]=$!
    echo "${HOLDER[$host]}" >"$dir/holder.pid"   # for parents of parallel builders (make_scale_lab)
    local i
    for ((i = 0; i < 250; i++)); do
        [[ -e $dir/ready ]] && return 0
        kill -0 "${HOLDER[$host]}" 2>/dev/null || break
        sleep 0.02
    done
    die "holder for $host did not start: $(cat "$dir/holder.log")"
}

# make_public_host HOST ADDR [PORT]: a host directly on the lab internet (PORT: see attach)
make_public_host() {
    local host=$1 addr=$2
    make_host "$host"
    attach "${HOST_NS[$host]}" eth0 "$addr/24" "$INET_NS" br0 "${3:-}"
    UNDERLAY[$host]=$addr
}

# make_nat_router NAME WAN_ADDR LAN_PREFIX [PORT] (LAN_PREFIX e.g. 198.18.1): WAN on the lab
# internet, LAN bridge LAN_PREFIX.1/24, MASQUERADE out of WAN, forwarding on, NEW inbound from WAN
# dropped. PORT: see attach.
make_nat_router() {
    local name=$1 wan=$2 lan=$3 ns
    new_netns "$name"
    ns=$NS_NAME
    attach "$ns" wan "$wan/24" "$INET_NS" br0 "${4:-}"
    UNDERLAY[$name]=$wan
    add_bridge "$ns" lan
    ip -n "$ns" addr add "$lan.1/24" dev lan
    ip -n "$ns" link set lan up
    # One `ip netns exec` for all of it (each one costs a mount namespace and a /sys remount).
    nsx "$ns" sh -ec '
        sysctl -q -w net.ipv4.ip_forward=1
        iptables -w -t nat -A POSTROUTING -o wan -j MASQUERADE
        iptables -w -P FORWARD DROP
        iptables -w -A FORWARD -i lan -o wan -j ACCEPT
        iptables -w -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        iptables -w -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        iptables -w -A INPUT -i wan -j DROP'
}

# make_nat_host HOST ROUTER ADDR: a host on ROUTER's LAN, default route via the router
make_nat_host() {
    local host=$1 router=$2 addr=$3 rns="$PREFIX$2"
    make_host "$host"
    attach "${HOST_NS[$host]}" eth0 "$addr/24" "$rns" lan
    local gw
    gw=$(ip -n "$rns" -4 -o addr show dev lan | awk '{split($4, a, "/"); print a[1]}')
    ip -n "${HOST_NS[$host]}" route add default via "$gw"
}

# make_standard_lab: the topology of lab/README.md (relay1 .1 and web1 .2 public; home and office
# behind their own NAT routers .11 and .12, LANs 198.18.1.0/24 and 198.18.2.0/24)
make_standard_lab() {
    make_internet
    make_public_host relay1 198.51.100.1
    make_public_host web1 198.51.100.2
    make_nat_router nat-home 198.51.100.11 198.18.1
    make_nat_router nat-office 198.51.100.12 198.18.2
    make_nat_host home nat-home 198.18.1.2
    make_nat_host office nat-office 198.18.2.2
}

# check_nat_closed HOST ROUTER LAN_CIDR: HOST reaches the lab internet, but nothing on the internet
# reaches HOST, even a prober that routes LAN_CIDR via the router's WAN (NEW inbound is dropped).
check_nat_closed() {
    local host=$1 router=$2 lan=$3 probe="$PREFIX$1-probe"
    in_host "$host" ping -q -n -c 3 -W 2 -i 0.2 198.51.100.1 >/dev/null || die "$host cannot reach the lab internet"
    new_netns "$host-probe"
    attach "$probe" eth0 198.51.100.250/24 "$INET_NS" br0
    ip -n "$probe" route add "$lan" via "${UNDERLAY[$router]}"
    nsx "$probe" ping -q -n -c 3 -W 2 -i 0.2 198.51.100.1 >/dev/null || die "probe cannot reach relay1"
    if nsx "$probe" ping -q -n -c 1 -W 1 "$(ip -n "${HOST_NS[$host]}" -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]}')" >/dev/null 2>&1; then
        die "$host is reachable from the lab internet through $router: the NAT is open"
    fi
    if nsx "$probe" ping -q -n -c 1 -W 1 "${UNDERLAY[$router]}" >/dev/null 2>&1; then
        die "$router answers NEW inbound on its WAN"
    fi
    ip netns del "$probe"
    log "$router: $host reaches the internet; NEW inbound to $host and to the router is dropped"
}

# conf_value FILE KEY: first value of "KEY = value" in a wg-quick file
conf_value() { awk -v k="$2" '$1 == k && $2 == "=" { sub(/^[^=]*= */, ""); print; exit }' "$1"; }

# pubkey_of CONF: public key derived from the config's PrivateKey
pubkey_of() { conf_value "$1" PrivateKey | wg pubkey; }

# overlay_of CONF: the first IPv4 Address of a wg-quick file, without its prefix length
overlay_of() { conf_value "$1" Address | tr ',' '\n' | tr -d ' ' | grep -m1 -v : | cut -d/ -f1; }

# render_lab INVENTORY: `wgdeploy render` INVENTORY into $WORK/render; dies unless it configured
# exactly the hosts in HOSTS, each with an IPv4 overlay address; sets CONF[h] and OVERLAY[h].
render_lab() {
    wgdeploy_bin
    mkdir -p "$WORK/render"
    "$WGDEPLOY" render "$1" --out "$WORK/render" --state "$WORK/render/state.json" >&2
    local h found
    found=$(cd "$WORK/render" && find . -mindepth 2 -maxdepth 2 -name "$IFACE.conf" | cut -d/ -f2 | sort | xargs)
    [[ $found == "$(printf '%s\n' "${HOSTS[@]}" | sort | xargs)" ]] ||
        die "rendered hosts ($found) are not the lab's hosts (${HOSTS[*]})"
    for h in "${HOSTS[@]}"; do
        CONF[$h]="$WORK/render/$h/$IFACE.conf"
        OVERLAY[$h]=$(overlay_of "${CONF[$h]}")
        [[ -n ${OVERLAY[$h]} ]] || die "no IPv4 Address in $h's config"
    done
}

# wg_up HOST CONF: install CONF as the host's /etc/wireguard/wg0.conf and `wg-quick up` it.
# wireguard-go daemonizes (re-execs itself detached, stdio on /dev/null) so it outlives wg-quick.
wg_up() {
    local host=$1 conf=$2 dir="$WORK/hosts/$1"
    install -m 600 "$conf" "$dir/etc-wireguard/$IFACE.conf"
    if ! in_host "$host" wg-quick up "/etc/wireguard/$IFACE.conf" >"$dir/wg-quick.log" 2>&1; then
        cat "$dir/wg-quick.log" >&2
        die "wg-quick up failed on $host"
    fi
    in_host "$host" wg show "$IFACE" >/dev/null || die "$host: $IFACE not answering after wg-quick up"
}

# wait_handshakes: every peer configured with PersistentKeepalive (the NAT-ed side of each NAT
# crossing) must complete a handshake. Public<->public pairs have no keepalive and handshake on
# first traffic, so they are not waited for.
wait_handshakes() {
    local deadline=$((SECONDS + HANDSHAKE_TIMEOUT)) host pending dump
    while :; do
        pending=()
        for host in "${HOSTS[@]}"; do
            # A dead interface (e.g. wireguard-go killed) has no peers to wait for: fail, not pass.
            dump=$(in_host "$host" wg show "$IFACE" dump) || die "$host: $IFACE is not running (wg show failed)"
            # dump, peer lines: pubkey psk endpoint allowed-ips latest-handshake rx tx keepalive
            while read -r pk _ ep _ hs _ _ ka; do
                [[ $ka != off && $hs == 0 ]] && pending+=("$host->$ep")
            done < <(tail -n +2 <<<"$dump")
        done
        if [[ ${#pending[@]} -eq 0 ]]; then
            log "all keepalive peers have handshaken"
            return 0
        fi
        ((SECONDS < deadline)) || die "no handshake after ${HANDSHAKE_TIMEOUT}s: ${pending[*]}"
        sleep 0.5
    done
}

# ping_pairs: ping every ordered pair of overlay addresses; fills RESULT ("src>dst" -> ok | FAIL)
ping_pairs() {
    local src dst
    log "pinging every ordered pair (ping -c 3 -W 2 -i 0.2)"
    for src in "${HOSTS[@]}"; do
        for dst in "${HOSTS[@]}"; do
            [[ $src == "$dst" ]] && continue
            if in_host "$src" ping -q -n -c 3 -W 2 -i 0.2 "${OVERLAY[$dst]}" >/dev/null 2>&1; then
                RESULT["$src>$dst"]=ok
            else
                RESULT["$src>$dst"]=FAIL
            fi
        done
    done
}

# print_matrix: RESULT as a from/to matrix, plus the overlay addresses
print_matrix() {
    local src dst
    printf '\n%-12s' 'from \ to'
    for dst in "${HOSTS[@]}"; do printf '%-16s' "$dst"; done
    printf '\n'
    for src in "${HOSTS[@]}"; do
        printf '%-12s' "$src"
        for dst in "${HOSTS[@]}"; do
            if [[ $src == "$dst" ]]; then printf '%-16s' '-'
            else printf '%-16s' "${RESULT[$src>$dst]}"; fi
        done
        printf '\n'
    done
    printf '(overlay: '
    for src in "${HOSTS[@]}"; do printf '%s=%s ' "$src" "${OVERLAY[$src]}"; done
    printf ')\n\n'
}

# ping_matrix: ping every ordered pair of overlay addresses; fills RESULT, prints the matrix
ping_matrix() {
    ping_pairs
    print_matrix
}

# peer_counter HOST PUBKEY FIELD: rx|tx bytes for one peer from `wg show dump`
peer_counter() {
    in_host "$1" wg show "$IFACE" dump | awk -v pk="$2" -v f="$3" \
        'NR > 1 && $1 == pk { print (f == "rx" ? $6 : $7) }'
}

# forward_counter HOST: packets matched by the relay's FORWARD wg0 -> wg0 ACCEPT rule
forward_counter() {
    in_host "$1" iptables -L FORWARD -n -v -x |
        awk -v i="$IFACE" '$3 == "ACCEPT" && $6 == i && $7 == i { print $1; exit }'
}

# ip4_int A.B.C.D: the address as an integer
# shellcheck disable=SC2086  # splitting on dots is the point
ip4_int() { local IFS=.; set -- $1; echo $(((($1 * 256 + $2) * 256 + $3) * 256 + $4)); }

# peer_carrying HOST ADDR: the public key of the peer whose AllowedIPs on HOST's live interface
# carry IPv4 ADDR (longest prefix), as WireGuard routes it: the host itself when it is a peer, or
# e.g. the other relay on a relay of the two-relay lab
peer_carrying() {
    local host=$1 a pk cidrs cidr net len best_pk="" best_len=-1 mask
    a=$(ip4_int "$2")
    while read -r pk cidrs; do
        for cidr in $cidrs; do
            [[ $cidr == *.*/* ]] || continue
            net=$(ip4_int "${cidr%/*}") len=${cidr#*/}
            mask=$(((0xffffffff << (32 - len)) & 0xffffffff))
            if (((a & mask) == (net & mask) && len > best_len)); then best_pk=$pk best_len=$len; fi
        done
    done < <(in_host "$host" wg show "$IFACE" allowed-ips)
    echo "$best_pk"
}

# host_of_key PUBKEY: the lab host whose config has that key (or "?")
host_of_key() {
    local h
    for h in "${!CONF[@]}"; do [[ $(pubkey_of "${CONF[$h]}") == "$1" ]] && { echo "$h"; return; }; done
    echo "?"
}

# relay_deltas SRC DST RELAY: send N big pings SRC->DST and measure on RELAY how much of it was
# forwarded wg0->wg0 (FORWARD rule packets), received from the peer carrying SRC's address and
# sent to the peer carrying DST's (WireGuard bytes): SRC and DST themselves when both are homed on
# RELAY; the other relay for a host homed there. Sets D_FWD, D_RX, D_TX, RELAY_N, RELAY_SIZE.
RELAY_N=20
RELAY_SIZE=1000
relay_deltas() {
    local src=$1 dst=$2 relay=$3 src_pk dst_pk f0 f1 rx0 rx1 tx0 tx1 from to
    src_pk=$(peer_carrying "$relay" "${OVERLAY[$src]}")
    dst_pk=$(peer_carrying "$relay" "${OVERLAY[$dst]}")
    from=$src to=$dst
    [[ $src_pk == "$(pubkey_of "${CONF[$src]}")" ]] || from="$(host_of_key "$src_pk") (carrying $src)"
    [[ $dst_pk == "$(pubkey_of "${CONF[$dst]}")" ]] || to="$(host_of_key "$dst_pk") (carrying $dst)"
    f0=$(forward_counter "$relay"); rx0=$(peer_counter "$relay" "$src_pk" rx); tx0=$(peer_counter "$relay" "$dst_pk" tx)
    in_host "$src" ping -q -n -c "$RELAY_N" -i 0.05 -W 2 -s "$RELAY_SIZE" "${OVERLAY[$dst]}" >/dev/null 2>&1 || true
    f1=$(forward_counter "$relay"); rx1=$(peer_counter "$relay" "$src_pk" rx); tx1=$(peer_counter "$relay" "$dst_pk" tx)
    D_FWD=$((${f1:-0} - ${f0:-0})) D_RX=$((${rx1:-0} - ${rx0:-0})) D_TX=$((${tx1:-0} - ${tx0:-0}))
    echo "$src -> $dst ($RELAY_N x ${RELAY_SIZE}-byte pings): on $relay FORWARD $IFACE->$IFACE +$D_FWD packets," \
        "wg rx from $from +$D_RX bytes, wg tx to $to +$D_TX bytes"
}

# check_relayed SRC DST RELAY: SRC->DST must be decrypted, forwarded and re-encrypted by RELAY,
# requests and replies both (2N forwarded packets, N payloads in from SRC and out to DST).
check_relayed() {
    relay_deltas "$@"
    if ((D_FWD >= 2 * RELAY_N && D_RX >= RELAY_N * RELAY_SIZE && D_TX >= RELAY_N * RELAY_SIZE)); then
        echo "  => relayed by $3 (requests and replies)"
        return 0
    fi
    echo "  => NOT relayed by $3 as expected"
    return 1
}

# show_endpoints HOST: the endpoints HOST has for each peer (NAT-ed peers show their router's WAN)
show_endpoints() {
    local host=$1 h pk ep
    declare -A name=()
    for h in "${HOSTS[@]}"; do name[$(pubkey_of "${CONF[$h]}")]=$h; done
    while read -r pk ep; do
        log "$host sees ${name[$pk]:-?} at $ep"
    done < <(in_host "$host" wg show "$IFACE" endpoints)
}

# has_peer HOST OTHER: does HOST's live interface list OTHER's public key?
has_peer() {
    local pk
    pk=$(pubkey_of "${CONF[$2]}")
    in_host "$1" wg show "$IFACE" peers | grep -qxF "$pk"
}

# --------------------------------------------------------------------------------------------------
# The operator side: management network, real sshd on every host, whole labs, inventories
# --------------------------------------------------------------------------------------------------
# The management network 198.18.0.0/24 is a bridge `mgmt` inside the ops namespace (198.18.0.254);
# each host gets a veth `mgmt0` = 198.18.0.N on it and an sshd listening only there. The bridge
# ports are isolated (`bridge_slave isolated on`): a host reaches ops and nothing else over mgmt,
# so hosts cannot talk to each other around their NATs. Only the connected /24 route exists on
# mgmt0; a NAT-ed host's default route stays via its NAT router, the ops namespace has no route
# beyond 198.18.0.0/24 and does not forward. WireGuard traffic (to 198.51.100.x) never uses mgmt.
MGMT_NET=198.18.0        # the management /24 (LANs behind NAT routers are 198.18.1-198.19.255)
MGMT_OPS=198.18.0.254    # the ops namespace's address on the bridge

# make_ops: the operator's namespace ${PREFIX}ops with the management bridge `mgmt`, 198.18.0.254/24.
# Nothing is added to the root namespace.
make_ops() {
    new_netns ops
    OPS_NS=$NS_NAME
    add_bridge "$OPS_NS" mgmt
    ip -n "$OPS_NS" addr add "$MGMT_OPS/24" dev mgmt
    ip -n "$OPS_NS" link set mgmt up
}

# in_ops CMD...: run CMD in the ops network namespace, in the root mount namespace (so $WORK, the
# wgdeploy binary and the ssh client are all visible). The operator (ssh, wgdeploy) runs through this.
in_ops() {
    [[ -n $OPS_NS ]] || die "in_ops: no ops namespace (make_ops first)"
    nsenter --net="/run/netns/$OPS_NS" -- "$@"
}

# lab_ssh_keys: $WORK/ssh/ with the operator's key id_ed25519 (no passphrase), an empty known_hosts,
# authorized_keys (the operator's public key; every host's sshd reads this file), and `config`, an
# ssh_config with the same settings as SSH_OPTS (for `ssh -F $WORK/ssh/config root@198.18.0.N`).
# Sets SSH_DIR and SSH_OPTS. SSH_OPTS start with `-F /dev/null`: the machine's ssh_config (and a
# user's ~/.ssh/config) stay out of the lab.
lab_ssh_keys() {
    SSH_DIR="$WORK/ssh"
    mkdir -p "$SSH_DIR"
    chmod 700 "$SSH_DIR"
    rm -f "$SSH_DIR/id_ed25519" "$SSH_DIR/id_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C "wgdeploy-lab-operator" -f "$SSH_DIR/id_ed25519"
    : >"$SSH_DIR/known_hosts"
    install -m 600 "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
    cat >"$SSH_DIR/config" <<CONF
# ssh client config for the lab's management network (written by lab/lib.sh lab_ssh_keys)
Host *
    User root
    IdentityFile $SSH_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $SSH_DIR/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
    LogLevel ERROR
CONF
    SSH_OPTS=(-F /dev/null -i "$SSH_DIR/id_ed25519" -o IdentitiesOnly=yes
        -o UserKnownHostsFile="$SSH_DIR/known_hosts" -o GlobalKnownHostsFile=/dev/null
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR)
}

# lab_ssh HOST CMD...: run CMD on HOST over real SSH, from the ops namespace (stdin is passed on).
# Like ssh, it joins CMD's words with spaces into one remote shell command: quote for the remote shell.
lab_ssh() {
    local host=$1; shift
    [[ -n ${MGMT[$host]:-} ]] || die "lab_ssh: $host has no sshd (start_sshd first)"
    in_ops ssh "${SSH_OPTS[@]}" "root@${MGMT[$host]}" -- "$@"
}

# known_hosts_add HOST: trust HOST's sshd: append "198.18.0.N ssh-ed25519 AAAA…" to $WORK/ssh/known_hosts
known_hosts_add() {
    local host=$1 key
    read -r key < "$WORK/hosts/$host/ssh/ssh_host_ed25519_key.pub"
    key=${key% *}                       # drop the comment: "ssh-ed25519 AAAA…"
    echo "${MGMT[$host]} $key" >>"$SSH_DIR/known_hosts"
}

# sshd_banner ADDR: does something at ADDR:22 (reached from ops) greet like an SSH server?
# shellcheck disable=SC2016  # $0 and $line belong to the inner bash
sshd_banner() {
    in_ops timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/22" && IFS= read -r -t 2 line <&3 && [[ $line == SSH-2.0-* ]]' \
        "$1" 2>/dev/null
}

# start_sshd HOST N [--no-known-hosts]: management address 198.18.0.N on a veth mgmt0 into HOST
# (MGMT[HOST]), a fresh ed25519 host key and an sshd_config under $WORK/hosts/HOST/ssh/, /run/sshd
# in the host's private /run, and sshd started inside the host's namespaces. Returns once sshd
# greets from ops; SSHD_PID[HOST] is its listener. Appends the host key to known_hosts unless
# --no-known-hosts (then call known_hosts_add HOST to trust it later).
# Everything an SSH session runs then happens in the host's network, mount and UTS namespaces.
start_sshd() {
    local host=$1 n=$2 add=true
    case ${3:-} in
        "") ;;
        --no-known-hosts) add=false ;;
        *) die "start_sshd: unknown option $3" ;;
    esac
    [[ -n $OPS_NS ]] || die "start_sshd: no ops namespace (make_ops first)"
    [[ -n $SSH_DIR ]] || die "start_sshd: no operator keys (lab_ssh_keys first)"
    [[ -n ${HOLDER[$host]:-} ]] || die "start_sshd: no lab host $host"
    if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 253)); then
        die "start_sshd: management index $n not in 1..253"
    fi
    local addr="$MGMT_NET.$n" dir="$WORK/hosts/$host" sdir="$WORK/hosts/$host/ssh" i
    # The bridge port is m<N>: unique per address, so parallel builders cannot collide.
    attach "${HOST_NS[$host]}" mgmt0 "$addr/24" "$OPS_NS" mgmt "m$n"
    ip -n "$OPS_NS" link set dev "m$n" type bridge_slave isolated on
    MGMT[$host]=$addr
    mkdir -p "$sdir"
    mkdir -p "$dir/run/sshd"                 # /run/sshd inside the host: privilege separation dir
    chmod 755 "$dir/run/sshd"
    rm -f "$sdir/ssh_host_ed25519_key" "$sdir/ssh_host_ed25519_key.pub" "$sdir/sshd.pid"
    ssh-keygen -q -t ed25519 -N '' -C "root@$host" -f "$sdir/ssh_host_ed25519_key"
    cat >"$sdir/sshd_config" <<CONF
# sshd of lab host $host (written by lab/lib.sh start_sshd); runs inside the host's namespaces
ListenAddress $addr
Port 22
HostKey $sdir/ssh_host_ed25519_key
PidFile $sdir/sshd.pid
# root's keys; a login user of add_login_user has its own copy in its home (sshd reads a user's
# file as that user, and $SSH_DIR is root's alone)
AuthorizedKeysFile $SSH_DIR/authorized_keys .ssh/authorized_keys
# authorized_keys lives under /tmp: StrictModes would reject it
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
MaxStartups 64
Subsystem sftp /usr/lib/openssh/sftp-server
# wg-quick falls back to wireguard-go (no kernel module here), which refuses to run without this.
# sshd_config SetEnv (OpenSSH >= 7.8) puts it into every session's environment.
SetEnv WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
CONF
    # sshd checks the config and host key, then daemonizes (stdio to /dev/null) and writes its
    # PidFile only once the listening socket is bound.
    in_host "$host" /usr/sbin/sshd -f "$sdir/sshd_config" -E "$sdir/sshd.log" ||
        die "sshd on $host did not start: $(cat "$sdir/sshd.log" 2>/dev/null)"
    for ((i = 0; i < 250; i++)); do
        [[ -s $sdir/sshd.pid ]] && break
        sleep 0.02
    done
    [[ -s $sdir/sshd.pid ]] || die "sshd on $host wrote no pid file: $(cat "$sdir/sshd.log" 2>/dev/null)"
    SSHD_PID[$host]=$(<"$sdir/sshd.pid")
    for ((i = 0; i < 50; i++)); do
        sshd_banner "$addr" && break
        sleep 0.1
    done
    ((i < 50)) || die "sshd on $host ($addr) does not answer from ops: $(cat "$sdir/sshd.log" 2>/dev/null)"
    if $add; then known_hosts_add "$host"; fi
    return 0
}

# lab_plan KIND [N]: the lab's hosts, one line each, in plan (= inventory) order:
#   NAME ROLE INTERNET_ADDR MGMT_INDEX VIA LAN_PREFIX
# ROLE relay|public|nat; INTERNET_ADDR is the host's own address for relay/public, its NAT router's
# WAN for nat; VIA and LAN_PREFIX are "-" unless nat. KIND: standard | two-relays | scale N.
lab_plan() {
    local kind=$1 n=${2:-0} i j k
    case $kind in
        standard)
            printf '%s\n' 'relay1 relay 198.51.100.1 1 - -' 'web1 public 198.51.100.2 2 - -' \
                'home nat 198.51.100.11 3 relay1 198.18.1' 'office nat 198.51.100.12 4 relay1 198.18.2' ;;
        two-relays)
            printf '%s\n' 'relay1 relay 198.51.100.1 1 - -' 'relay2 relay 198.51.100.3 5 - -' \
                'web1 public 198.51.100.2 2 - -' \
                'home nat 198.51.100.11 3 relay1 198.18.1' 'office nat 198.51.100.12 4 relay2 198.18.2' ;;
        scale)
            # Index i: internet address 198.51.100.i (host or its NAT router), mgmt 198.18.0.i.
            _scale_n_ok "$n" || return 1
            echo 'relay1 relay 198.51.100.1 1 - -'
            echo 'relay2 relay 198.51.100.2 2 - -'
            for ((i = 3; i <= n; i++)); do
                j=$((i - 2))
                if ((j % 2)); then
                    echo "pub$(((j + 1) / 2)) public 198.51.100.$i $i - -"
                else
                    k=$((j / 2))    # natK: LAN 198.18.K.0/24, homed on relay1 (K odd) or relay2
                    echo "nat$k nat 198.51.100.$i $i relay$((k % 2 ? 1 : 2)) 198.18.$k"
                fi
            done ;;
        *) die "lab_plan: unknown lab kind $kind (standard | two-relays | scale N)" ;;
    esac
}

# _scale_n_ok N: 3 <= N <= 240 (.250 on the lab internet is check_nat_closed's probe)
_scale_n_ok() {
    [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 3 && $1 <= 240)) && return 0
    log "scale lab: N must be 3..240 (got '$1')"
    return 1
}

# _lab_from_plan KIND [N]: LAB_KIND, LAB_N, LAB_HOSTS from the plan
_lab_from_plan() {
    local name _
    LAB_KIND=$1
    LAB_N=${2:-0}
    LAB_HOSTS=()
    while read -r name _; do LAB_HOSTS+=("$name"); done < <(lab_plan "$@")
}

# _ssh_on_plan KIND [N]: make_ops, lab_ssh_keys and an sshd on every planned host (already built)
_ssh_on_plan() {
    local name role inet idx via lan
    make_ops
    lab_ssh_keys
    while read -r name role inet idx via lan; do
        start_sshd "$name" "$idx"
    done < <(lab_plan "$@")
    log "sshd on ${#LAB_HOSTS[@]} hosts, reached from $OPS_NS over $MGMT_NET.0/24"
}

# make_ssh_lab: make_standard_lab + ops + operator keys + sshd on relay1 = 198.18.0.1, web1 = .2,
# home = .3, office = .4 (examples/nat-relay/inventory.yaml's ssh.host values), all in known_hosts.
make_ssh_lab() {
    _lab_from_plan standard
    make_standard_lab
    _ssh_on_plan standard
}

# make_ssh_lab_two_relays: relay1 (198.51.100.1, mgmt .1), relay2 (198.51.100.3, mgmt .5), web1
# (.2, mgmt .2), home behind nat-home (WAN .11, LAN 198.18.1.0/24, mgmt .3) and office behind
# nat-office (WAN .12, LAN 198.18.2.0/24, mgmt .4). write_lab_inventory homes home on relay1 and
# office on relay2.
make_ssh_lab_two_relays() {
    local name role inet idx via lan
    _lab_from_plan two-relays
    make_internet
    while read -r name role inet idx via lan; do
        case $role in
            relay|public) make_public_host "$name" "$inet" ;;
            nat) make_nat_router "nat-$name" "$inet" "$lan"
                 make_nat_host "$name" "nat-$name" "$lan.2" ;;
        esac
    done < <(lab_plan two-relays)
    _ssh_on_plan two-relays
}

# _inet_mac IDX: the MAC of lab internet address 198.51.100.IDX in a scale lab (locally administered)
_inet_mac() { printf '02:c6:33:64:%02x:%02x' $(($1 / 256)) $(($1 % 256)); }

# _scale_build_one NAME ROLE INET IDX VIA LAN: build one planned host and its sshd (no known_hosts
# line). Runs in a subshell of make_scale_lab: every name it creates is unique to the host (ports
# i<IDX> on the internet bridge, m<IDX> on mgmt), and the parent re-learns the state from files.
# The interface on the lab internet gets the MAC _inet_mac IDX (see _scale_static_neighbours).
_scale_build_one() {
    local name=$1 role=$2 inet=$3 idx=$4 lan=$6
    case $role in
        relay|public) make_public_host "$name" "$inet" "i$idx"
                      ip -n "$PREFIX$name" link set eth0 address "$(_inet_mac "$idx")" ;;
        nat) make_nat_router "nat-$name" "$inet" "$lan" "i$idx"
             ip -n "${PREFIX}nat-$name" link set wan address "$(_inet_mac "$idx")"
             make_nat_host "$name" "nat-$name" "$lan.2" ;;
    esac
    start_sshd "$name" "$idx" --no-known-hosts
}

# _scale_static_neighbours N: permanent ARP entries between everything on the lab internet of a
# scale lab (198.51.100.1..N: relays, public hosts, NAT routers' WANs). Why: the kernel's neighbour
# table is one table for all network namespaces, and its limit (net.ipv4.neigh.default.gc_thresh3,
# 1024 by default) counts every dynamic entry of every namespace. A WireGuard mesh of N hosts on one
# bridge needs about N^2 of them (100 hosts: ~8000), so ARP starts failing everywhere ("neighbor
# table overflow!"): on mgmt, in other labs, even in the root namespace. Permanent entries are not
# counted (kernel >= 4.19), so the lab adds those instead of raising a machine-wide limit.
_scale_static_neighbours() {
    local n=$1 i j name role inet idx _ dev
    local -a ns=() mac=()
    while read -r name role inet idx _; do
        if [[ $role == nat ]]; then ns[idx]="${PREFIX}nat-$name wan"; else ns[idx]="$PREFIX$name eth0"; fi
        printf -v "mac[idx]" '02:c6:33:64:%02x:%02x' $((idx / 256)) $((idx % 256))
    done < <(lab_plan scale "$n")
    for ((i = 1; i <= n; i++)); do
        dev=${ns[i]#* }
        for ((j = 1; j <= n; j++)); do
            ((i == j)) || echo "neigh replace 198.51.100.$j lladdr ${mac[j]} dev $dev nud permanent"
        done | ip -n "${ns[i]% *}" -batch -
    done
}

# make_scale_lab N [JOBS]: N hosts for benchmarks (3 <= N <= 240): relay1 and relay2, then
# alternately a public host pubK and a NAT-ed host natK (behind nat-natK, LAN 198.18.K.0/24).
# Host i has 198.51.100.i on the lab internet (its NAT router's WAN for natK) and 198.18.0.i on
# mgmt, and an sshd in known_hosts. Hosts are built JOBS at a time (default 8), in parallel
# subshells; LAB_HOSTS lists them in plan order.
make_scale_lab() {
    local n=$1 jobs=${2:-8} line name role inet idx via lan running=0 failed=0 ns t0=$SECONDS
    local -a plan=()
    _scale_n_ok "$n" || die "make_scale_lab: bad N"
    mapfile -t plan < <(lab_plan scale "$n")
    _lab_from_plan scale "$n"
    make_internet
    make_ops
    lab_ssh_keys
    mkdir -p "$WORK/build"
    for line in "${plan[@]}"; do
        read -r name role inet idx via lan <<<"$line"
        ( _scale_build_one "$name" "$role" "$inet" "$idx" "$via" "$lan" ) >"$WORK/build/$name.log" 2>&1 &
        running=$((running + 1))
        if ((running >= jobs)); then
            wait -n || failed=$((failed + 1))
            running=$((running - 1))
        fi
    done
    while ((running > 0)); do
        wait -n || failed=$((failed + 1))
        running=$((running - 1))
    done
    # Re-learn what the subshells created (cleanup also finds namespaces by prefix).
    while read -r ns _; do
        [[ $ns == "$PREFIX"* ]] || continue
        [[ " ${NAMESPACES[*]} " == *" $ns "* ]] || NAMESPACES+=("$ns")
    done < <(ip netns list)
    for line in "${plan[@]}"; do
        read -r name role inet idx via lan <<<"$line"
        HOST_NS[$name]="$PREFIX$name"
        [[ -s $WORK/hosts/$name/holder.pid ]] && HOLDER[$name]=$(<"$WORK/hosts/$name/holder.pid")
        [[ -s $WORK/hosts/$name/ssh/sshd.pid ]] && SSHD_PID[$name]=$(<"$WORK/hosts/$name/ssh/sshd.pid")
        if [[ $role == nat ]]; then UNDERLAY[nat-$name]=$inet; else UNDERLAY[$name]=$inet; fi
        MGMT[$name]="$MGMT_NET.$idx"
    done
    if ((failed)); then
        for line in "${plan[@]}"; do
            read -r name _ <<<"$line"
            grep -q FATAL "$WORK/build/$name.log" 2>/dev/null && cat "$WORK/build/$name.log" >&2
        done
        die "make_scale_lab: $failed host(s) failed to build"
    fi
    for name in "${LAB_HOSTS[@]}"; do known_hosts_add "$name"; done
    _scale_static_neighbours "$n"
    log "scale lab: $n hosts (sshd on each) built in $((SECONDS - t0))s, $jobs at a time"
}

# write_lab_inventory FILE [KIND [N]]: the wgdeploy inventory of a lab: KIND standard | two-relays |
# scale N, by default the lab last built by make_ssh_lab* / make_scale_lab (it may also be written
# before building, from the same plan). Relays: endpoint + relay: true; public hosts: endpoint;
# NAT-ed hosts: no endpoint, via their home relay. ssh: {host: 198.18.0.N, user: root, port: 22,
# identity: $WORK/ssh/id_ed25519}. Overlay wg0, 100.64.0.0/24, port 51820, keepalive 25.
write_lab_inventory() {
    local file=$1 kind=${2:-$LAB_KIND} n=${3:-}
    local name role inet idx via lan
    [[ -n $kind ]] || die "write_lab_inventory: which lab? (no lab built, no KIND given)"
    if [[ $kind == scale ]]; then
        [[ -n $n ]] || n=$LAB_N
        _scale_n_ok "$n" || die "write_lab_inventory: bad N"
    fi
    [[ -n $WORK ]] || die "write_lab_inventory: WORK is not set"
    {
        echo "# The $kind lab of lab/lib.sh (written by write_lab_inventory): hosts reached over the"
        echo "# management network 198.18.0.0/24 from the ops namespace, with the operator key in $WORK/ssh."
        echo "network:"
        echo "  interface: $IFACE"
        echo "  addresses: [100.64.0.0/24]"
        echo "  port: 51820"
        echo "  keepalive: 25"
        echo
        echo "hosts:"
        while read -r name role inet idx via lan; do
            echo "  $name:"
            case $role in
                relay) echo "    endpoint: $inet"
                       echo "    relay: true" ;;
                public) echo "    endpoint: $inet" ;;
                nat) echo "    via: $via" ;;
            esac
            echo "    ssh: { host: $MGMT_NET.$idx, user: root, port: 22, identity: $WORK/ssh/id_ed25519 }"
        done < <(lab_plan "$kind" ${n:+"$n"})
    } >"$file"
}

# ---- latency (lab/latency-proxy.py): hosts 0.1 ms away made to feel RTT ms away ----
LATENCY_PORT_BASE=20000  # host with management address 198.18.0.N is proxied on 198.18.0.254:(BASE+N)
LATENCY_PID=""

# start_latency_proxy RTT_MS: one latency-proxy.py in the ops namespace serving every lab host's
# sshd: port LATENCY_PORT_BASE+N on $MGMT_OPS forwards to 198.18.0.N:22, RTT_MS/2 late each way,
# and a TCP handshake's round trip before the first byte. Adds "[198.18.0.254]:PORT key" lines to
# known_hosts. Returns once it listens; LATENCY_PID is its pid (the lab teardown stops it, as it
# lives in the ops namespace). LATENCY_INITCWND=10 also models TCP slow start (latency-proxy.py
# --initcwnd); LATENCY_TRACE=1 logs every chunk.
start_latency_proxy() {
    local rtt=$1 host idx key i maps="$WORK/latency-maps"
    : >"$maps"
    for host in "${LAB_HOSTS[@]}"; do
        idx=${MGMT[$host]##*.}
        echo "$((LATENCY_PORT_BASE + idx))=${MGMT[$host]}:22" >>"$maps"
        read -r key <"$WORK/hosts/$host/ssh/ssh_host_ed25519_key.pub"
        echo "[$MGMT_OPS]:$((LATENCY_PORT_BASE + idx)) ${key% *}" >>"$SSH_DIR/known_hosts"
    done
    [[ -n $OPS_NS ]] || die "start_latency_proxy: no ops namespace (make_ops first)"
    rm -f "$WORK/latency-proxy.log"     # an earlier proxy's "ready" must not be read as this one's
    # nsenter execs python: $! is the proxy itself (a backgrounded in_ops would be a subshell)
    nsenter --net="/run/netns/$OPS_NS" -- python3 "$(dirname "${BASH_SOURCE[0]}")/latency-proxy.py" --rtt-ms "$rtt" --handshake-rtts 1 ${LATENCY_TRACE:+--trace} ${LATENCY_INITCWND:+--initcwnd "$LATENCY_INITCWND"} \
        --listen "$MGMT_OPS" --map-file "$maps" >"$WORK/latency-proxy.log" 2>&1 &
    LATENCY_PID=$!
    for ((i = 0; i < 100; i++)); do
        grep -q '^ready' "$WORK/latency-proxy.log" 2>/dev/null && break
        pid_alive "$LATENCY_PID" || die "latency proxy died: $(cat "$WORK/latency-proxy.log")"
        sleep 0.1
    done
    grep -q '^ready' "$WORK/latency-proxy.log" || die "latency proxy not ready after 10 s"
    log "latency proxy (pid $LATENCY_PID): ${rtt} ms RTT in front of ${#LAB_HOSTS[@]} sshd"
}

# lab_cpu_watch: puts every lab host's sshd listener into a cgroup of this run, and so every
# session, script and daemon it starts from then on, so that lab_cpu_used can tell the hosts' CPU
# time from the operator's (on the lab they share the machine's cores). cgroup v2 (cpu.stat) or v1
# (cpuacct); where neither can be made, lab_cpu_used prints "-". lab_teardown removes it.
lab_cpu_watch() {
    local base host
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        base=/sys/fs/cgroup
    elif [[ -d /sys/fs/cgroup/cpuacct ]]; then
        base=/sys/fs/cgroup/cpuacct
    else
        return 0
    fi
    mkdir "$base/${PREFIX}hosts" 2>/dev/null || return 0
    CPU_CGROUP="$base/${PREFIX}hosts"
    for host in "${LAB_HOSTS[@]}"; do
        echo "${SSHD_PID[$host]}" >"$CPU_CGROUP/cgroup.procs"
    done
}

# lab_cpu_used: the CPU seconds (user and system) the watched hosts have used so far, or "-"
lab_cpu_used() {
    if [[ -z $CPU_CGROUP ]]; then
        echo -
    elif [[ -f $CPU_CGROUP/cpu.stat ]]; then
        awk '$1 == "usage_usec" { printf "%.3f\n", $2 / 1e6 }' "$CPU_CGROUP/cpu.stat"
    else
        awk '{ printf "%.3f\n", $1 / 1e9 }' "$CPU_CGROUP/cpuacct.usage"
    fi
}

# stop_latency_proxy: stops the proxy started by start_latency_proxy (by its pid)
stop_latency_proxy() {
    [[ -n $LATENCY_PID ]] || return 0
    kill -TERM "$LATENCY_PID" 2>/dev/null || true
    wait "$LATENCY_PID" 2>/dev/null || true
    LATENCY_PID=""
    return 0
}

# proxied_inventory IN OUT: IN (a write_lab_inventory file) with every `ssh: { host: 198.18.0.N,
# ..., port: 22 ...}` pointed at the latency proxy: host 198.18.0.254, port LATENCY_PORT_BASE+N.
proxied_inventory() {
    awk -v ops="$MGMT_OPS" -v base="$LATENCY_PORT_BASE" -v net="$MGMT_NET." '
        /ssh: \{ host: / {
            match($0, /host: [0-9.]+/); addr = substr($0, RSTART + 6, RLENGTH - 6)
            if (index(addr, net) == 1) {
                n = substr(addr, length(net) + 1)
                sub(/host: [0-9.]+/, "host: " ops); sub(/port: 22/, "port: " (base + n))
            }
        }
        { print }' "$1" >"$2"
}

# ---- end-to-end helpers (apply-e2e.sh, rollback-e2e.sh): they use WGDEPLOY, WORK, OUT, HOSTS ----

# wgd ARGS...: run wgdeploy as the operator (ops namespace), output in $OUT (also shown), status in RC
wgd() {
    set +e
    in_ops "$WGDEPLOY" "$@" --known-hosts "${KNOWN_HOSTS:-$WORK/ssh/known_hosts}" >"$OUT" 2>&1 </dev/null
    RC=$?
    set -e
    sed 's/^/    | /' "$OUT"
}

# conf_file HOST: the host's config, seen from outside (its per-host directory)
conf_file() { echo "$WORK/hosts/$1/etc-wireguard/$IFACE.conf"; }
# gen_dir HOST: where HOST keeps its generations (its private /var/lib/wgdeploy)
gen_dir() { echo "$WORK/hosts/$1/var-lib-wgdeploy/$IFACE/generations"; }

# e2e_workdir NAME: an end-to-end suite's start: its work directory /tmp/wgd-NAME.XXXXXX (removed
# by cleanup; 755 so the lab hosts' SSH users reach the files put there for them), the wgdeploy
# binary, and the files every suite names: INV, STATE (wgdeploy's default, beside the inventory),
# JOURNAL and OUT (what the last `wgd` printed).
e2e_workdir() {
    WORK=$(mktemp -d "/tmp/wgd-$1.XXXXXX")
    chmod 755 "$WORK"
    wgdeploy_bin
    INV="$WORK/inventory.yaml"
    STATE="$WORK/inventory.wgdeploy-state.json"
    JOURNAL="$WORK/inventory.wgdeploy-journal.jsonl"
    OUT="$WORK/out.txt"
}
# conf_stamp HOST: inode and mtime of the host's config ("absent" without one): a rewrite changes it
conf_stamp() { stat -c '%i %y' "$(conf_file "$1")" 2>/dev/null || echo absent; }
# wg_pid HOST: pid of the host's wireguard-go, empty without one (a restart gives a new pid). Always
# succeeds: the namespace also holds sshd sessions that may exit while it is read.
wg_pid() {
    local pid
    for pid in $(ip netns pids "${HOST_NS[$1]}" 2>/dev/null); do
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == wireguard-go ]]; then echo "$pid"; return 0; fi
    done
    return 0
}

refresh_overlay() {
    local host
    for host in "${HOSTS[@]}"; do
        OVERLAY[$host]=$(overlay_of "$(conf_file "$host")")
        CONF[$host]=$(conf_file "$host")
    done
}

# all_pairs_ping [SECONDS]: every ordered pair pings, retrying failed rounds up to SECONDS (default
# 0: one round). After a host restarts, its peers still hold sessions with the old process and only
# re-handshake when WireGuard's timers notice (about 15 s without an answer), hence the wait.
all_pairs_ping() {
    local deadline=$((SECONDS + ${1:-0})) t0=$SECONDS pair bad failing
    refresh_overlay
    wait_handshakes
    while :; do
        ping_pairs
        bad=0 failing=()
        for pair in "${!RESULT[@]}"; do [[ ${RESULT[$pair]} == ok ]] || { bad=$((bad + 1)); failing+=("$pair"); }; done
        ((bad == 0 || SECONDS >= deadline)) && break
        log "$bad pairs not yet answering (${failing[*]}); retrying"
        sleep 1
    done
    print_matrix
    ((bad == 0)) && log "all pairs ping ($((SECONDS - t0))s after the apply)"
    return "$bad"
}
