//! Hosts removed from the inventory are decommissioned, not forgotten.
//!
//! The state remembers, per host an apply (or rollback) reached, the interface it manages there and
//! the SSH settings it used (`store::state::Managed`). A host the state manages that is no longer
//! in the inventory is *removed*: `plan` shows it as `remove`, `apply` takes its interface down (the
//! config's PostDown hooks remove the FORWARD rules), disables its `wg-quick@` unit, keeps its config
//! as the last generation and removes it, removes its sysctl.d file and switches off a forwarding
//! sysctl that only that file turned on; then the state forgets the host. A removed host that
//! cannot be reached is a failed host and stays in the state. `--keep-removed` leaves such hosts
//! alone (not contacted, kept in the state).
//!
//! The remaining hosts need nothing from here: their configs are planned from the inventory, which
//! no longer lists the host, so their change (a syncconf) drops it as a peer.
//!
//! What is decided lives in `core::removal`; here: who to contact and how ([`jobs`], [`reach`]),
//! the survey ([`inspect`]), the removal itself ([`execute`]) and the state afterwards ([`settle`]).

pub mod error;
pub mod execute;
pub mod inspect;
pub mod jobs;
pub mod reach;
pub mod settle;

#[cfg(test)]
mod tests;

pub use error::RemovalFailure;
pub use execute::decommission;
pub use inspect::survey;
pub use jobs::{RemovedJob, jobs};
pub use reach::{managed_of, reached, targets};
pub use settle::{Settled, settle, settled_text};

use crate::engine::deploy::SshConnector;
use crate::engine::types::Reporter;
use std::sync::Arc;

/// Adds the removed hosts to a surveyed fleet (unless `keep`): `plan` and `apply` show and
/// decommission them with the rest. Returns a line for each removed host left alone (`keep`, or not
/// selected by `--hosts`), so none is passed over silently.
pub fn add_removed(
    fleet: &mut crate::engine::fleet::Fleet,
    keep: bool,
    reporter: Arc<dyn Reporter>,
) -> String {
    let inventory = &fleet.deployment.inventory;
    let selected = &fleet.connection.hosts;
    let mut left = String::new();
    for (name, _) in fleet.state.removed(inventory) {
        let Some(why) = crate::core::removal::left_alone(name, keep, selected) else {
            continue;
        };
        left.push_str(&format!(
            "  {name}: removed from the inventory, left alone ({why}); still in the state file\n"
        ));
    }
    if keep {
        return left;
    }
    let jobs = jobs(&fleet.state, inventory, selected);
    if jobs.is_empty() {
        return left;
    }
    let base = SshConnector::new(inventory, fleet.connection.ssh.clone());
    let extra = targets(&fleet.state, inventory, &base);
    let connector = Arc::new(base.with_targets(extra));
    let surveyed =
        fleet
            .runtime
            .block_on(survey(connector, jobs, fleet.connection.limits, reporter));
    fleet.hosts.extend(surveyed);
    left
}
