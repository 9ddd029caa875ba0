//! Devices (`manage: false`) in a run: never contacted; each listed with what changed in its
//! config since it was last exported.

use crate::core::device::{SinceExport, since_export};
use crate::core::error::{Diagnostic, Result};
use crate::core::model::{Host, HostId};
use crate::core::render::{Deployment, Renderer};
use crate::store::state::State;

/// A device as a plan, apply or status lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub name: String,
    /// The inventory names the device's own public key: wgdeploy holds no private key for it.
    pub own_key: bool,
    pub since: SinceExport,
}

/// Every device of the deployment, in inventory order, its config rendered as planned.
pub fn views(
    deployment: &Deployment,
    state: &State,
    renderer: &Renderer,
) -> Result<Vec<DeviceView>> {
    let hosts = &deployment.inventory.hosts;
    let ids: Vec<HostId> = (0..hosts.len())
        .filter(|&id| hosts[id].is_device())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let texts = renderer.render_hosts(deployment, state, &ids)?;
    Ok(ids
        .iter()
        .zip(texts)
        .map(|(&id, text)| {
            let name = hosts[id].name.as_str();
            DeviceView {
                name: name.to_owned(),
                own_key: hosts[id].declared_key().is_some(),
                since: since_export(name, &text, state.exported(name)),
            }
        })
        .collect())
}

/// `--rekey` of a device whose key the inventory declares cannot be done by wgdeploy.
pub fn rekeyable(host: &Host) -> Result<()> {
    if host.declared_key().is_none() {
        return Ok(());
    }
    Err(Diagnostic::new(format!(
        "`--rekey {}`: the inventory declares this device's public key, and wgdeploy never held its private key",
        host.name
    ))
    .host(host.name.as_str())
    .help("make a new key pair on the device and write its public key as `public_key` in the inventory")
    .into())
}
