//! The simulation: one packet followed hop by hop (outbound match, session, inbound source check,
//! forwarding) and a verdict per direction, with the set-wide warnings the same facts give.

use crate::check::lpm::{FastMap, Table};
use crate::check::network::{Entry, Forwarding, Network};
use crate::check::places::{PlaceIndex, PlaceKind};
use crate::check::verdict::{Condition, Problem, Verdict, Warning};
use crate::check::{EntryIndex, HostIndex};
use std::net::IpAddr;

/// Hops after which a walk is declared a loop.
pub(super) const MAX_HOPS: usize = 8;

/// Whether a host can send to one of its peers, decided once per entry.
#[derive(Debug, Clone)]
enum Session {
    Ok,
    Conditional(Condition),
    NotListed,
    External,
    NoEndpoint,
    WrongEndpoint(HostIndex),
    /// Its endpoint is of an address family the host's own network lacks.
    EndpointFamily,
}

/// The prepared simulation.
pub struct Simulation<'a> {
    pub network: &'a Network,
    tables: Vec<Table>,
    /// For each host and entry: the index of the target's entry for this host.
    back: Vec<Vec<Option<EntryIndex>>>,
    sessions: Vec<Vec<Session>>,
    duplicates: Vec<Warning>,
    /// Each place's address per family, `[v4, v6]`: looked up twice per walk.
    addresses: Vec<[Option<IpAddr>; 2]>,
    /// Each place's owner: the host its packets start at and are delivered to.
    owners: Vec<HostIndex>,
    /// Hosts with more than one address in a family, whose other addresses `addresses` misses.
    more_addresses: Vec<bool>,
}

impl<'a> Simulation<'a> {
    pub fn new(network: &'a Network) -> Simulation<'a> {
        let nodes = &network.nodes;
        let mut duplicates = Vec::new();
        let tables: Vec<Table> = nodes
            .iter()
            .enumerate()
            .map(|(host, node)| {
                Table::build(&node.entries, |prefix, winner, loser| {
                    duplicates.push(Warning::DuplicatePrefix {
                        host,
                        prefix,
                        winner: node.entries[winner].label.clone(),
                        loser: node.entries[loser].label.clone(),
                    })
                })
            })
            .collect();
        let index: Vec<FastMap<u128, EntryIndex>> = nodes
            .iter()
            .map(|node| {
                node.entries
                    .iter()
                    .enumerate()
                    .filter_map(|(entry, peer)| peer.target.map(|target| (target as u128, entry)))
                    .collect()
            })
            .collect();
        let back: Vec<Vec<Option<EntryIndex>>> = nodes
            .iter()
            .enumerate()
            .map(|(host, node)| {
                node.entries
                    .iter()
                    .map(|entry| {
                        entry
                            .target
                            .and_then(|target| index[target].get(&(host as u128)).copied())
                    })
                    .collect()
            })
            .collect();
        let addresses = network.places.iter().map(|place| place.addresses).collect();
        let owners = network.places.iter().map(|place| place.owner).collect();
        let more_addresses = nodes
            .iter()
            .map(|node| {
                let v6 = node.addresses.iter().filter(|ip| ip.is_ipv6()).count();
                v6 > 1 || node.addresses.len() - v6 > 1
            })
            .collect();
        let mut simulation = Simulation {
            network,
            tables,
            back,
            sessions: Vec::new(),
            duplicates,
            addresses,
            owners,
            more_addresses,
        };
        simulation.sessions = (0..nodes.len())
            .map(|host| {
                (0..nodes[host].entries.len())
                    .map(|entry| simulation.session(host, entry))
                    .collect()
            })
            .collect();
        simulation
    }

    /// Whether `dialer`'s entry works as a way to reach its target by dialling.
    fn dials(&self, dialer: HostIndex, entry: &Entry) -> bool {
        let Some(endpoint) = &entry.endpoint else {
            return false;
        };
        match (self.network.endpoint_owner.get(endpoint), entry.target) {
            (Some(&owner), Some(target)) => {
                owner == target
                    && self.network.nodes[target].reachable
                    && dialer != target
                    && self.family_usable(dialer, endpoint, target)
            }
            _ => false,
        }
    }

    /// Whether `dialer`'s network has the address family of `endpoint` (`check::underlay`).
    fn family_usable(&self, dialer: HostIndex, endpoint: &str, target: HostIndex) -> bool {
        let nodes = &self.network.nodes;
        crate::check::underlay::usable(
            nodes[dialer].underlay.families,
            endpoint,
            nodes[target].underlay.families,
        )
    }

    fn session(&self, host: HostIndex, entry_index: EntryIndex) -> Session {
        let nodes = &self.network.nodes;
        let entry = &nodes[host].entries[entry_index];
        let Some(target) = entry.target else {
            return Session::External;
        };
        let Some(back) = self.back[host][entry_index] else {
            return Session::NotListed;
        };
        if let Some(&owner) = entry
            .endpoint
            .as_ref()
            .and_then(|endpoint| self.network.endpoint_owner.get(endpoint))
            && owner != target
        {
            return Session::WrongEndpoint(owner);
        }
        if self.dials(host, entry) {
            // Behind NAT, the replies come back only while the mapping lives: keepalive keeps it.
            return if nodes[host].reachable || entry.keepalive.is_some() {
                Session::Ok
            } else {
                Session::Conditional(Condition::NatMapping {
                    initiator: host,
                    peer: target,
                })
            };
        }
        // No way to dial: the target must initiate towards us and we answer on what we learn.
        let reverse = &nodes[target].entries[back];
        if self.dials(target, reverse) {
            return match (nodes[target].reachable, reverse.keepalive) {
                (_, Some(_)) => Session::Ok,
                (true, None) => Session::Conditional(Condition::FirstContact {
                    talker: host,
                    peer: target,
                }),
                (false, None) => Session::Conditional(Condition::NatMapping {
                    initiator: target,
                    peer: host,
                }),
            };
        }
        // An endpoint of the right host that this host cannot use: say why, not "no endpoint".
        if let Some(endpoint) = &entry.endpoint
            && nodes[target].reachable
            && !self.family_usable(host, endpoint, target)
        {
            return Session::EndpointFamily;
        }
        Session::NoEndpoint
    }

    fn address(&self, place: PlaceIndex, v6: bool) -> Option<IpAddr> {
        self.addresses[place][usize::from(v6)]
    }

    /// Whether `host` has the address `ip` (of the family `v6`). Asked on every hop: the first
    /// address per family sits in one flat array, so the nodes are read only for hosts with more.
    #[inline]
    fn holds(&self, host: HostIndex, ip: IpAddr, v6: bool) -> bool {
        self.addresses[host][usize::from(v6)] == Some(ip)
            || (self.more_addresses[host] && self.network.nodes[host].addresses.contains(&ip))
    }

    /// How many places there are (hosts first).
    pub fn places(&self) -> usize {
        self.owners.len()
    }

    /// The host a place's packets start at and are delivered to.
    pub fn owner(&self, place: PlaceIndex) -> HostIndex {
        self.owners[place]
    }

    /// Whether `check` tests the ordered pair: two places on different hosts; a subnet only with
    /// places sharing its family; the internet only with the hosts using its exit.
    #[inline]
    pub fn tested(&self, from: PlaceIndex, to: PlaceIndex) -> bool {
        let hosts = self.network.nodes.len();
        if from < hosts && to < hosts {
            return from != to;
        }
        self.place_pair_tested(from, to)
    }

    #[cold]
    fn place_pair_tested(&self, from: PlaceIndex, to: PlaceIndex) -> bool {
        let hosts = self.network.nodes.len();
        if self.owners[from] == self.owners[to] {
            return false;
        }
        let places = &self.network.places;
        let uses = |internet: PlaceIndex, host: PlaceIndex| match &places[internet].kind {
            PlaceKind::Internet { users } => host < hosts && users.binary_search(&host).is_ok(),
            _ => true,
        };
        let shared = (0..2).any(|family| {
            self.addresses[from][family].is_some() && self.addresses[to][family].is_some()
        });
        shared && uses(from, to) && uses(to, from)
    }

    /// A host that carries packets between the tunnel and its own LAN or uplink, or between
    /// peers, must forward.
    #[inline]
    fn forwards(&self, host: HostIndex, conditions: &mut Vec<Condition>) -> Result<(), Problem> {
        match self.network.nodes[host].forwarding {
            Forwarding::Yes(_) => Ok(()),
            Forwarding::Unknown => {
                conditions.push(Condition::MustForward { host });
                Ok(())
            }
            Forwarding::No => Err(Problem::NoForwarding { at: host }),
        }
    }

    /// Delivery to a place that is not a host: its owner forwards it out of the tunnel (to its
    /// LAN; for the internet also masquerading it).
    #[cold]
    fn hand_over(
        &self,
        destination: PlaceIndex,
        conditions: &mut Vec<Condition>,
    ) -> Result<(), Problem> {
        let owner = self.owners[destination];
        self.forwards(owner, conditions)?;
        if matches!(
            self.network.places[destination].kind,
            PlaceKind::Internet { .. }
        ) && self.network.nodes[owner].masquerade.is_none()
        {
            conditions.push(Condition::MustMasquerade { host: owner });
        }
        Ok(())
    }

    /// Follows one packet from place `source` to place `destination` in one family. `path`, when
    /// given, receives every host visited; `conditions` collects what the delivery depends on.
    pub fn walk(
        &self,
        source: PlaceIndex,
        destination: PlaceIndex,
        v6: bool,
        mut path: Option<&mut Vec<HostIndex>>,
        conditions: &mut Vec<Condition>,
    ) -> Result<(), Problem> {
        let nodes = &self.network.nodes;
        let (Some(src), Some(dst)) = (self.address(source, v6), self.address(destination, v6))
        else {
            return Err(Problem::NoCommonFamily);
        };
        // Hosts are the first places: between hosts (nearly every pair) `owners` is not read.
        let hosts = nodes.len();
        let mut at = source;
        if source >= hosts {
            // From a LAN or the internet into the tunnel: the owner forwards it in.
            at = self.owners[source];
            self.forwards(at, conditions)?;
        }
        if let Some(path) = path.as_deref_mut() {
            path.push(at);
        }
        for _ in 0..MAX_HOPS {
            // With no routes of wg-quick's, only the interface's own prefix reaches it by itself.
            if nodes[at].own_routing.is_some()
                && !nodes[at].connected.iter().any(|net| net.contains(&dst))
            {
                conditions.push(Condition::OwnRouting { host: at });
            }
            let Some(entry) = self.tables[at].lookup(dst) else {
                return Err(match self.network.places[destination].kind {
                    PlaceKind::Internet { .. } => Problem::ExitMissed {
                        at,
                        exit: self.owners[destination],
                    },
                    _ => Problem::NoRoute { at, dst },
                });
            };
            match &self.sessions[at][entry] {
                Session::Ok => {}
                Session::Conditional(condition) => conditions.push(condition.clone()),
                Session::External => return Err(Problem::External { at, entry }),
                Session::NotListed => {
                    return Err(Problem::NotListed {
                        at,
                        to: nodes[at].entries[entry].target.unwrap_or(at),
                    });
                }
                Session::NoEndpoint => return Err(Problem::NoEndpoint { at, entry, dst }),
                Session::EndpointFamily => {
                    return Err(Problem::EndpointFamily { at, entry, dst });
                }
                Session::WrongEndpoint(owner) => {
                    return Err(Problem::WrongEndpoint {
                        at,
                        entry,
                        owner: *owner,
                        dst,
                    });
                }
            }
            let next = nodes[at].entries[entry]
                .target
                .expect("a working session has a target");
            let back = self.back[at][entry];
            if let Some(path) = path.as_deref_mut() {
                path.push(next);
            }
            let attributed = self.tables[next].lookup(src);
            if attributed != back {
                return Err(Problem::SourceFilter {
                    at: next,
                    from: at,
                    src,
                    attributed,
                });
            }
            if self.holds(next, dst, v6) {
                return if next == destination {
                    Ok(())
                } else {
                    Err(Problem::WrongHost { at: next })
                };
            }
            if destination >= hosts && next == self.owners[destination] {
                return self.hand_over(destination, conditions);
            }
            self.forwards(next, conditions)?;
            at = next;
        }
        Err(Problem::Loop)
    }

    /// The verdict for one direction in every family both places have.
    pub fn direction(&self, source: PlaceIndex, destination: PlaceIndex) -> Verdict {
        self.direction_traced(source, destination, &mut Vec::new())
    }

    /// [`Simulation::direction`], leaving the hosts visited (last family walked) in `path`.
    pub fn direction_traced(
        &self,
        source: PlaceIndex,
        destination: PlaceIndex,
        path: &mut Vec<HostIndex>,
    ) -> Verdict {
        let shared = |v6: bool| {
            self.address(source, v6).is_some() && self.address(destination, v6).is_some()
        };
        if !shared(false) && !shared(true) {
            return Verdict::Unreachable(Problem::NoCommonFamily);
        }
        let mut conditions = Vec::new();
        for v6 in [false, true].into_iter().filter(|&v6| shared(v6)) {
            path.clear();
            if let Err(problem) = self.walk(source, destination, v6, Some(path), &mut conditions) {
                return Verdict::Unreachable(problem);
            }
        }
        if conditions.is_empty() {
            Verdict::Reachable
        } else {
            conditions.sort();
            conditions.dedup();
            Verdict::Conditional(conditions)
        }
    }

    /// The peer `at` would use for `dst` if `entry` were removed: where traffic goes instead.
    pub fn instead(&self, at: HostIndex, entry: EntryIndex, dst: IpAddr) -> Option<HostIndex> {
        let node = &self.network.nodes[at];
        node.entries
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != entry)
            .flat_map(|(_, peer)| peer.allowed.iter().map(move |net| (net, peer)))
            .filter(|(net, _)| net.contains(&dst))
            .max_by_key(|(net, _)| net.prefix_len())
            .and_then(|(_, peer)| peer.target)
    }

    /// Set-wide warnings: keepalive placement, one-sided peers, duplicate prefixes, host bits,
    /// external peers, and the hosts that must forward for the paths found.
    pub fn warnings(&self, forwarders: &[HostIndex]) -> Vec<Warning> {
        let nodes = &self.network.nodes;
        let mut warnings: Vec<Warning> = self.network.notes.clone();
        warnings.extend(self.duplicates.iter().cloned());
        for (host, node) in nodes.iter().enumerate() {
            for (index, entry) in node.entries.iter().enumerate() {
                let Some(peer) = entry.target else {
                    warnings.push(Warning::External {
                        host,
                        label: entry.label.clone(),
                    });
                    continue;
                };
                if self.back[host][index].is_none() {
                    warnings.push(Warning::OneSided { host, peer });
                }
                if !node.reachable && self.dials(host, entry) && entry.keepalive.is_none() {
                    warnings.push(Warning::NoKeepalive { host, peer });
                }
                // ghx#36: a public host keeping alive towards a NAT-ed peer that dials it; the
                // keepalive must come from the NAT-ed side to hold its mapping open.
                let peer_dials_us = self.back[host][index]
                    .is_some_and(|back| self.dials(peer, &nodes[peer].entries[back]));
                if entry.keepalive.is_some()
                    && node.reachable
                    && !nodes[peer].reachable
                    && peer_dials_us
                {
                    warnings.push(Warning::KeepaliveWrongSide { host, peer });
                }
            }
        }
        warnings.extend(forwarders.iter().map(|&host| Warning::MustForward { host }));
        for (host, node) in nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.own_routing.is_some())
        {
            let mut prefixes: Vec<ipnet::IpNet> = node
                .entries
                .iter()
                .flat_map(|entry| entry.allowed.iter().copied())
                .filter(|net| !node.connected.iter().any(|own| own.contains(net)))
                .collect();
            prefixes.sort();
            prefixes.dedup();
            if !prefixes.is_empty() {
                warnings.push(Warning::OwnRouting { host, prefixes });
            }
        }
        warnings.sort();
        warnings.dedup();
        warnings
    }
}
