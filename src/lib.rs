//! wgdeploy: declarative WireGuard provisioning that gets NAT right.
//!
//! Data flows one way through pure stages: inventory → model → addressing → topology → render.

pub mod addressing;
pub mod adopt;
pub mod apply;
pub mod deploy;
pub mod error;
pub mod facts;
pub mod forwarding;
pub mod inventory;
pub mod journal;
pub mod key_guard;
pub mod keys;
pub mod live;
pub mod model;
pub mod output;
pub mod parallel;
pub mod plan;
pub mod plan_view;
pub mod remote;
pub mod removal;
pub mod render;
pub mod rollback;
pub mod routes;
pub mod state;
pub mod status;
pub mod status_json;
pub mod status_view;
pub mod topology;
pub mod transport;

use std::path::Path;

/// Loads an inventory and plans it against the remembered state: the pure core in one call.
pub fn plan_inventory(path: &Path, state: &state::State) -> error::Result<render::Deployment> {
    let inventory = inventory::load(path)?;
    plan_loaded(inventory, state)
}

/// Plans an already validated inventory.
pub fn plan_loaded(
    inventory: model::Inventory,
    state: &state::State,
) -> error::Result<render::Deployment> {
    let addresses = addressing::assign(&inventory, &state.remembered_addresses())?;
    let topology = topology::plan(&inventory, &addresses);
    Ok(render::Deployment {
        inventory,
        addresses,
        topology,
    })
}
pub mod check;
pub mod check_input;
pub mod check_view;
pub mod cli;
pub mod confirm;
pub mod wgconf;
