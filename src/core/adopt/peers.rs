//! A host's peers as adopt sees them: inventory hosts (matched by public key) whose preshared
//! keys may be kept when both sides agree, and strangers the inventory does not list.

use super::{Adoption, HostAdoption, Lost, ReadPeer};
use crate::core::keys::{PresharedKey, PublicKey};
use crate::core::model::{HostId, Inventory};
use crate::core::topology::Topology;
use std::collections::{BTreeMap, HashMap};

/// Sorts host `id`'s `peers` into notes, lost preshared keys and unknown peers in `out`; the
/// preshared key each side holds for a direct pair goes into `pairs`, settled once all are read.
pub(super) fn match_peers(
    inventory: &Inventory,
    topology: &Topology,
    id: HostId,
    peers: &[ReadPeer],
    owner: &HashMap<PublicKey, HostId>,
    pairs: &mut BTreeMap<(HostId, HostId), Vec<PresharedKey>>,
    out: &mut HostAdoption,
) {
    for peer in peers {
        match owner
            .get(&peer.public_key)
            .copied()
            .filter(|other| *other != id)
        {
            Some(other) => {
                let direct = topology.hosts[id].peers.iter().any(|p| p.host == other);
                let other_name = inventory.hosts[other].name.as_str();
                if !direct {
                    out.notes.push(format!(
                        "it lists `{other_name}` directly, which the inventory does not (their traffic goes through a relay); that entry is dropped"
                    ));
                }
                if let Some(psk) = &peer.preshared_key {
                    if !inventory.network.preshared_keys {
                        out.lost.push(Lost {
                            what: format!("preshared key with `{other_name}`"),
                            why: "the inventory does not use preshared keys".into(),
                            fix: Some("to keep it, set `preshared_keys: true` under `network:` in the inventory".into()),
                        });
                    } else if direct {
                        let pair = if id < other { (id, other) } else { (other, id) };
                        pairs.entry(pair).or_default().push(psk.clone());
                    }
                }
            }
            None => out.unknown_peers.push(stranger(peer)),
        }
    }
}

/// A peer no inventory host owns, in words: its public key, AllowedIPs and endpoint.
fn stranger(peer: &ReadPeer) -> String {
    let ips: Vec<String> = peer.allowed_ips.iter().map(ToString::to_string).collect();
    let endpoint = peer
        .endpoint
        .as_deref()
        .map(|endpoint| format!(", endpoint {endpoint}"))
        .unwrap_or_default();
    format!(
        "peer {} (AllowedIPs {}{endpoint})",
        peer.public_key,
        if ips.is_empty() {
            "none".to_owned()
        } else {
            ips.join(", ")
        }
    )
}

/// Each direct pair's preshared keys as both sides hold them: kept when they agree, else lost
/// (their tunnel cannot work as it is).
pub(super) fn settle_preshared(
    inventory: &Inventory,
    pairs: BTreeMap<(HostId, HostId), Vec<PresharedKey>>,
    adoption: &mut Adoption,
) {
    for ((a, b), keys) in pairs {
        let a_name = inventory.hosts[a].name.as_str().to_owned();
        let b_name = inventory.hosts[b].name.as_str().to_owned();
        if keys.windows(2).all(|two| two[0] == two[1]) {
            for host in adoption
                .hosts
                .iter_mut()
                .filter(|h| h.name == a_name || h.name == b_name)
            {
                let other = if host.name == a_name {
                    &b_name
                } else {
                    &a_name
                };
                host.kept.push(format!("preshared key with `{other}`"));
            }
            adoption.preshared.push((a_name, b_name, keys[0].clone()));
        } else if let Some(host) = adoption.hosts.iter_mut().find(|h| h.name == a_name) {
            host.lost.push(Lost {
                what: format!("preshared key with `{b_name}`"),
                why: format!("`{a_name}` and `{b_name}` hold different preshared keys for each other (their tunnel cannot work); a new one is generated"),
                fix: None,
            });
        }
    }
}
