//! A rollback puts back configs with the keys they carried, and the state must follow, or the
//! next apply would push the newer keys again. With `keys: local` the old private key comes from
//! the host's own generation (where it was written by wgdeploy before, from this same state), so
//! no private key is written anywhere new: the journal never holds one. With `keys: on-host` the
//! config names the key's public half only (apply.sh finds the private key among the host's own
//! files), and the state takes that public half.

use crate::core::keys::OwnKey;
use crate::engine::types::{HostReport, Surveyed};
use crate::store::state::State;

/// What each surveyed host's rollback config carries.
pub fn keys_of<S>(hosts: &[Surveyed<S>]) -> Vec<(String, OwnKey)> {
    hosts
        .iter()
        .filter(|surveyed| surveyed.outcome.is_ok())
        .filter_map(|surveyed| {
            let name = surveyed.job.name.clone();
            let config = crate::core::wgconf::parse(
                std::path::Path::new(&name),
                surveyed.job.desired.expose(),
            )
            .ok()?;
            match (config.private_key, config.public_key) {
                (Some(key), _) => Some((name, OwnKey::Private(key))),
                (None, Some(key)) => Some((name, OwnKey::Public(key))),
                (None, None) => None,
            }
        })
        .collect()
}

/// Takes into the state the keys of the hosts whose rollback went through (not those that failed
/// or were undone). Returns whether the state changed.
pub fn restore(state: &mut State, carried: &[(String, OwnKey)], reports: &[HostReport]) -> bool {
    let mut changed = false;
    for report in reports
        .iter()
        .filter(|report| report.outcome.is_ok() && !report.rolled_back)
    {
        let Some((_, key)) = carried.iter().find(|(name, _)| *name == report.name) else {
            continue;
        };
        changed |= match key {
            // Only a host whose private key the state holds (never a device's declared one).
            OwnKey::Private(key) if state.private_key(&report.name).is_some() => {
                state.restore_private_key(&report.name, key.clone())
            }
            OwnKey::Public(key) if state.public_key(&report.name).is_some() => {
                state.record_public_key(&report.name, *key)
            }
            _ => false,
        };
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::facts::SecretText;
    use crate::core::keys::PrivateKey;
    use crate::engine::types::{Applied, HostError, Job};
    use std::sync::Arc;

    fn job(name: &str, config: String) -> Arc<Job> {
        Arc::new(Job {
            name: name.into(),
            interface: crate::core::model::InterfaceName::parse("wg0").unwrap(),
            desired: SecretText::new(config),
            forwarding: Default::default(),
            become_: crate::remote::Become::None,
            keys: Default::default(),
        })
    }

    fn report(name: &str, ok: bool, rolled_back: bool) -> HostReport {
        HostReport {
            name: name.into(),
            class: None,
            outcome: if ok {
                Ok(Applied {
                    changed: true,
                    live: None,
                    generation: None,
                    now: 0,
                })
            } else {
                Err(HostError::new("down"))
            },
            notes: Vec::new(),
            rolled_back,
        }
    }

    /// The state takes back the key a rolled-back host's config carries, for hosts whose rollback
    /// went through only.
    #[test]
    fn the_state_takes_back_the_keys_of_hosts_rolled_back() {
        let inventory = crate::core::inventory::parse(
            std::path::Path::new("t.yaml"),
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  a: {}\n  b: {}\n",
        )
        .unwrap();
        let deployment =
            crate::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap();
        let mut state = State::default();
        state.reconcile(
            &deployment.inventory,
            &deployment.addresses,
            &deployment.topology,
        );
        let old: Vec<PrivateKey> = ["r", "a", "b"]
            .iter()
            .map(|name| state.private_key(name).unwrap().clone())
            .collect();
        for name in ["r", "a", "b"] {
            state.rekey(name);
        }
        let config =
            |key: &PrivateKey| format!("[Interface]\nPrivateKey = {}\n", key.expose_base64());
        let surveyed: Vec<Surveyed<()>> = ["r", "a", "b"]
            .iter()
            .zip(&old)
            .map(|(name, key)| {
                let job = job(name, config(key));
                let facts = crate::remote::facts::parse(b"@@wgdeploy-facts 1\n@@end\n").unwrap();
                let change = job.classify(&facts);
                Surveyed {
                    job,
                    outcome: Ok((Arc::new(()), facts, change)),
                    pending: None,
                }
            })
            .collect();
        let carried = keys_of(&surveyed);
        assert_eq!(carried.len(), 3);
        // r rolled back; a failed; b was undone by --atomic.
        let reports = [
            report("r", true, false),
            report("a", false, false),
            report("b", true, true),
        ];
        assert!(restore(&mut state, &carried, &reports));
        assert_eq!(state.private_key("r"), Some(&old[0]));
        assert_ne!(state.private_key("a"), Some(&old[1]));
        assert_ne!(state.private_key("b"), Some(&old[2]));
        assert!(!restore(&mut state, &carried, &reports));
    }
}
