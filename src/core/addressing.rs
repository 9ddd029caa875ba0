//! Overlay address allocation: pure and deterministic.
//!
//! Every host gets one address per overlay range. Precedence: a pinned `address:`, then the address
//! the host had before (remembered in the state file), then the lowest free address, with hosts
//! taken in inventory order. So the same inventory and state always give the same addresses, and
//! adding a host never moves an existing one.

use crate::core::error::{Diagnostic, Error, Result};
use crate::core::model::Inventory;
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses per host, indexed like `Inventory::hosts`; each host's list follows `network.ranges`.
pub type HostAddresses = Vec<Vec<IpAddr>>;

/// Assigns addresses. `remembered` maps host names to the addresses they had on the last run.
pub fn assign(
    inventory: &Inventory,
    remembered: &HashMap<String, Vec<IpAddr>>,
) -> Result<HostAddresses> {
    let hosts = &inventory.hosts;
    let mut assigned: HostAddresses =
        vec![Vec::with_capacity(inventory.network.ranges.len()); hosts.len()];
    for range in &inventory.network.ranges {
        let usable = |ip: &IpAddr| is_usable(range, ip);
        let mut chosen: Vec<Option<IpAddr>> = vec![None; hosts.len()];
        let mut used: HashSet<IpAddr> = HashSet::with_capacity(hosts.len());
        // Pins first: validation guaranteed they are usable and unique.
        for (id, host) in hosts.iter().enumerate() {
            if let Some(pin) = host.pinned.iter().find(|ip| range.contains(*ip)) {
                chosen[id] = Some(*pin);
                used.insert(*pin);
            }
        }
        for (id, host) in hosts.iter().enumerate() {
            if chosen[id].is_some() {
                continue;
            }
            let previous = remembered
                .get(host.name.as_str())
                .and_then(|ips| ips.iter().find(|ip| usable(ip)));
            if let Some(&ip) = previous
                && used.insert(ip)
            {
                chosen[id] = Some(ip);
            }
        }
        let mut candidates = Candidates::new(range);
        for (id, slot) in chosen.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let free = candidates.by_ref().find(|ip| !used.contains(ip));
            match free {
                Some(ip) => {
                    used.insert(ip);
                    *slot = Some(ip);
                }
                None => {
                    let mut diagnostic = Diagnostic::new(format!(
                        "the overlay range `{range}` is exhausted: it has {} usable addresses and the inventory has {} hosts",
                        usable_count(range),
                        hosts.len()
                    ))
                    .host(hosts[id].name.as_str())
                    .help(format!("use a larger range in `network.addresses`, e.g. `{}`", larger(range, hosts.len())));
                    diagnostic.at = inventory.network.ranges_at.clone();
                    return Err(Error::from(diagnostic));
                }
            }
        }
        for (id, ip) in chosen.into_iter().enumerate() {
            assigned[id].push(ip.expect("every host was given an address"));
        }
    }
    Ok(assigned)
}

/// Whether `ip` can be a host address in `range`: inside it, and neither its network address nor,
/// for IPv4, its broadcast address.
pub fn is_usable(range: &IpNet, ip: &IpAddr) -> bool {
    range.contains(ip)
        && *ip != range.network()
        && !(matches!(range, IpNet::V4(_)) && *ip == range.broadcast())
}

fn usable_count(range: &IpNet) -> u128 {
    match range {
        IpNet::V4(v4) => (1u128 << (32 - v4.prefix_len())).saturating_sub(2),
        IpNet::V6(v6) => 1u128
            .checked_shl(128 - u32::from(v6.prefix_len()))
            .map_or(u128::MAX, |n| n - 1),
    }
}

/// A range of the same family that fits `hosts` with room to grow.
fn larger(range: &IpNet, hosts: usize) -> IpNet {
    let bits = (usize::BITS - (hosts.saturating_mul(2) + 2).leading_zeros()) as u8;
    let prefix = range
        .max_prefix_len()
        .saturating_sub(bits)
        .min(range.prefix_len());
    IpNet::new(range.network(), prefix)
        .map(|net| net.trunc())
        .unwrap_or(*range)
}

/// Usable addresses of a range in ascending order, without materialising the range.
struct Candidates {
    next: u128,
    last: u128,
    v6: bool,
}

impl Candidates {
    fn new(range: &IpNet) -> Candidates {
        match range {
            IpNet::V4(v4) => Candidates {
                next: u128::from(u32::from(v4.network())) + 1,
                last: u128::from(u32::from(v4.broadcast())).saturating_sub(1),
                v6: false,
            },
            IpNet::V6(v6) => Candidates {
                next: u128::from(v6.network()) + 1,
                last: u128::from(v6.broadcast()),
                v6: true,
            },
        }
    }
}

impl Iterator for Candidates {
    type Item = IpAddr;
    fn next(&mut self) -> Option<IpAddr> {
        if self.next > self.last {
            return None;
        }
        let value = self.next;
        self.next += 1;
        Some(if self.v6 {
            IpAddr::V6(Ipv6Addr::from(value))
        } else {
            IpAddr::V4(Ipv4Addr::from(value as u32))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inventory(yaml: &str) -> Inventory {
        crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap()
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    const BASE: &str = "network: { addresses: [100.64.0.0/24, 'fd00:64::/64'] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n";

    #[test]
    fn allocates_lowest_free_in_order_around_pins() {
        let inv = inventory(&format!(
            "{BASE}  a: {{ address: 100.64.0.1 }}\n  b: {{}}\n"
        ));
        let got = assign(&inv, &HashMap::new()).unwrap();
        assert_eq!(got[0], ips(&["100.64.0.2", "fd00:64::1"]));
        assert_eq!(got[1], ips(&["100.64.0.1", "fd00:64::2"]));
        assert_eq!(got[2], ips(&["100.64.0.3", "fd00:64::3"]));
    }

    #[test]
    fn adding_a_host_never_moves_an_existing_one() {
        let before = inventory(&format!("{BASE}  b: {{}}\n  c: {{}}\n"));
        let first = assign(&before, &HashMap::new()).unwrap();
        let remembered: HashMap<String, Vec<IpAddr>> = before
            .hosts
            .iter()
            .zip(&first)
            .map(|(host, ips)| (host.name.to_string(), ips.clone()))
            .collect();
        // A new host inserted first in the file, and one removed: the others keep their addresses.
        let after = inventory(
            "network: { addresses: [100.64.0.0/24, 'fd00:64::/64'] }\nhosts:\n  new: {}\n  r: { endpoint: 198.51.100.1, relay: true }\n  c: {}\n",
        );
        let second = assign(&after, &remembered).unwrap();
        assert_eq!(second[1], first[0]);
        assert_eq!(second[2], first[2]);
        // The removed host's address is free again and goes to the new host.
        assert_eq!(second[0], first[1]);
    }

    #[test]
    fn a_pin_beats_a_remembered_address() {
        let inv = inventory(&format!("{BASE}  b: {{ address: 100.64.0.1 }}\n"));
        let remembered = HashMap::from([("r".to_owned(), ips(&["100.64.0.1"]))]);
        let got = assign(&inv, &remembered).unwrap();
        assert_eq!(got[1][0], "100.64.0.1".parse::<IpAddr>().unwrap());
        assert_ne!(got[0][0], got[1][0]);
    }

    #[test]
    fn exhaustion_names_the_range_and_a_fix() {
        let inv = inventory(
            "network: { addresses: [100.64.0.0/30] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  a: {}\n  b: {}\n",
        );
        let err = assign(&inv, &HashMap::new()).unwrap_err().to_string();
        assert!(err.contains("`100.64.0.0/30` is exhausted: it has 2 usable addresses and the inventory has 3 hosts"), "{err}");
        assert!(err.contains("host: b"), "{err}");
        assert!(err.contains("100.64.0.0/"), "{err}");
        assert!(err.contains("t.yaml:1:"), "{err}");
    }
}
