//! The decommissioning scripts (`inspect.sh`, `remove-host.sh`) run for real under dash, busybox sh
//! and posh against a temporary root: what they say, what they keep, what they remove.

use super::*;
use crate::core::keys::PrivateKey;
use crate::core::removal::fixtures::{SYSCTL_FILE, config};
use crate::core::removal::{Answer, Decommissioned, Inspection, KeptAs, Verdict};

const SYSCTL: &str = "etc/sysctl.d/99-wgdeploy-wg0.conf";

fn record() -> GenerationRecord {
    GenerationRecord {
        kind: "remove",
        ..super::record(10)
    }
}

/// systemctl acting on the tree: `is-active` while the link is up, `is-enabled` while the file
/// `enabled` is there; `stop` takes the link down (with the config still in place, as its
/// PostDown hooks need), `disable` removes `enabled`.
const SYSTEMCTL: &str = r#"#!/bin/sh
root=$WGDEPLOY_ROOT
echo "systemctl $*" >> "$root/calls"
case $1 in
  is-active) [ -e "$root/sys/class/net/wg0" ] ;;
  stop) echo "systemctl stop $(cat "$root/etc/wireguard/wg0.conf")" >> "$root/calls"; rm -rf "$root/sys/class/net/wg0" ;;
  is-enabled) [ -e "$root/enabled" ] ;;
  disable) rm -f "$root/enabled" ;;
  *) exit 1 ;;
esac
"#;

/// A removed host as an apply left it: wg0 up with `config` (and its backup), an enabled unit,
/// wgdeploy's sysctl.d file, IPv4 forwarding on; `wg pubkey` knows the keys of bytes 1 and 2.
fn removed_host(shell: &[&'static str], config: &str) -> Host {
    let host = Host::new(shell);
    host.write("etc/wireguard/wg0.conf", config);
    host.write("etc/wireguard/wg0.conf.wgdeploy-prev", config);
    host.write(SYSCTL, SYSCTL_FILE);
    host.write("proc/sys/net/ipv4/ip_forward", "1\n");
    host.write("enabled", "");
    host.write("bin/systemctl", SYSTEMCTL);
    let keys: String = [1u8, 2]
        .iter()
        .map(|byte| {
            let key = PrivateKey::from_bytes([*byte; 32]);
            format!("{} {}\n", key.expose_base64(), key.public_key().to_base64())
        })
        .collect();
    host.write("keys", &keys);
    host.up();
    host
}

fn own(byte: u8) -> String {
    PrivateKey::from_bytes([byte; 32]).public_key().to_base64()
}

fn parsed(text: &str) -> crate::remote::facts::Parsed {
    crate::remote::facts::split(text.as_bytes()).unwrap()
}

fn inspect(host: &Host) -> Inspection {
    crate::remote::removal::inspection(&parsed(&host.run(&inspect_script(&wg0()))))
}

fn remove(host: &Host, systemd: bool, stamp: &str, own_key: &str) -> Answer {
    let script = remove_host_script(&wg0(), systemd, stamp, own_key, &record());
    crate::remote::removal::answer(&parsed(&host.run(&script)))
}

#[test]
fn a_forwarding_host_is_inspected_then_decommissioned() {
    for shell in shells() {
        for systemd in [false, true] {
            decommissioned(&shell, systemd);
        }
    }
}

fn decommissioned(shell: &[&'static str], systemd: bool) {
    let key = PrivateKey::from_bytes([1; 32]);
    let config = config(&key);
    let host = removed_host(shell, &config);
    // The key `keys: on-host` had the host make (the kept generation holds it too).
    host.write(
        "etc/wireguard/wg0.key",
        &format!("{}\n", key.expose_base64()),
    );
    assert_eq!(
        inspect(&host),
        Inspection {
            generation: Some(KeptAs::New(1)),
            forwarding: vec![Verdict::Off("net.ipv4.ip_forward".into())],
        },
        "{shell:?}"
    );
    assert!(
        host.file("var/lib/wgdeploy/wg0").is_none(),
        "inspect changes nothing"
    );
    // A stale plan is refused: nothing changes.
    let Answer::Failed { reason, .. } = remove(&host, systemd, "0 0 0", &own(1)) else {
        panic!("{shell:?}: a stale plan went through");
    };
    assert_eq!(
        reason,
        "wg0.conf changed on the host since the plan was made; run wgdeploy again"
    );
    assert!(host.file("etc/wireguard/wg0.conf").is_some() && host.is_up());

    let answer = remove(&host, systemd, &host.stamp(), &own(1));
    assert_eq!(
        answer,
        Answer::Done(Decommissioned {
            generation: Some(KeptAs::New(1)),
            disabled: systemd,
            removed_sysctl_file: true,
            removed_key_file: true,
            switched_off: vec!["net.ipv4.ip_forward".into()],
            link_deleted: false,
        }),
        "{shell:?} systemd={systemd}"
    );
    let state = "var/lib/wgdeploy/wg0/generations";
    assert_eq!(
        host.file(&format!("{state}/1.conf")).unwrap(),
        config.as_bytes(),
        "the config is kept as the last generation"
    );
    let meta = String::from_utf8(host.file(&format!("{state}/1.meta")).unwrap()).unwrap();
    assert!(
        meta.starts_with("deployment=20261125-101500-abcd\nkind=remove\ntime="),
        "{meta}"
    );
    // Taken down while the config was still there (its PostDown hooks ran), by the unit with systemd.
    let calls = host.calls();
    let down = if systemd {
        "systemctl stop [Interface]"
    } else {
        "wg-quick down [Interface]"
    };
    assert!(calls.contains(down), "{shell:?}: {calls}");
    assert_eq!(
        calls.contains("systemctl disable wg-quick@wg0"),
        systemd,
        "{calls}"
    );
    assert_eq!(host.file("enabled").is_none(), systemd);
    assert!(!host.is_up());
    for gone in [
        "etc/wireguard/wg0.conf",
        "etc/wireguard/wg0.conf.wgdeploy-prev",
        "etc/wireguard/wg0.key",
        SYSCTL,
    ] {
        assert!(
            host.file(gone).is_none(),
            "{shell:?}: {gone} is still there"
        );
    }
    assert_eq!(host.file("proc/sys/net/ipv4/ip_forward").unwrap(), b"0\n");
    assert_eq!(
        host.file("proc/sys/net/ipv6/conf/all/forwarding").unwrap(),
        b"0\n"
    );
}

/// Forwarding another sysctl file (or Docker) wants stays on; a config the newest generation
/// already holds is not recorded twice.
#[test]
fn forwarding_something_else_wants_stays_on_and_a_kept_config_is_not_recorded_twice() {
    for shell in shells() {
        let config = config(&PrivateKey::from_bytes([1; 32]));
        let host = removed_host(&shell, &config);
        // A key file holding another key than the removed interface's is not wgdeploy's to remove.
        let foreign = format!("{}\n", PrivateKey::from_bytes([2; 32]).expose_base64());
        host.write("etc/wireguard/wg0.key", &foreign);
        let gens = host.root.join("var/lib/wgdeploy/wg0/generations");
        std::fs::create_dir_all(&gens).unwrap();
        std::fs::write(gens.join("3.conf"), &config).unwrap();
        std::fs::write(gens.join("3.meta"), "deployment=d3\nkind=apply\n").unwrap();
        // Docker alone keeps IPv4 forwarding on.
        std::fs::create_dir_all(host.root.join("sys/class/net/docker0")).unwrap();
        assert_eq!(
            inspect(&host).forwarding,
            [Verdict::Keep {
                key: "net.ipv4.ip_forward".into(),
                why: "docker0".into()
            }],
            "{shell:?}"
        );
        std::fs::remove_dir(host.root.join("sys/class/net/docker0")).unwrap();
        host.write("etc/sysctl.d/50-router.conf", "net/ipv4/ip_forward=1\n");
        let other = format!("{}/etc/sysctl.d/50-router.conf", host.root.display());
        assert_eq!(
            inspect(&host),
            Inspection {
                generation: Some(KeptAs::Existing(3)),
                forwarding: vec![Verdict::Keep {
                    key: "net.ipv4.ip_forward".into(),
                    why: other
                }],
            },
            "{shell:?}"
        );
        let answer = remove(&host, false, &host.stamp(), &own(1));
        assert!(
            matches!(&answer, Answer::Done(done) if done.generation == Some(KeptAs::Existing(3)) && done.switched_off.is_empty() && !done.removed_key_file),
            "{shell:?}: {answer:?}"
        );
        assert_eq!(
            host.file("etc/wireguard/wg0.key").unwrap(),
            foreign.as_bytes()
        );
        assert!(!gens.join("4.meta").exists());
        assert_eq!(host.file("proc/sys/net/ipv4/ip_forward").unwrap(), b"1\n");
        assert!(host.file(SYSCTL).is_none());
    }
}

/// An interface that runs another key than the removed host's is someone else now: untouched. The
/// key is the config's, or the live interface's when there is no config.
#[test]
fn a_host_running_another_key_is_left_untouched() {
    for shell in shells() {
        let config = config(&PrivateKey::from_bytes([2; 32]));
        let host = removed_host(&shell, &config);
        assert_eq!(
            remove(&host, false, &host.stamp(), &own(1)),
            Answer::NotOurs,
            "{shell:?}"
        );
        assert_eq!(
            host.file("etc/wireguard/wg0.conf").unwrap(),
            config.as_bytes()
        );
        assert!(host.is_up());
        assert!(host.file(SYSCTL).is_some());
        assert_eq!(host.file("proc/sys/net/ipv4/ip_forward").unwrap(), b"1\n");

        std::fs::remove_file(host.root.join("etc/wireguard/wg0.conf")).unwrap();
        host.write("live-key", &format!("{}\n", own(2)));
        assert_eq!(
            remove(&host, false, "absent", &own(1)),
            Answer::NotOurs,
            "{shell:?}"
        );
        assert!(host.is_up());
        // The live interface runs the removed host's key: it goes, with nothing to keep.
        host.write("live-key", &format!("{}\n", own(1)));
        let answer = remove(&host, false, "absent", &own(1));
        assert!(
            matches!(&answer, Answer::Done(done) if done.generation.is_none() && done.link_deleted),
            "{shell:?}: {answer:?}"
        );
        assert!(!host.is_up());
    }
}

/// The config a removed host runs is kept as its newest generation when that one already holds
/// it, and as the next generation after the newest otherwise (by number, not by name).
#[test]
fn the_inspection_names_the_generation_that_keeps_the_config() {
    for shell in shells() {
        let config = config(&PrivateKey::from_bytes([1; 32]));
        let host = removed_host(&shell, &config);
        let gens = host.root.join("var/lib/wgdeploy/wg0/generations");
        std::fs::create_dir_all(&gens).unwrap();
        for (n, text) in [
            (2, "older\n"),
            (10, config.as_str()),
            (9, "newer by name\n"),
        ] {
            std::fs::write(gens.join(format!("{n}.conf")), text).unwrap();
            std::fs::write(gens.join(format!("{n}.meta")), "kind=apply\n").unwrap();
        }
        assert_eq!(
            inspect(&host).generation,
            Some(KeptAs::Existing(10)),
            "{shell:?}"
        );
        std::fs::write(gens.join("10.conf"), "changed since\n").unwrap();
        assert_eq!(
            inspect(&host).generation,
            Some(KeptAs::New(11)),
            "{shell:?}"
        );
    }
}
