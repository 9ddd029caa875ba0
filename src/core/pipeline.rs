//! The pure core in one call: an inventory file planned against the addresses hosts had before.

use crate::core::error::Result;
use crate::core::model::Inventory;
use crate::core::render::Deployment;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// Addresses each host had on the last run (from the state), so adding a host never moves one.
pub type Remembered = HashMap<String, Vec<IpAddr>>;

/// Loads an inventory and plans it against the remembered addresses.
pub fn plan_inventory(path: &Path, remembered: &Remembered) -> Result<Deployment> {
    let inventory = crate::core::inventory::load(path)?;
    plan_loaded(inventory, remembered)
}

/// Plans an already validated inventory.
pub fn plan_loaded(inventory: Inventory, remembered: &Remembered) -> Result<Deployment> {
    let addresses = crate::core::addressing::assign(&inventory, remembered)?;
    let topology = crate::core::topology::plan(&inventory, &addresses);
    Ok(Deployment {
        inventory,
        addresses,
        topology,
    })
}
