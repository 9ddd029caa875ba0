//! Places: what `check` proves reachable from and to. Every host is a place; so is every subnet
//! routed behind a host (its LAN), and "the internet via EXIT" for every exit host. A packet from
//! a place starts at the host that owns it (with the place's address as its source), and a packet
//! to a place is delivered when it reaches the owner (the host itself, or the owner forwarding to
//! its LAN or uplink).
//!
//! With an inventory the places are declared (`routes`, `exit`, `use_exit`); with hand-written
//! configs they are inferred (see [`infer`]).

use crate::check::HostIndex;
use crate::check::verdict::Warning;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A place's position: hosts first (a host's place index is its host index), then subnets, then
/// the internet via each exit.
pub type PlaceIndex = usize;

/// What a place is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceKind {
    Host,
    /// A subnet routed behind its owner.
    Subnet(IpNet),
    /// The internet, reached through its owner (the exit) by `users`.
    Internet {
        users: Vec<HostIndex>,
    },
}

/// One place.
#[derive(Debug, Clone)]
pub struct Place {
    pub name: String,
    pub kind: PlaceKind,
    /// The host packets from it start at and packets to it are delivered to.
    pub owner: HostIndex,
    /// The address tested per family, `[v4, v6]`: a host's first address, a subnet's first host
    /// address, for the internet one outside every overlay range and subnet.
    pub addresses: [Option<IpAddr>; 2],
}

/// Subnets and exits an inventory declares (host indices in the order of the configs).
#[derive(Debug, Clone, Default)]
pub struct DeclaredPlaces {
    pub subnets: Vec<(HostIndex, IpNet)>,
    /// Each exit host with the hosts using it.
    pub exits: Vec<(HostIndex, Vec<HostIndex>)>,
}

/// The address tested inside a subnet: its first host address (the network address itself for
/// /31, /32, /127 and /128, which have no network address to avoid).
pub fn representative(net: IpNet) -> IpAddr {
    match net {
        IpNet::V4(net) if net.prefix_len() < 31 => {
            IpAddr::V4(Ipv4Addr::from(u32::from(net.network()) + 1))
        }
        IpNet::V6(net) if net.prefix_len() < 127 => {
            IpAddr::V6(Ipv6Addr::from(u128::from(net.network()) + 1))
        }
        net => net.network(),
    }
}

/// The address standing for the internet in one family: the first of a few documentation and
/// well-known public addresses that lies in no overlay range, subnet or host address; failing
/// those, the first address found by stepping through the space.
pub fn internet_address(v6: bool, taken: &[IpNet]) -> IpAddr {
    let free = |ip: &IpAddr| !taken.iter().any(|net| net.contains(ip));
    let candidates: &[&str] = if v6 {
        &[
            "2001:db8:ffff::1",
            "2606:4700::1111",
            "2001:4860:4860::8888",
        ]
    } else {
        &["192.0.2.1", "203.0.113.1", "1.1.1.1", "8.8.8.8"]
    };
    if let Some(ip) = candidates
        .iter()
        .map(|text| text.parse::<IpAddr>().expect("a valid address"))
        .find(free)
    {
        return ip;
    }
    (1u32..=255)
        .map(|step| {
            if v6 {
                IpAddr::V6(Ipv6Addr::from(u128::from(step) << 120 | 1))
            } else {
                IpAddr::V4(Ipv4Addr::from(step << 24 | 1))
            }
        })
        .find(free)
        .unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        })
}

/// What places are made of: a host as the configs show it (the simulation's `Node`).
pub trait HostView {
    fn name(&self) -> &str;
    fn addresses(&self) -> &[IpAddr];
    /// The prefixes of its interface's addresses.
    fn connected(&self) -> &[IpNet];
    /// Every prefix of its AllowedIPs, with the host its peer is (`None`: outside the set).
    fn allowed(&self) -> impl Iterator<Item = (Option<HostIndex>, IpNet)> + '_;
}

/// The host places, in host order.
pub fn hosts(nodes: &[impl HostView]) -> Vec<Place> {
    nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let first = |v6: bool| {
                node.addresses()
                    .iter()
                    .copied()
                    .find(|ip| ip.is_ipv6() == v6)
            };
            Place {
                name: node.name().to_owned(),
                kind: PlaceKind::Host,
                owner: index,
                addresses: [first(false), first(true)],
            }
        })
        .collect()
}

/// Every place: the hosts, then the declared subnets and exits.
pub fn declared(nodes: &[impl HostView], declared: &DeclaredPlaces) -> Vec<Place> {
    let mut places = hosts(nodes);
    let mut subnets = declared.subnets.clone();
    subnets.sort_by_key(|&(owner, net)| (net, owner));
    subnets.dedup();
    for &(owner, net) in &subnets {
        places.push(subnet(owner, net));
    }
    if declared.exits.is_empty() {
        return places;
    }
    let taken = taken(nodes, &subnets);
    for (exit, users) in &declared.exits {
        let families = [false, true].map(|v6| {
            nodes[*exit]
                .addresses()
                .iter()
                .any(|ip| ip.is_ipv6() == v6)
                .then(|| internet_address(v6, &taken))
        });
        places.push(internet(nodes, *exit, users.clone(), families));
    }
    places
}

fn subnet(owner: HostIndex, net: IpNet) -> Place {
    let address = representative(net);
    let mut addresses = [None, None];
    addresses[usize::from(address.is_ipv6())] = Some(address);
    Place {
        name: net.to_string(),
        kind: PlaceKind::Subnet(net),
        owner,
        addresses,
    }
}

fn internet(
    nodes: &[impl HostView],
    exit: HostIndex,
    mut users: Vec<HostIndex>,
    addresses: [Option<IpAddr>; 2],
) -> Place {
    users.sort_unstable();
    users.dedup();
    Place {
        name: format!("internet via {}", nodes[exit].name()),
        kind: PlaceKind::Internet { users },
        owner: exit,
        addresses,
    }
}

/// What the internet's address must stay out of: overlay ranges, host addresses, subnets.
fn taken(nodes: &[impl HostView], subnets: &[(HostIndex, IpNet)]) -> Vec<IpNet> {
    let mut taken: BTreeSet<IpNet> = nodes
        .iter()
        .flat_map(|node| node.connected().iter().copied())
        .collect();
    taken.extend(
        nodes
            .iter()
            .flat_map(|node| node.addresses().iter().map(|&ip| IpNet::from(ip))),
    );
    taken.extend(subnets.iter().map(|&(_, net)| net));
    taken.into_iter().collect()
}

/// The overlay as a set: every host address (sorted, for range queries) and every interface
/// prefix shorter than a single address.
struct Overlay {
    addresses: Vec<IpAddr>,
    ranges: Vec<IpNet>,
}

impl Overlay {
    fn new(nodes: &[impl HostView]) -> Overlay {
        let mut addresses: Vec<IpAddr> = nodes
            .iter()
            .flat_map(|node| node.addresses().iter().copied())
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        let ranges: BTreeSet<IpNet> = nodes
            .iter()
            .flat_map(|node| node.connected().iter().copied())
            .filter(|net| net.prefix_len() < net.max_prefix_len())
            .collect();
        Overlay {
            addresses,
            ranges: ranges.into_iter().collect(),
        }
    }

    /// Whether `net` holds a host's address or overlaps an interface's prefix.
    fn touches(&self, net: &IpNet) -> bool {
        let first = self.addresses.partition_point(|ip| *ip < net.network());
        let holds_address = self
            .addresses
            .get(first)
            .is_some_and(|ip| *ip <= net.broadcast());
        holds_address
            || self
                .ranges
                .iter()
                .any(|range| range.contains(net) || net.contains(range))
    }
}

/// The peer of `node` whose AllowedIPs hold `ip` by longest prefix (`None` inside: a peer outside
/// the set), with that prefix's length.
fn longest_match(node: &impl HostView, ip: IpAddr) -> Option<(Option<HostIndex>, u8)> {
    node.allowed()
        .filter(|(_, net)| net.contains(&ip))
        .max_by_key(|(_, net)| net.prefix_len())
        .map(|(target, net)| (target, net.prefix_len()))
}

/// Places inferred from hand-written configs, with warnings about prefixes left unexplained.
///
/// - A subnet: a prefix, not a default route, in the AllowedIPs of an entry for host X, that
///   holds no host's address and overlaps no interface's prefix (catch-alls towards relays cover
///   the overlay and are not subnets), where X does not send it back into the tunnel (X's own
///   longest match for its first address is absent or shorter than the prefix: a default route
///   through an exit does not count). X owns it. A prefix no such X explains, or several do, is
///   a warning.
/// - The internet: a host with a default route (`0.0.0.0/0` or `::/0`) uses an exit; the exit is
///   where its packets for the internet's address leave the tunnel, following each host's longest
///   match from the user until a host has no entry for it.
pub fn infer(nodes: &[impl HostView]) -> (Vec<Place>, Vec<Warning>) {
    let overlay = Overlay::new(nodes);
    let mut candidates: BTreeMap<IpNet, BTreeSet<HostIndex>> = BTreeMap::new();
    let mut any_default = false;
    for node in nodes {
        for (target, net) in node.allowed() {
            if net.prefix_len() == 0 {
                any_default = true;
                continue;
            }
            if !candidates.contains_key(&net) && overlay.touches(&net) {
                continue;
            }
            let owners = candidates.entry(net).or_default();
            if let Some(target) = target {
                owners.insert(target);
            }
        }
    }
    let mut warnings = Vec::new();
    let mut subnets = Vec::new();
    for (net, targets) in candidates {
        let address = representative(net);
        let owners: Vec<HostIndex> = targets
            .into_iter()
            .filter(|&target| {
                longest_match(&nodes[target], address)
                    .is_none_or(|(_, length)| length < net.prefix_len())
            })
            .collect();
        match owners.as_slice() {
            [owner] => subnets.push((*owner, net)),
            [] => warnings.push(Warning::UnownedSubnet { prefix: net }),
            _ => warnings.push(Warning::AmbiguousSubnet {
                prefix: net,
                owners,
            }),
        }
    }
    let mut places = hosts(nodes);
    places.extend(subnets.iter().map(|&(owner, net)| subnet(owner, net)));
    if !any_default {
        return (places, warnings);
    }
    let taken = taken(nodes, &subnets);
    // exit → (users, families)
    let mut exits: BTreeMap<HostIndex, (Vec<HostIndex>, [Option<IpAddr>; 2])> = BTreeMap::new();
    for (user, node) in nodes.iter().enumerate() {
        for v6 in [false, true] {
            let has_default = node
                .allowed()
                .any(|(_, net)| net.prefix_len() == 0 && net.addr().is_ipv6() == v6);
            if !has_default {
                continue;
            }
            let address = internet_address(v6, &taken);
            match exit_of(nodes, user, address) {
                Some(exit) if exit != user => {
                    let (users, families) = exits.entry(exit).or_default();
                    users.push(user);
                    families[usize::from(v6)] = Some(address);
                }
                _ => warnings.push(Warning::NoExit { host: user }),
            }
        }
    }
    for (exit, (users, families)) in exits {
        places.push(internet(nodes, exit, users, families));
    }
    (places, warnings)
}

/// Where `user`'s packets for `address` leave the tunnel: the first host on their way with no
/// entry for it. `None` when the way leads to a peer outside the set or loops (visits more hosts
/// than there are).
fn exit_of(nodes: &[impl HostView], user: HostIndex, address: IpAddr) -> Option<HostIndex> {
    let mut at = user;
    for _ in 0..=nodes.len() {
        match longest_match(&nodes[at], address) {
            None => return Some(at),
            Some((target, _)) => at = target?,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_is_tested_at_its_first_host_address() {
        let at = |net: &str| representative(net.parse().unwrap()).to_string();
        assert_eq!(at("198.18.10.0/24"), "198.18.10.1");
        assert_eq!(at("198.18.10.7/32"), "198.18.10.7");
        assert_eq!(at("fd00:10::/64"), "fd00:10::1");
    }

    #[test]
    fn the_internet_address_avoids_every_range_in_use() {
        let taken: Vec<IpNet> = vec!["192.0.2.0/24".parse().unwrap()];
        assert_eq!(internet_address(false, &taken).to_string(), "203.0.113.1");
        assert_eq!(internet_address(false, &[]).to_string(), "192.0.2.1");
        // Every candidate taken: the first free address stepping through the space.
        let candidates: Vec<IpNet> =
            vec!["0.0.0.0/2".parse().unwrap(), "192.0.0.0/2".parse().unwrap()];
        assert_eq!(internet_address(false, &candidates).to_string(), "64.0.0.1");
    }
}
