//! `check` on places beyond hosts: subnets routed behind a host and the internet via an exit, on
//! tiny hand-written config sets (places inferred from the configs, or declared as an inventory
//! would).

mod common;

use common::configs::{Host, Peer, peer, sets};
use wgdeploy::check::{
    Condition, DeclaredPlaces, Facts, Network, PlaceKind, Problem, Report, Simulation, Verdict,
    Warning,
};

const FORWARDS: &str = "sysctl -q -w net.ipv4.ip_forward=1";
const MASQUERADES: &str = "iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE";

/// A peer this host lists; one it dials it also keeps alive (the NAT-ed side).
fn link(name: &'static str, allowed: &'static str, dials: bool) -> Peer {
    peer(name, allowed, dials, dials)
}

fn network(hosts: &[Host], facts: Facts) -> Network {
    Network::from_configs(&sets(hosts), &facts).unwrap()
}

fn place(network: &Network, name: &str) -> usize {
    network
        .places
        .iter()
        .position(|place| place.name == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = network.places.iter().map(|p| p.name.as_str()).collect();
            panic!("no place {name} among {names:?}")
        })
}

fn pair(network: &Network, from: &str, to: &str) -> Verdict {
    let simulation = Simulation::new(network);
    let report = Report::run(&simulation);
    let (from, to) = (place(network, from), place(network, to));
    assert!(report.tested(from, to));
    report.pair(from, to)
}

/// relay (public, forwards), office behind NAT with its LAN 198.18.10.0/24, laptop behind NAT.
fn offices(office_post_up: Vec<&'static str>, relay_lists_lan: bool) -> Vec<Host> {
    vec![
        Host {
            name: "relay",
            address: "100.64.0.1",
            endpoint: Some("198.51.100.1:51820"),
            post_up: vec![FORWARDS],
            peers: vec![
                link(
                    "office",
                    if relay_lists_lan {
                        "100.64.0.2/32, 198.18.10.0/24"
                    } else {
                        "100.64.0.2/32"
                    },
                    false,
                ),
                link("laptop", "100.64.0.3/32", false),
            ],
        },
        Host {
            name: "office",
            address: "100.64.0.2",
            endpoint: None,
            post_up: office_post_up,
            peers: vec![link("relay", "100.64.0.0/24", true)],
        },
        Host {
            name: "laptop",
            address: "100.64.0.3",
            endpoint: None,
            post_up: vec![],
            peers: vec![link("relay", "100.64.0.0/24, 198.18.10.0/24", true)],
        },
    ]
}

fn nat(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn a_subnet_is_inferred_behind_the_host_that_does_not_send_it_back_into_the_tunnel() {
    let nat = nat(&["office", "laptop"]);
    let network = network(
        &offices(vec![FORWARDS], true),
        Facts {
            nat: &nat,
            ..Default::default()
        },
    );
    let lan = &network.places[place(&network, "198.18.10.0/24")];
    assert_eq!(lan.owner, 1, "office owns it");
    assert_eq!(
        lan.kind,
        PlaceKind::Subnet("198.18.10.0/24".parse().unwrap())
    );
    assert_eq!(lan.addresses[0], Some("198.18.10.1".parse().unwrap()));
    // The relay's catch-all towards the overlay is not a subnet.
    assert_eq!(network.places.len(), 4);
    for (from, to) in [
        ("laptop", "198.18.10.0/24"),
        ("198.18.10.0/24", "laptop"),
        ("relay", "198.18.10.0/24"),
    ] {
        assert_eq!(
            pair(&network, from, to),
            Verdict::Reachable,
            "{from} → {to}"
        );
    }
    // The office and its own LAN are not a tunnel's business.
    let simulation = Simulation::new(&network);
    let report = Report::run(&simulation);
    assert!(!report.tested(1, place(&network, "198.18.10.0/24")));
    // The office forwards between its LAN and the tunnel.
    assert!(report.forwarders.contains(&1), "{:?}", report.forwarders);
}

#[test]
fn a_subnet_owner_with_no_sign_of_forwarding_is_a_condition_and_one_known_not_to_a_problem() {
    let nat = nat(&["office", "laptop"]);
    let unknown = network(
        &offices(vec![], true),
        Facts {
            nat: &nat,
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&unknown, "laptop", "198.18.10.0/24"),
        Verdict::Conditional(vec![Condition::MustForward { host: 1 }])
    );
    let forwards = nat.clone();
    let named = network(
        &offices(vec![], true),
        Facts {
            nat: &nat,
            forwards: &forwards[..1],
            ..Default::default()
        },
    );
    assert_eq!(pair(&named, "laptop", "198.18.10.0/24"), Verdict::Reachable);
    let declared = DeclaredPlaces {
        subnets: vec![(1, "198.18.10.0/24".parse().unwrap())],
        exits: vec![],
    };
    let known = network(
        &offices(vec![], true),
        Facts {
            nat: &nat,
            forwarding: Some(vec![true, false, false]),
            places: Some(declared),
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&known, "laptop", "198.18.10.0/24"),
        Verdict::Unreachable(Problem::NoForwarding { at: 1 })
    );
    let text = {
        let simulation = Simulation::new(&known);
        wgdeploy::ui::check::human(&simulation, &Report::run(&simulation))
    };
    assert!(
        text.contains(
            "office would have to forward the packet between the tunnel and 198.18.10.0/24"
        ),
        "{text}"
    );
}

#[test]
fn a_subnet_missing_from_the_relays_entry_is_dropped_by_its_source_filter() {
    let nat = nat(&["office", "laptop"]);
    let declared = DeclaredPlaces {
        subnets: vec![(1, "198.18.10.0/24".parse().unwrap())],
        exits: vec![],
    };
    let network = network(
        &offices(vec![FORWARDS], false),
        Facts {
            nat: &nat,
            places: Some(declared),
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&network, "198.18.10.0/24", "laptop"),
        Verdict::Unreachable(Problem::SourceFilter {
            at: 0,
            from: 1,
            src: "198.18.10.1".parse().unwrap(),
            attributed: None,
        })
    );
    let simulation = Simulation::new(&network);
    let text = wgdeploy::ui::check::human(&simulation, &Report::run(&simulation));
    assert!(
        text.contains(
            "relay drops the packet arriving from office: its source 198.18.10.1 is in none of relay's AllowedIPs"
        ),
        "{text}"
    );
    assert!(
        text.contains("path tried: 198.18.10.0/24 → office → relay"),
        "{text}"
    );
    assert!(
        text.contains("fix:  add 198.18.10.0/24 to relay's AllowedIPs for office"),
        "{text}"
    );
}

/// exit (public, forwards), user behind NAT sending everything to `default_to`.
fn exit_layout(exit_post_up: Vec<&'static str>) -> Vec<Host> {
    vec![
        Host {
            name: "exit",
            address: "100.64.0.1",
            endpoint: Some("198.51.100.1:51820"),
            post_up: exit_post_up,
            peers: vec![link("user", "100.64.0.2/32", false)],
        },
        Host {
            name: "user",
            address: "100.64.0.2",
            endpoint: None,
            post_up: vec![],
            peers: vec![link("exit", "0.0.0.0/0", true)],
        },
    ]
}

#[test]
fn a_host_with_a_default_route_towards_a_public_exit_reaches_the_internet() {
    let nat = nat(&["user"]);
    let network = network(
        &exit_layout(vec![FORWARDS, MASQUERADES]),
        Facts {
            nat: &nat,
            ..Default::default()
        },
    );
    let internet = &network.places[place(&network, "internet via exit")];
    assert_eq!(internet.owner, 0);
    assert_eq!(internet.kind, PlaceKind::Internet { users: vec![1] });
    assert_eq!(
        internet.addresses,
        [Some("192.0.2.1".parse().unwrap()), None]
    );
    assert_eq!(
        pair(&network, "user", "internet via exit"),
        Verdict::Reachable
    );
    assert_eq!(
        pair(&network, "internet via exit", "user"),
        Verdict::Reachable
    );
    let simulation = Simulation::new(&network);
    let report = Report::run(&simulation);
    // The exit itself does not reach the internet through the tunnel.
    assert!(!report.tested(0, 2));
    assert!(report.all_reachable());
    let json = wgdeploy::ui::check::json(&simulation, &report);
    assert_eq!(json["internet"][0]["exit"], "exit");
    assert_eq!(json["internet"][0]["users"], serde_json::json!(["user"]));
    assert_eq!(json["summary"]["host_pairs"], 2);
    assert_eq!(json["summary"]["place_pairs"], 2);
}

#[test]
fn an_exit_with_no_masquerade_in_its_hooks_is_a_condition() {
    let nat = nat(&["user"]);
    let network = network(
        &exit_layout(vec![FORWARDS]),
        Facts {
            nat: &nat,
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&network, "user", "internet via exit"),
        Verdict::Conditional(vec![Condition::MustMasquerade { host: 0 }])
    );
}

#[test]
fn a_default_route_on_a_relay_that_the_exit_bypasses_is_dropped_by_a_source_filter() {
    // user sends everything to relay, relay on to exit; but exit and user also list each other
    // directly, so exit's source filter attributes user's address to user, not to relay.
    let hosts = vec![
        Host {
            name: "relay",
            address: "100.64.0.1",
            endpoint: Some("198.51.100.1:51820"),
            post_up: vec![FORWARDS],
            peers: vec![
                link("user", "100.64.0.2/32", false),
                link("exit", "100.64.0.3/32, 0.0.0.0/0", true),
            ],
        },
        Host {
            name: "user",
            address: "100.64.0.2",
            endpoint: None,
            post_up: vec![],
            peers: vec![
                link("relay", "0.0.0.0/0", true),
                link("exit", "100.64.0.3/32", true),
            ],
        },
        Host {
            name: "exit",
            address: "100.64.0.3",
            endpoint: Some("198.51.100.3:51820"),
            post_up: vec![FORWARDS, MASQUERADES],
            peers: vec![
                link("relay", "100.64.0.1/32", true),
                link("user", "100.64.0.2/32", false),
            ],
        },
    ];
    let nat = nat(&["user"]);
    let network = network(
        &hosts,
        Facts {
            nat: &nat,
            ..Default::default()
        },
    );
    let verdict = pair(&network, "user", "internet via exit");
    assert_eq!(
        verdict,
        Verdict::Unreachable(Problem::SourceFilter {
            at: 2,
            from: 0,
            src: "100.64.0.2".parse().unwrap(),
            attributed: Some(1),
        })
    );
    // Host pairs are unaffected.
    assert_eq!(pair(&network, "user", "exit"), Verdict::Reachable);
}

#[test]
fn a_declared_exit_the_default_route_never_reaches_is_named() {
    // The inventory says user goes out through exit, but its default route ends at relay.
    let hosts = vec![
        Host {
            name: "relay",
            address: "100.64.0.1",
            endpoint: Some("198.51.100.1:51820"),
            post_up: vec![FORWARDS],
            peers: vec![
                link("user", "100.64.0.2/32", false),
                link("exit", "100.64.0.3/32", true),
            ],
        },
        Host {
            name: "user",
            address: "100.64.0.2",
            endpoint: None,
            post_up: vec![],
            peers: vec![link("relay", "0.0.0.0/0", true)],
        },
        Host {
            name: "exit",
            address: "100.64.0.3",
            endpoint: Some("198.51.100.3:51820"),
            post_up: vec![FORWARDS, MASQUERADES],
            peers: vec![link("relay", "100.64.0.0/24", true)],
        },
    ];
    let nat = nat(&["user"]);
    let declared = DeclaredPlaces {
        subnets: vec![],
        exits: vec![(2, vec![1])],
    };
    let network = network(
        &hosts,
        Facts {
            nat: &nat,
            places: Some(declared),
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&network, "user", "internet via exit"),
        Verdict::Unreachable(Problem::ExitMissed { at: 0, exit: 2 })
    );
}

#[test]
fn a_prefix_two_hosts_could_each_own_is_a_warning_not_a_place() {
    // A mesh of public hosts: x lists 198.18.99.0/24 for a, y lists it for b, and neither a nor b
    // sends it into the tunnel: either could have it behind them.
    let mesh = [
        ("x", "100.64.0.1"),
        ("y", "100.64.0.2"),
        ("a", "100.64.0.3"),
        ("b", "100.64.0.4"),
    ];
    let endpoints = [
        "198.51.100.1:51820",
        "198.51.100.2:51820",
        "198.51.100.3:51820",
        "198.51.100.4:51820",
    ];
    let hosts: Vec<Host> = mesh
        .iter()
        .zip(endpoints)
        .map(|(&(name, address), endpoint)| Host {
            name,
            address,
            endpoint: Some(endpoint),
            post_up: vec![FORWARDS],
            peers: mesh
                .iter()
                .filter(|(other, _)| *other != name)
                .map(|&(other, _)| {
                    let allowed = match (name, other) {
                        ("x", "a") => "100.64.0.3/32, 198.18.99.0/24",
                        ("y", "b") => "100.64.0.4/32, 198.18.99.0/24",
                        _ => match other {
                            "x" => "100.64.0.1/32",
                            "y" => "100.64.0.2/32",
                            "a" => "100.64.0.3/32",
                            _ => "100.64.0.4/32",
                        },
                    };
                    link(other, allowed, true)
                })
                .collect(),
        })
        .collect();
    let network = network(&hosts, Facts::default());
    assert!(
        network
            .places
            .iter()
            .all(|place| place.kind == PlaceKind::Host),
        "{:?}",
        network.places
    );
    assert!(
        network.notes.contains(&Warning::AmbiguousSubnet {
            prefix: "198.18.99.0/24".parse().unwrap(),
            owners: vec![2, 3],
        }),
        "{:?}",
        network.notes
    );
}

#[test]
fn an_exit_the_inventory_declares_needs_no_masquerade_in_its_hooks() {
    let nat = nat(&["user"]);
    let declared = DeclaredPlaces {
        subnets: vec![],
        exits: vec![(0, vec![1])],
    };
    let marked = network(
        &exit_layout(vec![FORWARDS]),
        Facts {
            nat: &nat,
            forwarding: Some(vec![true, false]),
            places: Some(declared),
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&marked, "user", "internet via exit"),
        Verdict::Reachable
    );
    // An exit the inventory does not mark as forwarding cannot carry the user's traffic.
    let unmarked = network(
        &exit_layout(vec![]),
        Facts {
            nat: &nat,
            forwarding: Some(vec![false, false]),
            places: Some(DeclaredPlaces {
                subnets: vec![],
                exits: vec![(0, vec![1])],
            }),
            ..Default::default()
        },
    );
    assert_eq!(
        pair(&unmarked, "internet via exit", "user"),
        Verdict::Unreachable(Problem::NoForwarding { at: 0 })
    );
}
