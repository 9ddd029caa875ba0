//! Which of a host's addresses adopt keeps: one per overlay range, inside the overlay, usable,
//! not pinned to another host, not claimed by a host earlier in the inventory.

use super::{HostAdoption, Lost};
use crate::core::model::{HostId, Inventory};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// Addresses no host may take, with whose they are: every pin of the inventory.
pub(super) fn pinned(inventory: &Inventory) -> HashMap<IpAddr, String> {
    let mut taken = HashMap::new();
    for host in &inventory.hosts {
        for pin in &host.pinned {
            taken.insert(
                *pin,
                format!("pinned to `{}` in the inventory", host.name.as_str()),
            );
        }
    }
    taken
}

/// Keeps what it can of host `id`'s `addresses` into `out`; an address kept is `taken` for the
/// hosts after it.
pub(super) fn keep(
    inventory: &Inventory,
    id: HostId,
    addresses: &[IpNet],
    taken: &mut HashMap<IpAddr, String>,
    out: &mut HostAdoption,
) {
    let host = &inventory.hosts[id];
    let name = host.name.as_str();
    let mut kept_ranges: Vec<IpNet> = Vec::new();
    for net in addresses {
        let ip = net.addr();
        let what = format!("address {ip}");
        let Some(range) = inventory
            .network
            .ranges
            .iter()
            .find(|range| range.contains(&ip))
        else {
            let ranges: Vec<String> = inventory
                .network
                .ranges
                .iter()
                .map(ToString::to_string)
                .collect();
            out.lost.push(Lost {
                what,
                why: format!(
                    "it is outside the overlay ({}); the host gets a new address from it",
                    ranges.join(", ")
                ),
                fix: Some("to keep it, `network.addresses` must contain it".into()),
            });
            continue;
        };
        if kept_ranges.contains(range) {
            out.lost.push(Lost {
                what,
                why: format!("the host has another address in {range} already; wgdeploy gives a host one per range"),
                fix: None,
            });
            continue;
        }
        if let Some(pin) = host.pinned.iter().find(|pin| range.contains(*pin)) {
            if *pin != ip {
                out.lost.push(Lost {
                    what,
                    why: format!(
                        "the inventory pins `address: {pin}` for `{name}`; the host moves to {pin}"
                    ),
                    fix: Some(format!(
                        "to keep it, set `address: {ip}` under `{name}:` in the inventory"
                    )),
                });
                kept_ranges.push(*range);
                continue;
            }
        } else if !crate::core::addressing::is_usable(range, &ip) {
            out.lost.push(Lost {
                what,
                why: format!(
                    "it is the network or broadcast address of {range}; the host gets a new address"
                ),
                fix: None,
            });
            continue;
        } else if let Some(holder) = taken.get(&ip) {
            out.lost.push(Lost {
                what,
                why: format!("it is {holder}; `{name}` gets a new address"),
                fix: Some(format!(
                    "give one of the two another address on its host, or pin another with `address:` under `{name}:`"
                )),
            });
            continue;
        } else {
            taken.insert(
                ip,
                format!("claimed by `{name}` too (it comes first in the inventory and keeps it)"),
            );
        }
        kept_ranges.push(*range);
        out.addresses.push(ip);
        out.kept.push(format!("address {ip}"));
    }
}
