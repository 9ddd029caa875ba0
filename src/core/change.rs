//! The pure heart of `plan` and `apply`: given what a host should run and what it runs now
//! ([`Facts`]), what must change and how disruptive that is.
//!
//! Change classes, least disruptive first: nothing; peers only (`wg syncconf`, live sessions survive);
//! interface fields such as addresses, port, MTU or hooks (restart); not running (bring up).

use crate::core::facts::{Facts, FileFact};
use crate::core::forwarding::Families;
use crate::core::model::InterfaceName;
use crate::core::routes::StaleRoute;

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
    /// Routes through the interface that the new AllowedIPs no longer need (removed after a
    /// syncconf; a restart recreates the interface and its routes anyway).
    pub stale_routes: Vec<StaleRoute>,
    /// Lock-out protection: armed before anything changes (set by the run, not by the plan).
    pub arm: Option<Arm>,
    /// The config on the host was not written by wgdeploy: keep it as generation 0 (`kind=original`)
    /// before replacing it, so `rollback` can put it back. Needs `arm` (its token is the deployment).
    pub keep_original: bool,
}

/// Lock-out protection for one apply step, like `commit confirmed` on routers: before the step
/// changes anything, the host starts a timer that puts back the previous config unless wgdeploy
/// confirms the change over a fresh SSH connection in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    /// The run's deployment id: a confirm or revert acts only on the arming of that run.
    pub token: String,
    /// Seconds from the end of the step until the host reverts by itself (`--confirm-timeout`).
    pub seconds: u64,
    /// Seconds the step may take (`--step-timeout`). The timer armed before the step fires after
    /// `step_seconds + seconds`, so it never runs out while a slow step is still working; the
    /// step's end restarts it at `seconds`. A step that never ends is still put back.
    pub step_seconds: u64,
}

/// The plan's reason line (and `--json` reason) for a host whose config wgdeploy did not write.
pub const REPLACES_UNMANAGED: &str = "replaces a config not written by wgdeploy";

/// How disruptive a host's change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Nothing,
    Syncconf,
    Restart,
    Up,
    /// The host left the inventory: decommission it (`removal.rs`).
    Remove,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Nothing => "nothing",
            Class::Syncconf => "syncconf",
            Class::Restart => "restart",
            Class::Up => "up",
            Class::Remove => "remove",
        }
    }
}

/// Everything that changes on one host.
#[derive(Debug, Clone)]
pub struct HostChange {
    pub class: Class,
    /// Why, in words (one line each).
    pub reasons: Vec<String>,
    /// A new config is written.
    pub write: bool,
    /// Unified diff of the config, keys redacted; `None` when the file does not change.
    pub diff: Option<String>,
    /// Forwarding changes in words (sysctl.d file, runtime sysctls).
    pub forwarding: Vec<String>,
    /// An earlier apply was armed and never confirmed: its timer will put back the config from
    /// before it, so even a host whose config is right needs this run to confirm it.
    pub unconfirmed: bool,
    /// The host runs a config wgdeploy did not write (see [`crate::core::facts::unmanaged`]): apply
    /// keeps it as generation 0, and refuses the host unless it was adopted or
    /// `--replace-unmanaged` is given.
    pub replaces_unmanaged: bool,
    pub step: ApplyStep,
}

impl HostChange {
    pub fn is_empty(&self) -> bool {
        !self.unconfirmed
            && !self.write
            && self.class == Class::Nothing
            && self.step.sysctl_file.is_none()
            && self.step.sysctl_on.is_empty()
            && !self.step.enable_unit
    }
}

impl HostChange {
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "nothing to do".to_owned();
        }
        let mut parts = Vec::new();
        if self.class != Class::Nothing {
            parts.push(self.class.as_str().to_owned());
        } else if self.write {
            parts.push("rewrite".to_owned());
        }
        if !self.forwarding.is_empty() {
            parts.push("forwarding".to_owned());
        }
        if self.step.enable_unit {
            parts.push("enable unit".to_owned());
        }
        if self.unconfirmed {
            parts.push("confirm an unconfirmed apply".to_owned());
        }
        parts.join(" + ")
    }
}

/// The sysctl.d file content that persists forwarding for `families` (empty: no file).
pub fn sysctl_file_content(families: Families, interface: &InterfaceName) -> String {
    let keys = families.sysctls();
    if keys.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "# Written by wgdeploy: {} forwards packets between WireGuard peers.\n",
        interface.as_str()
    );
    for key in keys {
        text.push_str(&format!("{key} = 1\n"));
    }
    text
}

/// Compares the planned config and forwarding with the host's facts.
pub fn classify(
    host: &str,
    interface: &InterfaceName,
    desired: &str,
    forwarding: Families,
    facts: &Facts,
) -> HostChange {
    let name = interface.as_str();
    let current = facts.config.text();
    let write = current != Some(desired);
    let mut reasons = Vec::new();
    let running = facts.live.is_some();

    let class = if !running {
        reasons.push(match current {
            None => format!("first deployment: `{name}` is not configured yet"),
            Some(_) => format!("`{name}` is not running"),
        });
        Class::Up
    } else if write {
        let changed = interface_changes(current.unwrap_or(""), desired);
        if !changed.is_empty() {
            reasons.push(format!("interface changes: {}", changed.join(", ")));
            Class::Restart
        } else if default_routes(current.unwrap_or("")) != default_routes(desired) {
            reasons.push(
                "a peer's /0 comes or goes: wg-quick sets up its policy routing for it only when the interface starts".to_owned(),
            );
            Class::Restart
        } else {
            reasons.push("peers change".to_owned());
            Class::Syncconf
        }
    } else {
        // Same file, running: the live interface may still have drifted (someone ran `wg set`).
        let drift = facts.live.as_ref().and_then(|live| {
            crate::core::wgconf::parse(std::path::Path::new(name), desired)
                .ok()
                .map(|config| live.drift_from(&config))
        });
        match drift {
            Some(drift) if !drift.is_empty() => {
                reasons.push(format!("the live interface drifted: {}", drift.join("; ")));
                Class::Syncconf
            }
            _ => Class::Nothing,
        }
    };

    let mut forwarding_notes = Vec::new();
    let wanted_file = sysctl_file_content(forwarding, interface);
    let current_file = facts.sysctl_file.text().unwrap_or("");
    let sysctl_file = if wanted_file != current_file
        && !(wanted_file.is_empty() && facts.sysctl_file == FileFact::Absent)
    {
        forwarding_notes.push(if wanted_file.is_empty() {
            format!(
                "remove {} (this host no longer forwards)",
                crate::core::paths::Paths::new(interface).sysctl_file
            )
        } else {
            format!(
                "persist forwarding in {}",
                crate::core::paths::Paths::new(interface).sysctl_file
            )
        });
        Some(wanted_file)
    } else {
        None
    };
    let sysctl_on: Vec<&'static str> = forwarding
        .sysctls()
        .into_iter()
        .filter(|key| facts.sysctl(key) != Some(true))
        .collect();
    for key in &sysctl_on {
        forwarding_notes.push(format!("{key}: 0 → 1"));
    }
    let enable_unit = facts.systemd && !facts.unit_enabled;
    if enable_unit {
        reasons.push(format!("enable `wg-quick@{name}` so it starts at boot"));
    }
    let unconfirmed = facts.armed.is_some();
    if let Some(token) = &facts.armed {
        reasons.push(format!(
            "apply {token} was never confirmed: the host reverts it by itself unless this run confirms"
        ));
    }
    // A syncconf adds the routes of new prefixes on the host; those of prefixes that go away are
    // named here, from the routes the host listed.
    let stale_routes = match (class, &facts.live) {
        (Class::Syncconf, Some(live)) => {
            crate::core::wgconf::parse(std::path::Path::new(name), desired)
                .map(|config| live.route_drift(&config).stale)
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let replaces_unmanaged = write && crate::core::facts::unmanaged(facts);
    if replaces_unmanaged {
        reasons.push(REPLACES_UNMANAGED.to_owned());
    }
    let diff = write.then(|| {
        let current = current.unwrap_or("");
        let reference = key_reference(current, desired, facts);
        redacted_diff_against(host, name, current, desired, &reference)
    });
    let action = match class {
        Class::Nothing => Action::None,
        Class::Syncconf => Action::Syncconf,
        Class::Restart => Action::Restart,
        Class::Up => Action::Up,
        Class::Remove => Action::None,
    };
    HostChange {
        class,
        reasons,
        write,
        diff,
        forwarding: forwarding_notes,
        unconfirmed,
        replaces_unmanaged,
        step: ApplyStep {
            interface: interface.clone(),
            write_len: write.then_some(desired.len()),
            expected_stamp: facts.stamp.clone(),
            action,
            systemd: facts.systemd,
            enable_unit,
            sysctl_file,
            sysctl_on,
            stale_routes,
            arm: None,
            keep_original: replaces_unmanaged,
        },
    }
}

/// The /0 prefixes of a config's peers with wg-quick's automatic table (empty for `Table = off`
/// or a named table, where a /0 is routed like any prefix; a config that does not parse has none).
fn default_routes(text: &str) -> Vec<String> {
    let Ok(config) = crate::core::wgconf::parse(std::path::Path::new("wg"), text) else {
        return Vec::new();
    };
    if config
        .table
        .as_deref()
        .is_some_and(|table| !table.eq_ignore_ascii_case("auto"))
    {
        return Vec::new();
    }
    let mut found: Vec<String> = config
        .peers
        .iter()
        .flat_map(|peer| peer.allowed_ips.iter())
        .filter(|allowed| allowed.net.prefix_len() == 0)
        .map(|allowed| allowed.net.to_string())
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Fields of `[Interface]` that `wg syncconf` applies itself (it reads them from strip's output).
/// `FwMark` is not one of them although `wg` could set it: wg-quick's policy routing for a /0
/// (`ip rule not fwmark M table M`) and users' own rules take the mark when the interface starts,
/// so a new mark means a restart. DNS, MTU, Table and the hooks are wg-quick's alone.
const SYNCCONF_FIELDS: [&str; 2] = ["privatekey", "listenport"];

/// The `[Interface]` settings that differ and need a restart (wg-quick's own fields and hooks).
fn interface_changes(current: &str, desired: &str) -> Vec<String> {
    let a = interface_fields(current);
    let b = interface_fields(desired);
    let mut keys: Vec<&str> = a.iter().chain(&b).map(|(key, _)| key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter(|key| !SYNCCONF_FIELDS.contains(&key.to_ascii_lowercase().as_str()))
        .filter(|key| {
            let pick = |fields: &[(String, String)]| -> Vec<String> {
                fields
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            pick(&a) != pick(&b)
        })
        .map(str::to_owned)
        .collect()
}

/// `(Key, value)` pairs of the `[Interface]` section, comments and blank lines skipped.
fn interface_fields(text: &str) -> Vec<(String, String)> {
    let mut in_interface = false;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_interface = line.eq_ignore_ascii_case("[interface]");
            continue;
        }
        if !in_interface || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            fields.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// Replaces secret values with `(redacted)`: every line whose key may name key material, in any
/// case and spacing (`wg` reads `privatekey=` as a private key), commented out or not. A secret that differs from `reference`'s secret for the
/// same section (the interface, or the peer with that PublicKey) becomes `(redacted, changed)`, so a
/// key rotation still shows in the diff without showing a key.
pub fn redact(text: &str, reference: Option<&str>) -> String {
    let secrets_of = |text: &str| -> Vec<(String, String, String)> {
        sections(text)
            .into_iter()
            .flat_map(|(section, lines)| {
                lines.into_iter().filter_map(move |line| {
                    let (key, value) = line.split_once('=')?;
                    crate::core::wgconf::may_be_secret(key).then(|| {
                        let key = key.trim().to_ascii_lowercase();
                        (section.clone(), key, value.trim().to_owned())
                    })
                })
            })
            .collect()
    };
    let reference = reference.map(secrets_of);
    let mut out = String::with_capacity(text.len());
    for (section, lines) in sections(text) {
        for line in lines {
            match line.split_once('=') {
                Some((key, value)) if crate::core::wgconf::may_be_secret(key) => {
                    let lower = key.trim().to_ascii_lowercase();
                    let same = reference.as_ref().is_none_or(|secrets| {
                        secrets
                            .iter()
                            .any(|(s, k, v)| *s == section && *k == lower && v == value.trim())
                    });
                    let shown = if same {
                        "(redacted)"
                    } else {
                        "(redacted, changed)"
                    };
                    out.push_str(&format!("{} = {shown}\n", key.trim()));
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Lines grouped by section identity: `interface` or the peer's PublicKey (`peer:KEY`), so secrets
/// are compared with the same peer's secret whatever the order of peers.
fn sections(text: &str) -> Vec<(String, Vec<&str>)> {
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') || out.is_empty() {
            let id = if trimmed.eq_ignore_ascii_case("[peer]") {
                "peer:".to_owned()
            } else {
                "interface".to_owned()
            };
            out.push((id, Vec::new()));
        }
        let current = out.last_mut().expect("pushed above");
        if current.0.starts_with("peer:")
            && let Some((key, value)) = trimmed.split_once('=')
            && key.trim().eq_ignore_ascii_case("publickey")
        {
            current.0 = format!("peer:{}", value.trim());
        }
        current.1.push(line);
    }
    out
}

/// What the planned secrets are compared with: the current config, plus the planned private key
/// when the config names none (a PostUp hook sets it, e.g. adopted hosts) and the running interface
/// runs exactly that key, so a key that is kept is not shown as changed.
fn key_reference(current: &str, desired: &str, facts: &Facts) -> String {
    let has_key = |text: &str| {
        interface_fields(text)
            .into_iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("privatekey"))
            .map(|(_, value)| value)
    };
    let (Some(live), None, Some(planned)) = (&facts.live, has_key(current), has_key(desired))
    else {
        return current.to_owned();
    };
    let runs_it = crate::core::keys::PrivateKey::from_base64(&planned)
        .is_some_and(|key| key.public_key().to_base64() == live.public_key);
    match current.find("[Interface]") {
        Some(at) if runs_it => {
            let end = at + "[Interface]".len();
            format!(
                "{}\nPrivateKey = {planned}{}",
                &current[..end],
                &current[end..]
            )
        }
        _ => current.to_owned(),
    }
}

/// A unified diff of the config with every secret redacted.
pub fn redacted_diff(host: &str, interface: &str, current: &str, desired: &str) -> String {
    redacted_diff_against(host, interface, current, desired, current)
}

/// [`redacted_diff`], comparing the planned secrets with `reference`'s (see [`key_reference`]).
fn redacted_diff_against(
    host: &str,
    interface: &str,
    current: &str,
    desired: &str,
    reference: &str,
) -> String {
    let old = redact(current, None);
    // A first deployment has no old secret to compare with: "changed" would be noise.
    let new = redact(desired, (!current.is_empty()).then_some(reference));
    let old_label = if current.is_empty() {
        "/dev/null".to_owned()
    } else {
        format!("{host}:/etc/wireguard/{interface}.conf (live)")
    };
    let new_label = format!("{host}:/etc/wireguard/{interface}.conf (planned)");
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&old_label, &new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "[Interface]\nPrivateKey = SECRET1\nAddress = 100.64.0.1/24\n\n[Peer]\nPublicKey = P1\nPresharedKey = PSK1\nAllowedIPs = 100.64.0.2/32\n";

    #[test]
    fn diff_never_shows_a_key_and_still_shows_that_it_changed() {
        let new = OLD
            .replace("SECRET1", "SECRET2")
            .replace("100.64.0.2/32", "100.64.0.3/32");
        let diff = redacted_diff("relay1", "wg0", OLD, &new);
        assert!(!diff.contains("SECRET") && !diff.contains("PSK1"), "{diff}");
        assert!(diff.contains("+PrivateKey = (redacted, changed)"), "{diff}");
        assert!(diff.contains("-AllowedIPs = 100.64.0.2/32"), "{diff}");
        assert!(diff.contains("PresharedKey = (redacted)\n"), "{diff}");
    }

    #[test]
    fn keys_are_redacted_in_any_case_and_spacing_and_when_commented_out() {
        let live = "[Interface]\nprivatekey=SECRET1\n# PrivateKey = OLDSECRET\n[Peer]\nPublicKey = P1\nPRESHAREDKEY =PSK1\n";
        let diff = redacted_diff("relay1", "wg0", live, OLD);
        assert!(!diff.contains("SECRET") && !diff.contains("PSK1"), "{diff}");
        assert!(diff.contains("-privatekey = (redacted)\n"), "{diff}");
        // Same key, other spelling: not a key change.
        assert!(diff.contains("+PrivateKey = (redacted)\n"), "{diff}");
        assert!(diff.contains("PublicKey = P1"), "{diff}");
    }

    #[test]
    fn a_preshared_key_is_compared_with_the_same_peer_whatever_the_order() {
        let old = format!("{OLD}\n[Peer]\nPublicKey = P2\nPresharedKey = PSK2\n");
        let swapped = "[Interface]\nPrivateKey = SECRET1\nAddress = 100.64.0.1/24\n\n[Peer]\nPublicKey = P2\nPresharedKey = PSK2\n\n[Peer]\nPublicKey = P1\nPresharedKey = PSK1\nAllowedIPs = 100.64.0.2/32\n";
        assert!(!redact(swapped, Some(&old)).contains("changed"));
    }

    #[test]
    fn a_key_set_by_a_hook_and_kept_is_not_shown_as_changed() {
        let key = crate::core::keys::PrivateKey::from_bytes([3; 32]);
        let hooked = "[Interface]\nAddress = 100.64.0.1/24\nPostUp = wg set %i private-key /k\n";
        let desired = format!(
            "[Interface]\nAddress = 100.64.0.1/24\nPrivateKey = {}\n",
            key.expose_base64()
        );
        let output = |public: String| {
            let config = format!("@@config {}\n{hooked}\n", hooked.len());
            let text =
                format!("@@wgdeploy-facts 1\n{config}@@dump\n-\t{public}\t51820\toff\n@@end\n");
            crate::remote::facts::parse(text.as_bytes()).unwrap()
        };
        let wg0 = InterfaceName::parse("wg0").unwrap();
        let kept = output(key.public_key().to_base64());
        let change = classify("h", &wg0, &desired, Families::default(), &kept);
        let diff = change.diff.unwrap();
        assert!(diff.contains("+PrivateKey = (redacted)\n"), "{diff}");
        assert!(!diff.contains(&key.expose_base64()), "{diff}");
        let other = crate::core::keys::PrivateKey::from_bytes([4; 32]).public_key();
        let rotated = classify(
            "h",
            &wg0,
            &desired,
            Families::default(),
            &output(other.to_base64()),
        );
        assert!(
            rotated
                .diff
                .unwrap()
                .contains("+PrivateKey = (redacted, changed)")
        );
    }

    #[test]
    fn interface_fields_decide_restart_and_peers_decide_syncconf() {
        let new_peer = format!("{OLD}\n[Peer]\nPublicKey = P2\nAllowedIPs = 100.64.0.9/32\n");
        assert!(interface_changes(OLD, &new_peer).is_empty());
        let new_key = OLD.replace("SECRET1", "SECRET2");
        assert!(interface_changes(OLD, &new_key).is_empty());
        let moved = OLD.replace("100.64.0.1/24", "100.64.0.7/24");
        assert_eq!(interface_changes(OLD, &moved), vec!["Address"]);
        let hooked = OLD.replace("[Peer]", "PostUp = true\n\n[Peer]");
        assert_eq!(interface_changes(OLD, &hooked), vec!["PostUp"]);
    }

    /// Every per-host setting wg-quick applies only when the interface starts is a restart, and
    /// the reason names it.
    #[test]
    fn a_change_of_any_interface_setting_is_a_restart_naming_it() {
        let with = |line: &str| OLD.replace("[Peer]", &format!("{line}\n\n[Peer]"));
        for (before, after, key) in [
            ("MTU = 1420", "MTU = 1380", "MTU"),
            ("DNS = 1.1.1.1", "DNS = 9.9.9.9", "DNS"),
            ("Table = off", "Table = 100", "Table"),
            ("FwMark = 0x10", "FwMark = 0x20", "FwMark"),
            ("PreUp = a", "PreUp = b", "PreUp"),
            ("PostUp = a", "PostUp = b", "PostUp"),
            ("PreDown = a", "PreDown = b", "PreDown"),
            ("PostDown = a", "PostDown = b", "PostDown"),
        ] {
            assert_eq!(interface_changes(&with(before), &with(after)), vec![key]);
            let output = format!(
                "@@wgdeploy-facts 1\n@@config {}\n{}\n@@dump\n-\tPUB\t51820\toff\n@@end\n",
                with(before).len(),
                with(before)
            );
            let facts = crate::remote::facts::parse(output.as_bytes()).unwrap();
            let wg0 = InterfaceName::parse("wg0").unwrap();
            let change = classify("h", &wg0, &with(after), Families::default(), &facts);
            assert_eq!(change.class, Class::Restart, "{key}");
            assert_eq!(change.reasons[0], format!("interface changes: {key}"));
        }
    }
}
