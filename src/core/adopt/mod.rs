//! What `wgdeploy adopt` keeps of a WireGuard setup a host already runs, decided from what was
//! read there: the private key, addresses (one per overlay range, never a pinned or already
//! claimed one), the listen port the inventory renders, preshared keys both sides agree on; and,
//! for everything else, why not and the inventory line that would keep it. Pure: reads in,
//! decisions out (reading hosts is `engine::adopt`, writing the state is the caller's).
//!
//! Secrets live in [`PrivateKey`](crate::core::keys::PrivateKey) and [`PresharedKey`], which
//! redact themselves; nothing here formats them.

mod addresses;
mod peers;
mod settings;
#[cfg(test)]
mod tests;

pub use settings::ReadSettings;

use crate::core::keys::{OwnKey, PresharedKey, PublicKey};
use crate::core::model::{HostId, Inventory, Role};
use crate::core::topology::Topology;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// One peer as a host lists it (config and running interface together).
#[derive(Debug, Clone)]
pub struct ReadPeer {
    pub public_key: PublicKey,
    pub preshared_key: Option<PresharedKey>,
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<String>,
}

/// What a host runs now, as adopt read it. Debug never shows a secret (the key types redact).
#[derive(Debug, Clone, Default)]
pub struct HostRead {
    /// There is a config file (or a running interface) to adopt at all.
    pub found: bool,
    /// The config carries wgdeploy's header, or wgdeploy recorded generations there.
    pub managed: bool,
    pub key: Option<OwnKey>,
    /// Where the key came from: `the config` or `the running interface`.
    pub key_source: &'static str,
    /// The running interface uses another key than the config (the config's is taken).
    pub live_key_differs: bool,
    pub addresses: Vec<IpNet>,
    pub listen_port: Option<u16>,
    /// MTU, DNS, Table, FwMark and hooks of the config (none when only an interface runs).
    pub settings: ReadSettings,
    pub peers: Vec<ReadPeer>,
}

/// One thing adopt could not keep, why, and what in the inventory would keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub what: String,
    pub why: String,
    pub fix: Option<String>,
}

/// What adopt takes from one host.
#[derive(Debug, Clone, Default)]
pub struct HostAdoption {
    pub name: String,
    /// The key to keep (`None`: the host had none; a new one is generated).
    pub key: Option<OwnKey>,
    /// Addresses kept, one per overlay range at most.
    pub addresses: Vec<IpAddr>,
    /// What is kept, in words (no secrets).
    pub kept: Vec<String>,
    pub lost: Vec<Lost>,
    /// Notes that are neither kept nor lost (e.g. the running key differs from the config's).
    pub notes: Vec<String>,
    /// Peers whose key belongs to no inventory host, in words.
    pub unknown_peers: Vec<String>,
}

/// What adopt writes into the state.
#[derive(Debug, Clone, Default)]
pub struct Adoption {
    pub hosts: Vec<HostAdoption>,
    /// Preshared keys to keep, by the two host names.
    pub preshared: Vec<(String, String, PresharedKey)>,
}

/// Decides what can be kept, from the inventory, its topology (who peers directly), the public
/// key the state holds for a host not read now (`known`, by host name) and what was read from
/// each host, in inventory order.
pub fn decide(
    inventory: &Inventory,
    topology: &Topology,
    known: impl Fn(&str) -> Option<PublicKey>,
    reads: &[(HostId, HostRead)],
) -> Adoption {
    // Who is who: the public key each inventory host will have.
    let mut owner: HashMap<PublicKey, HostId> = HashMap::new();
    for (id, host) in inventory.hosts.iter().enumerate() {
        if let Some(key) = known(host.name.as_str()) {
            owner.insert(key, id);
        }
    }
    for (id, read) in reads {
        if let Some(key) = &read.key {
            owner.retain(|_, owner| owner != id);
            owner.insert(key.public_key(), *id);
        }
    }
    let mut taken = addresses::pinned(inventory);
    let mut adoption = Adoption::default();
    let mut pairs: BTreeMap<(HostId, HostId), Vec<PresharedKey>> = BTreeMap::new();
    for (id, read) in reads {
        let host = &inventory.hosts[*id];
        let name = host.name.as_str();
        let mut out = HostAdoption {
            name: name.to_owned(),
            key: read.key.clone(),
            ..HostAdoption::default()
        };
        keep_key(read, &mut out);
        addresses::keep(inventory, *id, &read.addresses, &mut taken, &mut out);
        keep_port(inventory, *id, read.listen_port, &mut out);
        settings::keep(
            inventory,
            host,
            topology.hosts[*id].forwarding,
            &read.settings,
            &mut out,
        );
        peers::match_peers(
            inventory,
            topology,
            *id,
            &read.peers,
            &owner,
            &mut pairs,
            &mut out,
        );
        adoption.hosts.push(out);
    }
    peers::settle_preshared(inventory, pairs, &mut adoption);
    adoption
}

/// The private key, and what the read says about who wrote the config.
fn keep_key(read: &HostRead, out: &mut HostAdoption) {
    match &read.key {
        Some(OwnKey::Private(key)) => out.kept.push(format!(
            "private key from {} (public key {})",
            read.key_source,
            key.public_key()
        )),
        Some(OwnKey::Public(key)) => out.kept.push(format!(
            "key from {}, kept on the host (public key {key})",
            read.key_source
        )),
        None => out.lost.push(Lost {
            what: "private key".into(),
            why: "neither the config nor the running interface has one; a new key is generated"
                .into(),
            fix: None,
        }),
    }
    if read.managed {
        out.notes
            .push("wgdeploy already manages this host; the state now holds the key it runs".into());
    }
    if read.live_key_differs {
        out.notes.push(
            "the running interface uses another private key than the config; the config's is kept (it is what comes back after a restart)".into(),
        );
    }
}

/// The listen port, when it is what the inventory renders for this host.
fn keep_port(inventory: &Inventory, id: HostId, port: Option<u16>, out: &mut HostAdoption) {
    let host = &inventory.hosts[id];
    let name = host.name.as_str();
    let wanted = (host.role != Role::Nat).then_some(host.listen_port);
    match (port, wanted) {
        (Some(port), Some(want)) if port == want => out.kept.push(format!("listen port {port}")),
        (Some(port), Some(want)) => out.lost.push(Lost {
            what: format!("listen port {port}"),
            why: format!("the inventory gives `{name}` port {want}"),
            fix: Some(format!("to keep it, add `listen_port: {port}` under `{name}:` in the inventory")),
        }),
        (Some(port), None) => out.lost.push(Lost {
            what: format!("listen port {port}"),
            why: format!("`{name}` has no `endpoint:`, and wgdeploy gives such hosts no fixed port (WireGuard picks one)"),
            fix: Some(format!("to keep it, give `{name}` an `endpoint:` (its public address) and `listen_port: {port}`")),
        }),
        (None, _) => {}
    }
}

impl Adoption {
    /// After planning again from the state the adoption was written into (`planned`: each host's
    /// addresses, by id): a kept address the allocator did not give back is lost after all.
    pub fn confirm_addresses(&mut self, inventory: &Inventory, planned: &[Vec<IpAddr>]) {
        for host in &mut self.hosts {
            let Some(id) = inventory.host_id(&host.name) else {
                continue;
            };
            for ip in host.addresses.clone() {
                if !planned[id].contains(&ip) {
                    host.lost.push(Lost {
                        what: format!("address {ip}"),
                        why: "the allocator gives it to another host".into(),
                        fix: None,
                    });
                }
            }
        }
    }
}
