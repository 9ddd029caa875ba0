//! The shell scripts wgdeploy runs on hosts, built in one place.
//!
//! Every value that reaches a remote shell goes through [`quote`], and values from the inventory are
//! validated before they get here (interface names by `InterfaceName`, sysctl keys are constants).
//! Secrets never appear in a command line (other users can read it in `ps`): the config travels on
//! the command's stdin.
//!
//! Scripts are POSIX `sh`, wrapped as `sh -c '…'` so a user whose login shell is fish or csh still
//! runs them in `sh`, and as `sudo -n sh -c '…'` for `become: sudo` (never prompting: a password
//! prompt would hang an unattended run).
//!
//! Output is a sequence of `@@section` lines followed by that section's lines; file contents are
//! framed by their byte length so any content survives. The parsers live in `facts`.

pub mod facts;

use crate::core::change::{Action, ApplyStep, Arm};
use crate::core::model::InterfaceName;
use crate::core::paths::{FORWARDING_SYSCTLS, Paths, STATE_ROOT};
use crate::core::routes::StaleRoute;

/// Quotes one word for `sh`: plain words as they are, anything else in single quotes, where nothing
/// is special except the quote itself (written `'\''`). Predictable for whole scripts full of `$`,
/// which is why this is not shlex's quoter (it may pick double quotes). A NUL cannot be passed in a
/// command line at all; such a word becomes an empty one rather than a broken command.
pub fn quote(word: &str) -> String {
    if word.contains('\0') {
        return "''".to_owned();
    }
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How commands are elevated on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Become {
    /// Connected as root (or as a user who may do everything needed).
    None,
    /// `sudo -n`: fails at once with "a password is required" instead of prompting.
    Sudo,
}

/// The command line that runs `script` in `sh`, elevated as asked.
pub fn command(script: &str, become_: Become) -> String {
    let quoted = quote(script);
    match become_ {
        Become::None => format!("sh -c {quoted}"),
        Become::Sudo => format!("sudo -n sh -c {quoted}"),
    }
}

/// Shell functions shared by the scripts: framed file output and `wg show dump` without secrets.
const PRELUDE: &str = r#"
# (The size is unquoted on purpose: word splitting drops the padding some `wc` print.)
frame() { if [ -f "$2" ] && [ -r "$2" ]; then printf '@@%s %s\n' "$1" $(wc -c < "$2"); cat "$2"; printf '\n'; elif [ -e "$2" ]; then printf '@@%s unreadable\n' "$1"; else printf '@@%s absent\n' "$1"; fi; }
stamp() { stat -c '%i %s %y' "$1" 2>/dev/null || echo absent; }
# wg show dump prints the private key (line 1, field 1) and each peer's preshared key (field 2):
# blank them on the host so no secret ever crosses the connection or reaches a log.
dump() { wg show "$1" dump 2>/dev/null | awk 'BEGIN { FS = OFS = "\t" } NR == 1 { $1 = "-" } NR > 1 { $2 = "-" } { print }'; }
# Every survey runs the facts script on every host, so what it reads often is read by the shell
# itself, starting no process (on 100 hosts that halves the survey's CPU time on the hosts).
# first_line VAR FILE: VAR = FILE's first line, or empty.
first_line() { eval "$1="; [ -r "$2" ] && IFS= read -r "$1" < "$2"; return 0; }
# print_file FILE: FILE's lines (small files only).
print_file() { while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done < "$1"; }
# The generations recorded in directory $1 (in glob order; the parser sorts them): "generation=N"
# then that generation's meta.
generations() { for meta in "$1"/*.meta; do n=${meta##*/}; n=${n%.meta}; case $n in '' | *[!0-9]*) continue ;; esac; [ -f "$meta" ] && [ -r "$meta" ] || continue; printf 'generation=%s\n' "$n"; print_file "$meta"; done; }
# routes IFACE: every route through IFACE in every table (wgdeploy checks them against AllowedIPs).
routes() { echo '@@routes4'; ip -4 route show table all dev "$1" 2>/dev/null; echo '@@routes6'; ip -6 route show table all dev "$1" 2>/dev/null; return 0; }
"#;

/// Shell functions for a `wg syncconf` that leaves the interface as `wg-quick up` would have made
/// it: syncconf neither keeps a port the config does not set nor touches routes (DESIGN.md §1.8).
const SYNC_FUNCTIONS: &str = r#"
# config_table FILE: the `Table =` of FILE's [Interface] (empty when unset), as wg-quick reads it.
config_table() { awk '/^[ \t]*\[/ { s = tolower($0); gsub(/[ \t]/, "", s); inif = (s == "[interface]"); next }
  inif { line = $0; sub(/#.*/, "", line); k = line; sub(/=.*/, "", k); gsub(/[ \t]/, "", k)
    if (tolower(k) == "table" && index(line, "=")) { v = substr(line, index(line, "=") + 1); gsub(/^[ \t]+|[ \t]+$/, "", v); print v; exit } }' "$1" 2>/dev/null; }
# keep_port FILE IFACE: a stripped config without ListenPort makes syncconf bind a new random port,
# and a host behind NAT then gets a new mapping its peers learn only when it next sends: keep the
# port the interface listens on now.
keep_port() {
  grep -qiE '^[[:space:]]*ListenPort[[:space:]]*=' "$1" && return 0
  port=$(wg show "$2" listen-port 2>/dev/null)
  case $port in '' | 0 | *[!0-9]*) return 0 ;; esac
  awk -v port="$port" '{ print } !done && tolower($0) ~ /^[ \t]*\[interface\][ \t]*$/ { print "ListenPort = " port; done = 1 }' "$1" > "$1.port" && mv -f "$1.port" "$1"
}
# sync_routes IFACE TABLE: adds the routes `wg-quick up` makes of IFACE's AllowedIPs: one per prefix
# not already covered by a route of the interface (its own addresses' routes included), or every
# prefix in TABLE when one is set. `off` leaves routing to the config's own hooks; a /0 with an
# automatic table is wg-quick's policy routing, set up at `up` only (a change to it restarts the
# interface instead). Routes of prefixes that went away are removed by name (planned from facts).
sync_routes() {
  case $2 in off) return 0 ;; '' | auto) table= ;; *) table=$2 ;; esac
  for prefix in $(wg show "$1" allowed-ips | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /\/[0-9]+$/) print $i }' | sort -u | sort -t / -k 2 -nr); do
    family=-4; case $prefix in *:*) family=-6 ;; esac
    if [ -z "$table" ]; then
      case $prefix in */0) continue ;; esac
      [ -n "$(ip $family route show dev "$1" match "$prefix" 2>/dev/null)" ] || ip $family route add "$prefix" dev "$1" || return 1
    else
      [ -n "$(ip $family route show dev "$1" table "$table" exact "$prefix" 2>/dev/null)" ] || ip $family route add "$prefix" dev "$1" table "$table" || return 1
    fi
  done
}
# drop_route IFACE TABLE PREFIX: removes that route through IFACE if it is still there.
drop_route() {
  family=-4; case $3 in *:*) family=-6 ;; esac
  [ -z "$(ip $family route show dev "$1" table "$2" exact "$3" 2>/dev/null)" ] || ip $family route del "$3" dev "$1" table "$2"
}
"#;

/// The guarded `wg syncconf` of a script that defines `fail` and holds the interface's lock:
/// strip into a file, refuse an empty or keyless one (syncconf removes whatever its input lacks),
/// keep the listen port, sync, then make the routes match the new AllowedIPs.
/// `before_sync` runs between the checks and the syncconf (the refresh resets peers there).
fn syncconf_section(
    interface: &InterfaceName,
    stale_routes: &[StaleRoute],
    before_sync: &str,
) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let iface = quote(name);
    let config = quote(&paths.config);
    let strip = quote(&format!("{}/.{name}.wgdeploy-strip.XXXXXX", paths.dir));
    let log = quote(&format!("{}/.{name}.wgdeploy.log", paths.dir));
    let drops: String = stale_routes
        .iter()
        .map(|route| {
            let (table, prefix) = (quote(&route.table), quote(&route.prefix.to_string()));
            format!(
                "drop_route {iface} {table} {prefix} 2> {log} || {{ echo '@@log'; cat {log}; fail \"cannot remove the route of {prefix} from {name}\"; }}\n"
            )
        })
        .collect();
    format!(
        r#"strip=$(mktemp {strip}) || fail "cannot create a temp file in /etc/wireguard"
wg-quick strip {iface} > "$strip" 2> {log} || {{ rm -f "$strip"; echo '@@log'; cat {log}; fail "wg-quick strip {name} failed"; }}
# syncconf removes whatever the input lacks: never feed it an empty or keyless file.
grep -qiE '^[[:space:]]*PrivateKey[[:space:]]*=' "$strip" || {{ rm -f "$strip"; fail "wg-quick strip {name} gave no PrivateKey; refusing wg syncconf"; }}
keep_port "$strip" {iface} || {{ rm -f "$strip" "$strip.port"; fail "cannot keep the listen port of {name}"; }}
{before_sync}wg syncconf {iface} "$strip" 2> {log} || {{ rm -f "$strip"; echo '@@log'; cat {log}; fail "wg syncconf {name} failed"; }}
rm -f "$strip"
sync_routes {iface} "$(config_table {config})" 2> {log} || {{ echo '@@log'; cat {log}; fail "cannot add the routes of {name}'s AllowedIPs"; }}
{drops}"#
    )
}

/// One round trip that gathers everything wgdeploy needs to plan a host.
pub fn facts_script(interface: &InterfaceName) -> String {
    let paths = Paths::new(interface);
    let iface = quote(interface.as_str());
    let config = quote(&paths.config);
    let sysctl_file = quote(&paths.sysctl_file);
    let unit = quote(&format!("wg-quick@{}", interface.as_str()));
    let state = quote(&paths.state);
    // `sysctl -n KEY` reads /proc/sys/KEY-with-slashes; reading it directly starts no process.
    let sysctls: String = FORWARDING_SYSCTLS
        .iter()
        .map(|key| {
            let path = quote(&format!("/proc/sys/{}", key.replace('.', "/")));
            format!("first_line value {path}; printf '%s\\n' \"{key}=$value\"\n")
        })
        .collect();
    format!(
        r#"{PRELUDE}
echo '@@wgdeploy-facts 1'
printf '@@user %s\n' "${{LOGNAME:-$(id -un 2>/dev/null)}}"
echo '@@os'
( . /etc/os-release 2>/dev/null && printf '%s\n' "${{PRETTY_NAME:-$ID}}" ) || uname -sr
echo '@@tools'
for tool in wg wg-quick flock awk stat; do command -v "$tool" >/dev/null 2>&1 && echo "$tool"; done
echo '@@systemd'
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo yes
  printf 'enabled %s\n' "$(systemctl is-enabled {unit} 2>/dev/null || true)"
else
  # Without systemd, wg-quick runs in its own session (`setsid -w`, util-linux >= 2.26; busybox's
  # setsid has no -w) so the userspace daemon outlives the SSH session.
  setsid -w true < /dev/null > /dev/null 2>&1 || echo no-setsid
fi
echo '@@dir'
if [ -d /etc/wireguard ]; then [ -r /etc/wireguard ] && [ -x /etc/wireguard ] && echo ok || echo unreadable; else echo absent; fi
printf '@@stamp %s\n' "$(stamp {config})"
frame config {config}
frame sysctl-file {sysctl_file}
printf '@@now %s\n' "$(date +%s)"
first_line armed {state}/armed; printf '@@armed %s\n' "$armed"
first_line reverted {state}/reverted; printf '@@reverted %s\n' "$reverted"
echo '@@generations'
generations {state}/generations
echo '@@sysctl'
{sysctls}echo '@@link'
[ -e /sys/class/net/{iface} ] && echo present
echo '@@dump'
dump {iface}
routes {iface}
echo '@@end'
"#
    )
}

/// `wgdeploy adopt`: one round trip that reads what a host runs now, secrets included, so its keys
/// and addresses can be kept. The only script whose answer carries secrets: the private key and the
/// preshared keys are framed by length (they land in a redacting `SecretText`), and they are read
/// by `wg` itself, never named on a command line. Changes nothing on the host.
pub fn adopt_script(interface: &InterfaceName) -> String {
    let paths = Paths::new(interface);
    let iface = quote(interface.as_str());
    let config = quote(&paths.config);
    let state = quote(&paths.state);
    format!(
        r#"{PRELUDE}
# secret NAME: frame the output of `wg show IFACE NAME` (trailing newlines dropped), never a line.
secret() {{ value=$(wg show {iface} "$1" 2>/dev/null); printf '@@%s %s\n' "$1" ${{#value}}; printf '%s\n' "$value"; value=; }}
echo '@@wgdeploy-adopt 1'
printf '@@user %s\n' "${{LOGNAME:-$(id -un 2>/dev/null)}}"
echo '@@tools'
for tool in wg ip; do command -v "$tool" >/dev/null 2>&1 && echo "$tool"; done
echo '@@dir'
if [ -d /etc/wireguard ]; then [ -r /etc/wireguard ] && [ -x /etc/wireguard ] && echo ok || echo unreadable; else echo absent; fi
frame config {config}
echo '@@generations'
generations {state}/generations
if wg show {iface} >/dev/null 2>&1; then
  echo '@@live yes'
  secret private-key
  secret preshared-keys
  echo '@@listen-port'
  wg show {iface} listen-port 2>/dev/null
  echo '@@dump'
  dump {iface}
  echo '@@addresses'
  ip -o addr show dev {iface} 2>/dev/null | awk '{{ print $4 }}'
fi
echo '@@end'
"#
    )
}

/// What a confirmed change records as the host's new generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRecord {
    pub deployment: String,
    /// `apply` or `rollback`.
    pub kind: &'static str,
    /// `sha256:…` of the inventory file the run planned from.
    pub inventory_digest: String,
    pub version: &'static str,
    /// Generations kept on the host (older ones are deleted).
    pub keep: usize,
}

/// The apply script: lock, compare-and-swap on the config's stamp, atomic write with a backup,
/// reload or restart, forwarding, then the live state for verification. Stops at the first failure
/// with `@@fail REASON` so the caller can say exactly what went wrong.
pub fn apply_script(step: &ApplyStep) -> String {
    let paths = Paths::new(&step.interface);
    let name = step.interface.as_str();
    let iface = quote(name);
    let config = quote(&paths.config);
    let backup = quote(&paths.backup);
    let lock = quote(&paths.lock);
    let temp = quote(&format!("{}.XXXXXX", paths.temp_prefix));
    let temp_glob = format!("{}.*", quote(&paths.temp_prefix));
    let log = quote(&format!("{}/.{name}.wgdeploy.log", paths.dir));
    let unit = quote(&format!("wg-quick@{name}"));
    let expected = quote(&step.expected_stamp);
    let state = quote(&paths.state);

    // The timer of a step reverted at once has nothing left to do: stopped with it (a systemd
    // timer would otherwise linger, and run revert.sh for nothing, until it fires).
    let disarm = disarm_timer(&step.interface, step.systemd);
    let mut script = format!("{PRELUDE}{SYNC_FUNCTIONS}");
    script.push_str(&format!(
        r#"
# Once armed, a failing step puts the previous config back at once instead of leaving a broken
# interface until the timer fires.
fail() {{
  printf '@@fail %s\n' "$*"; [ -n "${{tmp:-}}" ] && rm -f "$tmp"
  if [ -n "${{armed:-}}" ]; then
    sh {state}/revert.sh "$armed" locked && echo '@@reverted-now'
    {disarm}  fi
  exit 1
}}
umask 077
mkdir -p /etc/wireguard || fail "cannot create /etc/wireguard"
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 30 9 || fail "another wgdeploy run holds the lock on {name} (waited 30 s)"
[ "$(stamp {config})" = {expected} ] || fail "{name}.conf changed on the host since the plan was made; run wgdeploy again"
# A temp file left by an interrupted earlier run is never a config: clear it under the lock.
rm -f {temp_glob}
"#
    ));
    if let Some(arm) = &step.arm {
        script.push_str(&arm_section(&step.interface, arm, step.systemd));
        if step.keep_original {
            script.push_str(&original_section(&step.interface, &arm.token));
        }
    }
    // wg-quick's output goes to a log file and its daemon (wireguard-go without the kernel module)
    // must not hold the SSH channel open: stdin from /dev/null, output to the log, own session (so
    // no hangup reaches it when a terminal session ends). The lock's descriptor is closed for it:
    // a daemon inheriting it would hold the lock for its whole life and block every later apply.
    let quick = |verb: &str| {
        format!(
            r#"setsid -w wg-quick {verb} {iface} < /dev/null > {log} 2>&1 9>&- || {{ echo '@@log'; cat {log}; fail "wg-quick {verb} {name} failed"; }}"#
        )
    };
    let systemctl = |verb: &str| {
        format!(
            "systemctl {verb} {unit} 2> {log} 9>&- || {{ echo '@@log'; cat {log}; fail \"systemctl {verb} wg-quick@{name} failed\"; }}\n"
        )
    };
    // With systemd, the interface may also run outside the unit (brought up by hand with
    // `wg-quick up` before wgdeploy managed the host, or left half-up): `systemctl stop` does not
    // touch it, and `systemctl start` then fails on the existing link. Take it down with its
    // current config's hooks (the link deleted if that fails), as a revert does.
    let systemd_down = || {
        let (down, _) = down_up(&step.interface, true);
        format!(
            "if ip link show dev {iface} >/dev/null 2>&1; then {{ {down}; }} > {log} 2>&1 || {{ echo '@@log'; cat {log}; fail \"cannot take {name} down\"; }}; else systemctl stop {unit} 9>&- 2>/dev/null; fi\n"
        )
    };
    if let Some(len) = step.write_len {
        script.push_str(&format!(
            r#"tmp=$(mktemp {temp}) || fail "cannot create a temp file in /etc/wireguard"
cat > "$tmp" || fail "cannot receive the config"
[ "$(wc -c < "$tmp" | tr -d ' ')" = {len} ] || fail "the config arrived incomplete; nothing was changed"
chmod 600 "$tmp" && sync "$tmp" || fail "cannot write the config to disk"
"#
        ));
    }
    // A restart takes the interface down while the old config is still in place, so the PostDown
    // hooks that run are the ones matching the PostUp hooks that ran (the new config's PostDown
    // would undo what never happened, and fail).
    if step.action == Action::Restart {
        if step.systemd {
            script.push_str(&systemd_down());
        } else {
            script.push_str(&format!(
                "if ip link show dev {iface} >/dev/null 2>&1; then {}; fi\n",
                quick("down")
            ));
        }
    }
    if step.write_len.is_some() {
        script.push_str(&format!(
            r#"if [ -f {config} ]; then ln -f {config} {backup} 2>/dev/null || cp -p {config} {backup} || fail "cannot keep a backup of {name}.conf"; fi
mv -f "$tmp" {config} || fail "cannot put the new config in place"
tmp=
sync /etc/wireguard 2>/dev/null
echo '@@written'
"#
        ));
    }
    match (step.action, step.systemd) {
        (Action::None, _) => {}
        (Action::Syncconf, _) => {
            script.push_str(&syncconf_section(&step.interface, &step.stale_routes, ""));
            script.push_str("echo '@@done syncconf'\n");
        }
        (Action::Restart, true) => {
            script.push_str(&systemctl("start"));
            script.push_str("echo '@@done restart'\n");
        }
        (Action::Up, true) => {
            // Not running, but a half-up link (or a unit left active over a dead device) would
            // make the start fail or do nothing.
            script.push_str(&systemd_down());
            script.push_str(&systemctl("start"));
            script.push_str("echo '@@done up'\n");
        }
        (Action::Restart, false) => {
            script.push_str(&quick("up"));
            script.push_str("\necho '@@done restart'\n");
        }
        (Action::Up, false) => {
            // A half-up interface (link present, wg-quick never finished) would make `up` fail;
            // its hooks may not have run, so a failing `down` falls back to deleting the link.
            script.push_str(&format!(
                "if ip link show dev {iface} >/dev/null 2>&1; then wg-quick down {iface} < /dev/null > {log} 2>&1 9>&- || ip link del dev {iface}; fi\n"
            ));
            script.push_str(&quick("up"));
            script.push_str("\necho '@@done up'\n");
        }
    }
    if step.enable_unit {
        script.push_str(&format!(
            "systemctl enable {unit} >/dev/null 2>&1 || fail \"systemctl enable {name} failed\"\necho '@@done enable'\n"
        ));
    }
    if let Some(content) = &step.sysctl_file {
        let file = quote(&paths.sysctl_file);
        if content.is_empty() {
            script.push_str(&format!(
                "rm -f {file} || fail \"cannot remove {file}\"\necho '@@done sysctl-file'\n"
            ));
        } else {
            let body = quote(content);
            script.push_str(&format!(
                r#"mkdir -p /etc/sysctl.d && printf '%s' {body} > {file}.tmp && chmod 644 {file}.tmp && mv -f {file}.tmp {file} || fail "cannot write {file}"
echo '@@done sysctl-file'
"#
            ));
        }
    }
    for key in &step.sysctl_on {
        let setting = quote(&format!("{key}=1"));
        script.push_str(&format!(
            "sysctl -q -w {setting} || fail \"cannot set {key}=1\"\necho '@@done sysctl'\n"
        ));
    }
    if let Some(arm) = &step.arm {
        // The confirm checks this: an apply step cut short is reverted, never confirmed.
        script.push_str(&format!(
            "printf '%s\\n' \"$armed\" > {state}/applied || fail \"cannot write {state}/applied\"\n"
        ));
        // The step is over: the confirm window starts now, not when the step started.
        let restart = start_timer(
            &step.interface,
            arm,
            arm.seconds,
            step.systemd,
            "fail \"cannot restart the lock-out timer\"",
        );
        script.push_str(&format!(
            "{}{restart}",
            disarm_timer(&step.interface, step.systemd)
        ));
    }
    script.push_str(&format!(
        "echo '@@dump'\ndump {iface}\nroutes {iface}\necho '@@end'\n"
    ));
    script
}

/// Takes the interface down (its current config's PostDown hooks run) and brings it up again:
/// the two halves of a revert, written once for both service managers.
fn down_up(interface: &InterfaceName, systemd: bool) -> (String, String) {
    let iface = quote(interface.as_str());
    let unit = quote(&format!("wg-quick@{}", interface.as_str()));
    let down_direct = format!("wg-quick down {iface} 9>&- || ip link del dev {iface}");
    if systemd {
        (
            format!(
                "systemctl stop {unit} 9>&-; if ip link show dev {iface} >/dev/null 2>&1; then {down_direct}; fi"
            ),
            format!("systemctl start {unit} 9>&-"),
        )
    } else {
        (
            down_direct,
            format!("setsid -w wg-quick up {iface} < /dev/null 9>&-"),
        )
    }
}

/// `revert.sh TOKEN [locked]`, written to the host when a step is armed: puts back the config from
/// before the apply TOKEN (and the interface's state: up or not) unless that apply was confirmed or
/// superseded meanwhile. It runs on the host alone, so it is plain `sh` with no wgdeploy around.
pub fn revert_script(interface: &InterfaceName, systemd: bool) -> String {
    let paths = Paths::new(interface);
    let iface = quote(interface.as_str());
    let config = quote(&paths.config);
    let lock = quote(&paths.lock);
    let state = quote(&paths.state);
    let restore_tmp = quote(&format!("{}.revert", paths.temp_prefix));
    let (down, up) = down_up(interface, systemd);
    format!(
        r#"# Written by wgdeploy: lock-out protection for {name}. `sh revert.sh TOKEN` puts back the config
# from before the apply TOKEN unless that apply was confirmed (or superseded) meanwhile.
state={state}
if [ "${{2:-}}" != locked ]; then exec 9>>{lock}; flock 9; fi
[ "$(cat "$state/armed" 2>/dev/null)" = "$1" ] || exit 0
{{
  was_up=; [ -f "$state/armed.up" ] && was_up=1
  is_up=; ip link show dev {iface} >/dev/null 2>&1 && is_up=1
  same=
  if [ -f "$state/armed.conf" ]; then cmp -s "$state/armed.conf" {config} && same=1; elif [ ! -f {config} ]; then same=1; fi
  if [ -n "$is_up" ] && {{ [ -z "$same" ] || [ -z "$was_up" ]; }}; then {down}; is_up=; fi
  if [ -z "$same" ]; then
    if [ -f "$state/armed.conf" ]; then cp -p "$state/armed.conf" {restore_tmp} && mv -f {restore_tmp} {config}; else rm -f {config}; fi
  fi
  if [ -n "$was_up" ] && [ -z "$is_up" ]; then {up}; fi
}} > "$state/revert.log" 2>&1
printf '%s %s\n' "$1" "$(date +%s)" > "$state/reverted"
rm -f "$state/armed" "$state/armed.conf" "$state/armed.up" "$state/armed.pid" "$state/applied"
"#,
        name = interface.as_str()
    )
}

/// Stops a pending revert timer (best effort: the token check is what makes a late one harmless).
/// The pid is checked to still be wgdeploy's sleeper before its process group is signalled.
fn disarm_timer(interface: &InterfaceName, systemd: bool) -> String {
    let state = quote(&Paths::new(interface).state);
    if systemd {
        format!(
            r#"unit=wgdeploy-revert-$(systemd-escape {iface}); systemctl stop "$unit.timer" "$unit.service" >/dev/null 2>&1; systemctl reset-failed "$unit.timer" "$unit.service" >/dev/null 2>&1
"#,
            iface = quote(interface.as_str())
        )
    } else {
        format!(
            r#"pid=$(cat {state}/armed.pid 2>/dev/null); if [ -n "$pid" ] && grep -q wgdeploy-revert /proc/"$pid"/cmdline 2>/dev/null; then kill -s TERM -- -"$pid" 2>/dev/null; fi
"#
        )
    }
}

/// Starts the revert timer: `revert.sh TOKEN` in `seconds`, detached from the SSH session and the
/// lock. `on_error` is the shell run when it cannot be started.
fn start_timer(
    interface: &InterfaceName,
    arm: &Arm,
    seconds: u64,
    systemd: bool,
    on_error: &str,
) -> String {
    let state = quote(&Paths::new(interface).state);
    let token = quote(&arm.token);
    let seconds = seconds.max(1);
    if systemd {
        // `$unit` is set by `disarm_timer`, which always runs first.
        format!(
            r#"systemd-run --quiet --unit="$unit" --on-active={seconds} --timer-property=AccuracySec=1s /bin/sh {state}/revert.sh {token} 9>&- || {on_error}
"#
        )
    } else {
        // Own session (no hangup when SSH goes), no inherited lock descriptor, no open output.
        format!(
            r#"setsid sh -c 'sleep "$1"; exec sh "$2" "$3"' wgdeploy-revert {seconds} {state}/revert.sh {token} < /dev/null > /dev/null 2>&1 9>&- &
echo $! > {state}/armed.pid
"#
        )
    }
}

/// Arms the lock-out protection inside the apply script, after the lock and the compare-and-swap,
/// before anything changes. Sets `armed`, which makes `fail` revert at once.
fn arm_section(interface: &InterfaceName, arm: &Arm, systemd: bool) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let iface = quote(name);
    let config = quote(&paths.config);
    let state = quote(&paths.state);
    let token = quote(&arm.token);
    let body = quote(&revert_script(interface, systemd));
    let root = quote(STATE_ROOT);
    let disarm = disarm_timer(interface, systemd);
    // Nothing has changed yet: a timer that cannot be armed just stops the step.
    let start = start_timer(
        interface,
        arm,
        arm.step_seconds.max(1) + arm.seconds.max(1),
        systemd,
        &format!(
            "{{ rm -f {state}/armed; fail \"cannot arm the lock-out protection (systemd-run)\"; }}"
        ),
    );
    // systemd needs the unit name free; the sleeper of an earlier arming is stopped above.
    let timer = if systemd {
        format!("{disarm}{start}")
    } else {
        start
    };
    format!(
        r#"mkdir -p {state}/generations && chmod 700 {root} {state} {state}/generations || fail "cannot create {state}"
if [ -f {state}/armed ]; then
  # An earlier apply was never confirmed: this run supersedes its timer and keeps its snapshot,
  # which is the last confirmed config.
  {disarm}else
  rm -f {state}/armed.conf {state}/armed.up
  if [ -f {config} ]; then cp -p {config} {state}/armed.conf || fail "cannot keep a copy of {name}.conf for lock-out protection"; fi
  if ip link show dev {iface} >/dev/null 2>&1; then : > {state}/armed.up; fi
fi
rm -f {state}/reverted {state}/applied {state}/armed.pid
printf '%s' {body} > {state}/revert.sh || fail "cannot write {state}/revert.sh"
printf '%s\n' {token} > {state}/armed || fail "cannot arm the lock-out protection"
{timer}armed={token}
echo '@@armed'
"#
    )
}

/// Keeps the config wgdeploy is about to replace for the first time as generation 0, in the same
/// layout as every other generation (`0.conf` 0600, `0.meta` with `kind=original`). Runs under the
/// lock, after arming (which created the directory) and before anything changes. A later run that
/// finds the host still unmanaged (its first apply was reverted) keeps the config it finds then.
fn original_section(interface: &InterfaceName, token: &str) -> String {
    let paths = Paths::new(interface);
    let config = quote(&paths.config);
    let gens = quote(&format!("{}/generations", paths.state));
    let token = quote(token);
    let version = quote(env!("CARGO_PKG_VERSION"));
    format!(
        r#"if [ -f {config} ]; then
  {{ cp {config} {gens}/0.conf.tmp && chmod 600 {gens}/0.conf.tmp && mv -f {gens}/0.conf.tmp {gens}/0.conf &&
    printf 'deployment=%s\nkind=original\ntime=%s\ninventory=\nversion=%s\n' {token} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" {version} > {gens}/0.meta.tmp &&
    mv -f {gens}/0.meta.tmp {gens}/0.meta; }} || fail "cannot keep the original config as generation 0 in {gens}"
  echo '@@done original'
fi
"#
    )
}

/// Run over a fresh SSH connection after an armed step: proves the host is still reachable and,
/// under the lock, either confirms the step (disarms the timer, records a generation) or tells
/// what happened instead: the host already reverted, or the step never finished (revert now).
pub fn confirm_script(
    interface: &InterfaceName,
    systemd: bool,
    token: &str,
    record: &GenerationRecord,
) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let iface = quote(name);
    let config = quote(&paths.config);
    let lock = quote(&paths.lock);
    let state = quote(&paths.state);
    let token = quote(token);
    let disarm = disarm_timer(interface, systemd);
    let deployment = quote(&record.deployment);
    let kind = quote(record.kind);
    let digest = quote(&record.inventory_digest);
    let version = quote(record.version);
    let keep = record.keep.max(1);
    format!(
        r#"{PRELUDE}
fail() {{ printf '@@fail %s\n' "$*"; exit 1; }}
umask 077
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 60 9 || fail "another wgdeploy run holds the lock on {name} (waited 60 s)"
if [ "$(cat {state}/armed 2>/dev/null)" != {token} ]; then
  set -- $(cat {state}/reverted 2>/dev/null)
  if [ "${{1:-}}" = {token} ]; then printf '@@reverted %s\n' "${{2:-}}"; else echo '@@not-armed'; fi
elif [ "$(cat {state}/applied 2>/dev/null)" != {token} ]; then
  sh {state}/revert.sh {token} locked
  {disarm}echo '@@reverted-now'
else
  {disarm}rm -f {state}/armed {state}/armed.conf {state}/armed.up {state}/armed.pid {state}/applied
  echo '@@confirmed'
  gens={state}/generations
  last=$(ls "$gens" 2>/dev/null | sed -n 's/^\([0-9][0-9]*\)\.meta$/\1/p' | sort -n | tail -n 1)
  n=$(( ${{last:-0}} + 1 ))
  {{ cp {config} "$gens/$n.conf.tmp" && chmod 600 "$gens/$n.conf.tmp" && mv -f "$gens/$n.conf.tmp" "$gens/$n.conf" &&
    printf 'deployment=%s\nkind=%s\ntime=%s\ninventory=%s\nversion=%s\n' {deployment} {kind} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" {digest} {version} > "$gens/$n.meta.tmp" &&
    mv -f "$gens/$n.meta.tmp" "$gens/$n.meta"; }} || fail "confirmed, but cannot record generation $n in $gens"
  ls "$gens" | sed -n 's/^\([0-9][0-9]*\)\.meta$/\1/p' | sort -rn | awk '$1 != 0 && NR > {keep}' | while read -r old; do rm -f "$gens/$old.meta" "$gens/$old.conf"; done
  printf '@@generation %s\n' "$n"
fi
printf '@@now %s\n' "$(date +%s)"
echo '@@dump'
dump {iface}
routes {iface}
echo '@@end'
"#
    )
}

/// Puts the previous config back at once over the apply step's own session (the step finished but
/// the interface does not run the plan): the armed revert, run now instead of at the timer.
pub fn revert_now_script(interface: &InterfaceName, systemd: bool, token: &str) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let lock = quote(&paths.lock);
    let state = quote(&paths.state);
    let token = quote(token);
    // Its timer has nothing left to do (a systemd one would linger until it fires).
    let disarm = disarm_timer(interface, systemd);
    format!(
        r#"fail() {{ printf '@@fail %s\n' "$*"; exit 1; }}
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 60 9 || fail "another wgdeploy run holds the lock on {name} (waited 60 s)"
if [ "$(cat {state}/armed 2>/dev/null)" = {token} ]; then
  sh {state}/revert.sh {token} locked && echo '@@reverted-now'
  {disarm}else echo '@@not-armed'; fi
echo '@@end'
"#
    )
}

/// Reads one recorded generation's config (for `rollback`).
pub fn read_generation_script(interface: &InterfaceName, generation: u64) -> String {
    let state = Paths::new(interface).state;
    let file = quote(&format!("{state}/generations/{generation}.conf"));
    format!(
        "{PRELUDE}
frame generation-config {file}
echo '@@end'
"
    )
}

/// Undoes a first deployment (`apply --atomic` when another host failed): the interface goes down,
/// the config goes, and so do the generations that deployment recorded, since they never stood.
pub fn remove_script(interface: &InterfaceName, systemd: bool, deployment: &str) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let iface = quote(name);
    let config = quote(&paths.config);
    let lock = quote(&paths.lock);
    let state = quote(&paths.state);
    let log = quote(&format!("{}/.{name}.wgdeploy.log", paths.dir));
    let wanted = quote(&format!("deployment={deployment}"));
    let (down, _) = down_up(interface, systemd);
    format!(
        r#"{PRELUDE}
fail() {{ printf '@@fail %s\n' "$*"; exit 1; }}
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 30 9 || fail "another wgdeploy run holds the lock on {name} (waited 30 s)"
if ip link show dev {iface} >/dev/null 2>&1; then {{ {down}; }} > {log} 2>&1 || {{ echo '@@log'; cat {log}; fail "cannot take {name} down"; }}; fi
rm -f {config} || fail "cannot remove {config}"
for meta in {state}/generations/*.meta; do
  [ -f "$meta" ] && grep -qx {wanted} "$meta" && rm -f "$meta" "${{meta%.meta}}.conf"
done
echo '@@done remove'
echo '@@dump'
dump {iface}
routes {iface}
echo '@@end'
"#
    )
}

/// Pings every address from the host, all at once: the real reachability behind `status --ping`.
pub fn ping_script(addresses: &[String]) -> String {
    let mut script = String::from(
        "echo '@@ping'
",
    );
    for address in addresses {
        let address = quote(address);
        script.push_str(&format!(
            "( if ping -q -n -c 3 -i 0.2 -W 2 {address} >/dev/null 2>&1; then echo {address} ok; else echo {address} fail; fi ) &
"
        ));
    }
    script.push_str(
        "wait
echo '@@end'
",
    );
    script
}

/// Drops the sessions a host holds with peers that just restarted, by removing those peers and
/// adding them back from the config (`wg syncconf`, guarded as in apply). A restarted peer forgot
/// every session; without this its peers keep encrypting for the dead session until WireGuard's
/// timers give up on it (15 s with traffic, up to minutes when idle), and a NAT-ed host's restarted
/// peer cannot reach it at all meanwhile. Re-added peers with a keepalive handshake at once.
pub fn refresh_script(interface: &InterfaceName, peers: &[String]) -> String {
    let paths = Paths::new(interface);
    let name = interface.as_str();
    let iface = quote(name);
    let lock = quote(&paths.lock);
    let keys: Vec<String> = peers.iter().map(|key| quote(key)).collect();
    let keys = keys.join(" ");
    let reset = format!(
        "for key in {keys}; do wg set {iface} peer \"$key\" remove || {{ rm -f \"$strip\"; fail \"cannot reset peer $key\"; }}; done\n"
    );
    let sync = syncconf_section(interface, &[], &reset);
    format!(
        r#"{PRELUDE}{SYNC_FUNCTIONS}
fail() {{ printf '@@fail %s\n' "$*"; exit 1; }}
umask 077
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 30 9 || fail "another wgdeploy run holds the lock on {name} (waited 30 s)"
{sync}echo '@@done refresh'
echo '@@end'
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wg0() -> InterfaceName {
        InterfaceName::parse("wg0").unwrap()
    }

    /// A step on wg0 that writes a 10-byte config where there was none and does `action`, without
    /// systemd, forwarding or arming; tests change what they look at.
    fn step(action: Action) -> ApplyStep {
        ApplyStep {
            interface: wg0(),
            write_len: Some(10),
            expected_stamp: "absent".into(),
            action,
            systemd: false,
            enable_unit: false,
            sysctl_file: None,
            sysctl_on: vec![],
            stale_routes: vec![],
            arm: None,
            keep_original: false,
        }
    }

    /// `sh -n` parses a script without running it: every script wgdeploy sends must parse.
    fn assert_parses(name: &str, script: &str) {
        let output = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        assert!(
            output.status.success(),
            "{name} does not parse: {}\n{script}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The prelude's readers run in a real `sh` against real files: generations in any order with
    /// junk beside them, one-line files, a last line without a newline, a missing file.
    #[test]
    fn prelude_readers_work_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let generations = dir.path().join("generations");
        std::fs::create_dir(&generations).unwrap();
        for n in [1, 2, 10] {
            std::fs::write(
                generations.join(format!("{n}.meta")),
                format!("deployment=d{n}\nkind=apply"),
            )
            .unwrap();
        }
        std::fs::write(generations.join("10.conf"), "[Interface]\n").unwrap();
        std::fs::write(generations.join("x1.meta"), "deployment=junk\n").unwrap();
        std::fs::write(
            dir.path().join("armed"),
            "token-1 1700000000\nsecond line\n",
        )
        .unwrap();
        let script = format!(
            "{PRELUDE}\ngenerations {gens}\nfirst_line a {armed}; printf 'armed=[%s]\\n' \"$a\"\nfirst_line m {missing}; printf 'missing=[%s]\\n' \"$m\"\nframe f {armed}\n",
            gens = quote(&generations.to_string_lossy()),
            armed = quote(&dir.path().join("armed").to_string_lossy()),
            missing = quote(&dir.path().join("absent").to_string_lossy()),
        );
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let parsed = crate::remote::facts::parse_generations(&lines);
        let seen: Vec<(u64, &str, &str)> = parsed
            .iter()
            .map(|g| (g.number, g.deployment.as_str(), g.kind.as_str()))
            .collect();
        assert_eq!(
            seen,
            [(1, "d1", "apply"), (2, "d2", "apply"), (10, "d10", "apply")],
            "{text}"
        );
        assert!(text.contains("armed=[token-1 1700000000]\n"), "{text}");
        assert!(text.contains("missing=[]\n"), "{text}");
        assert!(
            text.contains("@@f 31\ntoken-1 1700000000\nsecond line\n\n"),
            "{text}"
        );
    }

    /// The syncconf helpers in a real `sh`, with a stub `wg` that listens on port 38434: the
    /// port lands in `[Interface]` (whatever its case) unless the file sets one, and `Table` is
    /// read from `[Interface]` only.
    #[test]
    fn keep_port_and_config_table_work_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let wg = bin.join("wg");
        std::fs::write(&wg, "#!/bin/sh\n[ \"$3\" = listen-port ] && echo 38434\n").unwrap();
        std::fs::set_permissions(&wg, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let stripped = dir.path().join("strip");
        let fixed = dir.path().join("fixed");
        let config = dir.path().join("wg0.conf");
        std::fs::write(
            &stripped,
            "# c\n[interface]\nPrivateKey = K\n\n[Peer]\nPublicKey = P\n",
        )
        .unwrap();
        std::fs::write(&fixed, "[Interface]\nlistenport = 51820\nPrivateKey = K\n").unwrap();
        std::fs::write(
            &config,
            "[Interface]\nAddress = 100.64.0.1/24\n Table = off # hooks route\n[Peer]\nTable = 7\n",
        )
        .unwrap();
        let script = format!(
            "{SYNC_FUNCTIONS}\nkeep_port {s} wg0 && keep_port {f} wg0 && printf 'table=[%s]\\n' \"$(config_table {c})\"\n",
            s = quote(&stripped.to_string_lossy()),
            f = quote(&fixed.to_string_lossy()),
            c = quote(&config.to_string_lossy()),
        );
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .output()
            .expect("sh runs");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8(output.stdout).unwrap(), "table=[off]\n");
        assert_eq!(
            std::fs::read_to_string(&stripped).unwrap(),
            "# c\n[interface]\nListenPort = 38434\nPrivateKey = K\n\n[Peer]\nPublicKey = P\n"
        );
        assert_eq!(
            std::fs::read_to_string(&fixed).unwrap(),
            "[Interface]\nlistenport = 51820\nPrivateKey = K\n",
            "a configured port stays"
        );
    }

    #[test]
    fn every_script_parses_in_sh() {
        let arm = Some(Arm {
            token: "20261125-101500-abcd".into(),
            seconds: 60,
            step_seconds: 120,
        });
        for systemd in [false, true] {
            for action in [Action::None, Action::Syncconf, Action::Restart, Action::Up] {
                let step = ApplyStep {
                    expected_stamp: "1 2 3".into(),
                    systemd,
                    enable_unit: systemd,
                    sysctl_file: Some("net.ipv4.ip_forward = 1\n".into()),
                    sysctl_on: vec!["net.ipv4.ip_forward"],
                    arm: arm.clone(),
                    ..step(action)
                };
                assert_parses("apply", &apply_script(&step));
            }
            assert_parses("revert", &revert_script(&wg0(), systemd));
            let record = GenerationRecord {
                deployment: "20261125-101500-abcd".into(),
                kind: "apply",
                inventory_digest: "sha256:00".into(),
                version: "0.1.0",
                keep: 10,
            };
            assert_parses("confirm", &confirm_script(&wg0(), systemd, "t", &record));
            assert_parses("remove", &remove_script(&wg0(), systemd, "t"));
        }
        assert_parses("facts", &facts_script(&wg0()));
        assert_parses("adopt", &adopt_script(&wg0()));
        for systemd in [false, true] {
            let script = revert_now_script(&wg0(), systemd, "t");
            assert_parses("revert now", &script);
            // A step put back at once stops its timer too (systemd: the transient units).
            assert_eq!(
                script.contains("systemctl stop \"$unit.timer\""),
                systemd,
                "{script}"
            );
            let confirm = confirm_script(
                &wg0(),
                systemd,
                "t",
                &GenerationRecord {
                    deployment: "t".into(),
                    kind: "apply",
                    inventory_digest: "sha256:00".into(),
                    version: "0.1.0",
                    keep: 10,
                },
            );
            let now = confirm.find("revert.sh t locked").unwrap();
            let stop = if systemd {
                "systemctl stop \"$unit.timer\""
            } else {
                "kill -s TERM"
            };
            assert!(
                confirm[now..].find(stop).unwrap() < confirm[now..].find("@@reverted-now").unwrap()
            );
        }
        assert_parses("read generation", &read_generation_script(&wg0(), 3));
        assert_parses(
            "ping",
            &ping_script(&["100.64.0.1".into(), "fd00::1".into()]),
        );
        assert_parses("refresh", &refresh_script(&wg0(), &["key".into()]));
    }

    /// In a real `sh`: generation 0 is the config byte for byte, 0600, with `kind=original`; and
    /// pruning old generations never removes it.
    #[test]
    fn generation_0_keeps_the_original_and_is_never_pruned() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (config, gens) = (dir.path().join("wg0.conf"), dir.path().join("generations"));
        std::fs::create_dir(&gens).unwrap();
        let original = "[Interface]\n# hand-written, no trailing newline: PrivateKey = x";
        std::fs::write(&config, original).unwrap();
        let sh = |script: String| {
            let script = script
                .replace("/etc/wireguard/wg0.conf", &config.to_string_lossy())
                .replace("/var/lib/wgdeploy/wg0/generations", &gens.to_string_lossy());
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "umask 077\nfail() {{ echo \"FAIL $*\"; exit 1; }}\n{script}"
                ))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stdout)
            );
        };
        sh(original_section(&wg0(), "20261125-101500-abcd"));
        assert_eq!(
            std::fs::read(gens.join("0.conf")).unwrap(),
            original.as_bytes()
        );
        let mode = std::fs::metadata(gens.join("0.conf"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let meta: Vec<String> = std::fs::read_to_string(gens.join("0.meta"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let mut lines = vec!["generation=0".to_owned()];
        lines.extend(meta);
        let parsed = crate::remote::facts::parse_generations(&lines);
        assert_eq!(parsed[0].kind, "original");
        assert_eq!(parsed[0].deployment, "20261125-101500-abcd");

        for n in 1..=5 {
            std::fs::write(gens.join(format!("{n}.meta")), "kind=apply\n").unwrap();
            std::fs::write(gens.join(format!("{n}.conf")), "").unwrap();
        }
        let record = GenerationRecord {
            deployment: "d".into(),
            kind: "apply",
            inventory_digest: String::new(),
            version: "0",
            keep: 3,
        };
        let confirm = confirm_script(&wg0(), false, "t", &record);
        let prune = confirm
            .lines()
            .find(|line| line.contains("sort -rn"))
            .unwrap();
        sh(format!("gens={}\n{prune}", quote(&gens.to_string_lossy())));
        let mut left: Vec<String> = std::fs::read_dir(&gens)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".meta"))
            .collect();
        left.sort();
        assert_eq!(left, ["0.meta", "3.meta", "4.meta", "5.meta"]);
    }

    #[test]
    fn a_restart_takes_the_interface_down_before_replacing_its_config() {
        let script = apply_script(&step(Action::Restart));
        let down = script.find("wg-quick down wg0").unwrap();
        let install = script.find("mv -f \"$tmp\"").unwrap();
        let up = script.find("wg-quick up wg0").unwrap();
        assert!(
            script.find("cat > \"$tmp\"").unwrap() < down,
            "received before anything stops"
        );
        assert!(down < install && install < up);
    }

    #[test]
    fn an_armed_step_arms_before_writing_and_marks_its_end() {
        let armed_step = ApplyStep {
            arm: Some(Arm {
                token: "20261125-101500-abcd".into(),
                seconds: 45,
                step_seconds: 120,
            }),
            ..step(Action::Restart)
        };
        let script = apply_script(&armed_step);
        let armed = script.find("echo '@@armed'").unwrap();
        assert!(
            armed < script.find("mktemp /etc").unwrap(),
            "armed before the write"
        );
        // Armed for the step's limit plus the confirm window, so it cannot fire during a slow
        // step; restarted at the confirm window once the step is done.
        let first = script
            .find("sleep \"$1\"; exec sh \"$2\" \"$3\"' wgdeploy-revert 165 ")
            .unwrap();
        assert!(first < armed);
        let restarted = script
            .find("sleep \"$1\"; exec sh \"$2\" \"$3\"' wgdeploy-revert 45 ")
            .unwrap();
        assert!(restarted > script.rfind("/var/lib/wgdeploy/wg0/applied").unwrap());
        assert!(restarted < script.find("@@dump").unwrap());
        // The timer must not hold the lock (it waits for it) nor the SSH channel.
        assert!(script.contains("< /dev/null > /dev/null 2>&1 9>&- &"));
        assert!(
            script.rfind("/var/lib/wgdeploy/wg0/applied").unwrap()
                > script.find("@@done restart").unwrap()
        );
        // An unconfirmed earlier arming keeps its snapshot: the last confirmed config.
        assert!(script.contains("if [ -f /var/lib/wgdeploy/wg0/armed ]; then"));
        let systemd = apply_script(&ApplyStep {
            systemd: true,
            ..armed_step
        });
        let first = systemd
            .find("systemd-run --quiet --unit=\"$unit\" --on-active=165 ")
            .unwrap();
        let restarted = systemd
            .find("systemd-run --quiet --unit=\"$unit\" --on-active=45 ")
            .unwrap();
        // The restart stops the first timer (the unit name must be free) after the step's end.
        let stop = systemd[..restarted].rfind("systemctl stop").unwrap();
        assert!(first < stop && stop > systemd.find("@@done restart").unwrap());
    }

    #[test]
    fn quoting_survives_hostile_words() {
        assert_eq!(quote("wg0"), "wg0");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("x'; rm -rf /"), r"'x'\''; rm -rf /'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(quote("a\0b"), "''");
    }

    #[test]
    fn commands_run_in_sh_and_sudo_never_prompts() {
        assert_eq!(
            command("echo 'hi'", Become::None),
            r"sh -c 'echo '\''hi'\'''"
        );
        assert!(command("true", Become::Sudo).starts_with("sudo -n sh -c "));
    }

    #[test]
    fn apply_never_puts_the_config_on_the_command_line_and_checks_it_arrived_whole() {
        let script = apply_script(&ApplyStep {
            write_len: Some(123),
            ..step(Action::Syncconf)
        });
        assert!(script.contains(r#"cat > "$tmp""#));
        assert!(script.contains("= 123 ] || fail"));
        assert!(script.contains("grep -qiE '^[[:space:]]*PrivateKey[[:space:]]*='"));
        // Write before act: the rename happens before syncconf reads the file.
        assert!(script.find("mv -f \"$tmp\"").unwrap() < script.find("wg syncconf").unwrap());
    }

    #[test]
    fn no_write_means_no_temp_file_and_no_rename() {
        let script = apply_script(&ApplyStep {
            write_len: None,
            expected_stamp: "1 2 3".into(),
            ..step(Action::Up)
        });
        assert!(!script.contains("mktemp /etc"));
        assert!(script.contains("setsid -w wg-quick up wg0 < /dev/null"));
        // The daemon wg-quick starts must not inherit (and so forever hold) the apply lock.
        assert!(script.contains("2>&1 9>&- ||"));
        assert!(script.contains("= '1 2 3' ] || fail"));
    }

    #[test]
    fn with_systemd_the_unit_does_the_restart_and_is_enabled() {
        let script = apply_script(&ApplyStep {
            systemd: true,
            enable_unit: true,
            sysctl_file: Some("net.ipv4.ip_forward = 1\n".into()),
            sysctl_on: vec!["net.ipv4.ip_forward"],
            ..step(Action::Restart)
        });
        // Stopped before the new config is in place (its PostDown hooks match what ran), then
        // started with the new one.
        let stop = script.find("systemctl stop wg-quick@wg0").unwrap();
        let install = script.find("mv -f \"$tmp\"").unwrap();
        assert!(stop < install);
        assert!(script.find("systemctl start wg-quick@wg0").unwrap() > install);
        assert!(script.contains("systemctl enable wg-quick@wg0"));
        // An interface brought up outside the unit (`wg-quick up` by hand) survives `systemctl
        // stop`, and `systemctl start` would then fail on the existing link: it is taken down
        // with the old config (the link deleted if that fails), still before the install.
        let down = script.find("wg-quick down wg0").unwrap();
        assert!(stop < down && down < install);
        assert!(script[stop..install].contains("ip link show dev wg0"));
        assert!(script[down..install].contains("|| ip link del dev wg0"));
        assert!(script.contains("fail \"systemctl start wg-quick@wg0 failed\""));
        // Up: a leftover link or a unit left active over a dead device is cleared first, or the
        // start would fail or do nothing.
        let up = apply_script(&ApplyStep {
            systemd: true,
            ..step(Action::Up)
        });
        let start = up.find("systemctl start wg-quick@wg0").unwrap();
        assert!(up.find("systemctl stop wg-quick@wg0").unwrap() < start);
        assert!(up.find("wg-quick down wg0").unwrap() < start);
        assert!(script.contains("/etc/sysctl.d/99-wgdeploy-wg0.conf"));
        assert!(script.contains("sysctl -q -w net.ipv4.ip_forward=1"));
    }
}
