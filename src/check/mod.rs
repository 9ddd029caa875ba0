//! `check`: proves or refutes that every host reaches every other host, by simulating WireGuard's
//! own rules (DESIGN.md §1) over a set of wg-quick configs. Pure: configs and a few facts in,
//! verdicts out.
//!
//! A packet from `s` to `d` is followed hop by hop:
//! 1. outbound: the peer whose AllowedIPs hold the destination by longest prefix match;
//! 2. a session: the sender needs a working endpoint for that peer, or the peer must initiate
//!    towards the sender (and, behind NAT, keep its mapping alive with PersistentKeepalive);
//! 3. inbound: the receiver looks up the packet's *source* by longest prefix match; it must land on
//!    the peer that sent it, or the packet is dropped;
//! 4. a receiver that is not the destination must forward it (a relay), and the walk goes on.
//!
//! A pair is reachable only when the request and the reply both arrive.

use crate::core::keys::PublicKey;
use crate::core::wgconf::WgConfig;
use ipnet::IpNet;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

pub type HostIndex = usize;
type EntryIndex = usize;

/// Hops after which a walk is declared a loop.
const MAX_HOPS: usize = 8;

/// Whether a host forwards packets between peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// Known to forward: a relay of the inventory, or a forwarding sysctl in its hooks.
    Yes(String),
    /// Known not to (an inventory host that is not marked as forwarding).
    No,
    /// No evidence either way (a hand-written config): needed forwarding becomes a condition.
    Unknown,
}

/// One host as the simulation sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    /// Others can dial its endpoint (it has one, and it is not behind NAT).
    pub reachable: bool,
    pub forwarding: Forwarding,
    pub entries: Vec<Entry>,
}

/// One `[Peer]` of a host.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The host whose key this is; `None` for a key that matches no host (external).
    pub target: Option<HostIndex>,
    pub label: String,
    pub allowed: Vec<IpNet>,
    pub endpoint: Option<String>,
    pub keepalive: Option<u16>,
}

/// The whole set of hosts, with endpoint ownership resolved.
#[derive(Debug, Clone)]
pub struct Network {
    pub nodes: Vec<Node>,
    /// Which host each endpoint (as written) belongs to.
    pub endpoint_owner: HashMap<String, HostIndex>,
    /// Facts found while building that deserve a warning (e.g. host bits in AllowedIPs).
    pub notes: Vec<Warning>,
}

/// Something that works only under a condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// `talker` can send to `peer` only after `peer` has sent first (no endpoint configured).
    FirstContact { talker: HostIndex, peer: HostIndex },
    /// `initiator` is behind NAT and sends no keepalive to `peer`: works while the mapping lasts.
    NatMapping {
        initiator: HostIndex,
        peer: HostIndex,
    },
    /// `host` must forward, and nothing shows it does.
    MustForward { host: HostIndex },
}

/// Why a packet does not arrive: the rule that breaks, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoCommonFamily,
    /// No AllowedIPs of `at` covers `dst`.
    NoRoute {
        at: HostIndex,
        dst: IpAddr,
    },
    /// The chosen peer's key belongs to no host in the set.
    External {
        at: HostIndex,
        entry: EntryIndex,
    },
    /// `to` does not list `at`'s key, so it rejects the handshake.
    NotListed {
        at: HostIndex,
        to: HostIndex,
    },
    /// `at` lists `to` without a usable endpoint and `to` never initiates towards `at`.
    NoEndpoint {
        at: HostIndex,
        entry: EntryIndex,
        dst: IpAddr,
    },
    /// `at` dials `to`'s key at an endpoint that belongs to `owner`: the handshake lands there.
    WrongEndpoint {
        at: HostIndex,
        entry: EntryIndex,
        owner: HostIndex,
        dst: IpAddr,
    },
    /// `at` received from `from` a packet whose source it attributes to another peer (or none).
    SourceFilter {
        at: HostIndex,
        from: HostIndex,
        src: IpAddr,
        attributed: Option<EntryIndex>,
    },
    /// `at` would have to forward but does not.
    NoForwarding {
        at: HostIndex,
    },
    /// The packet arrived at a host that owns the destination address but is not the destination.
    WrongHost {
        at: HostIndex,
    },
    Loop,
}

/// The result of one direction or one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Reachable,
    Conditional(Vec<Condition>),
    Unreachable(Problem),
}

/// A warning about the set as a whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Warning {
    NoKeepalive {
        host: HostIndex,
        peer: HostIndex,
    },
    KeepaliveWrongSide {
        host: HostIndex,
        peer: HostIndex,
    },
    HostBits {
        host: HostIndex,
        prefix: String,
    },
    OneSided {
        host: HostIndex,
        peer: HostIndex,
    },
    DuplicatePrefix {
        host: HostIndex,
        prefix: IpNet,
        winner: String,
        loser: String,
    },
    External {
        host: HostIndex,
        label: String,
    },
    MustForward {
        host: HostIndex,
    },
}

/// One host's config, named, ready for checking.
#[derive(Debug, Clone)]
pub struct ConfigSet {
    pub name: String,
    pub config: WgConfig,
}

/// What the caller knows beyond the configs.
pub struct Facts<'a> {
    /// Hosts whose listed endpoints cannot be dialled from outside.
    pub nat: &'a [String],
    /// Per host (same order as the sets), forwarding known from the inventory; `None` → evidence
    /// from the hooks, else unknown.
    pub forwarding: Option<Vec<bool>>,
}

impl Network {
    /// Builds the network from one config per host. Hosts are identified by the public key
    /// derived from each file's PrivateKey. An endpoint listed for a host's key is taken as that
    /// host's address; when one endpoint is listed for several keys, the key listed most often
    /// owns it (the others are the mistakes).
    pub fn from_configs(sets: &[ConfigSet], facts: &Facts) -> Result<Network, String> {
        let mut by_key: HashMap<PublicKey, HostIndex> = HashMap::new();
        for (index, set) in sets.iter().enumerate() {
            let key = set
                .config
                .private_key
                .as_ref()
                .ok_or_else(|| {
                    format!(
                        "`{}` has no PrivateKey, so its public key (its identity) is unknown",
                        set.name
                    )
                })?
                .public_key();
            if let Some(other) = by_key.insert(key, index) {
                return Err(format!(
                    "`{}` and `{}` have the same private key",
                    sets[other].name, set.name
                ));
            }
        }
        let mut listings: HashMap<&str, HashMap<HostIndex, usize>> = HashMap::new();
        for set in sets {
            for peer in &set.config.peers {
                if let (Some(endpoint), Some(&target)) =
                    (&peer.endpoint, by_key.get(&peer.public_key))
                {
                    *listings
                        .entry(endpoint.as_str())
                        .or_default()
                        .entry(target)
                        .or_default() += 1;
                }
            }
        }
        let endpoint_owner: HashMap<String, HostIndex> = listings
            .into_iter()
            .filter_map(|(endpoint, counts)| {
                counts
                    .into_iter()
                    .max_by_key(|&(host, count)| (count, std::cmp::Reverse(host)))
                    .map(|(host, _)| (endpoint.to_owned(), host))
            })
            .collect();
        let mut has_endpoint = vec![false; sets.len()];
        for &owner in endpoint_owner.values() {
            has_endpoint[owner] = true;
        }
        let mut notes = Vec::new();
        let nodes = sets
            .iter()
            .enumerate()
            .map(|(index, set)| {
                let forwarding = match &facts.forwarding {
                    Some(known) if known[index] => {
                        Forwarding::Yes("marked as forwarding by the inventory".into())
                    }
                    Some(_) => Forwarding::No,
                    None => match set.config.forwarding_evidence() {
                        Some(command) => Forwarding::Yes(format!("PostUp `{command}`")),
                        None => Forwarding::Unknown,
                    },
                };
                let entries = set
                    .config
                    .peers
                    .iter()
                    .map(|peer| {
                        let target = by_key.get(&peer.public_key).copied();
                        for allowed in peer
                            .allowed_ips
                            .iter()
                            .filter(|allowed| allowed.host_bits_set)
                        {
                            notes.push(Warning::HostBits {
                                host: index,
                                prefix: allowed.net.to_string(),
                            });
                        }
                        let label = match target {
                            Some(target) => sets[target].name.clone(),
                            None => peer
                                .name
                                .clone()
                                .unwrap_or_else(|| peer.public_key.to_base64()),
                        };
                        Entry {
                            target,
                            label,
                            allowed: peer.allowed_ips.iter().map(|allowed| allowed.net).collect(),
                            endpoint: peer.endpoint.clone(),
                            keepalive: peer.keepalive,
                        }
                    })
                    .collect();
                Node {
                    name: set.name.clone(),
                    addresses: set.config.addresses.iter().map(IpNet::addr).collect(),
                    reachable: has_endpoint[index] && !facts.nat.contains(&set.name),
                    forwarding,
                    entries,
                }
            })
            .collect();
        Ok(Network {
            nodes,
            endpoint_owner,
            notes,
        })
    }
}

/// Longest-prefix-match tables, one per host: what WireGuard's allowedips trie answers.
struct Table {
    /// Per prefix length present, longest first.
    v4: Vec<Level>,
    v6: Vec<Level>,
}

/// All prefixes of one length. Keys are the prefix bits as an integer (`100.64.0.7/32` → the
/// address; `100.64.0.0/24` → its top 24 bits), so allocated overlay addresses are consecutive
/// keys and a level of them fits a plain array: one load per lookup instead of a hash probe into a
/// table that does not fit the cache (relays hold thousands of entries).
struct Level {
    length: u8,
    slots: Slots,
}

enum Slots {
    /// `index[key - first]`, `NONE` where no prefix exists.
    Dense {
        first: u128,
        index: Vec<u32>,
    },
    Sparse(FastMap<u128, EntryIndex>),
}

const NONE: u32 = u32::MAX;

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<MixHasher>>;

/// A small multiplicative hasher: the keys are prefixes, not attacker-chosen strings.
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, value: u128) {
        let folded = (value as u64) ^ ((value >> 64) as u64).rotate_left(32);
        self.0 = (self.0 ^ folded).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The top `length` bits of an address `width` bits wide, as an integer.
fn prefix_key(value: u128, length: u8, width: u8) -> u128 {
    if length == 0 {
        0
    } else {
        value >> (width - length)
    }
}

impl Level {
    fn new(length: u8, prefixes: &FastMap<u128, EntryIndex>) -> Level {
        let (Some(&first), Some(&last)) = (prefixes.keys().min(), prefixes.keys().max()) else {
            return Level {
                length,
                slots: Slots::Sparse(FastMap::default()),
            };
        };
        let span = last - first + 1;
        // Dense when the array would be at most ~4 slots per prefix: then it is smaller than the
        // hash map and every lookup is one load.
        let slots = if span <= 4 * prefixes.len() as u128 + 64 {
            let mut index = vec![NONE; span as usize];
            for (&key, &entry) in prefixes {
                index[(key - first) as usize] = entry as u32;
            }
            Slots::Dense { first, index }
        } else {
            Slots::Sparse(prefixes.clone())
        };
        Level { length, slots }
    }

    fn get(&self, key: u128) -> Option<EntryIndex> {
        match &self.slots {
            Slots::Dense { first, index } => key
                .checked_sub(*first)
                .and_then(|offset| index.get(usize::try_from(offset).ok()?))
                .filter(|&&entry| entry != NONE)
                .map(|&entry| entry as EntryIndex),
            Slots::Sparse(map) => map.get(&key).copied(),
        }
    }
}

impl Table {
    /// Builds the table; a prefix on two entries keeps the last one, as the kernel does, and is
    /// reported through `duplicate`.
    fn build(entries: &[Entry], mut duplicate: impl FnMut(IpNet, EntryIndex, EntryIndex)) -> Table {
        let mut v4: Vec<(u8, FastMap<u128, EntryIndex>)> = Vec::new();
        let mut v6: Vec<(u8, FastMap<u128, EntryIndex>)> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            for net in &entry.allowed {
                let (levels, width) = match net {
                    IpNet::V4(_) => (&mut v4, 32),
                    IpNet::V6(_) => (&mut v6, 128),
                };
                let length = net.prefix_len();
                let level = match levels.iter().position(|(len, _)| *len == length) {
                    Some(position) => &mut levels[position].1,
                    None => {
                        levels.push((length, FastMap::default()));
                        &mut levels.last_mut().expect("just pushed").1
                    }
                };
                if let Some(previous) =
                    level.insert(prefix_key(bits(net.network()), length, width), index)
                    && previous != index
                {
                    duplicate(*net, index, previous);
                }
            }
        }
        let finish = |mut levels: Vec<(u8, FastMap<u128, EntryIndex>)>| -> Vec<Level> {
            levels.sort_by_key(|(length, _)| std::cmp::Reverse(*length));
            levels
                .iter()
                .map(|(length, prefixes)| Level::new(*length, prefixes))
                .collect()
        };
        Table {
            v4: finish(v4),
            v6: finish(v6),
        }
    }

    fn lookup(&self, ip: IpAddr) -> Option<EntryIndex> {
        let (levels, width) = match ip {
            IpAddr::V4(_) => (&self.v4, 32),
            IpAddr::V6(_) => (&self.v6, 128),
        };
        let value = bits(ip);
        levels
            .iter()
            .find_map(|level| level.get(prefix_key(value, level.length, width)))
    }
}

/// Whether a host can send to one of its peers, decided once per entry.
#[derive(Debug, Clone)]
enum Session {
    Ok,
    Conditional(Condition),
    NotListed,
    External,
    NoEndpoint,
    WrongEndpoint(HostIndex),
}

/// The prepared simulation.
pub struct Simulation<'a> {
    pub network: &'a Network,
    tables: Vec<Table>,
    /// For each host and entry: the index of the target's entry for this host.
    back: Vec<Vec<Option<EntryIndex>>>,
    sessions: Vec<Vec<Session>>,
    duplicates: Vec<Warning>,
    /// Each host's first address per family, `[v4, v6]`: looked up twice per walk.
    addresses: Vec<[Option<IpAddr>; 2]>,
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
        let addresses = nodes
            .iter()
            .map(|node| {
                let first = |v6: bool| node.addresses.iter().copied().find(|ip| ip.is_ipv6() == v6);
                [first(false), first(true)]
            })
            .collect();
        let mut simulation = Simulation {
            network,
            tables,
            back,
            sessions: Vec::new(),
            duplicates,
            addresses,
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
                owner == target && self.network.nodes[target].reachable && dialer != target
            }
            _ => false,
        }
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
        Session::NoEndpoint
    }

    fn address(&self, host: HostIndex, v6: bool) -> Option<IpAddr> {
        self.addresses[host][usize::from(v6)]
    }

    /// Follows one packet from `source` to `destination` in one family. `path`, when given,
    /// receives every host visited; `conditions` collects what the delivery depends on.
    pub fn walk(
        &self,
        source: HostIndex,
        destination: HostIndex,
        v6: bool,
        mut path: Option<&mut Vec<HostIndex>>,
        conditions: &mut Vec<Condition>,
    ) -> Result<(), Problem> {
        let nodes = &self.network.nodes;
        let (Some(src), Some(dst)) = (self.address(source, v6), self.address(destination, v6))
        else {
            return Err(Problem::NoCommonFamily);
        };
        let mut at = source;
        if let Some(path) = path.as_deref_mut() {
            path.push(at);
        }
        for _ in 0..MAX_HOPS {
            let entry = self.tables[at]
                .lookup(dst)
                .ok_or(Problem::NoRoute { at, dst })?;
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
            if nodes[next].addresses.contains(&dst) {
                return if next == destination {
                    Ok(())
                } else {
                    Err(Problem::WrongHost { at: next })
                };
            }
            match nodes[next].forwarding {
                Forwarding::Yes(_) => {}
                Forwarding::Unknown => conditions.push(Condition::MustForward { host: next }),
                Forwarding::No => return Err(Problem::NoForwarding { at: next }),
            }
            at = next;
        }
        Err(Problem::Loop)
    }

    /// The verdict for one direction in every family both hosts have.
    pub fn direction(&self, source: HostIndex, destination: HostIndex) -> Verdict {
        self.direction_traced(source, destination, &mut Vec::new())
    }

    /// [`Simulation::direction`], leaving the hosts visited (last family walked) in `path`.
    pub fn direction_traced(
        &self,
        source: HostIndex,
        destination: HostIndex,
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
        warnings.sort();
        warnings.dedup();
        warnings
    }
}

/// Verdicts for every ordered pair, request and reply. One byte per direction: at 10,000 hosts
/// there are 10^8 directions, and only the few that are not plainly reachable need their details,
/// which are recomputed on demand.
pub struct Report<'s> {
    simulation: &'s Simulation<'s>,
    /// `codes[from * hosts + to]`: 0 reachable, 1 conditional, 2 unreachable (0 on the diagonal).
    codes: Vec<u8>,
    pub hosts: usize,
    pub forwarders: Vec<HostIndex>,
}

/// Ordered pairs by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub reachable: usize,
    pub conditional: usize,
    pub unreachable: usize,
}

const REACHABLE: u8 = 0;
const CONDITIONAL: u8 = 1;
const UNREACHABLE: u8 = 2;

impl<'s> Report<'s> {
    /// Simulates every direction on all cores.
    pub fn run(simulation: &'s Simulation<'s>) -> Report<'s> {
        let hosts = simulation.network.nodes.len();
        let rows = crate::core::parallel::map(hosts, |from| {
            let mut transit = vec![false; hosts];
            let mut path = Vec::with_capacity(MAX_HOPS + 1);
            let row: Vec<u8> = (0..hosts)
                .map(|to| {
                    if from == to {
                        return REACHABLE;
                    }
                    let code = match simulation.direction_traced(from, to, &mut path) {
                        Verdict::Reachable => REACHABLE,
                        Verdict::Conditional(_) => CONDITIONAL,
                        Verdict::Unreachable(_) => UNREACHABLE,
                    };
                    if code != UNREACHABLE {
                        // Hosts in the middle of a delivered path are the ones that must forward.
                        for &hop in path.iter().filter(|&&hop| hop != from && hop != to) {
                            transit[hop] = true;
                        }
                    }
                    code
                })
                .collect();
            (row, transit)
        });
        let mut transit = vec![false; hosts];
        let mut codes = Vec::with_capacity(hosts * hosts);
        for (row, row_transit) in rows {
            codes.extend(row);
            for (seen, hop) in transit.iter_mut().zip(row_transit) {
                *seen |= hop;
            }
        }
        Report {
            simulation,
            codes,
            hosts,
            forwarders: (0..hosts).filter(|&host| transit[host]).collect(),
        }
    }

    fn code(&self, from: HostIndex, to: HostIndex) -> u8 {
        self.codes[from * self.hosts + to]
    }

    /// The verdict of one direction, with its details.
    pub fn direction(&self, from: HostIndex, to: HostIndex) -> Verdict {
        match self.code(from, to) {
            REACHABLE => Verdict::Reachable,
            _ => self.simulation.direction(from, to),
        }
    }

    /// Whether the pair is reachable both ways without conditions (no details computed).
    pub fn plainly_reachable(&self, from: HostIndex, to: HostIndex) -> bool {
        self.code(from, to) == REACHABLE && self.code(to, from) == REACHABLE
    }

    /// How many ordered pairs are reachable, conditional and unreachable (request and reply),
    /// from the stored codes alone.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for from in 0..self.hosts {
            for to in 0..self.hosts {
                if from == to {
                    continue;
                }
                match self.code(from, to).max(self.code(to, from)) {
                    REACHABLE => counts.reachable += 1,
                    CONDITIONAL => counts.conditional += 1,
                    _ => counts.unreachable += 1,
                }
            }
        }
        counts
    }

    /// A pair's verdict: the request `from → to` and the reply `to → from`.
    pub fn pair(&self, from: HostIndex, to: HostIndex) -> Verdict {
        if self.plainly_reachable(from, to) {
            return Verdict::Reachable;
        }
        match (self.direction(from, to), self.direction(to, from)) {
            (Verdict::Unreachable(problem), _) | (_, Verdict::Unreachable(problem)) => {
                Verdict::Unreachable(problem)
            }
            (Verdict::Reachable, Verdict::Reachable) => Verdict::Reachable,
            (one, other) => {
                let mut conditions: Vec<Condition> = [one, other]
                    .into_iter()
                    .flat_map(|verdict| match verdict {
                        Verdict::Conditional(conditions) => conditions,
                        _ => Vec::new(),
                    })
                    .collect();
                conditions.sort();
                conditions.dedup();
                Verdict::Conditional(conditions)
            }
        }
    }

    pub fn all_reachable(&self) -> bool {
        self.codes.iter().all(|&code| code == REACHABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(allowed: &[&str]) -> Entry {
        Entry {
            target: None,
            label: String::new(),
            allowed: allowed.iter().map(|net| net.parse().unwrap()).collect(),
            endpoint: None,
            keepalive: None,
        }
    }

    #[test]
    fn longest_prefix_wins_in_dense_and_sparse_levels() {
        // Entry 0: the overlay catch-all; 1: a dense run of /32s; 2: a far-away /32 and a route,
        // which make the /32 and /24 levels sparse.
        let dense: Vec<String> = (1..=200)
            .map(|host| format!("100.64.0.{host}/32"))
            .collect();
        let dense: Vec<&str> = dense.iter().map(String::as_str).collect();
        let entries = [
            entry(&["100.64.0.0/16", "fd00::/64"]),
            entry(&dense),
            entry(&["100.64.200.9/32", "198.18.7.0/24", "fd00::9/128"]),
        ];
        let table = Table::build(&entries, |_, _, _| panic!("no duplicates here"));
        let lookup = |ip: &str| table.lookup(ip.parse().unwrap());
        assert_eq!(lookup("100.64.0.7"), Some(1));
        assert_eq!(lookup("100.64.0.201"), Some(0), "falls back to the /16");
        assert_eq!(lookup("100.64.200.9"), Some(2));
        assert_eq!(lookup("198.18.7.77"), Some(2));
        assert_eq!(lookup("198.18.8.1"), None);
        assert_eq!(lookup("fd00::9"), Some(2));
        assert_eq!(lookup("fd00::8"), Some(0));
        assert_eq!(lookup("fd01::1"), None);
        assert!(
            matches!(table.v4[0].slots, Slots::Sparse(_)),
            "the /32 level spans too far to be dense"
        );
        let only_dense = Table::build(&entries[..2], |_, _, _| {});
        assert!(matches!(only_dense.v4[0].slots, Slots::Dense { .. }));
        assert_eq!(only_dense.lookup("100.64.0.200".parse().unwrap()), Some(1));
    }

    #[test]
    fn a_duplicate_prefix_keeps_the_last_entry() {
        let entries = [entry(&["100.64.0.2/32"]), entry(&["100.64.0.2/32"])];
        let mut seen = Vec::new();
        let table = Table::build(&entries, |net, winner, loser| {
            seen.push((net.to_string(), winner, loser))
        });
        assert_eq!(seen, vec![("100.64.0.2/32".to_owned(), 1, 0)]);
        assert_eq!(table.lookup("100.64.0.2".parse().unwrap()), Some(1));
    }
}

pub mod input;
