//! Which removed hosts to contact, each as a job that carries only its identity.

use crate::core::facts::SecretText;
use crate::core::forwarding::Families;
use crate::core::model::{InterfaceName, Inventory};
use crate::engine::removal::RemovalFailure;
use crate::engine::types::Job;
use crate::remote::Become;
use crate::store::state::State;

/// A removed host to contact.
#[derive(Debug, Clone)]
pub struct RemovedJob {
    pub job: Job,
    /// Why it cannot be contacted at all.
    pub invalid: Option<RemovalFailure>,
    /// The inventory host reached the same way (SSH host, port and jump): the same machine under a
    /// new name, so it is not decommissioned, only forgotten.
    pub alias: Option<String>,
}

/// Jobs for the removed hosts to contact: all of them, or those named in `selected`.
pub fn jobs(state: &State, inventory: &Inventory, selected: &[String]) -> Vec<RemovedJob> {
    state
        .removed(inventory)
        .into_iter()
        .filter(|(name, _)| crate::core::removal::left_alone(name, false, selected).is_none())
        .map(|(name, managed)| {
            let become_ = match managed.ssh.become_.as_deref() {
                Some(_) => Become::Sudo,
                None => Become::None,
            };
            // A removed host's job carries only its identity, the private key the state holds for
            // it, so the removal only ever touches an interface that runs that key (a renamed or
            // re-provisioned machine runs another one). Never printed, like every job's config.
            // A host that made its own key (`keys: on-host`) is known by the public key it
            // reported, written as the configs for it name it.
            let identity = match (state.private_key(name), state.public_key(name)) {
                (Some(key), _) => format!("[Interface]\nPrivateKey = {}\n", key.expose_base64()),
                (None, Some(public)) => format!(
                    "[Interface]\n# PublicKey = {public}\nPrivateKey = {}\n",
                    crate::core::keys::ON_HOST_KEY_MARKER
                ),
                (None, None) => String::new(),
            };
            let job = |interface: InterfaceName| Job {
                name: name.to_owned(),
                interface,
                desired: SecretText::new(identity.clone()),
                forwarding: Families::default(),
                become_,
                keys: Default::default(),
            };
            let alias = crate::store::state::alias_of(inventory, &managed.ssh);
            match InterfaceName::parse(&managed.interface) {
                Ok(interface) => RemovedJob {
                    job: job(interface),
                    invalid: None,
                    alias,
                },
                Err(_) => RemovedJob {
                    job: job(inventory.network.interface.clone()),
                    invalid: Some(RemovalFailure::InvalidInterface {
                        name: crate::core::model::printable(&managed.interface),
                    }),
                    alias,
                },
            }
        })
        .collect()
}

/// The public key a removed host's job says it ran (see [`jobs`]).
pub fn own_key(job: &Job) -> Option<String> {
    crate::core::removal::public_key_of(job.desired.expose())
}
