//! The hosts as the simulation sees them, built from one wg-quick config per host: identities from
//! the private keys, each `[Peer]` resolved to the host it names, endpoints to the host that owns
//! them, forwarding from the inventory or the hooks.

use crate::check::HostIndex;
use crate::check::places::{DeclaredPlaces, HostView, Place};
use crate::check::verdict::Warning;
use crate::core::keys::PublicKey;
use crate::core::wgconf::WgConfig;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

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
    /// The address families of its own network: what it can dial.
    pub underlay: crate::check::underlay::Underlay,
    pub forwarding: Forwarding,
    pub entries: Vec<Entry>,
    /// `Table = off` or a table other than main, as written: wg-quick routes no AllowedIPs the
    /// kernel uses by itself. `None`: routes in the main table (`auto`, `main`, `254`, unset).
    pub own_routing: Option<String>,
    /// The prefixes of the interface's addresses: the kernel routes these to the interface
    /// whatever the `Table` (connected routes).
    pub connected: Vec<IpNet>,
    /// What shows it masquerades traffic leaving through its uplink (an exit's duty): a
    /// MASQUERADE in its hooks, or the inventory. `None`: nothing does.
    pub masquerade: Option<String>,
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
    /// What `check` proves reachable: the hosts (same indices), then subnets and the internet.
    pub places: Vec<Place>,
}

/// One host's config, named, ready for checking.
#[derive(Debug, Clone)]
pub struct ConfigSet {
    pub name: String,
    pub config: WgConfig,
}

/// What the caller knows beyond the configs.
#[derive(Default)]
pub struct Facts<'a> {
    /// Hosts whose listed endpoints cannot be dialled from outside.
    pub nat: &'a [String],
    /// Per host (same order as the sets), forwarding known from the inventory; `None` → evidence
    /// from the hooks, else unknown.
    pub forwarding: Option<Vec<bool>>,
    /// Address families of hosts' own networks, by host name (the inventory's, or `--underlay`);
    /// a host not named here has those of the IP endpoints others list for it, else IPv4.
    pub underlay: &'a [(String, crate::core::underlay::Families)],
    /// Hosts known to forward by means outside their configs (`check --configs --forwards`).
    pub forwards: &'a [String],
    /// The subnets and exits an inventory declares; `None`: inferred from the configs.
    pub places: Option<DeclaredPlaces>,
}

impl Network {
    /// Builds the network from one config per host. Hosts are identified by the public key
    /// derived from each file's PrivateKey. An endpoint listed for a host's key is taken as that
    /// host's address; when one endpoint is listed for several keys, the key listed most often
    /// owns it (the others are the mistakes).
    pub fn from_configs(sets: &[ConfigSet], facts: &Facts) -> Result<Network, String> {
        let mut by_key: HashMap<PublicKey, HostIndex> = HashMap::new();
        for (index, set) in sets.iter().enumerate() {
            // A device's exported config may carry a placeholder and its own public key instead.
            let key = set
                .config
                .private_key
                .as_ref()
                .map(|key| key.public_key())
                .or(set.config.public_key)
                .ok_or_else(|| {
                    format!(
                        "`{}` has no PrivateKey, so its public key (its identity) is unknown",
                        set.name
                    )
                })?;
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
        let names: Vec<&str> = sets.iter().map(|set| set.name.as_str()).collect();
        let underlay = crate::check::underlay::of_hosts(&names, facts.underlay, &endpoint_owner);
        let connected: Vec<IpNet> = sets
            .iter()
            .flat_map(|set| set.config.addresses.iter().map(IpNet::trunc))
            .collect();
        let mut notes = crate::check::underlay::notes(&underlay, &endpoint_owner, &connected);
        let nodes = sets
            .iter()
            .enumerate()
            .map(|(index, set)| {
                let forwarding = match &facts.forwarding {
                    Some(known) if known[index] => {
                        Forwarding::Yes("marked as forwarding by the inventory".into())
                    }
                    Some(_) => Forwarding::No,
                    None if facts.forwards.contains(&set.name) => {
                        Forwarding::Yes("named by `--forwards`".into())
                    }
                    None => match set.config.forwarding_evidence() {
                        Some(command) => Forwarding::Yes(format!("PostUp `{command}`")),
                        None => Forwarding::Unknown,
                    },
                };
                let declared_exit = facts
                    .places
                    .as_ref()
                    .is_some_and(|declared| declared.exits.iter().any(|&(exit, _)| exit == index));
                let masquerade = masquerade_evidence(&set.config)
                    .map(|command| format!("PostUp `{command}`"))
                    .or_else(|| declared_exit.then(|| "an exit of the inventory".to_owned()));
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
                    underlay: underlay[index],
                    forwarding,
                    entries,
                    own_routing: set.config.table.clone().filter(|table| {
                        !matches!(table.to_ascii_lowercase().as_str(), "auto" | "main" | "254")
                    }),
                    connected: set.config.addresses.iter().map(IpNet::trunc).collect(),
                    masquerade,
                }
            })
            .collect::<Vec<Node>>();
        let places = match &facts.places {
            Some(declared) => crate::check::places::declared(&nodes, declared),
            None => {
                let (places, warnings) = crate::check::places::infer(&nodes);
                notes.extend(warnings);
                places
            }
        };
        Ok(Network {
            nodes,
            endpoint_owner,
            notes,
            places,
        })
    }

    /// How many places are hosts (the first ones).
    pub fn hosts(&self) -> usize {
        self.nodes.len()
    }
}

impl HostView for Node {
    fn name(&self) -> &str {
        &self.name
    }
    fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }
    fn connected(&self) -> &[IpNet] {
        &self.connected
    }
    fn allowed(&self) -> impl Iterator<Item = (Option<HostIndex>, IpNet)> + '_ {
        self.entries
            .iter()
            .flat_map(|entry| entry.allowed.iter().map(|&net| (entry.target, net)))
    }
}

/// A PostUp (or PreUp) that masquerades: iptables' `-j MASQUERADE` or nftables' `masquerade`.
fn masquerade_evidence(config: &WgConfig) -> Option<&str> {
    config
        .hooks
        .iter()
        .filter(|(kind, _)| kind == "PostUp" || kind == "PreUp")
        .map(|(_, command)| command.as_str())
        .find(|command| command.to_ascii_lowercase().contains("masquerade"))
}
