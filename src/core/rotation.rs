//! `wgdeploy rotate` as decisions: which hosts get new keys, which hosts the run must change with
//! them (every peer of a rotated host, in the same run), and what is refused. Pure: the planned
//! inventory in, the rotation or a located refusal out.

use crate::core::error::{Diagnostic, Error, Result};
use crate::core::model::Inventory;
use crate::core::topology::Topology;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// `--hosts`: these keys; empty: every managed host's.
    pub hosts: Vec<String>,
    /// `--psk`: new preshared keys for every pair touching a rotated host.
    pub psk: bool,
}

/// The rotation this run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Hosts that get a new key (inventory order).
    pub rotated: Vec<String>,
    /// Managed hosts the run changes: the rotated ones and every managed peer of one (inventory
    /// order). Devices are never contacted: they take their new config by `export`.
    pub contacted: Vec<String>,
    /// Devices whose configs list a rotated host: their owners must export them again.
    pub devices_to_export: Vec<String>,
    /// Devices left as they are because none was named (plans say so).
    pub devices_not_rotated: Vec<String>,
    /// `--psk`.
    pub psk: bool,
}

/// Decides the rotation `ask` describes on the planned inventory.
pub fn plan(inventory: &Inventory, topology: &Topology, ask: &Ask) -> Result<Rotation> {
    if ask.psk && !inventory.network.preshared_keys {
        return Err(Diagnostic::new(
            "`--psk` rotates preshared keys, but this network uses none (`preshared_keys` is off)",
        )
        .help("leave out `--psk`, or turn `network.preshared_keys` on and apply first")
        .into());
    }
    let ids = if ask.hosts.is_empty() {
        (0..inventory.hosts.len())
            .filter(|&id| !inventory.hosts[id].is_device())
            .collect()
    } else {
        crate::core::selection::select(inventory, &ask.hosts, "--hosts")?
    };
    let refused: Vec<Diagnostic> = ids
        .iter()
        .map(|&id| &inventory.hosts[id])
        .filter(|host| host.declared_key().is_some())
        .map(|host| {
            Diagnostic::new(format!(
                "`{}` is a device whose public key the inventory declares: wgdeploy never held its private key, so it cannot rotate it",
                host.name
            ))
            .host(host.name.as_str())
            .help("make a new key pair on the device, write its public key as `public_key` in the inventory, then apply")
        })
        .collect();
    if let Some(error) = Error::from_all(refused) {
        return Err(error);
    }
    let mut touched = vec![false; inventory.hosts.len()];
    for &id in &ids {
        touched[id] = true;
        for peer in &topology.hosts[id].peers {
            touched[peer.host] = true;
        }
    }
    let names = |pick: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..inventory.hosts.len())
            .filter(|&id| pick(id))
            .map(|id| inventory.hosts[id].name.as_str().to_owned())
            .collect()
    };
    let device = |id: usize| inventory.hosts[id].is_device();
    Ok(Rotation {
        rotated: names(&|id| ids.contains(&id)),
        contacted: names(&|id| touched[id] && !device(id)),
        devices_to_export: names(&|id| touched[id] && device(id)),
        devices_not_rotated: names(&|id| device(id) && !ids.contains(&id)),
        psk: ask.psk,
    })
}

impl Rotation {
    /// The lines plans print above the hosts' changes.
    pub fn text(&self) -> String {
        let mut text = format!(
            "rotate: new keys for {}{}; their peers are changed in the same run\n",
            self.rotated.join(", "),
            if self.psk {
                ", and new preshared keys for every pair touching them"
            } else {
                ""
            }
        );
        if !self.devices_not_rotated.is_empty() {
            text.push_str(&format!(
                "rotate: devices keep their keys unless named with `--hosts`: {}\n",
                self.devices_not_rotated.join(", ")
            ));
        }
        if !self.devices_to_export.is_empty() {
            text.push_str(&format!(
                "rotate: export these devices' configs again afterwards (they list a new key): {}\n",
                self.devices_to_export.join(", ")
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(yaml: &str) -> crate::core::render::Deployment {
        let inventory =
            crate::core::inventory::parse(std::path::Path::new("t.yaml"), yaml).unwrap();
        crate::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap()
    }

    const FLEET: &str = "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web1: { endpoint: 198.51.100.2 }\n  home: { via: relay1 }\n  phone: { manage: false, via: relay1 }\n";

    fn ask(hosts: &[&str], psk: bool) -> Ask {
        Ask {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            psk,
        }
    }

    #[test]
    fn by_default_every_managed_host_is_rotated_and_devices_are_left_alone() {
        let d = planned(FLEET);
        let rotation = plan(&d.inventory, &d.topology, &Ask::default()).unwrap();
        assert_eq!(rotation.rotated, ["relay1", "web1", "home"]);
        assert_eq!(rotation.contacted, ["relay1", "web1", "home"]);
        assert_eq!(rotation.devices_not_rotated, ["phone"]);
        // phone lists relay1, whose key changes.
        assert_eq!(rotation.devices_to_export, ["phone"]);
        assert!(rotation.text().contains("devices keep their keys"));
    }

    #[test]
    fn a_named_host_brings_every_peer_into_the_run() {
        let d = planned(FLEET);
        // web1 talks to relay1 and home (which dials it); not to phone, behind relay1.
        let rotation = plan(&d.inventory, &d.topology, &ask(&["web1"], false)).unwrap();
        assert_eq!(rotation.rotated, ["web1"]);
        assert_eq!(rotation.contacted, ["relay1", "web1", "home"]);
        // A device named explicitly is rotated (its key is the state's), contacting its peers.
        let rotation = plan(&d.inventory, &d.topology, &ask(&["phone"], false)).unwrap();
        assert_eq!(rotation.rotated, ["phone"]);
        assert_eq!(rotation.contacted, ["relay1", "web1"]);
        assert_eq!(rotation.devices_to_export, ["phone"]);
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let d = planned(
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  laptop: { manage: false, via: relay1, public_key: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=' }\n",
        );
        let error = plan(&d.inventory, &d.topology, &ask(&["laptop"], false)).unwrap_err();
        let text = format!("{error:?}");
        assert!(text.contains("declares"), "{text}");
        assert!(text.contains("laptop"), "{text}");
        let error = plan(&d.inventory, &d.topology, &ask(&["relay1"], true)).unwrap_err();
        assert!(format!("{error:?}").contains("preshared_keys"));
        let error = plan(&d.inventory, &d.topology, &ask(&["relai1"], false)).unwrap_err();
        assert!(format!("{error:?}").contains("relay1"));
    }
}
