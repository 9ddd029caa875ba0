//! wgdeploy: declarative WireGuard provisioning that gets NAT right.
//!
//! Data flows one way through pure stages: inventory → model → addressing → topology → render.

pub mod error;
pub mod inventory;
pub mod keys;
pub mod model;
pub mod addressing;
pub mod topology;
pub mod state;
pub mod forwarding;
pub mod parallel;
pub mod render;
pub mod plan_view;

use std::path::Path;

/// Loads an inventory and plans it against the remembered state: the pure core in one call.
pub fn plan_inventory(path: &Path, state: &state::State) -> error::Result<render::Deployment> {
    let inventory = inventory::load(path)?;
    plan_loaded(inventory, state)
}

/// Plans an already validated inventory.
pub fn plan_loaded(inventory: model::Inventory, state: &state::State) -> error::Result<render::Deployment> {
    let addresses = addressing::assign(&inventory, &state.remembered_addresses())?;
    let topology = topology::plan(&inventory, &addresses);
    Ok(render::Deployment {
        inventory,
        addresses,
        topology,
    })
}
pub mod cli;
