# lab/systemd-lib.sh: lab hosts that boot with systemd as PID 1 (systemd-nspawn containers of a
# cached Debian root) inside the lab's network namespaces. Sourced after lab/lib.sh by
# lab/systemd-e2e.sh. See lab/README.md, "Hosts with systemd as PID 1".
#
# A container host is a lab host like the others to the rest of lib.sh: HOST_NS (its network
# namespace, which nspawn joins), MGMT (sshd's address on the management network), HOLDER (the
# container's PID 1, so in_host runs commands in its network, mount and UTS namespaces), and its
# per-host directories $WORK/hosts/HOST/{etc-wireguard,sysctl.d,var-lib-wgdeploy} bind-mounted over
# /etc/wireguard, /etc/sysctl.d and /var/lib/wgdeploy, so conf_file and friends work unchanged.
# Its root is an overlayfs: the cached root (read-only lower) plus $WORK/hosts/HOST/upper, mounted in
# a private mount namespace of the nspawn process alone: the machine never sees the mount, and it
# goes away with the container. The upper directory survives a reboot (stop + boot) like a disk.
# shellcheck shell=bash

SYSTEMD_CACHE=${WGD_LAB_CACHE:-/var/cache/wgdeploy-lab}
SYSTEMD_SUITE=bookworm
SYSTEMD_PACKAGES=(systemd systemd-sysv dbus openssh-server wireguard-tools wireguard-go iproute2 iptables
    iputils-ping procps)
SYSTEMD_ROOT=""                  # the cached root (systemd_root sets it)
declare -A NSPAWN_PID=()         # host -> pid of its systemd-nspawn (stop it by this pid, never by name)
declare -A BOOT_START=()        # host -> when boot_container started it
CONTAINERS=()                    # container hosts, in creation order

# _systemd_recipe: everything the cached root depends on, hashed into its cache key
_systemd_recipe() {
    echo "suite=$SYSTEMD_SUITE packages=${SYSTEMD_PACKAGES[*]}"
    declare -f _systemd_build
}

# _systemd_build DIR: the Debian root, built by mmdebstrap from the machine's configured mirror.
# Host keys are removed (every container gets its own), and the machine id is left empty (nspawn
# gives each boot a transient one). Timers of periodic maintenance are masked: they only add noise.
_systemd_build() {
    local mirror
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    mmdebstrap --quiet --variant=apt --include="$(IFS=,; echo "${SYSTEMD_PACKAGES[*]}")" \
        --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
        --customize-hook=': > "$1/etc/machine-id"' \
        --customize-hook='for t in apt-daily apt-daily-upgrade dpkg-db-backup e2scrub_all fstrim man-db; do ln -sf /dev/null "$1/etc/systemd/system/$t.timer"; done' \
        "$SYSTEMD_SUITE" "$1" ${mirror:+"$mirror"}
}

# systemd_root: SYSTEMD_ROOT = the cached Debian root for containers, built once per machine and
# recipe under $SYSTEMD_CACHE/SUITE-systemd-HASH/root (HASH: the package list and the build
# functions). Concurrent runs wait on one lock; a failed build leaves nothing behind.
systemd_root() {
    local key dir t0=$SECONDS
    key=$(_systemd_recipe | sha256sum | cut -c1-16)
    dir="$SYSTEMD_CACHE/$SYSTEMD_SUITE-systemd-$key"
    mkdir -p "$SYSTEMD_CACHE"
    exec {lockfd}>>"$SYSTEMD_CACHE/.lock"
    flock "$lockfd"
    if [[ ! -e $dir/root/usr/lib/systemd/systemd ]]; then
        log "building the container root (mmdebstrap $SYSTEMD_SUITE: ${SYSTEMD_PACKAGES[*]}) into $dir"
        rm -rf "$dir.tmp"
        mkdir -p "$dir.tmp"
        if ! _systemd_build "$dir.tmp/root" >"$SYSTEMD_CACHE/build.log" 2>&1; then
            rm -rf "$dir.tmp"
            exec {lockfd}>&-
            die "mmdebstrap failed: $(tail -n 20 "$SYSTEMD_CACHE/build.log")"
        fi
        rm -rf "$dir"
        mv "$dir.tmp" "$dir"
        log "container root built in $((SECONDS - t0))s ($(du -sh "$dir/root" | cut -f1))"
    fi
    exec {lockfd}>&-
    SYSTEMD_ROOT="$dir/root"
}

# _container_dirs HOST: the per-host directories (same names as make_host's)
_container_dirs() {
    local dir="$WORK/hosts/$1"
    mkdir -p "$dir/etc-wireguard" "$dir/sysctl.d" "$dir/var-lib-wgdeploy" "$dir/ssh" \
        "$dir/upper" "$dir/overlay-work" "$dir/root"
    chmod 700 "$dir/etc-wireguard" "$dir/var-lib-wgdeploy"
}

# make_public_container HOST ADDR: like make_public_host, but HOST will boot systemd (start_container)
make_public_container() {
    local host=$1 addr=$2
    new_netns "$host"
    HOST_NS[$host]=$NS_NAME
    _container_dirs "$host"
    attach "${HOST_NS[$host]}" eth0 "$addr/24" "$INET_NS" br0
    UNDERLAY[$host]=$addr
}

# make_nat_container HOST ROUTER ADDR: like make_nat_host, but HOST will boot systemd
make_nat_container() {
    local host=$1 router=$2 addr=$3 rns="$PREFIX$2" gw
    new_netns "$host"
    HOST_NS[$host]=$NS_NAME
    _container_dirs "$host"
    attach "${HOST_NS[$host]}" eth0 "$addr/24" "$rns" lan
    gw=$(ip -n "$rns" -4 -o addr show dev lan | awk '{split($4, a, "/"); print a[1]}')
    ip -n "${HOST_NS[$host]}" route add default via "$gw"
}

# start_container HOST N: give HOST (made by make_*_container) the management address 198.18.0.N
# (a veth mgmt0 from ops' bridge into its namespace), its own sshd host key, the operator's
# authorized key and sshd settings (ListenAddress on mgmt) in its upper layer, then boot it
# (boot_container; wait_booted HOST waits for it) and trust its host key in known_hosts.
start_container() {
    local host=$1 n=$2 addr="$MGMT_NET.$2" dir="$WORK/hosts/$1"
    local up="$dir/upper"
    [[ -n $OPS_NS && -n $SSH_DIR ]] || die "start_container: make_ops and lab_ssh_keys first"
    [[ -n $SYSTEMD_ROOT ]] || die "start_container: no container root (systemd_root first)"
    attach "${HOST_NS[$host]}" mgmt0 "$addr/24" "$OPS_NS" mgmt "m$n"
    ip -n "$OPS_NS" link set dev "m$n" type bridge_slave isolated on
    MGMT[$host]=$addr
    rm -f "$dir/ssh/ssh_host_ed25519_key" "$dir/ssh/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "root@$host" -f "$dir/ssh/ssh_host_ed25519_key"
    mkdir -p "$up/etc/ssh/sshd_config.d" "$up/root/.ssh" "$up/etc/systemd/system/wg-quick@.service.d"
    install -m 600 "$dir/ssh/ssh_host_ed25519_key" "$up/etc/ssh/ssh_host_ed25519_key"
    install -m 644 "$dir/ssh/ssh_host_ed25519_key.pub" "$up/etc/ssh/ssh_host_ed25519_key.pub"
    chmod 700 "$up/root/.ssh"
    install -m 600 "$SSH_DIR/authorized_keys" "$up/root/.ssh/authorized_keys"
    cat >"$up/etc/ssh/sshd_config.d/wgdeploy-lab.conf" <<CONF
# lab host $host (written by lab/systemd-lib.sh start_container)
ListenAddress $addr
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 64
CONF
    # No kernel module here: wg-quick falls back to wireguard-go, which wants this (older ones
    # refuse without it). Only the unit gets it: everything wgdeploy does goes through the unit.
    printf '[Service]\nEnvironment=WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1\n' \
        >"$up/etc/systemd/system/wg-quick@.service.d/env.conf"
    # nspawn leaves /proc/sys read-only but for /proc/sys/net (SYSTEMD_NSPAWN_API_VFS_WRITABLE=
    # network below: the container has its own network namespace, so its net sysctls are its own).
    # systemd-sysctl skips itself when /proc/sys is read-only (ConditionPathIsReadWrite=/proc/sys/);
    # without that condition it applies /etc/sysctl.d at boot as on a real host: the net.* keys
    # take, the machine-wide keys fail against the read-only /proc/sys and stay the machine's.
    mkdir -p "$up/etc/systemd/system/systemd-sysctl.service.d"
    printf '[Unit]\nConditionPathIsReadWrite=\n' >"$up/etc/systemd/system/systemd-sysctl.service.d/lab.conf"
    echo "$host" >"$up/etc/hostname"
    known_hosts_add "$host"
    boot_container "$host"
}

# boot_container HOST: boot HOST's root with systemd as PID 1 in its network namespace
# (NSPAWN_PID[HOST] = nspawn); wait_booted HOST waits for it. The overlay is mounted in a private
# mount namespace that only this nspawn lives in.
boot_container() {
    local host=$1 dir="$WORK/hosts/$1"
    [[ -z ${NSPAWN_PID[$host]:-} ]] || die "boot_container: $host is running"
    rm -rf "$dir/overlay-work"; mkdir -p "$dir/overlay-work"
    # shellcheck disable=SC2016  # $1... belong to the inner sh
    unshare --mount --propagation private -- sh -ec '
        mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/overlay-work" "$2/root"
        SYSTEMD_NSPAWN_API_VFS_WRITABLE=network exec systemd-nspawn --quiet --directory="$2/root" --machine="$3" --hostname="$4" \
            --register=no --keep-unit --boot --console=read-only \
            --network-namespace-path="/run/netns/$5" --bind=/dev/net/tun --capability=CAP_NET_ADMIN \
            --bind="$2/etc-wireguard:/etc/wireguard" --bind="$2/sysctl.d:/etc/sysctl.d" \
            --bind="$2/var-lib-wgdeploy:/var/lib/wgdeploy"' \
        sh "$SYSTEMD_ROOT" "$dir" "${PREFIX}$host" "$host" "${HOST_NS[$host]}" \
        </dev/null >>"$dir/console.log" 2>&1 &
    NSPAWN_PID[$host]=$!
    BOOT_START[$host]=$SECONDS
    [[ " ${CONTAINERS[*]} " == *" $host "* ]] || CONTAINERS+=("$host")
}

# wait_booted HOST: returns once HOST's sshd greets from ops; HOLDER[HOST] = its PID 1
wait_booted() {
    local host=$1 dir="$WORK/hosts/$1" i
    for ((i = 0; i < 600; i++)); do
        pid_alive "${NSPAWN_PID[$host]}" || die "$host: systemd-nspawn exited: $(tail -n 30 "$dir/console.log")"
        sshd_banner "${MGMT[$host]}" && break
        sleep 0.1
    done
    ((i < 600)) || die "$host: sshd does not answer 60 s after boot: $(tail -n 30 "$dir/console.log")"
    HOLDER[$host]=$(container_init "$host") || die "$host: no PID 1 found under nspawn ${NSPAWN_PID[$host]}"
    log "$host booted systemd in $((SECONDS - BOOT_START[$host]))s (nspawn ${NSPAWN_PID[$host]}, PID 1 = ${HOLDER[$host]})"
}

# container_init HOST: the machine pid of HOST's PID 1 (systemd): nspawn's child whose own
# namespace pid is 1
container_init() {
    local p
    for p in $(cat "/proc/${NSPAWN_PID[$1]}/task/"*/children 2>/dev/null); do
        [[ $(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) == 1 ]] && { echo "$p"; return 0; }
    done
    return 1
}

# stop_container HOST [--kill]: power HOST off: TERM to nspawn (which asks systemd for a clean
# shutdown), after 30 s KILL to the container's PID 1; --kill pulls the plug at once. KILL goes to
# PID 1, not to nspawn: killing a PID namespace's init kills every process in it, and nspawn then
# exits; a KILLed nspawn would leave the container running, orphaned. Waits until nspawn is gone.
stop_container() {
    local host=$1 pid=${NSPAWN_PID[$1]:-} init=${HOLDER[$1]:-} i
    [[ -n $pid ]] || return 0
    if [[ ${2:-} == --kill && -n $init ]]; then kill -KILL "$init" 2>/dev/null; else kill -TERM "$pid" 2>/dev/null; fi
    for ((i = 0; i < 300; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
        log "$host: nspawn $pid still running after 30 s; killing the container's PID 1 and nspawn"
        [[ -n $init ]] && kill -KILL "$init" 2>/dev/null
        sleep 1
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
    NSPAWN_PID[$host]=""
    HOLDER[$host]=""
}

# reboot_container HOST: clean shutdown and boot again (same upper layer and bound directories)
reboot_container() {
    stop_container "$1"
    boot_container "$1"
    wait_booted "$1"
}

# container_sshd HOST: the pid of HOST's sshd listener (kill_sessions spares it)
container_sshd() {
    local p
    for p in $(cat "/proc/${HOLDER[$1]}/task/"*/children 2>/dev/null); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == sshd ]] && { echo "$p"; return 0; }
    done
    return 1
}

# stop_containers: stop every container (cleanup, before lib.sh's teardown kills what is left)
stop_containers() {
    local host pids=() pid i
    for host in "${CONTAINERS[@]}"; do
        [[ -n ${NSPAWN_PID[$host]:-} ]] && { kill -TERM "${NSPAWN_PID[$host]}" 2>/dev/null; pids+=("${NSPAWN_PID[$host]}"); }
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 200; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    done
    # Still there: KILL the containers' PID 1 (which takes their whole PID namespace), then nspawn.
    for host in "${CONTAINERS[@]}"; do
        pid=${NSPAWN_PID[$host]:-}
        [[ -n $pid ]] && pid_alive "$pid" || continue
        [[ -n ${HOLDER[$host]:-} ]] && kill -KILL "${HOLDER[$host]}" 2>/dev/null
        sleep 0.5
        kill -KILL "$pid" 2>/dev/null
    done
    for host in "${CONTAINERS[@]}"; do NSPAWN_PID[$host]=""; done
    return 0
}

# systemd_cleanup: the EXIT trap: containers first (their overlays vanish with them), then lib.sh's
# cleanup (processes in the lab's namespaces, the namespaces, $WORK with the upper layers)
systemd_cleanup() {
    local rc=$?
    set +e
    ((${#CONTAINERS[@]})) && log "stopping containers: ${CONTAINERS[*]}"
    stop_containers
    (exit "$rc")
    cleanup
}
trap systemd_cleanup EXIT
