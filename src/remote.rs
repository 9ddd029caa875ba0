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

use crate::model::InterfaceName;

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

/// The paths wgdeploy manages for one interface.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: &'static str,
    pub config: String,
    pub backup: String,
    pub lock: String,
    pub temp_prefix: String,
    pub sysctl_file: String,
}

impl Paths {
    pub fn new(interface: &InterfaceName) -> Paths {
        let dir = "/etc/wireguard";
        let name = interface.as_str();
        Paths {
            dir,
            config: format!("{dir}/{name}.conf"),
            backup: format!("{dir}/{name}.conf.wgdeploy-prev"),
            lock: format!("{dir}/.{name}.wgdeploy.lock"),
            temp_prefix: format!("{dir}/.{name}.conf.wgdeploy-tmp"),
            sysctl_file: format!("/etc/sysctl.d/99-wgdeploy-{name}.conf"),
        }
    }
}

/// The sysctls wgdeploy reads on every host and may switch on for forwarding hosts.
pub const FORWARDING_SYSCTLS: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

/// Shell functions shared by the scripts: framed file output and `wg show dump` without secrets.
const PRELUDE: &str = r#"
frame() { if [ -f "$2" ] && [ -r "$2" ]; then printf '@@%s %s\n' "$1" "$(wc -c < "$2" | tr -d ' ')"; cat "$2"; printf '\n'; elif [ -e "$2" ]; then printf '@@%s unreadable\n' "$1"; else printf '@@%s absent\n' "$1"; fi; }
stamp() { stat -c '%i %s %y' "$1" 2>/dev/null || echo absent; }
# wg show dump prints the private key (line 1, field 1) and each peer's preshared key (field 2):
# blank them on the host so no secret ever crosses the connection or reaches a log.
dump() { wg show "$1" dump 2>/dev/null | awk 'BEGIN { FS = OFS = "\t" } NR == 1 { $1 = "-" } NR > 1 { $2 = "-" } { print }'; }
"#;

/// One round trip that gathers everything wgdeploy needs to plan a host.
pub fn facts_script(interface: &InterfaceName) -> String {
    let paths = Paths::new(interface);
    let iface = quote(interface.as_str());
    let config = quote(&paths.config);
    let sysctl_file = quote(&paths.sysctl_file);
    let unit = quote(&format!("wg-quick@{}", interface.as_str()));
    let sysctls = FORWARDING_SYSCTLS.join(" ");
    format!(
        r#"{PRELUDE}
echo '@@wgdeploy-facts 1'
printf '@@user %s\n' "$(id -un 2>/dev/null)"
echo '@@os'
( . /etc/os-release 2>/dev/null && printf '%s\n' "${{PRETTY_NAME:-$ID}}" ) || uname -sr
echo '@@tools'
for tool in wg wg-quick flock awk stat; do command -v "$tool" >/dev/null 2>&1 && echo "$tool"; done
echo '@@systemd'
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo yes
  printf 'enabled %s\n' "$(systemctl is-enabled {unit} 2>/dev/null || true)"
fi
echo '@@dir'
if [ -d /etc/wireguard ]; then [ -r /etc/wireguard ] && [ -x /etc/wireguard ] && echo ok || echo unreadable; else echo absent; fi
printf '@@stamp %s\n' "$(stamp {config})"
frame config {config}
frame sysctl-file {sysctl_file}
echo '@@sysctl'
for key in {sysctls}; do printf '%s=%s\n' "$key" "$(sysctl -n "$key" 2>/dev/null)"; done
echo '@@link'
ip link show dev {iface} >/dev/null 2>&1 && echo present
echo '@@dump'
dump {iface}
echo '@@end'
"#
    )
}

/// What to do to the interface after the new config is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the running interface alone (the file may still be rewritten, e.g. comments only).
    None,
    /// `wg syncconf` from `wg-quick strip`: peers change, live sessions survive.
    Syncconf,
    /// Down and up: addresses, port, MTU or hooks change.
    Restart,
    /// The interface is not running: bring it up.
    Up,
}

/// Everything one apply step does on a host.
#[derive(Debug, Clone)]
pub struct ApplyStep {
    pub interface: InterfaceName,
    /// The config's byte length when a new config is written (it arrives on stdin); `None` keeps it.
    pub write_len: Option<usize>,
    /// The config's `stamp` seen when planning: the step refuses if the file changed since.
    pub expected_stamp: String,
    pub action: Action,
    pub systemd: bool,
    /// `systemctl enable` the unit so the interface comes back after a reboot.
    pub enable_unit: bool,
    /// New content of the sysctl.d file (`Some("")` removes it), when it must change.
    pub sysctl_file: Option<String>,
    /// Sysctls to switch on now.
    pub sysctl_on: Vec<&'static str>,
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
    let strip = quote(&format!("{}/.{name}.wgdeploy-strip.XXXXXX", paths.dir));
    let log = quote(&format!("{}/.{name}.wgdeploy.log", paths.dir));
    let unit = quote(&format!("wg-quick@{name}"));
    let expected = quote(&step.expected_stamp);

    let mut script = String::from(PRELUDE);
    script.push_str(&format!(
        r#"
fail() {{ printf '@@fail %s\n' "$*"; [ -n "${{tmp:-}}" ] && rm -f "$tmp"; exit 1; }}
umask 077
mkdir -p /etc/wireguard || fail "cannot create /etc/wireguard"
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 30 9 || fail "another wgdeploy run holds the lock on {name} (waited 30 s)"
[ "$(stamp {config})" = {expected} ] || fail "{name}.conf changed on the host since the plan was made; run wgdeploy again"
# A temp file left by an interrupted earlier run is never a config: clear it under the lock.
rm -f {temp_glob}
"#
    ));
    if let Some(len) = step.write_len {
        script.push_str(&format!(
            r#"tmp=$(mktemp {temp}) || fail "cannot create a temp file in /etc/wireguard"
cat > "$tmp" || fail "cannot receive the config"
[ "$(wc -c < "$tmp" | tr -d ' ')" = {len} ] || fail "the config arrived incomplete; nothing was changed"
chmod 600 "$tmp" && sync "$tmp" || fail "cannot write the config to disk"
if [ -f {config} ]; then ln -f {config} {backup} 2>/dev/null || cp -p {config} {backup} || fail "cannot keep a backup of {name}.conf"; fi
mv -f "$tmp" {config} || fail "cannot put the new config in place"
tmp=
sync /etc/wireguard 2>/dev/null
echo '@@written'
"#
        ));
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
    match (step.action, step.systemd) {
        (Action::None, _) => {}
        (Action::Syncconf, _) => script.push_str(&format!(
            r#"strip=$(mktemp {strip}) || fail "cannot create a temp file in /etc/wireguard"
wg-quick strip {iface} > "$strip" 2> {log} || {{ rm -f "$strip"; echo '@@log'; cat {log}; fail "wg-quick strip {name} failed"; }}
# syncconf removes whatever the input lacks: never feed it an empty or keyless file.
grep -q '^PrivateKey' "$strip" || {{ rm -f "$strip"; fail "wg-quick strip {name} gave no PrivateKey; refusing wg syncconf"; }}
wg syncconf {iface} "$strip" 2> {log} || {{ rm -f "$strip"; echo '@@log'; cat {log}; fail "wg syncconf {name} failed"; }}
rm -f "$strip"
echo '@@done syncconf'
"#
        )),
        (Action::Restart, true) => script.push_str(&format!(
            "systemctl restart {unit} 2> {log} 9>&- || {{ echo '@@log'; cat {log}; fail \"systemctl restart {name} failed\"; }}\necho '@@done restart'\n"
        )),
        (Action::Up, true) => script.push_str(&format!(
            "systemctl start {unit} 2> {log} 9>&- || {{ echo '@@log'; cat {log}; fail \"systemctl start {name} failed\"; }}\necho '@@done up'\n"
        )),
        (Action::Restart, false) => {
            script.push_str(&format!(
                "if ip link show dev {iface} >/dev/null 2>&1; then {}; fi\n",
                quick("down")
            ));
            script.push_str(&quick("up"));
            script.push_str("\necho '@@done restart'\n");
        }
        (Action::Up, false) => {
            // A half-up interface (link present, wg-quick never finished) would make `up` fail.
            script.push_str(&format!(
                "if ip link show dev {iface} >/dev/null 2>&1; then {}; fi\n",
                quick("down")
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
    script.push_str(&format!("echo '@@dump'\ndump {iface}\necho '@@end'\n"));
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
    let strip = quote(&format!("{}/.{name}.wgdeploy-strip.XXXXXX", paths.dir));
    let keys: Vec<String> = peers.iter().map(|key| quote(key)).collect();
    let keys = keys.join(" ");
    format!(
        r#"{PRELUDE}
fail() {{ printf '@@fail %s\n' "$*"; exit 1; }}
umask 077
exec 9>>{lock} || fail "cannot open the lock file {lock}"
flock -w 30 9 || fail "another wgdeploy run holds the lock on {name} (waited 30 s)"
strip=$(mktemp {strip}) || fail "cannot create a temp file in /etc/wireguard"
wg-quick strip {iface} > "$strip" 2>/dev/null || {{ rm -f "$strip"; fail "wg-quick strip {name} failed"; }}
grep -q '^PrivateKey' "$strip" || {{ rm -f "$strip"; fail "wg-quick strip {name} gave no PrivateKey; refusing wg syncconf"; }}
for key in {keys}; do wg set {iface} peer "$key" remove || {{ rm -f "$strip"; fail "cannot reset peer $key"; }}; done
wg syncconf {iface} "$strip" || {{ rm -f "$strip"; fail "wg syncconf {name} failed"; }}
rm -f "$strip"
echo '@@done refresh'
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
        let step = ApplyStep {
            interface: wg0(),
            write_len: Some(123),
            expected_stamp: "absent".into(),
            action: Action::Syncconf,
            systemd: false,
            enable_unit: false,
            sysctl_file: None,
            sysctl_on: vec![],
        };
        let script = apply_script(&step);
        assert!(script.contains(r#"cat > "$tmp""#));
        assert!(script.contains("= 123 ] || fail"));
        assert!(script.contains("grep -q '^PrivateKey'"));
        // Write before act: the rename happens before syncconf reads the file.
        assert!(script.find("mv -f \"$tmp\"").unwrap() < script.find("wg syncconf").unwrap());
    }

    #[test]
    fn no_write_means_no_temp_file_and_no_rename() {
        let step = ApplyStep {
            interface: wg0(),
            write_len: None,
            expected_stamp: "1 2 3".into(),
            action: Action::Up,
            systemd: false,
            enable_unit: false,
            sysctl_file: None,
            sysctl_on: vec![],
        };
        let script = apply_script(&step);
        assert!(!script.contains("mktemp /etc"));
        assert!(script.contains("setsid -w wg-quick up wg0 < /dev/null"));
        // The daemon wg-quick starts must not inherit (and so forever hold) the apply lock.
        assert!(script.contains("2>&1 9>&- ||"));
        assert!(script.contains("= '1 2 3' ] || fail"));
    }

    #[test]
    fn with_systemd_the_unit_does_the_restart_and_is_enabled() {
        let step = ApplyStep {
            interface: wg0(),
            write_len: Some(10),
            expected_stamp: "absent".into(),
            action: Action::Restart,
            systemd: true,
            enable_unit: true,
            sysctl_file: Some("net.ipv4.ip_forward = 1\n".into()),
            sysctl_on: vec!["net.ipv4.ip_forward"],
        };
        let script = apply_script(&step);
        assert!(script.contains("systemctl restart wg-quick@wg0"));
        assert!(script.contains("systemctl enable wg-quick@wg0"));
        assert!(
            !script.contains("wg-quick down"),
            "systemd owns the interface"
        );
        assert!(script.contains("/etc/sysctl.d/99-wgdeploy-wg0.conf"));
        assert!(script.contains("sysctl -q -w net.ipv4.ip_forward=1"));
    }
}
