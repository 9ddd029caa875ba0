//! The remote scripts: their form (static text, values as arguments, config on stdin) and their
//! behaviour, run for real under dash, busybox sh and posh against a temporary root with stub
//! `wg`, `wg-quick`, `flock`, `systemctl`, `ip` and `sysctl` on PATH.

use super::*;
use crate::core::change::Arm;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

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

fn record(keep: usize) -> GenerationRecord {
    GenerationRecord {
        deployment: "20261125-101500-abcd".into(),
        kind: "apply",
        inventory_digest: "sha256:00".into(),
        version: "0.1.0",
        keep,
    }
}

/// The shells the scripts are run under: each that is installed (CI installs all three), with a
/// clear notice for each that is not.
fn shells() -> Vec<Vec<&'static str>> {
    let mut found = Vec::new();
    for shell in [vec!["dash"], vec!["busybox", "sh"], vec!["posh"]] {
        let probe = Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", "exit 0"])
            .output();
        if probe.is_ok_and(|output| output.status.success()) {
            found.push(shell);
        } else {
            eprintln!(
                "skipped: `{}` is not installed (scripts/test.sh installs it)",
                shell.join(" ")
            );
        }
    }
    found
}

/// Is `text` one of the embedded files (so no value was spliced into it)?
fn is_static(text: &str) -> bool {
    ALL_SCRIPTS
        .iter()
        .map(|(_, file)| *file)
        .chain([FACTS_THEN_APPLY_BODY, REVERT_BODY])
        .any(|file| file == text || shipped::shipped(file) == text)
}

#[test]
fn every_script_parses_in_every_shell() {
    for shell in shells() {
        for (name, source) in ALL_SCRIPTS {
            let text = shipped::shipped(source);
            let output = Command::new(shell[0])
                .args(&shell[1..])
                .args(["-n", "-c", text])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{name} does not parse in {shell:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// What runs on hosts is clean under shellcheck (as scripts/test.sh checks the files).
#[test]
fn every_script_is_clean_under_shellcheck() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `shellcheck` is not installed (scripts/test.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in ALL_SCRIPTS {
        let file = dir.path().join("script.sh");
        std::fs::write(&file, text).unwrap();
        let output = Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
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
fn commands_run_in_sh_with_values_as_arguments_and_sudo_never_prompts() {
    let script = Script::new("echo \"$1\"", vec!["it's".into(), "wg0".into()]);
    assert_eq!(
        command(&script, Become::None),
        r#"sh -c 'echo "$1"' wgdeploy 'it'\''s' wg0"#
    );
    assert!(command(&script, Become::Sudo).starts_with("sudo -n sh -c 'echo "));
    // The command line really passes them so.
    let output = Command::new("sh")
        .args(["-c", &command(&script, Become::None)])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "it's\n");
}

/// Hostile values reach every script as arguments only: its text is the embedded file.
#[test]
fn no_value_is_spliced_into_script_text() {
    let hostile = "x'; reboot; $(reboot) `reboot`";
    let armed = ApplyStep {
        expected_stamp: hostile.into(),
        sysctl_file: Some(format!("{hostile}\n")),
        sysctl_on: vec!["net.ipv4.ip_forward"],
        arm: Some(Arm {
            token: hostile.into(),
            seconds: 5,
            step_seconds: 5,
        }),
        keep_original: true,
        ..step(Action::Syncconf)
    };
    let mut hostile_record = record(3);
    hostile_record.deployment = hostile.into();
    hostile_record.inventory_digest = hostile.into();
    let scripts = [
        facts_script(&wg0()),
        facts_then_apply_script(&wg0(), hostile),
        adopt_script(&wg0(), false),
        adopt_script(&wg0(), true),
        apply_script(&armed),
        confirm_script(&wg0(), true, hostile, &hostile_record),
        revert_now_script(&wg0(), false, hostile),
        read_generation_script(&wg0(), 3),
        remove_script(&wg0(), false, hostile),
        ping_script(&[hostile.into()]),
        refresh_script(&wg0(), &[hostile.into()]),
        inspect_script(&wg0()),
        remove_host_script(&wg0(), true, hostile, hostile, &hostile_record),
    ];
    for script in &scripts {
        assert!(is_static(&script.text), "{:?}", script.args);
        assert!(!script.text.contains("reboot"));
    }
    // The revert.sh an armed apply writes to the host is static too.
    assert!(is_static(&apply_script(&armed).args[13]));
    assert_eq!(apply_script(&armed).args[13], revert_script(false));
}

#[test]
fn apply_never_puts_the_config_on_the_command_line() {
    let config = "[Interface]\nPrivateKey = c2VjcmV0\n";
    let script = apply_script(&ApplyStep {
        write_len: Some(config.len()),
        ..step(Action::Syncconf)
    });
    let line = command(&script, Become::Sudo);
    assert!(!line.contains("c2VjcmV0"));
    assert!(script.args.contains(&config.len().to_string()));
    // It arrives on stdin, checked whole, keyed, written before syncconf reads it.
    let text = &script.text;
    assert!(text.contains(r#"cat > "$tmp""#));
    assert!(text.contains(r#"= "$write_len" ] || fail"#));
    assert!(text.contains(r#"if (!haskey) exit 2"#));
    assert!(text.find("mv -f \"$tmp\"").unwrap() < text.find("guarded_syncconf :").unwrap());
}

/// The order of apply.sh: lock and compare-and-swap, then arming, then receiving the config, then
/// (restart) down while the old config is in place, then the rename, then up; the end of the step
/// is marked before the timer restarts, and the live answer comes last.
#[test]
fn apply_arms_before_any_change_and_takes_down_before_replacing() {
    let text = &APPLY[LIB.len()..];
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} not in apply.sh"))
    };
    let lock = at("take_lock 30");
    let cas = at(r#"[ "$(stamp "$config")" = "$expected" ]"#);
    let arm = at("echo '@@armed'");
    let receive = at(r#"cat > "$tmp""#);
    let down = at("systemd_down; elif ip link show dev \"$name\" >/dev/null 2>&1; then quick down");
    let install = at("mv -f \"$tmp\" \"$config\"");
    let up = at("quick up");
    let applied = at(r#"> "$state/applied""#);
    let restart = at(r#"start_timer "$seconds" "$armed""#);
    let live = text.rfind("live_answer").unwrap();
    assert!(lock < cas && cas < arm && arm < receive && receive < down);
    assert!(down < install && install < up && up < applied);
    assert!(applied < restart && restart < live);
    // With systemd an interface running outside the unit (`wg-quick up` by hand) survives
    // `systemctl stop`, and `systemctl start` would then fail on the existing link: it is taken
    // down with the old config (the link deleted if that fails) before the install, and before
    // an `up` too; a failing step's revert stops its timer.
    let systemd_down = at("systemd_down() {");
    let body = &text[systemd_down..];
    let body = &body[..body.find("\n}").unwrap()];
    assert!(body.contains("unit_do stop") && body.contains("wg-quick down \"$name\""));
    assert!(body.contains("|| ip link del dev \"$name\""));
    assert!(at(r#"[ "$action" = up ] && systemd_down"#) < at("unit_do start"));
    let fail = at("fail() {");
    assert!(text[fail..].find("disarm").unwrap() < text[fail..].find("exit 1").unwrap());
    // The timer holds neither the lock nor the SSH channel; wg-quick's daemon not the lock.
    assert!(LIB.contains("< /dev/null > /dev/null 2>&1 9>&- &"));
    assert!(
        text.contains("setsid -w wg-quick \"$1\" \"$name\" < /dev/null > \"$log\" 2>&1 9>&- ||")
    );
    // The first timer runs for the step's limit plus the confirm window, the restarted one for
    // the window.
    let armed = apply_script(&ApplyStep {
        arm: Some(Arm {
            token: "t".into(),
            seconds: 45,
            step_seconds: 120,
        }),
        ..step(Action::Restart)
    });
    assert_eq!(armed.args[8..11], ["t", "165", "45"]);
}

// ---------------------------------------------------------------------------------------------
// Running the scripts for real.

/// Stubs for the tools the scripts call, acting on the files under `$WGDEPLOY_ROOT` and logging
/// every call to `$WGDEPLOY_ROOT/calls` (`wg-quick down` with the config in place at that moment).
/// `wg show IFACE allowed-ips` answers from the file `allowed-ips` (a peer removed with `wg set`
/// leaves it), `wg show IFACE listen-port` from `listen-port`, `wg show IFACE dump` from those
/// two and `fwmark` (51820 and off without them), `wg syncconf` and `wg addconf` keep the file they were given as `synced` and
/// `added`, and `wg set` appends the content of each preshared-key file it gets to `psk`.
const STUBS: [(&str, &str); 6] = [
    (
        "wg",
        r#"#!/bin/sh
echo "wg $*" >> "$WGDEPLOY_ROOT/calls"
case "$1 $3" in
  "show dump")
    [ -e "$WGDEPLOY_ROOT/sys/class/net/$2" ] || exit 0
    printf 'PRIV\tPUB\t%s\t%s\n' "$(cat "$WGDEPLOY_ROOT/listen-port" 2>/dev/null || echo 51820)" "$(cat "$WGDEPLOY_ROOT/fwmark" 2>/dev/null || echo off)"
    [ -f "$WGDEPLOY_ROOT/allowed-ips" ] && awk -F '\t' '{ ips = $2; gsub(/ /, ",", ips); print $1 "\t(none)\t(none)\t" ips "\t0\t0\t0\toff" }' "$WGDEPLOY_ROOT/allowed-ips" ;;
  "show listen-port") cat "$WGDEPLOY_ROOT/listen-port" 2>/dev/null ;;
  "show allowed-ips") cat "$WGDEPLOY_ROOT/allowed-ips" 2>/dev/null ;;
  "syncconf "*) cp "$3" "$WGDEPLOY_ROOT/synced" ;;
  "addconf "*) cp "$3" "$WGDEPLOY_ROOT/added" ;;
  "set peer")
    [ "$5" = remove ] && [ -f "$WGDEPLOY_ROOT/allowed-ips" ] && { awk -v key="$4" '$1 != key' "$WGDEPLOY_ROOT/allowed-ips" > "$WGDEPLOY_ROOT/ips.tmp"; mv "$WGDEPLOY_ROOT/ips.tmp" "$WGDEPLOY_ROOT/allowed-ips"; }
    last=; for arg; do [ "$last" = preshared-key ] && cat "$arg" >> "$WGDEPLOY_ROOT/psk"; last=$arg; done ;;
  # The public key of a private key on stdin, from the test's table `keys` (`PRIVATE PUBLIC` lines).
  "pubkey ") read -r key; sed -n "s|^$key ||p" "$WGDEPLOY_ROOT/keys" ;;
  "show public-key") cat "$WGDEPLOY_ROOT/live-key" ;;
  "show private-key") cat "$WGDEPLOY_ROOT/live-private-key" 2>/dev/null ;;
  "genkey ") echo GENERATED ;;
esac
exit 0
"#,
    ),
    (
        "wg-quick",
        r#"#!/bin/sh
root=$WGDEPLOY_ROOT
case $1 in
  up) echo "wg-quick up $(cat "$root/etc/wireguard/$2.conf")" >> "$root/calls"; mkdir -p "$root/sys/class/net/$2" ;;
  down) echo "wg-quick down $(cat "$root/etc/wireguard/$2.conf")" >> "$root/calls"; rm -rf "$root/sys/class/net/$2" ;;
  strip) cat "$root/etc/wireguard/$2.conf" ;;
esac
"#,
    ),
    ("flock", "#!/bin/sh\nexit 0\n"),
    (
        "systemctl",
        "#!/bin/sh\necho \"systemctl $*\" >> \"$WGDEPLOY_ROOT/calls\"\nexit 0\n",
    ),
    (
        "ip",
        r#"#!/bin/sh
# ip link show dev X | ip link del dev X | ip route ...: links are directories.
case "$1 $2" in
  "link show") [ -e "$WGDEPLOY_ROOT/sys/class/net/$4" ] ;;
  "link del") rm -rf "$WGDEPLOY_ROOT/sys/class/net/$4" ;;
  *) exit 0 ;;
esac
"#,
    ),
    (
        "sysctl",
        "#!/bin/sh\nkv=$3; key=${kv%%=*}; printf '%s\\n' \"${kv#*=}\" > \"$WGDEPLOY_ROOT/proc/sys/$(echo \"$key\" | tr . /)\"\n",
    ),
];

/// A host's file tree under a temp dir, run by one shell.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    path: String,
    shell: Vec<&'static str>,
}

impl Host {
    fn new(shell: &[&'static str]) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        for sub in [
            "etc/wireguard",
            "etc/sysctl.d",
            "proc/sys/net/ipv4",
            "proc/sys/net/ipv6/conf/all",
            "sys/class/net",
            "var/lib/wgdeploy",
            "bin",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("proc/sys/net/ipv4/ip_forward"), "0\n").unwrap();
        std::fs::write(root.join("proc/sys/net/ipv6/conf/all/forwarding"), "0\n").unwrap();
        for (name, body) in STUBS {
            let file = root.join("bin").join(name);
            std::fs::write(&file, body).unwrap();
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let path = format!(
            "{}:{}",
            root.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Host {
            _dir: dir,
            root,
            path,
            shell: shell.to_vec(),
        }
    }

    /// Runs `script` as the command line does (`SHELL -c TEXT wgdeploy ARG...`) with `stdin`.
    fn run_with(&self, script: &Script, stdin: &[u8]) -> String {
        let (text, stderr, _) = self.run_raw(script, stdin);
        assert!(
            text.ends_with("@@end\n") || text.contains("@@fail"),
            "{:?}: {text}\n{stderr}",
            self.shell,
        );
        text
    }

    /// [`Host::run_with`] as it went: stdout, stderr, exit status.
    fn run_raw(&self, script: &Script, stdin: &[u8]) -> (String, String, Option<i32>) {
        use std::io::Write;
        let mut child = Command::new(self.shell[0])
            .args(&self.shell[1..])
            .arg("-c")
            .arg(script.text.as_ref())
            .arg("wgdeploy")
            .args(&script.args)
            .env("PATH", &self.path)
            .env("WGDEPLOY_ROOT", &self.root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.code(),
        )
    }

    fn run(&self, script: &Script) -> String {
        self.run_with(script, b"")
    }

    fn file(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(path)).ok()
    }

    fn write(&self, path: &str, content: &str) {
        std::fs::write(self.root.join(path), content).unwrap();
    }

    fn up(&self) {
        std::fs::create_dir_all(self.root.join("sys/class/net/wg0")).unwrap();
    }

    fn is_up(&self) -> bool {
        self.root.join("sys/class/net/wg0").exists()
    }

    fn calls(&self) -> String {
        String::from_utf8(self.file("calls").unwrap_or_default()).unwrap()
    }

    /// The config's stamp as the facts script reports it.
    fn stamp(&self) -> String {
        let facts = self.run(&facts_script(&wg0()));
        facts
            .lines()
            .find_map(|line| line.strip_prefix("@@stamp "))
            .unwrap()
            .to_owned()
    }

    /// Applies `config` as a restart, armed with `token`; the timer fires `seconds` after the step.
    fn apply_armed(&self, config: &str, token: &str, seconds: u64, keep_original: bool) -> String {
        let step = ApplyStep {
            write_len: Some(config.len()),
            expected_stamp: self.stamp(),
            arm: Some(Arm {
                token: token.into(),
                seconds,
                step_seconds: 1,
            }),
            keep_original,
            ..step(Action::Restart)
        };
        self.run_with(&apply_script(&step), config.as_bytes())
    }

    /// Polls `done` until it holds or `limit` passes (timers on a busy machine run late).
    fn wait_until(&self, done: impl Fn() -> bool, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// The machine's uptime in seconds (/proc/uptime), the lock-out timer's clock.
fn uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

const OLD: &str = "[Interface]\n# old, no trailing newline: PrivateKey = x";
const NEW: &str = "[Interface]\nPrivateKey = bmV3\n";
const STATE: &str = "var/lib/wgdeploy/wg0";

/// The facts script reads the tree it is given, in every shell.
#[test]
fn facts_read_the_host_in_every_shell() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.write("proc/sys/net/ipv4/ip_forward", "1\n");
        host.up();
        let text = host.run(&facts_script(&wg0()));
        let facts = crate::remote::facts::parse(text.as_bytes())
            .unwrap_or_else(|err| panic!("{shell:?}: {err}\n{text}"));
        assert!(
            text.contains("@@sysctl\nnet.ipv4.ip_forward=1\nnet.ipv6.conf.all.forwarding=0\n"),
            "{shell:?}: {text}"
        );
        assert!(
            text.contains(&format!("@@config {}\n{OLD}\n", OLD.len())),
            "{text}"
        );
        assert!(text.contains("@@link\npresent\n"), "{text}");
        assert!(
            text.contains("@@dump\n-\tPUB\t51820\toff\n"),
            "the private key is blanked: {text}"
        );
        assert!(!facts.systemd);
    }
}

/// The survey starts no process for what the shell or an awk it runs anyway can read: the host's
/// clock comes from /proc (the dump's awk), not `date`, and the config's length from its stamp,
/// not `wc`.
#[test]
fn the_survey_reads_the_clock_from_proc_and_the_length_from_the_stamp() {
    for shell in shells() {
        let host = Host::new(&shell);
        for (tool, body) in [
            ("date", "exec /bin/date \"$@\""),
            ("wc", "exec /usr/bin/wc \"$@\""),
        ] {
            let file = host.root.join("bin").join(tool);
            let log = format!("echo \"{tool} $*\" >> \"$WGDEPLOY_ROOT/calls\"");
            std::fs::write(&file, format!("#!/bin/sh\n{log}\n{body}\n")).unwrap();
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        host.write("etc/wireguard/wg0.conf", OLD);
        host.up();
        let text = host.run(&facts_script(&wg0()));
        let facts = crate::remote::facts::parse(text.as_bytes()).unwrap();
        assert!(
            text.contains(&format!("@@config {}\n{OLD}\n", OLD.len())),
            "{shell:?}: {text}"
        );
        let calls = host.calls();
        assert!(
            !calls.contains("date") && !calls.contains("wc"),
            "{shell:?}: {calls}"
        );
        // A config that is a symlink: its stamp is the link's own (stat does not follow it), so
        // the frame's length is counted (the frame is the target's content, whole).
        let target = host.root.join("a-config-kept-somewhere-else.conf");
        std::fs::write(&target, NEW).unwrap();
        std::fs::remove_file(host.root.join("etc/wireguard/wg0.conf")).unwrap();
        std::os::unix::fs::symlink(&target, host.root.join("etc/wireguard/wg0.conf")).unwrap();
        let text = host.run(&facts_script(&wg0()));
        assert!(
            text.contains(&format!("@@config {}\n{NEW}\n", NEW.len())),
            "{shell:?}: {text}"
        );
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            facts.now.abs_diff(clock) <= 2,
            "{shell:?}: {} vs {clock}",
            facts.now
        );
    }
}

/// Apply's survey runs the step it is sent after its facts, on the same command: the arguments
/// reach apply.sh exactly (newlines, quotes and `$(…)` included, nothing run), the armed step
/// writes the revert.sh it holds, and the config arrives byte for byte (no trailing newline
/// either); with nothing sent it ends after its facts and changes nothing.
#[test]
fn the_survey_runs_the_step_it_is_sent_after_its_facts() {
    let hostile = "x'; $(touch \"$WGDEPLOY_ROOT/pwned\") `touch \"$WGDEPLOY_ROOT/pwned\"`\n\\n '";
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.up();
        let script = facts_then_apply_script(&wg0(), "n0nce");
        assert!(script.args[..2].iter().all(|arg| is_static(arg)));
        // revert.sh, as then-apply.sh puts it together on the host.
        let (lib, body) = (&script.args[0], &script.args[1]);
        assert_eq!(
            format!("#!/bin/sh\nsystemd=yes\n{lib}{body}"),
            revert_script(true)
        );
        assert_eq!(
            format!("#!/bin/sh\nsystemd=\n{lib}{body}"),
            revert_script(false)
        );

        let (quiet, stderr, status) = host.run_raw(&script, b"");
        assert_eq!(status, Some(0), "{shell:?}: {stderr}");
        assert!(
            quiet.ends_with("@@end\n@@wgdeploy-ready n0nce\n"),
            "{shell:?}: {quiet}"
        );
        let facts = crate::remote::facts::parse(quiet.as_bytes()).unwrap();
        assert!(
            matches!(&facts.config, crate::core::facts::FileFact::Present(text) if text.expose() == OLD),
            "{shell:?}: {quiet}"
        );
        let calls = host.calls();
        assert!(!calls.contains("wg-quick"), "{shell:?}: {calls}");
        assert!(!host.root.join(STATE).join("armed").exists(), "{shell:?}");

        let config = "[Interface]\nPrivateKey = bmV3\n# no trailing newline";
        let step = ApplyStep {
            write_len: Some(config.len()),
            expected_stamp: host.stamp(),
            sysctl_file: Some(format!("{hostile}\n")),
            arm: Some(Arm {
                token: "token-9".into(),
                seconds: 5,
                step_seconds: 1,
            }),
            ..step(Action::Restart)
        };
        let input = step_input(&step, config.as_bytes());
        let line_end = input.iter().position(|&byte| byte == b'\n').unwrap();
        assert_eq!(
            &input[line_end + 1..],
            config.as_bytes(),
            "one line, then the config"
        );
        let (out, stderr, status) = host.run_raw(&script, &input);
        assert_eq!(status, Some(0), "{shell:?}: {out}\n{stderr}");
        let (before, after) = out.split_once("@@wgdeploy-ready n0nce\n").unwrap();
        assert!(before.ends_with("@@end\n"), "{shell:?}: {before}");
        assert!(
            after.contains("@@armed\n")
                && after.contains("@@done restart\n")
                && after.ends_with("@@end\n"),
            "{shell:?}: {after}"
        );
        assert_eq!(
            host.file("etc/wireguard/wg0.conf").unwrap(),
            config.as_bytes()
        );
        assert_eq!(
            host.file("etc/sysctl.d/99-wgdeploy-wg0.conf").unwrap(),
            format!("{hostile}\n").as_bytes()
        );
        assert_eq!(
            host.file(&format!("{STATE}/revert.sh")).unwrap(),
            revert_script(false).as_bytes()
        );
        assert!(host.file("pwned").is_none(), "{shell:?}: a value ran");
        assert!(host.file(&format!("{STATE}/armed")).is_some());
    }
}

/// `disarm` stops the timer `start_timer` started (its whole process group), and leaves alone a
/// process that took its pid but is not wgdeploy's sleeper.
#[test]
fn disarm_stops_the_timer_and_nothing_else() {
    let running = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.starts_with(" Z"))
        })
    };
    for shell in shells() {
        let host = Host::new(&shell);
        std::fs::create_dir_all(host.root.join(STATE)).unwrap();
        let snippet = format!(
            "{LIB}\npaths wg0; systemd=; start_timer 30 t; first_line pid \"$state/armed.pid\"; echo \"@@pid $pid\"; echo '@@end'\n"
        );
        let text = host.run(&Script {
            text: Cow::Owned(snippet),
            args: vec![],
        });
        let pid = text
            .lines()
            .find_map(|line| line.strip_prefix("@@pid "))
            .unwrap()
            .to_owned();
        assert!(running(&pid), "{shell:?}: {text}");
        // A group leader, as the sleeper is (disarm signals the group).
        let mut stranger =
            std::os::unix::process::CommandExt::process_group(Command::new("sleep").arg("30"), 0)
                .spawn()
                .unwrap();
        let disarm = |pid: &str| {
            host.write(&format!("{STATE}/armed.pid"), &format!("{pid}\n"));
            host.run(&Script {
                text: Cow::Owned(format!(
                    "{LIB}\npaths wg0; systemd=; disarm; echo '@@end'\n"
                )),
                args: vec![],
            });
        };
        disarm(&stranger.id().to_string());
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "{shell:?}: a process that is not the sleeper is left alone"
        );
        stranger.kill().unwrap();
        stranger.wait().unwrap();
        disarm(&pid);
        assert!(
            host.wait_until(|| !running(&pid), Duration::from_secs(2)),
            "{shell:?}: the sleeper is stopped"
        );
    }
}

/// Without systemd one timer does both jobs: it fires WINDOW seconds after the step's end (the
/// uptime the step writes after its token into `applied`), not at its first wake before that, and
/// at SECONDS when the step never ends. (Firing times are read from /proc/uptime by the revert.)
#[test]
fn the_timer_fires_a_window_after_the_step_or_at_its_limit() {
    std::thread::scope(|scope| {
        for shell in shells() {
            for ends in [true, false] {
                let shell = shell.clone();
                scope.spawn(move || {
                    let host = Host::new(&shell);
                    std::fs::create_dir_all(host.root.join(STATE)).unwrap();
                    host.write(
                        &format!("{STATE}/revert.sh"),
                        "read -r up < /proc/uptime; echo \"$1 $up\" > \"${0%/*}/fired\"\n",
                    );
                    let armed = uptime();
                    // The step "ends" one to two seconds after arming (whole seconds of uptime,
                    // as the step writes it): window 2 s (its first wake at 2 s), limit 6 s; a
                    // step that never ends: limit 3 s.
                    let limit = if ends { 6 } else { 3 };
                    let end = armed.ceil() + 1.0;
                    if ends {
                        host.write(&format!("{STATE}/applied"), &format!("t\n{end}\n"));
                    }
                    let snippet = format!(
                        "{LIB}\npaths wg0; systemd=; start_timer {limit} t 2; echo '@@end'\n"
                    );
                    host.run(&Script {
                        text: Cow::Owned(snippet),
                        args: vec![],
                    });
                    // (Complete: the redirection makes the file before the line is in it.)
                    let fired = || {
                        host.file(&format!("{STATE}/fired"))
                            .filter(|text| text.ends_with(b"\n"))
                    };
                    assert!(
                        host.wait_until(|| fired().is_some(), Duration::from_secs(10)),
                        "{shell:?} {ends}: never fired"
                    );
                    let text = String::from_utf8(fired().unwrap()).unwrap();
                    let at: f64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
                    // Ends: a window after the end, within the second the sleeper counts in
                    // (end + 2 is 3 to 4 s after arming: not its first wake, 2 s, nor its limit,
                    // 6 s). Never ends: at its limit, 3 s (not a window after the first wake, 4 s).
                    let due = if ends { end + 2.0 - armed } else { 3.0 };
                    let late = if ends { 1.5 } else { 0.6 };
                    let after = at - armed;
                    assert!(
                        after >= due - 0.1 && after < due + late,
                        "{shell:?} {ends}: fired {after:.2} s after arming, due {due:.2}"
                    );
                });
            }
        }
    });
}

/// An armed apply that is confirmed records a generation, disarms (no revert ever fires), and the
/// interface went down with the old config in place and up with the new one.
#[test]
fn an_armed_apply_that_is_confirmed_records_a_generation_and_disarms() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.up();
        let before = uptime();
        let out = host.apply_armed(NEW, "token-1", 1, false);
        let after = uptime();
        assert!(
            out.contains("@@armed\n")
                && out.contains("@@written\n")
                && out.contains("@@done restart\n"),
            "{shell:?}: {out}"
        );
        assert!(!out.contains("@@fail"), "{shell:?}: {out}");
        let calls = host.calls();
        let down = calls
            .find(&format!("wg-quick down {OLD}"))
            .expect("down with the old config");
        let up = calls
            .find(&format!("wg-quick up {NEW}"))
            .expect("up with the new config");
        assert!(down < up, "{calls}");
        assert_eq!(
            host.file("etc/wireguard/wg0.conf.wgdeploy-prev").unwrap(),
            OLD.as_bytes()
        );
        // The token, then the step's end as whole seconds of uptime, rounded up (the timer's
        // reference: it never fires before the window is over).
        let applied = String::from_utf8(host.file(&format!("{STATE}/applied")).unwrap()).unwrap();
        let (token, end) = applied.split_once('\n').unwrap();
        let end: f64 = end.trim_end().parse().unwrap();
        assert!(
            token == "token-1" && end > before && end <= after + 1.0,
            "{applied} (the step ran between {before:.2} and {after:.2})"
        );

        let confirmed = host.run(&confirm_script(&wg0(), false, "token-1", &record(10)));
        assert!(
            confirmed.contains("@@confirmed\n@@generation 1\n"),
            "{shell:?}: {confirmed}"
        );

        assert_eq!(
            host.file(&format!("{STATE}/generations/1.conf")).unwrap(),
            NEW.as_bytes()
        );
        let meta =
            String::from_utf8(host.file(&format!("{STATE}/generations/1.meta")).unwrap()).unwrap();
        assert!(
            meta.starts_with("deployment=20261125-101500-abcd\nkind=apply\ntime="),
            "{meta}"
        );
        for file in ["armed", "armed.conf", "armed.up", "armed.pid", "applied"] {
            assert!(
                host.file(&format!("{STATE}/{file}")).is_none(),
                "{shell:?}: {file} left"
            );
        }
        // The timer (1 s) was stopped: nothing reverts.
        std::thread::sleep(Duration::from_millis(1800));
        assert!(
            host.file(&format!("{STATE}/reverted")).is_none(),
            "{shell:?}: reverted after a confirm"
        );
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), NEW.as_bytes());
    }
}

/// An armed apply that nobody confirms puts the old config back by itself when its timer fires,
/// byte for byte, and the interface is up again with it.
#[test]
fn an_armed_apply_that_is_not_confirmed_reverts_when_its_timer_fires() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.up();
        let out = host.apply_armed(NEW, "token-2", 1, false);
        assert!(
            out.contains("@@done restart\n") && !out.contains("@@fail"),
            "{shell:?}: {out}"
        );
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), NEW.as_bytes());
        // revert.sh's last steps: `reverted` written, then `armed` removed. Wait for both, so a
        // busy machine does not catch it between them (or `reverted` created but not yet written).
        let finished = || {
            host.file(&format!("{STATE}/reverted"))
                .is_some_and(|text| text.ends_with(b"\n"))
                && host.file(&format!("{STATE}/armed")).is_none()
        };
        assert!(
            host.wait_until(finished, Duration::from_secs(30)),
            "{shell:?}: no revert"
        );
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), OLD.as_bytes());
        assert!(host.is_up(), "{shell:?}: brought back up");
        assert!(
            host.calls().ends_with(&format!("wg-quick up {OLD}\n")),
            "{}",
            host.calls()
        );
        let reverted = String::from_utf8(host.file(&format!("{STATE}/reverted")).unwrap()).unwrap();
        assert!(reverted.starts_with("token-2 "), "{reverted}");
        assert!(host.file(&format!("{STATE}/armed")).is_none());
        // A late confirm learns that it reverted.
        let late = host.run(&confirm_script(&wg0(), false, "token-2", &record(10)));
        assert!(late.contains("@@reverted "), "{late}");
    }
}

/// A confirm of another run's token changes nothing; revert-now puts the previous config back byte
/// for byte (a first deployment: the config goes and the interface stays down).
#[test]
fn a_confirm_of_another_token_does_nothing_and_revert_now_restores_byte_for_byte() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.up();
        host.apply_armed(NEW, "token-3", 30, false);
        let other = host.run(&confirm_script(&wg0(), false, "token-other", &record(10)));
        assert!(other.contains("@@not-armed\n"), "{shell:?}: {other}");
        assert_eq!(host.file(&format!("{STATE}/armed")).unwrap(), b"token-3\n");
        assert!(host.file(&format!("{STATE}/generations/1.conf")).is_none());
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), NEW.as_bytes());

        let wrong = host.run(&revert_now_script(&wg0(), false, "token-other"));
        assert!(wrong.contains("@@not-armed\n"), "{wrong}");
        let now = host.run(&revert_now_script(&wg0(), false, "token-3"));
        assert!(now.contains("@@reverted-now\n"), "{shell:?}: {now}");
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), OLD.as_bytes());
        assert!(host.is_up());

        // A first deployment reverted: no config before, none after, interface down.
        let fresh = Host::new(&shell);
        fresh.apply_armed(NEW, "token-4", 30, false);
        assert!(fresh.is_up());
        let now = fresh.run(&revert_now_script(&wg0(), false, "token-4"));
        assert!(now.contains("@@reverted-now\n"), "{now}");
        assert!(fresh.file("etc/wireguard/wg0.conf").is_none());
        assert!(!fresh.is_up());
    }
}

/// A failing armed step reverts at once; a stale stamp changes nothing.
#[test]
fn a_failing_step_reverts_at_once_and_a_stale_plan_changes_nothing() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        let stale = host.run_with(
            &apply_script(&ApplyStep {
                write_len: Some(NEW.len()),
                expected_stamp: "1 2 3".into(),
                ..step(Action::Up)
            }),
            NEW.as_bytes(),
        );
        assert!(
            stale.contains("@@fail wg0.conf changed on the host since the plan was made"),
            "{stale}"
        );
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), OLD.as_bytes());
        // Half a config arrives: refused before anything changed, and put back.
        let cut_step = ApplyStep {
            write_len: Some(NEW.len() + 5),
            expected_stamp: host.stamp(),
            arm: Some(Arm {
                token: "t5".into(),
                seconds: 30,
                step_seconds: 30,
            }),
            ..step(Action::Restart)
        };
        let cut = host.run_with(&apply_script(&cut_step), NEW.as_bytes());
        assert!(
            cut.contains("@@fail the config arrived incomplete") && cut.contains("@@reverted-now"),
            "{shell:?}: {cut}"
        );
        assert_eq!(host.file("etc/wireguard/wg0.conf").unwrap(), OLD.as_bytes());
        let left: Vec<_> = std::fs::read_dir(host.root.join("etc/wireguard"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("wgdeploy-tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// Generation 0 is the original config byte for byte, 0600, `kind=original`; confirms that prune
/// old generations never remove it.
#[test]
fn generation_0_keeps_the_original_and_is_never_pruned() {
    use std::os::unix::fs::PermissionsExt;
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        let out = host.apply_armed(NEW, "20261125-101500-abcd", 30, true);
        assert!(out.contains("@@done original\n"), "{shell:?}: {out}");
        let gens = host.root.join(STATE).join("generations");
        assert_eq!(std::fs::read(gens.join("0.conf")).unwrap(), OLD.as_bytes());
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
        let read = host.run(&read_generation_script(&wg0(), 0));
        assert!(
            read.contains(&format!("@@generation-config {}\n{OLD}\n", OLD.len())),
            "{read}"
        );

        for n in 1..=5 {
            std::fs::write(gens.join(format!("{n}.meta")), "kind=apply\n").unwrap();
            std::fs::write(gens.join(format!("{n}.conf")), "").unwrap();
        }
        let confirmed = host.run(&confirm_script(
            &wg0(),
            false,
            "20261125-101500-abcd",
            &record(3),
        ));
        assert!(confirmed.contains("@@generation 6\n"), "{confirmed}");
        let mut left: Vec<String> = std::fs::read_dir(&gens)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".meta"))
            .collect();
        left.sort();
        assert_eq!(left, ["0.meta", "4.meta", "5.meta", "6.meta"], "{shell:?}");
    }
}

/// A syncconf with forwarding: the sysctl.d file written, the sysctl switched on, a stale route
/// dropped, and systemd's unit enabled; `up` with systemd starts the unit.
#[test]
fn syncconf_forwarding_and_systemd_run() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.up();
        let syncconf = ApplyStep {
            write_len: Some(NEW.len()),
            expected_stamp: host.stamp(),
            systemd: true,
            enable_unit: true,
            sysctl_file: Some("net.ipv4.ip_forward = 1\n".into()),
            sysctl_on: vec!["net.ipv4.ip_forward"],
            stale_routes: vec![crate::core::routes::StaleRoute {
                prefix: "198.18.77.0/24".parse().unwrap(),
                table: "main".into(),
            }],
            ..step(Action::Syncconf)
        };
        let out = host.run_with(&apply_script(&syncconf), NEW.as_bytes());
        assert!(
            out.contains("@@written\n@@done syncconf\n@@done enable\n@@done sysctl-file\n@@done sysctl\n@@dump\n"),
            "{shell:?}: {out}"
        );
        assert_eq!(host.file("proc/sys/net/ipv4/ip_forward").unwrap(), b"1\n");
        assert_eq!(
            host.file("etc/sysctl.d/99-wgdeploy-wg0.conf").unwrap(),
            b"net.ipv4.ip_forward = 1\n"
        );
        let calls = host.calls();
        assert!(calls.contains("wg syncconf wg0 "), "{calls}");
        assert!(calls.contains("systemctl enable wg-quick@wg0"), "{calls}");
        assert!(!calls.contains("wg-quick down"), "{calls}");

        let removed = host.run(&apply_script(&ApplyStep {
            write_len: None,
            expected_stamp: host.stamp(),
            systemd: true,
            sysctl_file: Some(String::new()),
            ..step(Action::Restart)
        }));
        assert!(
            removed.contains("@@done restart\n@@done sysctl-file\n"),
            "{removed}"
        );
        assert!(host.file("etc/sysctl.d/99-wgdeploy-wg0.conf").is_none());
        let calls = host.calls();
        let stop = calls.find("systemctl stop wg-quick@wg0").unwrap();
        assert!(
            calls[stop..].contains("systemctl start wg-quick@wg0"),
            "{calls}"
        );
    }
}

/// A config whose peers, against [`LIVE_ALLOWED_IPS`], keep their prefixes (`kept=`, only its
/// keepalive is new; `reordered=`, written in another order and over two lines, with a preshared
/// key and an endpoint), change them (`changed=`), are new (`new=`), or keep them written otherwise
/// than `wg show` prints them (`unmasked=`).
const PEERS: &str = "[Interface]\nPrivateKey = bmV3\nListenPort = 51820\n\n\
[Peer]\nPublicKey = kept=\nAllowedIPs = 100.64.0.2/32, 198.18.77.0/24\nPersistentKeepalive = 25\n\n\
[Peer]\nPublicKey = changed=\nAllowedIPs = 100.64.0.3/32, 198.18.78.0/24\n\n\
[Peer]\nPublicKey = new=\nAllowedIPs = 100.64.0.4/32\n\n\
[Peer]\nAllowedIPs = 198.18.79.0/24\nPublicKey = reordered=\nallowedips=100.64.0.5/32,100.64.0.6/32 # two\n\
PresharedKey = c2VjcmV0\nEndpoint = 198.51.100.7:51820\n\n\
[Peer]\nPublicKey = unmasked=\nAllowedIPs = 100.64.0.7\n";
/// What `wg show wg0 allowed-ips` prints for the peers of [`PEERS`] (and a peer the config drops).
const LIVE_ALLOWED_IPS: &str = "kept=\t198.18.77.0/24 100.64.0.2/32\nchanged=\t100.64.0.3/32\n\
reordered=\t100.64.0.6/32 198.18.79.0/24 100.64.0.5/32\nunmasked=\t100.64.0.7/32\ngone=\t100.64.0.9/32\n";
/// What `wg addconf` gets of [`PEERS`] when `kept=` and `reordered=` are spared: the rest, with
/// what syncconf resets when unset written out, and without the port the interface listens on.
const ADDED: &str = "[Interface]\nFwMark = off\nPrivateKey = bmV3\n\n\
[Peer]\nPersistentKeepalive = off\nPresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
PublicKey = changed=\nAllowedIPs = 100.64.0.3/32, 198.18.78.0/24\n\n\
[Peer]\nPersistentKeepalive = off\nPresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
PublicKey = new=\nAllowedIPs = 100.64.0.4/32\n\n\
[Peer]\nPersistentKeepalive = off\nPresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
PublicKey = unmasked=\nAllowedIPs = 100.64.0.7\n\n";

/// `wg syncconf` replaces the allowed IPs of every peer in its file, and a packet routed while
/// they are out is dropped: peers whose prefixes stay the same (as a set) go to `wg set` without
/// allowed IPs (their other fields set, the preshared key through a file), the rest to
/// `wg addconf`, and live peers the config lacks are removed. The refresh's reset peers are not
/// live, so they are not spared; with nothing to spare it is syncconf as before.
#[test]
fn syncconf_spares_unchanged_allowed_ips() {
    let set_line = |calls: &str| {
        calls
            .lines()
            // (not the refresh's `wg set wg0 peer KEY remove`)
            .filter(|line| line.starts_with("wg set wg0 peer") && line.split(' ').count() > 6)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", OLD);
        host.write("allowed-ips", LIVE_ALLOWED_IPS);
        host.write("listen-port", "51820\n");
        host.up();
        let out = host.run_with(
            &apply_script(&ApplyStep {
                write_len: Some(PEERS.len()),
                expected_stamp: host.stamp(),
                ..step(Action::Syncconf)
            }),
            PEERS.as_bytes(),
        );
        assert!(out.contains("@@done syncconf\n"), "{shell:?}: {out}");
        assert!(host.file("synced").is_none(), "{shell:?}: {}", host.calls());
        let added = String::from_utf8(host.file("added").unwrap()).unwrap();
        assert_eq!(added, ADDED, "{shell:?}");
        let set = set_line(&host.calls());
        assert_eq!(set.len(), 1, "{shell:?}: {set:?}");
        let psk_file = "/etc/wireguard/.wg0.wgdeploy-strip.";
        let expected = format!(
            "wg set wg0 peer kept= persistent-keepalive 25 preshared-key /dev/null \
             peer reordered= persistent-keepalive off endpoint 198.51.100.7:51820 preshared-key {}{psk_file}",
            host.root.display()
        );
        assert!(set[0].starts_with(&expected), "{shell:?}: {}", set[0]);
        assert!(
            set[0].ends_with(" peer gone= remove"),
            "{shell:?}: {}",
            set[0]
        );
        assert_eq!(host.file("psk").unwrap(), b"c2VjcmV0\n", "{shell:?}");
        // Its temp files are gone (the preshared key's among them), the config on disk is whole.
        let left: Vec<String> = std::fs::read_dir(host.root.join("etc/wireguard"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("strip"))
            .collect();
        assert!(left.is_empty(), "{shell:?}: {left:?}");
        assert_eq!(
            host.file("etc/wireguard/wg0.conf").unwrap(),
            PEERS.as_bytes()
        );
        // The config (received into a temp file the umask made) holds the key: 0600.
        let mode = std::fs::metadata(host.root.join("etc/wireguard/wg0.conf"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{shell:?}"
        );

        // The refresh removes `kept=` first: it comes back whole, through addconf.
        host.write("calls", "");
        let out = host.run(&refresh_script(&wg0(), &["kept=".into()]));
        assert!(out.contains("@@done refresh\n"), "{shell:?}: {out}");
        let added = String::from_utf8(host.file("added").unwrap()).unwrap();
        assert!(
            added.contains("PublicKey = kept=\nAllowedIPs = 100.64.0.2/32, 198.18.77.0/24\n"),
            "{shell:?}: {added}"
        );
        let set = set_line(&host.calls());
        assert!(
            set.len() == 1 && set[0].starts_with("wg set wg0 peer reordered= "),
            "{shell:?}: {set:?}"
        );

        // Without an answer from `wg show` nothing is spared: syncconf gets the config as it is.
        std::fs::remove_file(host.root.join("allowed-ips")).unwrap();
        let out = host.run(&refresh_script(&wg0(), &[]));
        assert!(out.contains("@@done refresh\n"), "{shell:?}: {out}");
        // (wg-quick strip's form: an empty line last)
        assert_eq!(
            host.file("synced").unwrap(),
            format!("{PEERS}\n").as_bytes(),
            "{shell:?}"
        );
    }
}

/// What makes sparing unsure falls back to syncconf: a prefix in two peers, a field wg does not
/// know, no ListenPort.
#[test]
fn sparing_falls_back_to_syncconf_when_unsure() {
    let base = "[Interface]\nPrivateKey = bmV3\nListenPort = 1\n[Peer]\nPublicKey = kept=\nAllowedIPs = 100.64.0.2/32\n";
    let cases = [
        format!("{base}[Peer]\nPublicKey = other=\nAllowedIPs = 100.64.0.2/32\n"),
        format!("{base}Mystery = 1\n"),
        base.replace("ListenPort = 1\n", ""),
    ];
    for shell in shells() {
        for config in &cases {
            let host = Host::new(&shell);
            host.write("etc/wireguard/wg0.conf", config);
            host.write("allowed-ips", "kept=\t100.64.0.2/32\n");
            // (No port to keep: the case without ListenPort stays without.)
            host.write("listen-port", "0\n");
            host.up();
            let out = host.run(&refresh_script(&wg0(), &[]));
            assert!(out.contains("@@done refresh\n"), "{shell:?}: {out}");
            assert_eq!(
                host.file("synced").unwrap(),
                format!("{config}\n").as_bytes(),
                "{shell:?}"
            );
            assert!(host.file("added").is_none(), "{shell:?}: {config}");
        }
        // The same config without the doubt is spared.
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", base);
        host.write("allowed-ips", "kept=\t100.64.0.2/32\n");
        host.up();
        host.run(&refresh_script(&wg0(), &[]));
        assert!(
            host.file("synced").is_none() && host.file("added").is_some(),
            "{shell:?}"
        );
    }
}

/// The refresh resets exactly the peers it is given, then syncs; remove undoes a first deployment.
#[test]
fn refresh_and_remove_run() {
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", NEW);
        host.up();
        let out = host.run(&refresh_script(&wg0(), &["a+b/c=".into(), "it's".into()]));
        assert!(out.contains("@@done refresh\n"), "{shell:?}: {out}");
        let calls = host.calls();
        assert!(
            calls.contains("wg set wg0 peer a+b/c= remove\nwg set wg0 peer it's remove\n"),
            "{calls}"
        );
        assert!(calls.find("peer it's remove").unwrap() < calls.find("wg syncconf").unwrap());

        std::fs::create_dir_all(host.root.join(STATE).join("generations")).unwrap();
        host.write(
            &format!("{STATE}/generations/1.meta"),
            "deployment=d1\nkind=apply\n",
        );
        host.write(&format!("{STATE}/generations/1.conf"), NEW);
        host.write(
            &format!("{STATE}/generations/2.meta"),
            "deployment=d2\nkind=apply\n",
        );
        let out = host.run(&remove_script(&wg0(), false, "d1"));
        assert!(out.contains("@@done remove\n"), "{out}");
        assert!(!host.is_up() && host.file("etc/wireguard/wg0.conf").is_none());
        assert!(host.file(&format!("{STATE}/generations/1.meta")).is_none());
        assert!(host.file(&format!("{STATE}/generations/2.meta")).is_some());
    }
}

/// The lib's readers: generations in any order with junk beside them, one-line files, a last line
/// without a newline, a missing file; strip_config against a live interface's port and fwmark.
/// rm_present removes what exists (dangling links too) and starts no `rm` when nothing does (an
/// `rm` on PATH that records its calls).
#[test]
fn rm_present_starts_rm_only_for_files_that_exist() {
    for shell in shells() {
        let host = Host::new(&shell);
        let rm = host.root.join("bin/rm");
        std::fs::write(
            &rm,
            "#!/bin/sh\necho \"rm $*\" >> \"$WGDEPLOY_ROOT/calls\"\nexec /bin/rm \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&rm, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let dir = host.root.join("t");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.1"), "").unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("link")).unwrap();
        let snippet = format!(
            "{LIB}\nrm_present \"$1\"/none.* \"$1/absent\" && echo '@@none'\nrm_present \"$1\"/x.* \"$1/link\" \"$1/absent\" && echo '@@end'\n"
        );
        let text = host.run(&Script {
            text: Cow::Owned(snippet),
            args: vec![dir.to_string_lossy().into_owned()],
        });
        assert!(text.contains("@@none\n"), "{shell:?}: {text}");
        let calls = host.calls();
        assert_eq!(calls.lines().count(), 1, "{shell:?}: {calls}");
        assert!(!dir.join("x.1").exists() && std::fs::symlink_metadata(dir.join("link")).is_err());
    }
}

#[test]
fn lib_functions_work_in_every_shell() {
    for shell in shells() {
        let host = Host::new(&shell);
        let dir = host.root.join("t");
        std::fs::create_dir_all(dir.join("generations")).unwrap();
        for n in [1, 2, 10] {
            std::fs::write(
                dir.join(format!("generations/{n}.meta")),
                format!("deployment=d{n}\nkind=apply"),
            )
            .unwrap();
        }
        std::fs::write(dir.join("generations/x1.meta"), "deployment=junk\n").unwrap();
        std::fs::write(dir.join("armed"), "token-1 1700000000\nsecond line\n").unwrap();
        let snippet = format!(
            "{LIB}\ngenerations \"$1/generations\"\nfirst_line a \"$1/armed\"; printf 'armed=[%s]\\n' \"$a\"\nfirst_line m \"$1/absent\"; printf 'missing=[%s]\\n' \"$m\"\nframe f \"$1/armed\"\necho '@@end'\n"
        );
        // A test-only script: lib.sh's functions called on a directory of the test's own.
        let text = host.run(&Script {
            text: Cow::Owned(snippet),
            args: vec![dir.to_string_lossy().into_owned()],
        });
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let parsed = crate::remote::facts::parse_generations(&lines);
        let seen: Vec<(u64, &str)> = parsed
            .iter()
            .map(|g| (g.number, g.deployment.as_str()))
            .collect();
        assert_eq!(
            seen,
            [(1, "d1"), (2, "d2"), (10, "d10")],
            "{shell:?}: {text}"
        );
        assert!(text.contains("armed=[token-1 1700000000]\n"), "{text}");
        assert!(text.contains("missing=[]\n"), "{text}");
        assert!(
            text.contains("@@f 31\ntoken-1 1700000000\nsecond line\n\n"),
            "{text}"
        );

        // strip_config with a live interface listening on 38434 with the mark 0xca6c: the port
        // goes into a config without ListenPort (a configured one stays), the mark into one with a
        // /0 and no FwMark only; a config without a PrivateKey fails (2), its Table still read.
        std::fs::write(dir.join("live"), "PRIV\tPUB\t38434\t0xca6c\n").unwrap();
        let full = "[Interface]\nListenPort = 1\nPrivateKey = K\n[Peer]\nPublicKey = P\n";
        let cases: [(&str, String, String, &str); 7] = [
            (
                "port",
                "# c\n[interface]\nPrivateKey = K\n\n[Peer]\nPublicKey = P\n".into(),
                "# c\n[interface]\nListenPort = 38434\nPrivateKey = K\n\n[Peer]\nPublicKey = P\n\n".into(),
                "0 []",
            ),
            (
                "fixed",
                "[Interface]\nlistenport = 51820\nPrivateKey = K\n".into(),
                "[Interface]\nlistenport = 51820\nPrivateKey = K\n\n".into(),
                "0 []",
            ),
            (
                "full",
                format!("{full}AllowedIPs = 100.64.0.0/24, 0.0.0.0/0 # exit\n"),
                format!("{full}AllowedIPs = 100.64.0.0/24, 0.0.0.0/0 # exit\n\n")
                    .replacen("[Interface]\n", "[Interface]\nFwMark = 0xca6c\n", 1),
                "0 []",
            ),
            (
                "v6",
                format!("{full}allowedips=::/0\n"),
                format!("{full}allowedips=::/0\n\n")
                    .replacen("[Interface]\n", "[Interface]\nFwMark = 0xca6c\n", 1),
                "0 []",
            ),
            (
                "split",
                format!("{full}AllowedIPs = 100.64.0.0/24 # 0.0.0.0/0\n"),
                format!("{full}AllowedIPs = 100.64.0.0/24 # 0.0.0.0/0\n\n"),
                "0 []",
            ),
            (
                "own",
                format!("[Interface]\nFwMark = 0x1234\n{}AllowedIPs = 0.0.0.0/0\n", &full[12..]),
                format!("[Interface]\nFwMark = 0x1234\n{}AllowedIPs = 0.0.0.0/0\n\n", &full[12..]),
                "0 []",
            ),
            (
                "keyless",
                "[Interface]\nAddress = 100.64.0.1/24\n Table = off # hooks route\n[Peer]\nTable = 7\n".into(),
                String::new(),
                "2 [off]",
            ),
        ];
        for (name, config, _, _) in &cases {
            std::fs::write(dir.join(name), config).unwrap();
        }
        let snippet = format!(
            "{LIB}\nfor f in port fixed full v6 split own keyless; do config=$1/$f; strip_config \"$1/live\" \"$1/$f.table\" > \"$1/$f.out\"; rc=$?; read -r t < \"$1/$f.table\"; echo \"$f $rc [$t]\"; done\necho '@@end'\n"
        );
        let text = host.run(&Script {
            text: Cow::Owned(snippet),
            args: vec![dir.to_string_lossy().into_owned()],
        });
        for (name, _, stripped, status) in &cases {
            assert!(
                text.contains(&format!("{name} {status}\n")),
                "{shell:?} {name}: {text}"
            );
            if status.starts_with('0') {
                let out = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
                assert_eq!(&out, stripped, "{shell:?} {name}");
            }
        }
    }
}

/// strip_config prints what `wg-quick strip` prints (the real one, from wireguard-tools), for
/// configs full of what its parser treats specially: its own keys in any case, comments, blanks
/// around lines and keys, CR line ends, a section header with a comment, a `Table` in a [Peer], no
/// newline at the end.
#[test]
fn strip_config_matches_wg_quick_strip() {
    let configs = [
        "[Interface]\nAddress = 100.64.0.1/24, fd00::1/64\nDNS = 1.1.1.1\nMTU = 1380\nTable = off\n\
         PreUp = echo pre\nPostUp = iptables -A FORWARD -i %i -j ACCEPT # hook\nPreDown = true\n\
         PostDown = iptables -D FORWARD -i %i -j ACCEPT\nSaveConfig = false\nPrivateKey = a2V5\n\
         ListenPort = 51820\n\n[Peer]\nPublicKey = cGVlcg==\nAllowedIPs = 100.64.0.2/32\n",
        "  [Interface] # the host\n\taddress=100.64.0.1/24\nTABLE = 1234\n  PrivateKey = a2V5  \n\
         # Address = kept as a comment\nsaveconfig = true\n[Peer]\nTable = 7\nPublicKey = cGVlcg==\n\
         \tAllowedIPs = 0.0.0.0/0  \nEndpoint = 198.51.100.1:51820",
        "[Interface]\r\nAddress = 100.64.0.1/24\r\nPrivateKey = a2V5\r\n[Peer]\r\nPublicKey = cGVlcg==\r\n",
        "[Peer]\nPublicKey = cGVlcg==\n[Interface]\nMtu = 1400\nPrivateKey = a2V5\n#x\n\n\n",
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("live"), "").unwrap();
    for (index, config) in configs.iter().enumerate() {
        let file = dir.path().join("wg9.conf");
        std::fs::write(&file, config).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let real = Command::new("wg-quick")
            .args(["strip"])
            .arg(&file)
            .output()
            .expect("wg-quick (wireguard-tools) is installed");
        assert!(
            real.status.success(),
            "{}",
            String::from_utf8_lossy(&real.stderr)
        );
        for shell in shells() {
            let ours = Command::new(shell[0])
                .args(&shell[1..])
                .arg("-c")
                .arg(format!("{LIB}\nconfig=$1; strip_config \"$2\" \"$3\""))
                .arg("wgdeploy")
                .arg(&file)
                .arg(dir.path().join("live"))
                .arg(dir.path().join("table"))
                .output()
                .unwrap();
            assert!(ours.status.success(), "{shell:?} {index}");
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&real.stdout),
                "{shell:?}: config {index}"
            );
        }
    }
}

/// lib.sh's paths are core::paths's.
/// `keys: on-host`: a plan's read makes no key; an apply's makes one (0600) only when there is
/// none, keeping the key a config already names; the survey and a generation read the config
/// with the marker in place of the host's key; the apply step puts the key back where the
/// marker is. The private key never appears in an answer.
#[test]
fn a_host_makes_its_own_key_and_it_never_leaves() {
    use std::os::unix::fs::PermissionsExt;
    let marked = format!(
        "[Interface]\nAddress = 100.64.0.1/24\nPrivateKey = {}\n",
        crate::core::keys::ON_HOST_KEY_MARKER
    );
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("keys", "GENERATED PUBGEN\nSECRETKEY PUBSECRET\n");
        let read = |create: bool| {
            let mode = if create {
                HostKeyMode::Create
            } else {
                HostKeyMode::Read
            };
            let answer = host.run(&host_key_script(&wg0(), mode));
            assert!(
                !answer.contains("GENERATED") && !answer.contains("SECRETKEY"),
                "{answer}"
            );
            answer
        };
        // A plan: nothing made.
        assert!(read(false).contains("@@public-key none\n"), "{shell:?}");
        assert!(host.file("etc/wireguard/wg0.key").is_none());
        // An apply: made, 0600, and never replaced.
        assert!(read(true).contains("@@public-key PUBGEN\n"), "{shell:?}");
        let key_file = host.root.join("etc/wireguard/wg0.key");
        assert_eq!(std::fs::read_to_string(&key_file).unwrap(), "GENERATED\n");
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        host.write("keys", "GENERATED PUBGEN\nOTHER PUBOTHER\n");
        assert!(read(true).contains("@@public-key PUBGEN\n"), "{shell:?}");
        assert_eq!(
            crate::remote::parse_host_key(read(true).as_bytes()).unwrap_err(),
            "the host's public key is not a base64 32-byte key"
        );

        // The apply step fills the marker from the key file; the survey and a generation read
        // it back as the marker.
        let step = ApplyStep {
            write_len: Some(marked.len()),
            ..step(Action::None)
        };
        let answer = host.run_with(&apply_script(&step), marked.as_bytes());
        assert!(answer.contains("@@written"), "{shell:?}: {answer}");
        let written = String::from_utf8(host.file("etc/wireguard/wg0.conf").unwrap()).unwrap();
        assert_eq!(
            written,
            marked.replace(crate::core::keys::ON_HOST_KEY_MARKER, "GENERATED")
        );
        let facts = host.run(&facts_script(&wg0()));
        assert!(
            facts.contains(&format!("@@config {}\n{marked}\n", marked.len())),
            "{shell:?}: {facts}"
        );
        assert!(!facts.contains("GENERATED"), "{facts}");
        std::fs::create_dir_all(host.root.join(STATE).join("generations")).unwrap();
        host.write(&format!("{STATE}/generations/1.conf"), &written);
        let generation = host.run(&read_generation_script(&wg0(), 1));
        assert!(
            generation.contains(&format!("@@generation-config {}\n{marked}\n", marked.len())),
            "{shell:?}: {generation}"
        );
        // Without a key file, the key the config names is kept (a fleet leaving `keys: local`).
        std::fs::remove_file(&key_file).unwrap();
        host.write(
            "etc/wireguard/wg0.conf",
            "[Interface]\nPrivateKey = SECRETKEYSECRETKEYSECRETKEYSECRETKEYSECRETK=\n",
        );
        host.write(
            "keys",
            "SECRETKEYSECRETKEYSECRETKEYSECRETKEYSECRETK= PUBSECRET\n",
        );
        let answer = host.run(&host_key_script(&wg0(), HostKeyMode::Create));
        assert!(
            answer.contains("@@public-key PUBSECRET\n") && !answer.contains("SECRETKEY"),
            "{answer}"
        );
        assert_eq!(
            std::fs::read_to_string(&key_file).unwrap(),
            "SECRETKEYSECRETKEYSECRETKEYSECRETKEYSECRETK=\n"
        );
    }
}

/// `wgdeploy rotate` with `keys: on-host`: a pending key is made (0600) and reused by a retried
/// rotation; the apply step switches to the key the config's comment names and keeps the old one
/// under the state directory; a rollback's config naming the old key gets it back from there; the
/// survey masks current, pending and kept keys alike; no private key is ever in an answer.
#[test]
fn a_rotated_host_switches_keys_and_a_rollback_finds_the_old_one() {
    use std::os::unix::fs::PermissionsExt;
    let config = |public: &str| {
        format!(
            "# wg0 on a: generated by wgdeploy; local edits are overwritten on the next apply.\n[Interface]\n# PublicKey = {public} (made on the host: its private key stays in /etc/wireguard/wg0.key, merged in when this file is written there)\nPrivateKey = {}\n",
            crate::core::keys::ON_HOST_KEY_MARKER
        )
    };
    let secret = |answer: &str| answer.contains("OLDKEY") || answer.contains("GENERATED");
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("keys", "OLDKEY PUBOLD\nGENERATED PUBNEW\n");
        host.write("etc/wireguard/wg0.key", "OLDKEY\n");
        let apply = |text: &str| {
            let step = ApplyStep {
                write_len: Some(text.len()),
                expected_stamp: host.stamp(),
                ..step(Action::None)
            };
            let answer = host.run_with(&apply_script(&step), text.as_bytes());
            assert!(!secret(&answer), "{shell:?}: {answer}");
            answer
        };
        assert!(apply(&config("PUBOLD")).contains("@@written"), "{shell:?}");
        // Rotation: a pending key, its public half answered, the current key untouched; a
        // second rotation before any apply keeps the pending key (the same file).
        let pending = host.root.join("etc/wireguard/wg0.key.next");
        let mut inodes = Vec::new();
        for _ in 0..2 {
            let answer = host.run(&host_key_script(&wg0(), HostKeyMode::Rotate));
            assert!(
                answer.contains("@@public-key PUBNEW\n"),
                "{shell:?}: {answer}"
            );
            assert!(!secret(&answer), "{answer}");
            inodes.push(std::os::unix::fs::MetadataExt::ino(
                &std::fs::metadata(&pending).unwrap(),
            ));
        }
        assert_eq!(inodes[0], inodes[1], "{shell:?}");
        assert_eq!(host.file("etc/wireguard/wg0.key").unwrap(), b"OLDKEY\n");
        assert_eq!(std::fs::read_to_string(&pending).unwrap(), "GENERATED\n");
        assert_eq!(
            std::fs::metadata(&pending).unwrap().permissions().mode() & 0o777,
            0o600
        );
        host.write("keys", "OLDKEY PUBOLD\nGENERATED PUBNEW\nOTHER PUBOTHER\n");
        // The survey masks the running key whichever file holds it.
        let facts = host.run(&facts_script(&wg0()));
        assert!(facts.contains(&config("PUBOLD")), "{shell:?}: {facts}");
        // The config naming the pending key: applied with it, promoted, the old one kept.
        let answer = apply(&config("PUBNEW"));
        assert!(answer.contains("@@done key"), "{shell:?}: {answer}");
        let written = String::from_utf8(host.file("etc/wireguard/wg0.conf").unwrap()).unwrap();
        assert!(written.contains("PrivateKey = GENERATED\n"), "{written}");
        assert_eq!(host.file("etc/wireguard/wg0.key").unwrap(), b"GENERATED\n");
        assert!(host.file("etc/wireguard/wg0.key.next").is_none());
        let kept = host.root.join(STATE).join("keys/PUBOLD.key");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "OLDKEY\n");
        assert_eq!(
            std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(kept.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let facts = host.run(&facts_script(&wg0()));
        assert!(facts.contains(&config("PUBNEW")), "{shell:?}: {facts}");
        assert!(!secret(&facts), "{facts}");
        // A generation carrying the old key reads back masked too.
        std::fs::create_dir_all(host.root.join(STATE).join("generations")).unwrap();
        host.write(
            &format!("{STATE}/generations/1.conf"),
            &config("PUBOLD").replace(crate::core::keys::ON_HOST_KEY_MARKER, "OLDKEY"),
        );
        let generation = host.run(&read_generation_script(&wg0(), 1));
        assert!(
            generation.contains(&config("PUBOLD")),
            "{shell:?}: {generation}"
        );
        assert!(!secret(&generation), "{generation}");
        // Rollback: the config names the old key, which comes back from the host's own files.
        assert!(apply(&config("PUBOLD")).contains("@@done key"), "{shell:?}");
        assert_eq!(host.file("etc/wireguard/wg0.key").unwrap(), b"OLDKEY\n");
        let written = String::from_utf8(host.file("etc/wireguard/wg0.conf").unwrap()).unwrap();
        assert!(written.contains("PrivateKey = OLDKEY\n"), "{written}");
        assert!(
            host.run(&host_key_script(&wg0(), HostKeyMode::Create))
                .contains("@@public-key PUBOLD\n")
        );
        // A config naming a key the host does not have is refused, nothing written.
        let answer = apply(&config("PUBOTHER"));
        assert!(
            answer.contains("@@fail none of this host's keys"),
            "{answer}"
        );
    }
}

/// A kept key whose public key starts with `+` is kept in a dot file (`.PUB….key`): the survey
/// and generation reads mask it, and a rollback's config naming it finds it, like any other.
#[test]
fn a_kept_key_in_a_dot_file_is_masked_and_found() {
    let config = |public: &str, private: &str| {
        format!(
            "[Interface]\n# PublicKey = {public} (made on the host: its private key stays in /etc/wireguard/wg0.key, merged in when this file is written there)\nPrivateKey = {private}\n"
        )
    };
    let marker = crate::core::keys::ON_HOST_KEY_MARKER;
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("keys", "OLDKEY +PUB/OLD=\nNEWKEY PUBNEW\n");
        host.write("etc/wireguard/wg0.key", "NEWKEY\n");
        host.write("etc/wireguard/wg0.conf", &config("PUBNEW", "NEWKEY"));
        for dir in ["generations", "keys"] {
            std::fs::create_dir_all(host.root.join(STATE).join(dir)).unwrap();
        }
        host.write(&format!("{STATE}/keys/.PUB_OLD-.key"), "OLDKEY\n");
        host.write(
            &format!("{STATE}/generations/1.conf"),
            &config("+PUB/OLD=", "OLDKEY"),
        );
        host.write(&format!("{STATE}/generations/1.meta"), "kind=apply\n");
        let generation = host.run(&read_generation_script(&wg0(), 1));
        assert!(
            generation.contains(&config("+PUB/OLD=", marker)) && !generation.contains("OLDKEY"),
            "{shell:?}: {generation}"
        );
        let text = config("+PUB/OLD=", marker);
        let step = ApplyStep {
            write_len: Some(text.len()),
            expected_stamp: host.stamp(),
            ..step(Action::None)
        };
        let answer = host.run_with(&apply_script(&step), text.as_bytes());
        assert!(answer.contains("@@done key"), "{shell:?}: {answer}");
        assert_eq!(host.file("etc/wireguard/wg0.key").unwrap(), b"OLDKEY\n");
    }
}

/// A confirm prunes the kept keys with the generations: a key a kept generation still names stays
/// (a rollback can take it back), one no generation names goes, whatever its name's base64 holds.
#[test]
fn kept_keys_go_with_the_last_generation_that_ran_them() {
    let config = |public: &str| {
        format!(
            "[Interface]\n# PublicKey = {public} (made on the host: its private key stays in /etc/wireguard/wg0.key, merged in when this file is written there)\nPrivateKey = K\n"
        )
    };
    for shell in shells() {
        let host = Host::new(&shell);
        host.write("etc/wireguard/wg0.conf", &config("NOW"));
        for dir in ["generations", "keys"] {
            std::fs::create_dir_all(host.root.join(STATE).join(dir)).unwrap();
        }
        for (n, public) in [(1, "PUB/A+="), (2, "+PUBB")] {
            host.write(&format!("{STATE}/generations/{n}.conf"), &config(public));
            host.write(&format!("{STATE}/generations/{n}.meta"), "kind=apply\n");
        }
        for kept in ["PUB_A.-", ".PUBB", "PUBC", ".PUBD"] {
            host.write(&format!("{STATE}/keys/{kept}.key"), "SECRET\n");
        }
        let kept = || {
            let mut names: Vec<String> = std::fs::read_dir(host.root.join(STATE).join("keys"))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let confirm = |token: &str, keep: usize| {
            host.write(&format!("{STATE}/armed"), &format!("{token}\n"));
            host.write(&format!("{STATE}/applied"), &format!("{token}\n"));
            let answer = host.run(&confirm_script(&wg0(), false, token, &record(keep)));
            assert!(answer.contains("@@confirmed\n"), "{shell:?}: {answer}");
        };
        confirm("t1", 10);
        assert_eq!(kept(), [".PUBB.key", "PUB_A.-.key"], "{shell:?}");
        // Keeping 1 generation: only the new one (naming the current key) is left.
        confirm("t2", 1);
        assert!(kept().is_empty(), "{shell:?}: {:?}", kept());
    }
}

/// `status`'s key age: the facts name when the oldest kept generation carrying the key the config
/// runs was written (generation 10 sorts after 9 by number, not by name).
#[test]
fn the_facts_say_since_when_the_host_runs_its_key() {
    for shell in shells() {
        let host = Host::new(&shell);
        let with = |key: &str| format!("[Interface]\nPrivateKey = {key}\n");
        host.write("etc/wireguard/wg0.conf", &with("NEWKEY"));
        for (n, key, mtime) in [
            (1, "OLDKEY", "200001010000"),
            (9, "NEWKEY", "200201010000"),
            (10, "NEWKEY", "200101010000"),
            (11, "NEWKEY", "200301010000"),
        ] {
            let path = format!("{STATE}/generations/{n}.conf");
            std::fs::create_dir_all(host.root.join(STATE).join("generations")).unwrap();
            host.write(&path, &with(key));
            let status = Command::new("touch")
                .args(["-t", mtime])
                .arg(host.root.join(&path))
                .status()
                .unwrap();
            assert!(status.success());
        }
        let facts = host.run(&facts_script_with_key_age(&wg0()));
        let parsed = crate::remote::facts::parse(facts.as_bytes()).unwrap();
        // Generation 9's (2002-01-01 00:00 in the test's time zone: within a day of 1009843200
        // UTC), not 10's, though 10 sorts first by name and was written earlier.
        let since = parsed.key_since.expect("key-since");
        assert!(
            since.abs_diff(1_009_843_200) <= 86_400,
            "{shell:?}: {since}"
        );
        // A survey for a change (plan, apply) does not read the generations' configs for it.
        let facts = host.run(&facts_script(&wg0()));
        assert!(!facts.contains("@@key-since"), "{shell:?}: {facts}");
        // A config whose key no generation carries: no age.
        host.write("etc/wireguard/wg0.conf", &with("THIRDKEY"));
        let parsed =
            crate::remote::facts::parse(host.run(&facts_script_with_key_age(&wg0())).as_bytes())
                .unwrap();
        assert_eq!(parsed.key_since, None, "{shell:?}");
    }
}

#[test]
fn lib_paths_match_core_paths() {
    let paths = crate::core::paths::Paths::new(&wg0());
    let script = format!(
        "{LIB}\npaths wg0\nprintf '%s\\n' \"$config\" \"$backup\" \"$lock\" \"$temp_prefix\" \"$sysctl_file\" \"$state\" \"$key_file\"\n"
    );
    let output = Command::new("sh")
        .args(["-c", &script])
        .env_remove("WGDEPLOY_ROOT")
        .output()
        .unwrap();
    let expected = [
        paths.config,
        paths.backup,
        paths.lock,
        paths.temp_prefix,
        paths.sysctl_file,
        paths.state,
        paths.key_file,
    ]
    .join("\n");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected + "\n");
}

mod removal;
