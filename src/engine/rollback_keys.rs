//! A rollback puts back configs with the keys they carried, and the state must follow, or the
//! next apply would push the newer keys again. With `keys: local` the old private key comes from
//! the host's own generation (where it was written by wgdeploy before, from this same state), so
//! no private key is written anywhere new: the journal never holds one. With `keys: on-host` the
//! config names the key's public half only (apply.sh finds the private key among the host's own
//! files), and the state takes that public half.

use crate::core::keys::{PrivateKey, PublicKey};
use crate::engine::types::{HostReport, Surveyed};
use crate::store::state::State;

/// The key a host's rollback config carries: its private key (`keys: local`) or the public half
/// it names (`keys: on-host`).
pub enum Carried {
    Private(PrivateKey),
    Public(PublicKey),
}

/// What each surveyed host's rollback config carries.
pub fn keys_of<S>(hosts: &[Surveyed<S>]) -> Vec<(String, Carried)> {
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
                (Some(key), _) => Some((name, Carried::Private(key))),
                (None, Some(key)) => Some((name, Carried::Public(key))),
                (None, None) => None,
            }
        })
        .collect()
}

/// Takes into the state the keys of the hosts whose rollback went through (not those that failed
/// or were undone). Returns whether the state changed.
pub fn restore(state: &mut State, carried: &[(String, Carried)], reports: &[HostReport]) -> bool {
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
            Carried::Private(key) if state.private_key(&report.name).is_some() => {
                state.restore_private_key(&report.name, key.clone())
            }
            Carried::Public(key) if state.public_key(&report.name).is_some() => {
                state.record_public_key(&report.name, *key)
            }
            _ => false,
        };
    }
    changed
}
