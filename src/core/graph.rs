//! The picture of the network as data: hosts grouped by kind (relays, public, behind NAT under their
//! home relay) and one edge per tunnel, with who dials it and whose traffic it relays. Pure: built
//! from the planned topology; `ui::graph` draws it as Mermaid or DOT.

use crate::core::model::{HostId, Inventory, Role};
use crate::core::topology::{Link, Peer, Topology};

/// A box of hosts in the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Relays,
    Public,
    /// The NAT-ed hosts homed on this relay, drawn behind it.
    BehindRelay(HostId),
    /// NAT-ed hosts of an inventory without relays: they reach public hosts only.
    BehindNat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub group: Group,
    /// Sorted by name.
    pub members: Vec<HostId>,
}

/// What kind of tunnel an edge is (the planner's `Link`, seen from both ends at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tunnel {
    /// The two hosts talk to each other directly.
    Direct,
    /// A NAT-ed host (`from`) and its home relay (`to`).
    Home,
    /// Two relays, carrying the hosts homed on each.
    Mesh,
}

/// One tunnel: both hosts list each other as peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The side that dials when only one does; otherwise the one whose name sorts first.
    pub from: HostId,
    pub to: HostId,
    pub tunnel: Tunnel,
    /// Only `from` dials (it is behind NAT and keeps its mapping open); otherwise both can.
    pub one_way: bool,
    /// Hosts at neither end whose traffic crosses this tunnel through a relay, sorted by name.
    pub relayed: Vec<HostId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Relays, public hosts, then the NAT-ed hosts behind each relay (relays by name); groups
    /// without hosts are left out.
    pub clusters: Vec<Cluster>,
    /// In the order of their `from` host's name, then `to`'s.
    pub edges: Vec<Edge>,
}

/// The picture of a planned inventory.
pub fn build(inventory: &Inventory, topology: &Topology) -> Graph {
    let hosts = &inventory.hosts;
    let mut by_name: Vec<HostId> = (0..hosts.len()).collect();
    by_name.sort_by(|&a, &b| hosts[a].name.cmp(&hosts[b].name));
    let name = |id: HostId| hosts[id].name.as_str();

    let mut relays = Vec::new();
    let mut public = Vec::new();
    let mut homeless = Vec::new();
    let mut homed: Vec<Vec<HostId>> = vec![Vec::new(); hosts.len()];
    for &id in &by_name {
        match (hosts[id].role, hosts[id].home) {
            (Role::Relay, _) => relays.push(id),
            (Role::Public, _) => public.push(id),
            (Role::Nat, Some(home)) => homed[home.relay].push(id),
            (Role::Nat, None) => homeless.push(id),
        }
    }
    let mut clusters = vec![
        Cluster {
            group: Group::Relays,
            members: relays.clone(),
        },
        Cluster {
            group: Group::Public,
            members: public,
        },
    ];
    clusters.extend(relays.iter().map(|&relay| Cluster {
        group: Group::BehindRelay(relay),
        members: homed[relay].clone(),
    }));
    clusters.push(Cluster {
        group: Group::BehindNat,
        members: homeless,
    });
    clusters.retain(|cluster| !cluster.members.is_empty());

    // The entry `other` has for `me`: peers are sorted by name, so a binary search finds it.
    let entry_for = |other: HostId, me: HostId| -> Option<&Peer> {
        let peers = &topology.hosts[other].peers;
        peers
            .binary_search_by(|peer| name(peer.host).cmp(name(me)))
            .ok()
            .map(|index| &peers[index])
    };
    let mut edges = Vec::new();
    for &me in &by_name {
        for peer in &topology.hosts[me].peers {
            let other = peer.host;
            let back = entry_for(other, me);
            let other_dials = back.is_some_and(|back| back.dial);
            // Each tunnel once: from the only side that dials, else from the first name.
            let from_here = match (peer.dial, other_dials) {
                (true, false) => true,
                (false, true) => false,
                _ => back.is_none() || name(me) < name(other),
            };
            if !from_here {
                continue;
            }
            let (tunnel, relayed) = match peer.link {
                Link::Direct => (Tunnel::Direct, Vec::new()),
                Link::HomeRelay | Link::HomedHere => {
                    let nat = if hosts[me].is_nat() { me } else { other };
                    let relay = if nat == me { other } else { me };
                    (
                        Tunnel::Home,
                        reached_through(topology, &by_name, nat, relay),
                    )
                }
                Link::RelayMesh => {
                    let mut both: Vec<HostId> =
                        homed[me].iter().chain(&homed[other]).copied().collect();
                    both.sort_by(|&a, &b| name(a).cmp(name(b)));
                    (Tunnel::Mesh, both)
                }
            };
            edges.push(Edge {
                from: me,
                to: other,
                tunnel,
                one_way: peer.dial != other_dials,
                relayed,
            });
        }
    }
    Graph { clusters, edges }
}

/// The hosts `nat` reaches through `relay`'s catch-all: every one it does not list itself.
fn reached_through(
    topology: &Topology,
    by_name: &[HostId],
    nat: HostId,
    relay: HostId,
) -> Vec<HostId> {
    let mut listed = vec![false; by_name.len()];
    listed[nat] = true;
    listed[relay] = true;
    for peer in &topology.hosts[nat].peers {
        listed[peer.host] = true;
    }
    by_name.iter().copied().filter(|&id| !listed[id]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn graph(yaml: &str) -> (Inventory, Graph) {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        let addresses = crate::core::addressing::assign(&inventory, &HashMap::new()).unwrap();
        let topology = crate::core::topology::plan(&inventory, &addresses);
        let graph = build(&inventory, &topology);
        (inventory, graph)
    }

    fn names(inventory: &Inventory, ids: &[HostId]) -> Vec<String> {
        ids.iter()
            .map(|&id| inventory.hosts[id].name.to_string())
            .collect()
    }

    /// Each edge as `from -> to` (one way) or `from -- to`, its tunnel and what it relays.
    fn edges(inventory: &Inventory, graph: &Graph) -> Vec<String> {
        graph
            .edges
            .iter()
            .map(|edge| {
                format!(
                    "{} {} {} {:?} [{}]",
                    inventory.hosts[edge.from].name,
                    if edge.one_way { "->" } else { "--" },
                    inventory.hosts[edge.to].name,
                    edge.tunnel,
                    names(inventory, &edge.relayed).join(",")
                )
            })
            .collect()
    }

    #[test]
    fn nat_hosts_sit_behind_their_relay_and_dial_it() {
        let (inventory, graph) = graph(
            "network: { addresses: [100.64.0.0/24] }
hosts:
  relay1: { endpoint: 198.51.100.1, relay: true }
  web: { endpoint: 198.51.100.2 }
  office: {}
  home: {}
",
        );
        let clusters: Vec<(Group, Vec<String>)> = graph
            .clusters
            .iter()
            .map(|cluster| (cluster.group, names(&inventory, &cluster.members)))
            .collect();
        assert_eq!(
            clusters,
            vec![
                (Group::Relays, vec!["relay1".to_owned()]),
                (Group::Public, vec!["web".to_owned()]),
                (
                    Group::BehindRelay(0),
                    vec!["home".to_owned(), "office".to_owned()]
                ),
            ]
        );
        assert_eq!(
            edges(&inventory, &graph),
            vec![
                "home -> relay1 Home [office]",
                "home -> web Direct []",
                "office -> relay1 Home [home]",
                "office -> web Direct []",
                "relay1 -- web Direct []",
            ]
        );
    }

    #[test]
    fn relays_mesh_carries_the_hosts_homed_on_both() {
        let (inventory, graph) = graph(
            "network: { addresses: [100.64.0.0/24] }
hosts:
  r1: { endpoint: 198.51.100.1, relay: true }
  r2: { endpoint: 198.51.100.2, relay: true }
  a: { via: r1 }
  b: { via: r2 }
  c: { via: r2 }
",
        );
        assert_eq!(
            edges(&inventory, &graph),
            vec![
                "a -> r1 Home [b,c,r2]",
                "b -> r2 Home [a,c,r1]",
                "c -> r2 Home [a,b,r1]",
                "r1 -- r2 Mesh [a,b,c]",
            ]
        );
        let groups: Vec<Group> = graph.clusters.iter().map(|cluster| cluster.group).collect();
        assert_eq!(
            groups,
            vec![Group::Relays, Group::BehindRelay(0), Group::BehindRelay(1)],
            "the empty public group is left out"
        );
    }

    #[test]
    fn nat_hosts_without_a_relay_get_their_own_group() {
        let (inventory, graph) = graph(
            "network: { addresses: [100.64.0.0/24] }
hosts:
  web: { endpoint: 198.51.100.2 }
  laptop: {}
",
        );
        assert_eq!(graph.clusters.last().unwrap().group, Group::BehindNat);
        assert_eq!(edges(&inventory, &graph), vec!["laptop -> web Direct []"]);
    }
}
