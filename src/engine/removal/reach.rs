//! How removed hosts are reached, and what the state remembers of how hosts were reached.

use crate::core::change::Class;
use crate::core::model::Inventory;
use crate::engine::deploy::SshConnector;
use crate::engine::types::{Job, Surveyed};
use crate::remote::Become;
use crate::store::state::{Managed, RememberedSsh, State};
use crate::transport::ssh::SshTarget;

/// How a removed host is reached: its remembered settings, its jump host resolved by name among the
/// inventory's hosts (current settings) or else the remembered ones.
pub fn targets(state: &State, inventory: &Inventory, connector: &SshConnector) -> Vec<SshTarget> {
    state
        .removed(inventory)
        .into_iter()
        .map(|(name, managed)| target(state, connector, name, managed, 0))
        .collect()
}

fn target(
    state: &State,
    connector: &SshConnector,
    name: &str,
    managed: &Managed,
    depth: usize,
) -> SshTarget {
    let ssh = &managed.ssh;
    let jump = ssh.jump.as_deref().filter(|_| depth < 8).and_then(|jump| {
        connector.target_of(jump).cloned().or_else(|| {
            let remembered = state.managed(jump)?;
            Some(target(state, connector, jump, remembered, depth + 1))
        })
    });
    SshTarget {
        label: name.to_owned(),
        host: ssh.host.clone(),
        port: ssh.port,
        user: ssh.user.clone(),
        identity: ssh.identity.clone(),
        jump: jump.map(Box::new),
    }
}

/// What the state remembers of a host reached with `target` for `job`.
pub fn managed_of(job: &Job, target: &SshTarget) -> Managed {
    Managed {
        interface: job.interface.as_str().to_owned(),
        ssh: RememberedSsh {
            host: target.host.clone(),
            port: target.port,
            user: target.user.clone(),
            identity: target.identity.clone(),
            become_: (job.become_ == Become::Sudo).then(|| "sudo".to_owned()),
            jump: target.jump.as_ref().map(|jump| jump.label.clone()),
        },
    }
}

/// The inventory hosts a survey reached (so a run could change them), with how it reached them.
pub fn reached<S>(hosts: &[Surveyed<S>], connector: &SshConnector) -> Vec<(String, Managed)> {
    hosts
        .iter()
        .filter(|host| matches!(&host.outcome, Ok((_, _, change)) if change.class != Class::Remove))
        .filter_map(|host| {
            let target = connector.target_of(&host.job.name)?;
            Some((host.job.name.clone(), managed_of(&host.job, target)))
        })
        .collect()
}
