#!/usr/bin/env bash
# The whole test suite, as README.md documents it and CI runs it:
#   1. installs what the tests need on a fresh Debian machine (when run as root),
#   2. checks formatting and lints,
#   3. runs shellcheck on the remote scripts (src/remote/scripts) and every Rust test (unit, CLI,
#      snapshot, property; the remote scripts' tests run them under dash, busybox sh and posh),
#   4. runs the README's demo (`sudo bash lab/demo.sh`, checking it leaves `git status` as it was),
#      brings the nat-relay example up on real WireGuard behind real NAT in network namespaces
#      and pings every pair, then holds `wgdeploy check` to ping on the config sets in
#      inventories/configs, then deploys and restarts the nat-relay configs over real SSH
#      (an sshd in every lab host), then runs `wgdeploy plan` and `apply` end to end over SSH on
#      the lab (lab/apply-e2e.sh), then generations, rollback, --atomic, lock-out protection and
#      status --ping (lab/rollback-e2e.sh), then routed subnets added and removed, a NAT-ed host's
#      port across a syncconf, a lost state file, per-host settings (MTU, hooks, DNS without
#      resolvconf), no ping lost across repeated peers-only applies and the time a continuous ping
#      loses across key rotations in both key modes, then a rotation rolled back
#      (lab/lifecycle-e2e.sh), then adopting hand-written configs (lab/adopt-e2e.sh), keys made on
#      the hosts and never on the operator's side, rotated and rolled back (lab/onhost-e2e.sh)
#      and decommissioning removed hosts (lab/remove-e2e.sh), then devices wgdeploy never logs
#      into, their exported configs installed by hand (lab/devices-e2e.sh), then exit nodes: NAT-ed
#      hosts' internet traffic leaving through web1 and relay1, no stacked rules, a syncconf keeping
#      the full tunnel's fwmark (lab/exit-e2e.sh), then endpoints per address family on an IPv4+IPv6 lab internet (lab/dual-stack.sh), then the systemd path
#      on hosts booting systemd in containers: units, systemd-run timers, reboots
#      (lab/systemd-e2e.sh) (root only; skipped with a notice otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

LAB_PACKAGES=(wireguard-tools wireguard-go iptables iproute2 iputils-ping openssh-server jq sudo mmdebstrap systemd-container shellcheck dash busybox posh graphviz)

install_lab_packages() {
  local missing=()
  for package in "${LAB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The README's demo exactly as a new user runs it: `sudo bash lab/demo.sh` from a login's plain
# environment (sudo's secure_path has no ~/.cargo/bin; it must run the binary just built, or find
# cargo itself). It must leave the checkout as it found it: `git status`, ignored files included (a
# state file or journal beside the example is ignored by .gitignore, and still a file it wrote).
# Compared before and after, so a checkout with work in progress can run the suite too; on CI's
# clean clone that is `git status --porcelain` staying empty.
run_demo_as_a_new_user() {
  local git=(git -c "safe.directory=$PWD") before after
  if ! "${git[@]}" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "skipped: lab/demo.sh's git status check (not a git checkout)"
    env -i PATH=/usr/bin:/bin sudo bash lab/demo.sh
    return
  fi
  before=$("${git[@]}" status --porcelain --ignored)
  env -i PATH=/usr/bin:/bin sudo bash lab/demo.sh
  after=$("${git[@]}" status --porcelain --ignored)
  if [ "$before" != "$after" ]; then
    echo "FAIL: lab/demo.sh changed the checkout (git status --porcelain --ignored, before and after):"
    diff <(echo "$before") <(echo "$after") || true
    exit 1
  fi
  echo "ok: lab/demo.sh under sudo left the checkout as it was"
}

is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true
if $is_root; then install_lab_packages; fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "==> shellcheck src/remote/scripts"
if command -v shellcheck >/dev/null 2>&1; then
  # lib.sh alone, then each script as it runs on hosts: lib.sh in front of it.
  shellcheck -s sh src/remote/scripts/lib.sh
  for script in src/remote/scripts/*.sh; do
    [ "$script" = src/remote/scripts/lib.sh ] && continue
    cat src/remote/scripts/lib.sh "$script" | shellcheck -s sh - || { echo "shellcheck: $script (lines counted after lib.sh)"; exit 1; }
  done
else
  echo "skipped: shellcheck is not installed (run as root to install it)"
fi

echo "==> lab: demo, nat-relay, check-agreement, ssh-smoke, apply-e2e, rollback-e2e, lifecycle-e2e, adopt-e2e, onhost-e2e, remove-e2e, devices-e2e, exit-e2e, dual-stack and systemd-e2e on real WireGuard behind NAT"
if $is_root; then
  cargo build --quiet
  run_demo_as_a_new_user
  bash lab/nat-relay.sh
  bash lab/nat-relay.sh --broken-proposal
  bash lab/check-agreement.sh
  bash lab/ssh-smoke.sh
  bash lab/apply-e2e.sh
  bash lab/rollback-e2e.sh
  bash lab/lifecycle-e2e.sh
  bash lab/adopt-e2e.sh
  bash lab/onhost-e2e.sh
  bash lab/remove-e2e.sh
  bash lab/devices-e2e.sh
  bash lab/exit-e2e.sh
  bash lab/dual-stack.sh
  bash lab/systemd-e2e.sh
else
  echo "skipped: the namespace lab needs root (run as root to include it)"
fi

echo "==> rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
