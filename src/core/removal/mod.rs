//! Decommissioning hosts removed from the inventory, as pure decisions: what a removed host's
//! inspection and the removal's answer mean ([`Inspection`], [`Answer`]), what `plan` shows for it
//! ([`plan`]), what `apply` reports after it ([`done_notes`]), which removed hosts a run leaves
//! alone ([`left_alone`]) and which decommissioned hosts the state may forget ([`forgettable`]). The engine (`engine::removal`) reads hosts and runs the
//! scripts; nothing here does I/O.

pub mod plan;

#[cfg(test)]
pub(crate) mod fixtures;

pub use plan::{plan_forget, plan_removal};

use crate::core::facts::Facts;
use crate::core::forwarding::Families;
use std::path::Path;

/// What a removed host said about its generations and forwarding, before anything changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// What becomes of the config: `None` when there is none.
    pub generation: Option<KeptAs>,
    pub forwarding: Vec<Verdict>,
}

/// Where the removed config is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptAs {
    /// The newest generation already holds exactly this config.
    Existing(u64),
    /// It is recorded as a new generation.
    New(u64),
}

/// What happens to a forwarding sysctl that wgdeploy's sysctl.d file sets and that is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Only wgdeploy's file turns it on: switched off.
    Off(String),
    /// Something else wants it on too (a file, Docker): left on.
    Keep { key: String, why: String },
}

/// What the removal script answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It stopped at `@@fail REASON`; `log`: what the host's tools said.
    Failed {
        reason: String,
        log: Vec<String>,
    },
    /// It stopped before its end.
    Cut,
    /// The interface runs another key than the removed host's: nothing was touched.
    NotOurs,
    Done(Decommissioned),
}

/// What a completed removal did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decommissioned {
    /// Where the config was kept (`None`: there was none).
    pub generation: Option<KeptAs>,
    /// systemd's unit was disabled.
    pub disabled: bool,
    pub removed_sysctl_file: bool,
    /// The key file the host made itself (`keys: on-host`) was removed.
    pub removed_key_file: bool,
    /// The forwarding sysctls switched off.
    pub switched_off: Vec<String>,
    /// `wg-quick down` failed and the link was deleted instead (its PostDown hooks may not have run).
    pub link_deleted: bool,
}

/// What `apply` says about a completed removal: the first note sums it up.
pub fn done_notes(interface: &str, done: &Decommissioned) -> Vec<String> {
    let mut parts = vec![format!("`{interface}` down")];
    if done.disabled {
        parts.push("unit disabled".to_owned());
    }
    match done.generation {
        Some(KeptAs::Existing(n) | KeptAs::New(n)) => {
            parts.push(format!("config removed (kept as generation {n})"))
        }
        None => parts.push("no config".to_owned()),
    }
    if done.removed_sysctl_file {
        parts.push("sysctl.d file removed".to_owned());
    }
    if done.removed_key_file {
        parts.push(format!("{interface}.key removed"));
    }
    for key in &done.switched_off {
        parts.push(format!("{key} = 0"));
    }
    let mut notes = vec![format!("decommissioned: {}", parts.join(", "))];
    if done.link_deleted {
        notes.push(
            "`wg-quick down` failed, so the link was deleted: its PostDown hooks may not have run"
                .to_owned(),
        );
    }
    notes
}

/// What `apply` says about a removed host whose interface runs another key than its own.
pub fn not_ours_note(host: &str, interface: &str) -> String {
    format!(
        "left untouched: `{interface}` there runs another key than {host}'s (renamed, or re-provisioned?)"
    )
}

/// What `apply` says about a removed host that is in the inventory under another name.
pub const ALIAS_NOTE: &str =
    "left untouched (the same machine is in the inventory under another name); forgotten";

/// The public key of a config's private key, when it has one (the identity a removed host's job
/// carries is such a config), else the one it names beside a key kept on the host.
pub fn public_key_of(config: &str) -> Option<String> {
    let config = crate::core::wgconf::parse(Path::new("config"), config).ok()?;
    let key = config
        .private_key
        .map(|key| key.public_key())
        .or(config.public_key)?;
    Some(key.to_base64())
}

/// The public key the host's interface runs: its config's, else the live interface's.
pub fn running_key(facts: &Facts) -> Option<String> {
    match facts.config.text() {
        Some(text) => public_key_of(text),
        None => facts.live.as_ref().map(|live| live.public_key.clone()),
    }
}

/// The forwarding a wgdeploy sysctl.d file switches on.
pub fn families_in(text: &str) -> Families {
    let sets = |key: &str| {
        text.lines()
            .any(|line| line.replace(' ', "") == format!("{key}=1"))
    };
    Families {
        ipv4: sets("net.ipv4.ip_forward"),
        ipv6: sets("net.ipv6.conf.all.forwarding"),
    }
}

/// Why the removed host `name` is left alone this run (`--keep-removed` when `keep`, or not among
/// the hosts `selected` by `--hosts`, when any are), or `None` when it is contacted.
pub fn left_alone(name: &str, keep: bool, selected: &[String]) -> Option<&'static str> {
    if keep {
        Some("--keep-removed")
    } else if !selected.is_empty() && !selected.iter().any(|s| s == name) {
        Some("not selected by --hosts")
    } else {
        None
    }
}

/// Which of the decommissioned hosts `decommissioned` the state may forget: not the jump host of a
/// host that stays in the state (`jumps`: each host the state holds and its jump host), through
/// chains too, since forgetting it would leave that host unreachable. Returns the hosts to forget
/// and the `(jump host, host reached through it)` pairs kept.
pub fn forgettable<'a>(
    mut decommissioned: Vec<String>,
    jumps: &[(&'a str, Option<&'a str>)],
) -> (Vec<String>, Vec<(String, String)>) {
    let mut kept = Vec::new();
    // Keep a jump host while a host that stays is reached through it (chains: until none is).
    while let Some((index, user)) = decommissioned.iter().enumerate().find_map(|(index, jump)| {
        let (user, _) = jumps.iter().find(|(user, their_jump)| {
            *their_jump == Some(jump.as_str()) && !decommissioned.iter().any(|f| f == user)
        })?;
        Some((index, (*user).to_owned()))
    }) {
        kept.push((decommissioned.remove(index), user));
    }
    (decommissioned, kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_that_made_its_own_key_is_known_by_its_public_key() {
        let key = crate::core::keys::PrivateKey::from_bytes([7; 32]).public_key();
        let identity = format!(
            "[Interface]\n# PublicKey = {key}\nPrivateKey = {}\n",
            crate::core::keys::ON_HOST_KEY_MARKER
        );
        assert_eq!(public_key_of(&identity), Some(key.to_base64()));
    }

    #[test]
    fn the_notes_say_what_the_removal_did() {
        let done = Decommissioned {
            generation: Some(KeptAs::New(4)),
            disabled: true,
            removed_sysctl_file: true,
            removed_key_file: true,
            switched_off: vec!["net.ipv4.ip_forward".into()],
            link_deleted: true,
        };
        assert_eq!(
            done_notes("wg0", &done),
            [
                "decommissioned: `wg0` down, unit disabled, config removed (kept as generation 4), sysctl.d file removed, wg0.key removed, net.ipv4.ip_forward = 0",
                "`wg-quick down` failed, so the link was deleted: its PostDown hooks may not have run"
            ]
        );
        assert_eq!(
            done_notes("wg0", &Decommissioned::default()),
            ["decommissioned: `wg0` down, no config"]
        );
    }

    #[test]
    fn removed_hosts_are_left_alone_when_kept_or_not_selected() {
        let selected = ["office".to_owned()];
        assert_eq!(
            left_alone("office", true, &selected),
            Some("--keep-removed")
        );
        assert_eq!(left_alone("office", false, &selected), None);
        assert_eq!(
            left_alone("gone", false, &selected),
            Some("not selected by --hosts")
        );
        assert_eq!(
            left_alone("gone", false, &[]),
            None,
            "no --hosts: every one"
        );
    }

    #[test]
    fn the_forwarding_of_a_sysctl_file() {
        let families =
            families_in("# x\nnet.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding=0\n");
        assert!(families.ipv4 && !families.ipv6);
    }

    #[test]
    fn a_jump_host_is_kept_while_a_host_that_stays_needs_it_through_chains() {
        let decommissioned = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        // x stays and is reached through c, which is reached through b; a serves nobody.
        let jumps = [("x", Some("c")), ("c", Some("b")), ("a", None), ("b", None)];
        let (forget, kept) = forgettable(decommissioned, &jumps);
        assert_eq!(forget, ["a"]);
        assert_eq!(
            kept,
            [
                ("c".to_owned(), "x".to_owned()),
                ("b".to_owned(), "c".to_owned())
            ]
        );
        let (forget, kept) = forgettable(vec!["b".into(), "c".into()], &jumps[1..]);
        assert_eq!((forget.len(), kept.len()), (2, 0), "all of the chain goes");
    }
}
