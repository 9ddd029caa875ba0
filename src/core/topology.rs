//! The planner: which peers each host lists, with which AllowedIPs, and who must forward.
//! Pure: an inventory and its addresses in, a topology out. Implements DESIGN.md §2:
//!
//! - public ↔ public (relays included): direct, both sides dial;
//! - NAT-ed ↔ public non-relay: direct; only the NAT-ed side dials and sends keepalives;
//! - NAT-ed ↔ its home relay: the NAT-ed host gives the relay the catch-all (overlay ranges plus the
//!   subnets routed behind relays and NAT-ed hosts); the relay gives it its address and routes;
//! - NAT-ed ↔ NAT-ed: never listed — a relay decrypts, routes and re-encrypts, so listing each other
//!   would steal the traffic from the relay (longest prefix) and lose it;
//! - NAT-ed ↔ a relay that is not its home: never listed — the home relay's catch-all already covers
//!   that relay, and a direct entry would make the inbound source filter drop traffic relayed by it;
//! - relay ↔ relay: direct; each entry carries the other relay's own prefixes plus everything homed there;
//! - a host with `use_exit`: its entry for the exit also carries the default route of each overlay
//!   family. Validation keeps the exit a peer it lists (for a NAT-ed host: a public non-relay host
//!   or its home relay), so the /0 never needs a second hop (wg-quick's policy routing for a /0
//!   would take a relay's own traffic into the tunnel too).
//! - NAT-ed ↔ public non-relay with no address family in common (`core::underlay`): never listed;
//!   they reach each other through the NAT-ed host's home relay (which the public host's entry for
//!   that relay carries, and the NAT-ed host's catch-all covers, subnets included).

use crate::core::addressing::HostAddresses;
use crate::core::model::{HostId, Inventory, Role, internet_prefixes};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// Why a peer entry exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// The two hosts talk to each other directly.
    Direct,
    /// This NAT-ed host's home relay: everything not direct goes through it.
    HomeRelay,
    /// A NAT-ed host homed on this relay.
    HomedHere,
    /// Another relay, carrying the hosts homed on it.
    RelayMesh,
}

impl Link {
    /// The name used in JSON and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Direct => "direct",
            Link::HomeRelay => "home-relay",
            Link::HomedHere => "homed-here",
            Link::RelayMesh => "relay-mesh",
        }
    }
}

/// What an AllowedIPs prefix stands for, so plans can explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carries {
    /// The overlay address of that host.
    Address(HostId),
    /// A subnet routed behind that host.
    Route(HostId),
    /// A whole overlay range (the catch-all towards a home relay).
    Overlay,
    /// A prefix the inventory adds to this peer (`allowed_ips: { peer: [...] }`).
    Extra,
    /// A default route (0.0.0.0/0, ::/0): this host's internet traffic, sent to that exit
    /// (`use_exit`), which masquerades it to its uplink.
    Internet(HostId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub net: IpNet,
    pub carries: Carries,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub host: HostId,
    pub link: Link,
    pub allowed: Vec<Allowed>,
    /// Whether this side configures the peer's endpoint (it dials); false when the peer is NAT-ed.
    pub dial: bool,
    /// PersistentKeepalive this side sends, set only on NAT-ed hosts towards the peers they dial.
    pub keepalive: Option<u16>,
}

/// One host's part of the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// Peers sorted by name, so output is stable whatever the inventory order.
    pub peers: Vec<Peer>,
    /// Relays forward between peers; hosts with routes forward between the overlay and their
    /// subnets; exits forward between the overlay and their uplink.
    pub forwarding: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub hosts: Vec<HostPlan>,
}

/// Computes every host's peers. `addresses` comes from [`crate::core::addressing::assign`].
pub fn plan(inventory: &Inventory, addresses: &HostAddresses) -> Topology {
    let hosts = &inventory.hosts;
    let mut by_name: Vec<HostId> = (0..hosts.len()).collect();
    by_name.sort_by(|&a, &b| hosts[a].name.cmp(&hosts[b].name));

    let own = |id: HostId| -> Vec<Allowed> {
        let mut allowed: Vec<Allowed> = addresses[id]
            .iter()
            .map(|ip| Allowed {
                net: host_prefix(*ip),
                carries: Carries::Address(id),
            })
            .collect();
        allowed.extend(hosts[id].routes.iter().map(|net| Allowed {
            net: *net,
            carries: Carries::Route(id),
        }));
        allowed
    };
    let mut homed: Vec<Vec<HostId>> = vec![Vec::new(); hosts.len()];
    for &id in &by_name {
        if let Some(home) = hosts[id].home {
            homed[home.relay].push(id);
        }
    }
    // The catch-all a NAT-ed host gives its home relay: the overlay ranges, plus every subnet routed
    // behind a relay or a NAT-ed host (public non-relays are direct peers and carry their own).
    let relayed_routes: Vec<Allowed> = by_name
        .iter()
        .filter(|&&id| hosts[id].role != Role::Public)
        .flat_map(|&id| {
            hosts[id].routes.iter().map(move |net| Allowed {
                net: *net,
                carries: Carries::Route(id),
            })
        })
        .collect();
    let internet = internet_prefixes(&inventory.network.ranges);
    // A NAT-ed host's own `keepalive` wins over the network's.
    let keepalive_of = |id: HostId| {
        Some(
            hosts[id]
                .settings
                .keepalive
                .unwrap_or(inventory.network.keepalive),
        )
        .filter(|seconds| *seconds > 0)
    };
    // A NAT-ed host and a public host with no family in common go through the NAT-ed host's home
    // relay (validation made sure there is one, and that both can dial it).
    let direct = |nat: HostId, public: HostId| {
        crate::core::underlay::nat_meets_directly(&hosts[nat], &hosts[public])
    };
    // NAT-ed hosts only ever peer with hosts that have an endpoint: scanning just those keeps
    // hub-and-spoke planning linear in the number of NAT-ed hosts.
    let reachable: Vec<HostId> = by_name
        .iter()
        .copied()
        .filter(|&id| hosts[id].role != Role::Nat)
        .collect();

    let plans = (0..hosts.len())
        .map(|me| {
            let keepalive = keepalive_of(me);
            let mut peers = Vec::new();
            let candidates = if hosts[me].role == Role::Nat {
                &reachable
            } else {
                &by_name
            };
            for &other in candidates {
                if other == me {
                    continue;
                }
                let peer = match (hosts[me].role, hosts[other].role) {
                    (Role::Public | Role::Relay, Role::Public) => Peer {
                        host: other,
                        link: Link::Direct,
                        allowed: own(other),
                        dial: true,
                        keepalive: None,
                    },
                    (Role::Public, Role::Relay) => {
                        let mut allowed = own(other);
                        allowed.extend(
                            homed[other]
                                .iter()
                                .filter(|&&nat| !direct(nat, me))
                                .flat_map(|&nat| own(nat)),
                        );
                        Peer {
                            host: other,
                            link: Link::Direct,
                            allowed,
                            dial: true,
                            keepalive: None,
                        }
                    }
                    (Role::Relay, Role::Relay) => {
                        let mut allowed = own(other);
                        allowed.extend(homed[other].iter().flat_map(|&nat| own(nat)));
                        Peer {
                            host: other,
                            link: Link::RelayMesh,
                            allowed,
                            dial: true,
                            keepalive: None,
                        }
                    }
                    (Role::Public, Role::Nat) if !direct(other, me) => continue,
                    (Role::Nat, Role::Public) if !direct(me, other) => continue,
                    (Role::Public, Role::Nat) => Peer {
                        host: other,
                        link: Link::Direct,
                        allowed: own(other),
                        dial: false,
                        keepalive: None,
                    },
                    (Role::Relay, Role::Nat)
                        if hosts[other].home.is_some_and(|home| home.relay == me) =>
                    {
                        Peer {
                            host: other,
                            link: Link::HomedHere,
                            allowed: own(other),
                            dial: false,
                            keepalive: None,
                        }
                    }
                    (Role::Nat, Role::Public) => Peer {
                        host: other,
                        link: Link::Direct,
                        allowed: own(other),
                        dial: true,
                        keepalive,
                    },
                    (Role::Nat, Role::Relay)
                        if hosts[me].home.is_some_and(|home| home.relay == other) =>
                    {
                        let mut allowed: Vec<Allowed> = inventory
                            .network
                            .ranges
                            .iter()
                            .map(|range| Allowed {
                                net: *range,
                                carries: Carries::Overlay,
                            })
                            .collect();
                        allowed.extend(
                            relayed_routes
                                .iter()
                                .filter(|route| route.carries != Carries::Route(me))
                                .cloned(),
                        );
                        // The subnets of the public hosts it reaches through this relay.
                        allowed.extend(
                            reachable
                                .iter()
                                .filter(|&&public| {
                                    hosts[public].role == Role::Public && !direct(me, public)
                                })
                                .flat_map(|&public| {
                                    hosts[public].routes.iter().map(move |net| Allowed {
                                        net: *net,
                                        carries: Carries::Route(public),
                                    })
                                }),
                        );
                        Peer {
                            host: other,
                            link: Link::HomeRelay,
                            allowed,
                            dial: true,
                            keepalive,
                        }
                    }
                    // NAT-ed ↔ NAT-ed, and NAT-ed ↔ a relay that is not its home: reached through
                    // the home relay, never listed (see the module comment).
                    (Role::Nat, Role::Nat | Role::Relay) | (Role::Relay, Role::Nat) => continue,
                };
                peers.push(peer);
            }
            if let Some(exit) = hosts[me].use_exit {
                // Validation allows only an exit this host lists (a public host; behind NAT, a
                // public non-relay host or the home relay).
                let entry = peers.iter_mut().find(|peer| peer.host == exit);
                debug_assert!(entry.is_some(), "use_exit names a host that is not a peer");
                if let Some(peer) = entry {
                    peer.allowed.extend(internet.iter().map(|net| Allowed {
                        net: *net,
                        carries: Carries::Internet(exit),
                    }));
                }
            }
            for (other, nets) in &hosts[me].settings.extra_allowed {
                if let Some(peer) = peers.iter_mut().find(|peer| peer.host == *other) {
                    peer.allowed.extend(nets.iter().map(|net| Allowed {
                        net: *net,
                        carries: Carries::Extra,
                    }));
                }
            }
            HostPlan {
                peers,
                forwarding: hosts[me].is_relay() || !hosts[me].routes.is_empty() || hosts[me].exit,
            }
        })
        .collect();
    Topology { hosts: plans }
}

/// The /32 or /128 of a single address.
pub fn host_prefix(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn planned(yaml: &str) -> (Inventory, Topology) {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        let addresses = crate::core::addressing::assign(&inventory, &HashMap::new()).unwrap();
        let topology = plan(&inventory, &addresses);
        (inventory, topology)
    }

    fn peers_of(
        inventory: &Inventory,
        topology: &Topology,
        host: &str,
    ) -> Vec<(String, Vec<String>)> {
        let id = inventory.host_id(host).unwrap();
        topology.hosts[id]
            .peers
            .iter()
            .map(|peer| {
                let name = inventory.hosts[peer.host].name.to_string();
                (
                    name,
                    peer.allowed
                        .iter()
                        .map(|allowed| allowed.net.to_string())
                        .collect(),
                )
            })
            .collect()
    }

    const NAT_RELAY: &str = "network: { addresses: [100.64.0.0/24] }
hosts:
  relay1: { endpoint: 198.51.100.1, relay: true }
  web: { endpoint: 198.51.100.2 }
  a: {}
  b: { routes: [198.18.50.0/24] }
";

    #[test]
    fn nat_hosts_never_list_each_other() {
        let (inventory, topology) = planned(NAT_RELAY);
        assert_eq!(
            peers_of(&inventory, &topology, "a"),
            vec![
                (
                    "relay1".into(),
                    vec!["100.64.0.0/24".into(), "198.18.50.0/24".into()]
                ),
                ("web".into(), vec!["100.64.0.2/32".into()]),
            ]
        );
        assert_eq!(
            peers_of(&inventory, &topology, "b"),
            vec![
                ("relay1".into(), vec!["100.64.0.0/24".into()]),
                ("web".into(), vec!["100.64.0.2/32".into()])
            ]
        );
    }

    #[test]
    fn relay_lists_everyone_and_forwards() {
        let (inventory, topology) = planned(NAT_RELAY);
        assert_eq!(
            peers_of(&inventory, &topology, "relay1"),
            vec![
                ("a".into(), vec!["100.64.0.3/32".into()]),
                (
                    "b".into(),
                    vec!["100.64.0.4/32".into(), "198.18.50.0/24".into()]
                ),
                ("web".into(), vec!["100.64.0.2/32".into()]),
            ]
        );
        let forwarding: Vec<bool> = topology.hosts.iter().map(|host| host.forwarding).collect();
        assert_eq!(forwarding, vec![true, false, false, true]);
    }

    #[test]
    fn keepalive_and_endpoints_sit_on_the_nat_side() {
        let (inventory, topology) = planned(NAT_RELAY);
        let a = &topology.hosts[inventory.host_id("a").unwrap()];
        assert!(
            a.peers
                .iter()
                .all(|peer| peer.dial && peer.keepalive == Some(25))
        );
        let web = &topology.hosts[inventory.host_id("web").unwrap()];
        for peer in &web.peers {
            let nat = inventory.hosts[peer.host].is_nat();
            assert_eq!(peer.dial, !nat);
            assert_eq!(peer.keepalive, None);
        }
    }

    #[test]
    fn relays_carry_their_homed_hosts_to_each_other() {
        let (inventory, topology) = planned(
            "network: { addresses: [100.64.0.0/24] }
hosts:
  r1: { endpoint: 198.51.100.1, relay: true }
  r2: { endpoint: 198.51.100.2, relay: true }
  a: { via: r1 }
  b: { via: r2, routes: [198.18.60.0/24] }
",
        );
        assert_eq!(
            peers_of(&inventory, &topology, "r1"),
            vec![
                ("a".into(), vec!["100.64.0.3/32".into()]),
                (
                    "r2".into(),
                    vec![
                        "100.64.0.2/32".into(),
                        "100.64.0.4/32".into(),
                        "198.18.60.0/24".into()
                    ]
                ),
            ]
        );
        // a reaches r2 and b through r1 only: no direct entry for a relay that is not its home.
        assert_eq!(
            peers_of(&inventory, &topology, "a"),
            vec![(
                "r1".into(),
                vec!["100.64.0.0/24".into(), "198.18.60.0/24".into()]
            )]
        );
    }

    /// The exits of every kind a planner rule allows, and who uses which.
    const EXITS: &str = "network: { addresses: [100.64.0.0/24, 'fd00:64::/64'] }
hosts:
  r1: { endpoint: 198.51.100.1, relay: true, exit: true }
  r2: { endpoint: 198.51.100.2, relay: true }
  web: { endpoint: 198.51.100.3, exit: true }
  pub-via-relay: { endpoint: 198.51.100.4, use_exit: r1 }
  pub-via-web: { endpoint: 198.51.100.5, use_exit: web }
  relay-user: { endpoint: 198.51.100.6, relay: true, use_exit: web }
  nat-via-web: { via: r2, use_exit: web }
  nat-homed: { via: r1, use_exit: r1 }
  nat-default: { use_exit: r1 }
  nat-plain: { via: r2 }
";

    /// `host`'s peers that carry a default route, with the exit each names.
    fn internet_entries(
        inventory: &Inventory,
        topology: &Topology,
        host: &str,
    ) -> Vec<(String, Vec<String>)> {
        let id = inventory.host_id(host).unwrap();
        for peer in &topology.hosts[id].peers {
            for allowed in peer.allowed.iter().filter(|a| a.net.prefix_len() == 0) {
                assert_eq!(allowed.carries, Carries::Internet(peer.host), "{host}");
            }
        }
        peers_of(inventory, topology, host)
            .into_iter()
            .filter_map(|(name, nets)| {
                let defaults: Vec<String> =
                    nets.into_iter().filter(|net| net.ends_with("/0")).collect();
                (!defaults.is_empty()).then_some((name, defaults))
            })
            .collect()
    }

    #[test]
    fn the_default_routes_go_on_the_entry_for_the_exit_only() {
        let (inventory, topology) = planned(EXITS);
        let both = || vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()];
        for (user, exit) in [
            // public → a relay exit, public → a public exit, a relay → a public exit: direct
            ("pub-via-relay", "r1"),
            ("pub-via-web", "web"),
            ("relay-user", "web"),
            // behind NAT → a public non-relay exit (direct), and → its home relay
            ("nat-via-web", "web"),
            ("nat-homed", "r1"),
            ("nat-default", "r1"),
        ] {
            assert_eq!(
                internet_entries(&inventory, &topology, user),
                vec![(exit.to_owned(), both())],
                "{user}"
            );
        }
        for host in ["r1", "r2", "web", "nat-plain"] {
            assert!(
                internet_entries(&inventory, &topology, host).is_empty(),
                "{host}"
            );
        }
        // The home relay's entry keeps its catch-all: overlay traffic still goes by longest prefix.
        let home_entry = peers_of(&inventory, &topology, "nat-homed")
            .into_iter()
            .find(|(name, _)| name == "r1");
        assert_eq!(
            home_entry.unwrap().1,
            ["100.64.0.0/24", "fd00:64::/64", "0.0.0.0/0", "::/0"]
        );
    }

    #[test]
    fn a_nat_host_without_via_is_homed_on_its_exit_relay_and_exits_forward() {
        let (inventory, topology) = planned(EXITS);
        let home = inventory.hosts[inventory.host_id("nat-default").unwrap()]
            .home
            .unwrap();
        assert_eq!(inventory.hosts[home.relay].name.as_str(), "r1");
        assert_eq!(home.choice, crate::core::model::HomeChoice::Exit);
        let forwards = |name: &str| topology.hosts[inventory.host_id(name).unwrap()].forwarding;
        assert!(forwards("web"), "a public exit forwards");
        assert!(!forwards("pub-via-web"), "a user does not");
    }

    #[test]
    fn an_ipv4_only_overlay_sends_only_ipv4_to_the_exit() {
        let (inventory, topology) = planned(
            "network: { addresses: [100.64.0.0/24] }
hosts:
  web: { endpoint: 198.51.100.3, exit: true }
  laptop: { use_exit: web }
",
        );
        assert_eq!(
            peers_of(&inventory, &topology, "laptop"),
            vec![(
                "web".into(),
                vec!["100.64.0.1/32".into(), "0.0.0.0/0".into()]
            )]
        );
    }

    #[test]
    fn a_full_tunnel_outside_the_automatic_table_is_warned_about() {
        let warning = |table: &str| {
            let (inventory, _) = planned(&format!(
                "network: {{ addresses: [100.64.0.0/24] }}\nhosts:\n  web: {{ endpoint: 198.51.100.3, exit: true }}\n  laptop: {{ use_exit: web{table} }}\n"
            ));
            inventory.hosts[1].full_tunnel_warning()
        };
        assert_eq!(warning(""), None);
        assert_eq!(warning(", table: auto"), None);
        assert!(warning(", table: off").unwrap().contains("`table: off`"));
        assert!(warning(", table: 100").unwrap().contains("into table 100"));
    }

    #[test]
    fn nat_and_public_hosts_without_a_common_family_meet_through_the_home_relay() {
        let (inventory, topology) = planned(
            "network: { addresses: [100.64.0.0/24] }
hosts:
  relay1: { endpoint: [198.51.100.1, '[2001:db8::1]:51820'], relay: true }
  web6: { endpoint: '[2001:db8::20]:51820', routes: [198.18.70.0/24] }
  a: {}
  dual: { underlay: [ipv4, ipv6] }
",
        );
        // a (IPv4) does not list web6 (IPv6 only): its catch-all covers web6 and its subnet.
        assert_eq!(
            peers_of(&inventory, &topology, "a"),
            vec![(
                "relay1".into(),
                vec!["100.64.0.0/24".into(), "198.18.70.0/24".into()]
            )]
        );
        // web6's entry for the relay carries a, the host it cannot meet directly; dual is direct.
        assert_eq!(
            peers_of(&inventory, &topology, "web6"),
            vec![
                ("dual".into(), vec!["100.64.0.4/32".into()]),
                (
                    "relay1".into(),
                    vec!["100.64.0.1/32".into(), "100.64.0.3/32".into()]
                ),
            ]
        );
        // Who dials which endpoint.
        let id = |name: &str| inventory.host_id(name).unwrap();
        let dials = |me: &str, other: &str| {
            crate::core::underlay::choose(&inventory.hosts[id(me)], &inventory.hosts[id(other)])
                .map(ToString::to_string)
        };
        assert_eq!(dials("a", "relay1").as_deref(), Some("198.51.100.1:51820"));
        assert_eq!(
            dials("dual", "relay1").as_deref(),
            Some("198.51.100.1:51820")
        );
        assert_eq!(
            dials("web6", "relay1").as_deref(),
            Some("[2001:db8::1]:51820")
        );
        assert_eq!(
            dials("dual", "web6").as_deref(),
            Some("[2001:db8::20]:51820")
        );
        assert_eq!(dials("a", "web6"), None);
    }
}
