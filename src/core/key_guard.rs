//! A host's key is its identity (DESIGN.md §1.9): peers know it only by its public key. A key must
//! never change by accident — a lost or replaced state file would otherwise re-key the fleet on
//! the next apply and cut hosts off from each other. Pure: the planned config and the host's facts
//! in, a refusal with its fix out.
//!
//! A change of a host's own key, or of the key its config lists for a peer, is planned only when
//! asked for (`--rekey HOST`); otherwise the host is stopped with what was seen and the commands
//! that fix it. Configs that wgdeploy did not write are not judged here (adopting them is).

use crate::core::facts::Facts;
use crate::core::wgconf::WgConfig;
use std::path::Path;

/// What this run knows about keys, shared by every host's job.
#[derive(Debug, Clone, Default)]
pub struct KeyContext {
    /// Judge key changes at all (plan and apply); a rollback puts back configs as they were.
    pub check: bool,
    /// Hosts whose key this run replaces on purpose (`--rekey`).
    pub rekeyed: Vec<String>,
    /// Hosts the state file had no key for: this run generated one.
    pub new: Vec<String>,
    /// Hosts that make their own key (`keys: on-host`): their key is the one they report.
    pub on_host: Vec<String>,
    /// Public keys this run generated (base64) → how plans show them, e.g. `(new key of cafe)`.
    pub labels: Vec<(String, String)>,
    /// The inventory, for the commands the fixes name.
    pub inventory: std::path::PathBuf,
}

/// Why a host is stopped, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub message: String,
    pub help: String,
}

impl KeyContext {
    /// `text` with every generated public key replaced by its label: a plan shows that a host
    /// gets a new key without showing a throwaway one (plan never saves the keys it generates).
    pub fn label(&self, text: &str) -> String {
        self.labels
            .iter()
            .fold(text.to_owned(), |text, (key, label)| {
                text.replace(key, label)
            })
    }
}

/// A public key as messages show it: its label when this run generated it, else shortened.
fn shown(key: &str, keys: &KeyContext) -> String {
    let labelled = keys.label(key);
    if labelled == key {
        crate::core::keys::short_key(key)
    } else {
        labelled
    }
}

/// Refuses `desired` on host `name` when it would change a key nobody asked to change.
pub fn judge(
    name: &str,
    desired: &str,
    facts: &Facts,
    keys: &KeyContext,
) -> Result<(), KeyProblem> {
    if !keys.check {
        return Ok(());
    }
    let Some(current) = facts.config.text() else {
        return Ok(());
    };
    // A config wgdeploy did not write is adoption's business (`wgdeploy adopt` or
    // `--replace-unmanaged`), judged by the same rule the plan uses.
    if crate::core::facts::unmanaged(facts) {
        return Ok(());
    }
    let parse = |text: &str| crate::core::wgconf::parse(Path::new(name), text).ok();
    let (Some(now), Some(planned)) = (parse(current), parse(desired)) else {
        return Ok(());
    };
    let inventory = keys.inventory.display().to_string();
    own_key(name, &inventory, &now, &planned, facts, keys)?;
    peer_keys(name, &inventory, &now, &planned, keys)
}

fn own_key(
    name: &str,
    inventory: &str,
    now: &WgConfig,
    planned: &WgConfig,
    facts: &Facts,
    keys: &KeyContext,
) -> Result<(), KeyProblem> {
    if keys.rekeyed.iter().any(|host| host == name) {
        return Ok(());
    }
    // A config for a host that makes its own key (`keys: on-host`) names its public key only.
    let Some(planned_key) = planned
        .private_key
        .as_ref()
        .map(|k| k.public_key())
        .or(planned.public_key)
        .map(|k| k.to_base64())
    else {
        return Ok(());
    };
    // The key the host runs: its live interface's, else its config's.
    let running = facts
        .live
        .as_ref()
        .map(|live| live.public_key.clone())
        .filter(|key| !key.is_empty() && key != "(none)")
        .or_else(|| {
            now.private_key
                .as_ref()
                .map(|k| k.public_key())
                .or(now.public_key)
                .map(|k| k.to_base64())
        });
    let Some(running) = running else {
        return Ok(());
    };
    if running == planned_key {
        return Ok(());
    }
    let fix = format!(
        "`wgdeploy adopt {inventory} --hosts {name}` reads the key back from the host into the state; `--rekey {name}` replaces it on {name} and all its peers"
    );
    if keys.new.iter().any(|host| host == name) {
        Err(KeyProblem {
            message: format!(
                "the state file does not know the key `{name}` runs (public key {}): was it lost?",
                crate::core::keys::short_key(&running)
            ),
            help: fix,
        })
    } else {
        Err(KeyProblem {
            message: format!(
                "`{name}` runs another key (public key {}) than the state file's ({}): was the state file replaced or restored from an old copy?",
                crate::core::keys::short_key(&running),
                crate::core::keys::short_key(&planned_key)
            ),
            help: fix,
        })
    }
}

fn peer_keys(
    name: &str,
    inventory: &str,
    now: &WgConfig,
    planned: &WgConfig,
    keys: &KeyContext,
) -> Result<(), KeyProblem> {
    for peer in &planned.peers {
        let Some(peer_name) = &peer.name else {
            continue;
        };
        if keys.rekeyed.contains(peer_name) {
            continue;
        }
        let Some(listed) = now
            .peers
            .iter()
            .find(|listed| listed.name.as_ref() == Some(peer_name))
        else {
            continue;
        };
        if listed.public_key == peer.public_key {
            continue;
        }
        if keys.on_host.contains(peer_name) {
            return Err(KeyProblem {
                message: format!(
                    "`{name}` lists `{peer_name}` with public key {}, but `{peer_name}` now runs another key ({}), made on the host: was `{peer_name}` rebuilt?",
                    crate::core::keys::short_key(&listed.public_key.to_base64()),
                    shown(&peer.public_key.to_base64(), keys)
                ),
                help: format!(
                    "`--rekey {peer_name}` gives its peers the key it runs now (run with all of them); if `{peer_name}` should still have its old key, put its key file back on it"
                ),
            });
        }
        let why = if keys.new.contains(peer_name) {
            format!("the state file has no key for `{peer_name}`")
        } else {
            format!("the state file's key for `{peer_name}` is not the one its peers know")
        };
        return Err(KeyProblem {
            message: format!(
                "`{name}` lists `{peer_name}` with public key {}, but the plan would change it to {} ({why}): was the state file lost or replaced?",
                crate::core::keys::short_key(&listed.public_key.to_base64()),
                shown(&peer.public_key.to_base64(), keys)
            ),
            help: format!(
                "`wgdeploy adopt {inventory}` reads the keys back from the hosts into the state; `--rekey {peer_name}` replaces {peer_name}'s key on purpose"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::facts::{FileFact, LiveInterface, SecretText};
    use crate::core::keys::PrivateKey;

    fn config(key: &PrivateKey, peers: &[(&str, &PrivateKey)], header: bool) -> String {
        let mut text = String::new();
        if header {
            text.push_str("# wg0 on a: generated by wgdeploy; local edits are overwritten\n");
        }
        text.push_str(&format!(
            "[Interface]\nAddress = 100.64.0.1/24\nPrivateKey = {}\n",
            key.expose_base64()
        ));
        for (name, peer) in peers {
            text.push_str(&format!(
                "\n[Peer]\n# Name = {name}\nPublicKey = {}\nAllowedIPs = 100.64.0.2/32\n",
                peer.public_key().to_base64()
            ));
        }
        text
    }

    fn facts(current: &str, live_key: Option<&PrivateKey>) -> Facts {
        let mut facts = crate::remote::facts::parse(b"@@wgdeploy-facts 1\n@@end\n").unwrap();
        facts.config = FileFact::Present(SecretText::new(current.to_owned()));
        facts.live = live_key.map(|key| LiveInterface {
            public_key: key.public_key().to_base64(),
            ..LiveInterface::default()
        });
        facts
    }

    fn checking() -> KeyContext {
        KeyContext {
            check: true,
            inventory: "i.yaml".into(),
            ..KeyContext::default()
        }
    }

    fn three_keys() -> (PrivateKey, PrivateKey, PrivateKey) {
        (
            PrivateKey::generate(),
            PrivateKey::generate(),
            PrivateKey::generate(),
        )
    }

    /// Host `a` lists `b`; the plan gives `b` a new key that `keys` explains (or not).
    fn judge_b_rekeyed(keys: impl FnOnce(&PrivateKey) -> KeyContext) -> Result<(), KeyProblem> {
        let (a, b_old, b_new) = three_keys();
        let now = config(&a, &[("b", &b_old)], true);
        let planned = config(&a, &[("b", &b_new)], true);
        judge("a", &planned, &facts(&now, Some(&a)), &keys(&b_new))
    }

    #[test]
    fn same_keys_pass_and_a_new_peer_is_fine() {
        let (a, b, c) = three_keys();
        let now = config(&a, &[("b", &b)], true);
        let planned = config(&a, &[("b", &b), ("c", &c)], true);
        let judged = judge("a", &planned, &facts(&now, Some(&a)), &checking());
        assert_eq!(judged, Ok(()));
    }

    #[test]
    fn a_lost_state_stops_the_host_and_names_both_fixes() {
        let (old, new, b) = three_keys();
        let now = config(&old, &[("b", &b)], true);
        let planned = config(&new, &[("b", &b)], true);
        let keys = KeyContext {
            new: vec!["a".into()],
            ..checking()
        };
        let problem = judge("a", &planned, &facts(&now, Some(&old)), &keys).unwrap_err();
        assert!(
            problem
                .message
                .contains("the state file does not know the key `a` runs")
        );
        assert!(problem.help.contains("wgdeploy adopt i.yaml --hosts a"));
        assert!(problem.help.contains("--rekey a"));
        assert!(!problem.message.contains(&old.expose_base64()));
        // Asked for: no problem.
        let rekey = KeyContext {
            rekeyed: vec!["a".into()],
            ..keys
        };
        assert_eq!(
            judge("a", &planned, &facts(&now, Some(&old)), &rekey),
            Ok(())
        );
    }

    #[test]
    fn a_peer_whose_key_would_change_stops_the_host_listing_it() {
        let lost_state = |b_new: &PrivateKey| KeyContext {
            new: vec!["b".into()],
            labels: vec![(b_new.public_key().to_base64(), "(new key of b)".into())],
            ..checking()
        };
        let problem = judge_b_rekeyed(lost_state).unwrap_err();
        assert!(
            problem.message.contains("`a` lists `b`"),
            "{}",
            problem.message
        );
        assert!(problem.message.contains("no key for `b`"));
        assert!(
            problem.message.contains("change it to (new key of b) "),
            "{}",
            problem.message
        );
        assert!(problem.help.contains("--rekey b"));
        let asked = |b_new: &PrivateKey| KeyContext {
            rekeyed: vec!["b".into()],
            ..lost_state(b_new)
        };
        assert_eq!(judge_b_rekeyed(asked), Ok(()));
    }

    /// `keys: on-host`: configs name the host's public key only; the guard compares that with the
    /// key the interface runs.
    #[test]
    fn a_host_that_makes_its_own_key_is_judged_by_its_public_key() {
        let (running, other) = (PrivateKey::generate(), PrivateKey::generate());
        let marked = |key: &PrivateKey| {
            format!(
                "# wg0 on a: generated by wgdeploy\n[Interface]\nAddress = 100.64.0.1/24\n# PublicKey = {} (made on the host)\nPrivateKey = {}\n",
                key.public_key(),
                crate::core::keys::ON_HOST_KEY_MARKER
            )
        };
        let now = marked(&running);
        assert_eq!(
            judge("a", &now, &facts(&now, Some(&running)), &checking()),
            Ok(())
        );
        let problem = judge(
            "a",
            &marked(&other),
            &facts(&now, Some(&running)),
            &checking(),
        )
        .unwrap_err();
        assert!(
            problem.message.contains("runs another key"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_peer_that_made_a_new_key_itself_is_named_as_rebuilt() {
        let problem = judge_b_rekeyed(|_| KeyContext {
            on_host: vec!["b".into()],
            ..checking()
        })
        .unwrap_err();
        assert!(
            problem.message.contains("was `b` rebuilt?"),
            "{}",
            problem.message
        );
        assert!(problem.help.contains("--rekey b"));
    }

    #[test]
    fn labels_replace_generated_keys() {
        let keys = KeyContext {
            labels: vec![("KEY=".into(), "(new key of c)".into())],
            ..KeyContext::default()
        };
        assert_eq!(
            keys.label("+PublicKey = KEY=\n"),
            "+PublicKey = (new key of c)\n"
        );
    }
}
