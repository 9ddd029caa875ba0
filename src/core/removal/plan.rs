//! What `plan` shows for a removed host: its removal in words, from its facts and inspection.

use crate::core::change::{Action, ApplyStep, Class, HostChange};
use crate::core::facts::{Facts, FileFact};
use crate::core::model::InterfaceName;
use crate::core::paths::Paths;
use crate::core::removal::{Inspection, KeptAs, Verdict, running_key};

/// A removed host that is in the inventory under another name (`alias`): nothing on it changes,
/// the state only forgets the old name.
pub fn plan_forget(
    host: &str,
    interface: &InterfaceName,
    alias: &str,
    facts: &Facts,
) -> HostChange {
    HostChange {
        class: Class::Remove,
        reasons: vec![format!(
            "no longer in the inventory, but reached like {alias} (same SSH host, port and jump host): the same machine under a new name? Left untouched ({alias}'s own change applies there); {host} is only forgotten in the state file"
        )],
        write: false,
        diff: None,
        forwarding: Vec::new(),
        unconfirmed: false,
        replaces_unmanaged: false,
        step: untouched_step(interface, facts),
    }
}

/// The step of a removed host, which changes nothing through the apply script (the removal has
/// its own script): only its stamp and service manager matter.
fn untouched_step(interface: &InterfaceName, facts: &Facts) -> ApplyStep {
    ApplyStep {
        interface: interface.clone(),
        write_len: None,
        expected_stamp: facts.stamp.clone(),
        action: Action::None,
        systemd: facts.systemd,
        enable_unit: false,
        sysctl_file: None,
        sysctl_on: Vec::new(),
        stale_routes: Vec::new(),
        keep_original: false,
        arm: None,
    }
}

/// The removal of one host, in words, as `plan` shows it. `own_key`: the public key the removed
/// host was given; an interface running another one is someone else now and stays untouched.
pub fn plan_removal(
    host: &str,
    interface: &InterfaceName,
    own_key: Option<&str>,
    facts: &Facts,
    inspection: &Inspection,
) -> HostChange {
    let name = interface.as_str();
    let paths = Paths::new(interface);
    let step = untouched_step(interface, facts);
    if let (Some(own), Some(running)) = (own_key, running_key(facts))
        && own != running
    {
        return HostChange {
            class: Class::Remove,
            reasons: vec![format!(
                "no longer in the inventory, but `{name}` there runs another key than {host}'s: it is not {host} any more (renamed, or re-provisioned?); left untouched, {host} is only forgotten in the state file"
            )],
            write: false,
            diff: None,
            forwarding: Vec::new(),
            unconfirmed: false,
            replaces_unmanaged: false,
            step,
        };
    }
    let config = facts.config.text();
    let mut reasons =
        vec!["no longer in the inventory: decommission it, then forget it in the state file (its key, addresses and SSH settings)".to_owned()];
    if facts.link_present {
        let how = if facts.systemd {
            format!("`systemctl stop wg-quick@{name}`")
        } else {
            format!("`wg-quick down {name}`")
        };
        let forward_hooks = config.is_some_and(|text| {
            text.lines().any(|line| {
                let line = line.trim_start();
                line.starts_with("PostDown") && line.contains("FORWARD")
            })
        });
        let hooks = if forward_hooks {
            "; its PostDown hooks delete the FORWARD rules its PostUp added"
        } else {
            ""
        };
        reasons.push(format!("take `{name}` down ({how}){hooks}"));
    }
    if facts.systemd && facts.unit_enabled {
        reasons.push(format!(
            "disable `wg-quick@{name}` so it does not start at boot"
        ));
    }
    let generations = format!("{}/generations", paths.state);
    match (config, inspection.generation) {
        (Some(_), Some(KeptAs::Existing(n))) => reasons.push(format!(
            "remove {} (generation {n} in {generations} already holds it: `rollback` can restore it)",
            paths.config
        )),
        (Some(_), Some(KeptAs::New(n))) => reasons.push(format!(
            "remove {}, first kept as generation {n} in {generations} (`rollback` can restore it)",
            paths.config
        )),
        (Some(_), None) => reasons.push(format!("remove {}", paths.config)),
        (None, _) => {}
    }
    if let Some(token) = &facts.armed {
        reasons.push(format!(
            "drop the pending lock-out revert of apply {token} (it would put the config back)"
        ));
    }
    let mut forwarding = Vec::new();
    if facts.sysctl_file != FileFact::Absent {
        forwarding.push(format!("remove {}", paths.sysctl_file));
    }
    for verdict in &inspection.forwarding {
        forwarding.push(match verdict {
            Verdict::Off(key) => format!(
                "{key}: 1 → 0 (only wgdeploy's {} turns it on)",
                paths.sysctl_file
            ),
            Verdict::Keep { key, why } if why == "docker0" => {
                format!("{key} stays 1 (Docker's docker0 interface needs it)")
            }
            Verdict::Keep { key, why } => format!("{key} stays 1 ({why} sets it too)"),
        });
    }
    let nothing_left = !facts.link_present
        && config.is_none()
        && facts.sysctl_file == FileFact::Absent
        && !(facts.systemd && facts.unit_enabled);
    if nothing_left {
        reasons.push(format!(
            "nothing of `{name}` is left on the host: wgdeploy only forgets it"
        ));
    }
    let diff = config.map(|text| removed_diff(host, name, text));
    HostChange {
        class: Class::Remove,
        reasons,
        write: false,
        diff,
        forwarding,
        unconfirmed: false,
        replaces_unmanaged: false,
        step,
    }
}

/// The whole config as removed lines, keys redacted.
fn removed_diff(host: &str, interface: &str, current: &str) -> String {
    let old = crate::core::change::redact(current, None);
    similar::TextDiff::from_lines(old.as_str(), "")
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{host}:/etc/wireguard/{interface}.conf (live)"),
            "/dev/null (removed)",
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::PrivateKey;
    use crate::core::removal::fixtures::{SYSCTL_FILE, config, facts_output, public, wg0};

    #[test]
    fn the_plan_says_what_happens_and_shows_no_key() {
        let key = PrivateKey::from_bytes([1; 32]);
        let text = facts_output(Some(&config(&key)), Some(SYSCTL_FILE), true);
        let facts = crate::remote::facts::parse(text.as_bytes()).unwrap();
        let inspection = Inspection {
            generation: Some(KeptAs::Existing(2)),
            forwarding: vec![Verdict::Off("net.ipv4.ip_forward".into())],
        };
        let other = plan_removal("relay2", &wg0(), Some(&public(2)), &facts, &inspection);
        assert_eq!(other.class, Class::Remove);
        assert!(
            other.reasons[0].contains("runs another key than relay2's")
                && other.diff.is_none()
                && other.forwarding.is_empty(),
            "{other:?}"
        );
        let change = plan_removal("relay2", &wg0(), Some(&public(1)), &facts, &inspection);
        assert_eq!(change.class, Class::Remove);
        assert!(!change.is_empty());
        let reasons = change.reasons.join("\n");
        assert!(
            reasons.contains(
                "take `wg0` down (`wg-quick down wg0`); its PostDown hooks delete the FORWARD rules"
            ),
            "{reasons}"
        );
        assert!(
            reasons.contains("generation 2 in /var/lib/wgdeploy/wg0/generations already holds it"),
            "{reasons}"
        );
        assert_eq!(
            change.forwarding,
            [
                "remove /etc/sysctl.d/99-wgdeploy-wg0.conf",
                "net.ipv4.ip_forward: 1 → 0 (only wgdeploy's /etc/sysctl.d/99-wgdeploy-wg0.conf turns it on)"
            ]
        );
        let diff = change.diff.unwrap();
        assert!(
            diff.contains("-PrivateKey = (redacted)") && !diff.contains(&key.expose_base64()),
            "{diff}"
        );
        assert!(diff.contains("+++ /dev/null (removed)"));
    }
}
