#!/usr/bin/env bash
# lab/demo.sh: the whole product in one command. Builds the nat-relay lab (relay1 and web1 public,
# home and office each behind its own NAT, every host running sshd), runs `wgdeploy plan` and
# `wgdeploy apply` with examples/nat-relay/inventory.yaml over real SSH, shows home and office
# pinging each other through relay1, and tears everything down.
#
#   sudo bash lab/demo.sh
#
# The operator's key is loaded into a private ssh-agent, so the example inventory is used as is.
# Nothing is written next to the example, nor anywhere in the checkout: the state file, its lock and
# the journal go to the lab's temp directory (scripts/test.sh checks `git status` after a run). The
# wgdeploy it runs is target/debug/wgdeploy when that is up to date, else a build (lab/lib.sh's
# wgdeploy_bin finds cargo even where sudo's PATH has no ~/.cargo/bin).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $EUID -eq 0 ]] || { echo "run as root (the lab uses network namespaces)" >&2; exit 2; }

# shellcheck source=lab/lib.sh
source "$REPO/lab/lib.sh"
WORK=$(mktemp -d /tmp/wgd-demo.XXXXXX)
chmod 755 "$WORK"
wgdeploy_bin

AGENT_PID=""
stop_agent() { [[ -n $AGENT_PID ]] && kill "$AGENT_PID" 2>/dev/null; AGENT_PID=""; }
trap 'stop_agent; cleanup' EXIT

log "building the lab: relay1, web1 (public), home, office (each behind its own NAT), sshd on each"
make_ssh_lab
HOSTS=(relay1 web1 home office)

export SSH_AUTH_SOCK="$WORK/agent.sock"
ssh-agent -a "$SSH_AUTH_SOCK" -D >/dev/null 2>&1 &
AGENT_PID=$!
for _ in $(seq 50); do [[ -S $SSH_AUTH_SOCK ]] && break; sleep 0.1; done
ssh-add -q "$WORK/ssh/id_ed25519"

wgd() {
    in_ops "$WGDEPLOY" "$@" --state "$WORK/state.json" --known-hosts "$WORK/ssh/known_hosts"
}

echo
echo "\$ wgdeploy plan examples/nat-relay/inventory.yaml"
wgd plan "$REPO/examples/nat-relay/inventory.yaml" | sed -n '1,40p'
echo
echo "\$ wgdeploy apply examples/nat-relay/inventory.yaml --yes"
wgd apply "$REPO/examples/nat-relay/inventory.yaml" --yes --journal "$WORK/journal.jsonl" | tail -n 6
echo
echo "\$ wgdeploy apply examples/nat-relay/inventory.yaml --yes    # again: nothing to do"
wgd apply "$REPO/examples/nat-relay/inventory.yaml" --yes --journal "$WORK/journal.jsonl" | tail -n 2

for host in "${HOSTS[@]}"; do
    CONF[$host]="$WORK/hosts/$host/etc-wireguard/$IFACE.conf"
    OVERLAY[$host]=$(overlay_of "${CONF[$host]}")
done
wait_handshakes
echo
echo "home and office are behind separate NATs and do not list each other; relay1 routes between them:"
check_relayed home office relay1
check_relayed office home relay1
has_peer home office && die "home lists office as a peer"
ping_matrix
for pair in "${!RESULT[@]}"; do [[ ${RESULT[$pair]} == ok ]] || die "$pair does not ping"; done
log "demo done: every host reaches every other; tearing the lab down"
