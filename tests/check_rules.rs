//! One test per rule `check` simulates (DESIGN.md §1), on tiny hand-written config sets.

mod common;

use common::configs::{Host, Peer, config, peer, sets};
use wgdeploy::check::{
    Condition, ConfigSet, Facts, Network, Problem, Report, Simulation, Verdict, Warning,
};

fn host(
    name: &'static str,
    address: &'static str,
    endpoint: Option<&'static str>,
    peers: Vec<Peer>,
) -> Host {
    Host {
        name,
        address,
        endpoint,
        post_up: vec![],
        peers,
    }
}

fn network(hosts: &[Host], nat: &[&str], forwarding: Option<Vec<bool>>) -> Network {
    let nat: Vec<String> = nat.iter().map(|name| name.to_string()).collect();
    Network::from_configs(
        &sets(hosts),
        &Facts {
            nat: &nat,
            forwarding,
            ..Default::default()
        },
    )
    .unwrap()
}

fn index(network: &Network, name: &str) -> usize {
    network
        .nodes
        .iter()
        .position(|node| node.name == name)
        .unwrap()
}

fn pair(network: &Network, from: &str, to: &str) -> Verdict {
    let simulation = Simulation::new(network);
    Report::run(&simulation).pair(index(network, from), index(network, to))
}

/// relay (public, forwards), a and b behind NAT homed on it.
fn relay_layout(b_entry_for_relay: &'static str, relay_post_up: Option<&'static str>) -> Vec<Host> {
    let mut relay = host(
        "relay",
        "100.64.0.1",
        Some("198.51.100.1:51820"),
        vec![
            peer("a", "100.64.0.2/32", false, false),
            peer("b", "100.64.0.3/32", false, false),
        ],
    );
    relay.post_up = relay_post_up.into_iter().collect();
    vec![
        relay,
        host(
            "a",
            "100.64.0.2",
            None,
            vec![peer("relay", "100.64.0.0/24", true, true)],
        ),
        host(
            "b",
            "100.64.0.3",
            None,
            vec![peer("relay", b_entry_for_relay, true, true)],
        ),
    ]
}

#[test]
fn outbound_uses_the_longest_prefix() {
    // a has the relay's /24 and a direct /32 for web: traffic to web goes direct.
    let hosts = vec![
        host(
            "relay",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![
                peer("a", "100.64.0.2/32", false, false),
                peer("web", "100.64.0.9/32", true, false),
            ],
        ),
        host(
            "web",
            "100.64.0.9",
            Some("198.51.100.9:51820"),
            vec![
                peer("a", "100.64.0.2/32", false, false),
                peer("relay", "100.64.0.1/32", true, false),
            ],
        ),
        host(
            "a",
            "100.64.0.2",
            None,
            vec![
                peer("relay", "100.64.0.0/24", true, true),
                peer("web", "100.64.0.9/32", true, true),
            ],
        ),
    ];
    let network = network(&hosts, &["a"], None);
    let simulation = Simulation::new(&network);
    let mut path = Vec::new();
    assert_eq!(
        simulation.direction_traced(index(&network, "a"), index(&network, "web"), &mut path),
        Verdict::Reachable
    );
    assert_eq!(
        path,
        vec![index(&network, "a"), index(&network, "web")],
        "direct, not through the relay"
    );
}

#[test]
fn a_learned_endpoint_needs_the_nat_side_to_initiate_and_keep_alive() {
    let with = |keepalive: bool| {
        vec![
            host(
                "pub",
                "100.64.0.1",
                Some("198.51.100.1:51820"),
                vec![peer("nat", "100.64.0.2/32", false, false)],
            ),
            host(
                "nat",
                "100.64.0.2",
                None,
                vec![peer("pub", "100.64.0.1/32", true, keepalive)],
            ),
        ]
    };
    assert_eq!(
        pair(&network(&with(true), &["nat"], None), "pub", "nat"),
        Verdict::Reachable
    );
    let network = network(&with(false), &["nat"], None);
    let (pub_, nat) = (index(&network, "pub"), index(&network, "nat"));
    assert_eq!(
        pair(&network, "pub", "nat"),
        Verdict::Conditional(vec![Condition::NatMapping {
            initiator: nat,
            peer: pub_
        }])
    );
    let simulation = Simulation::new(&network);
    let warnings = simulation.warnings(&[]);
    assert!(
        warnings.contains(&Warning::NoKeepalive {
            host: nat,
            peer: pub_
        }),
        "{warnings:?}"
    );
}

#[test]
fn nobody_dialling_means_no_tunnel() {
    // Two public hosts that list each other without endpoints: neither can start.
    let hosts = vec![
        host(
            "p1",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![peer("p2", "100.64.0.2/32", false, false)],
        ),
        host(
            "p2",
            "100.64.0.2",
            Some("198.51.100.2:51820"),
            vec![peer("p1", "100.64.0.1/32", false, false)],
        ),
    ];
    // With nobody listing their endpoints, they are not reachable from outside either.
    let network = network(&hosts, &[], None);
    assert!(matches!(
        pair(&network, "p1", "p2"),
        Verdict::Unreachable(Problem::NoEndpoint { .. })
    ));
}

#[test]
fn a_one_way_endpoint_is_conditional_on_first_contact() {
    // p3 dials p1, which makes p1's endpoint known (and p1 reachable from outside).
    let hosts = vec![
        host(
            "p1",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![
                peer("p2", "100.64.0.2/32", true, false),
                peer("p3", "100.64.0.3/32", true, false),
            ],
        ),
        host(
            "p2",
            "100.64.0.2",
            Some("198.51.100.2:51820"),
            vec![peer("p1", "100.64.0.1/32", false, false)],
        ),
        host(
            "p3",
            "100.64.0.3",
            Some("198.51.100.3:51820"),
            vec![peer("p1", "100.64.0.1/32", true, false)],
        ),
    ];
    let network = network(&hosts, &[], None);
    let (p1, p2) = (index(&network, "p1"), index(&network, "p2"));
    // p2 has no endpoint for p1: it can answer, but not start, until p1 has sent.
    assert_eq!(
        pair(&network, "p2", "p1"),
        Verdict::Conditional(vec![Condition::FirstContact {
            talker: p2,
            peer: p1
        }])
    );
}

#[test]
fn the_inbound_source_filter_drops_relayed_traffic_the_receiver_does_not_expect() {
    // b gives the relay only the relay's own /32: a's packets, relayed, carry a's source.
    let network = network(
        &relay_layout("100.64.0.1/32", Some("sysctl -w net.ipv4.ip_forward=1")),
        &["a", "b"],
        None,
    );
    let (a, b, relay) = (
        index(&network, "a"),
        index(&network, "b"),
        index(&network, "relay"),
    );
    match pair(&network, "a", "b") {
        Verdict::Unreachable(Problem::SourceFilter {
            at,
            from,
            attributed: None,
            ..
        }) => assert_eq!((at, from), (b, relay)),
        other => panic!("{other:?}"),
    }
    let _ = a;
    // The relay itself still reaches b.
    assert_eq!(pair(&network, "relay", "b"), Verdict::Reachable);
}

#[test]
fn forwarding_comes_from_evidence_the_inventory_or_becomes_a_requirement() {
    let evidence = network(
        &relay_layout("100.64.0.0/24", Some("sysctl -q -w net.ipv4.ip_forward=1")),
        &["a", "b"],
        None,
    );
    assert_eq!(pair(&evidence, "a", "b"), Verdict::Reachable);
    let unknown = network(&relay_layout("100.64.0.0/24", None), &["a", "b"], None);
    let relay = index(&unknown, "relay");
    assert_eq!(
        pair(&unknown, "a", "b"),
        Verdict::Conditional(vec![Condition::MustForward { host: relay }])
    );
    let not_forwarding = network(
        &relay_layout("100.64.0.0/24", None),
        &["a", "b"],
        Some(vec![false, false, false]),
    );
    assert_eq!(
        pair(&not_forwarding, "a", "b"),
        Verdict::Unreachable(Problem::NoForwarding { at: relay })
    );
    let simulation = Simulation::new(&evidence);
    let report = Report::run(&simulation);
    assert_eq!(report.forwarders, vec![index(&evidence, "relay")]);
}

#[test]
fn a_pair_needs_the_reply_too() {
    // web reaches a's address, but a has no route back to web: the request arrives, the reply cannot.
    let hosts = vec![
        host(
            "web",
            "100.64.0.9",
            Some("198.51.100.9:51820"),
            vec![peer("a", "100.64.0.2/32", false, false)],
        ),
        host(
            "a",
            "100.64.0.2",
            None,
            vec![peer("web", "100.64.0.99/32", true, true)],
        ),
    ];
    let network = network(&hosts, &["a"], None);
    let simulation = Simulation::new(&network);
    let report = Report::run(&simulation);
    let (web, a) = (index(&network, "web"), index(&network, "a"));
    // The request web → a is dropped at a by the source filter (web's address is in none of a's
    // AllowedIPs); a → web has no route at all. Either way the pair fails, both orders.
    assert!(matches!(report.pair(web, a), Verdict::Unreachable(_)));
    assert!(matches!(
        report.direction(a, web),
        Verdict::Unreachable(Problem::NoRoute { .. })
    ));
    let explained = wgdeploy::ui::check::explain_all(&simulation, &report);
    let first = explained
        .iter()
        .find(|item| item.from == web && item.to == a)
        .unwrap();
    assert!(
        first.rule.contains("inbound source filter"),
        "{}",
        first.rule
    );
}

#[test]
fn one_prefix_on_two_peers_is_flagged_and_the_last_wins() {
    let hosts = vec![
        host(
            "relay",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![
                peer("a", "100.64.0.2/32", false, false),
                peer("b", "100.64.0.2/32", false, false),
            ],
        ),
        host(
            "a",
            "100.64.0.2",
            None,
            vec![peer("relay", "100.64.0.0/24", true, true)],
        ),
        host(
            "b",
            "100.64.0.3",
            None,
            vec![peer("relay", "100.64.0.0/24", true, true)],
        ),
    ];
    let network = network(&hosts, &["a", "b"], None);
    let simulation = Simulation::new(&network);
    let warnings = simulation.warnings(&[]);
    assert!(warnings.iter().any(|warning| matches!(warning, Warning::DuplicatePrefix { winner, loser, .. } if winner == "b" && loser == "a")), "{warnings:?}");
    // The kernel keeps the last entry: traffic for a's address goes to b, which drops it.
    assert!(matches!(
        pair(&network, "relay", "a"),
        Verdict::Unreachable(_)
    ));
}

#[test]
fn a_peer_listed_on_one_side_only_is_rejected_and_flagged() {
    let hosts = vec![
        host(
            "p1",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![peer("p2", "100.64.0.2/32", true, false)],
        ),
        host("p2", "100.64.0.2", Some("198.51.100.2:51820"), vec![]),
    ];
    let network = network(&hosts, &[], None);
    let (p1, p2) = (index(&network, "p1"), index(&network, "p2"));
    assert_eq!(
        pair(&network, "p1", "p2"),
        Verdict::Unreachable(Problem::NotListed { at: p1, to: p2 })
    );
    assert!(
        Simulation::new(&network)
            .warnings(&[])
            .contains(&Warning::OneSided { host: p1, peer: p2 })
    );
}

#[test]
fn keepalive_on_the_public_side_is_the_wrong_side() {
    let hosts = vec![
        host(
            "pub",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![peer("nat", "100.64.0.2/32", false, true)],
        ),
        host(
            "nat",
            "100.64.0.2",
            None,
            vec![peer("pub", "100.64.0.1/32", true, true)],
        ),
    ];
    let network = network(&hosts, &["nat"], None);
    let (pub_, nat) = (index(&network, "pub"), index(&network, "nat"));
    assert!(
        Simulation::new(&network)
            .warnings(&[])
            .contains(&Warning::KeepaliveWrongSide {
                host: pub_,
                peer: nat
            })
    );
}

#[test]
fn host_bits_and_external_peers_are_warned_about() {
    let mut hosts = relay_layout("100.64.0.5/24", Some("sysctl -w net.ipv4.ip_forward=1"));
    hosts[0]
        .peers
        .push(peer("stranger", "100.64.0.50/32", false, false));
    let network = network(&hosts, &["a", "b"], None);
    let warnings = Simulation::new(&network).warnings(&[]);
    assert!(warnings.iter().any(|warning| matches!(warning, Warning::HostBits { prefix, .. } if prefix == "100.64.0.0/24")), "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|warning| matches!(warning, Warning::External { .. })),
        "{warnings:?}"
    );
    // Host bits are cleared as wg does, so the layout still works.
    assert_eq!(pair(&network, "a", "b"), Verdict::Reachable);
}

/// `Table = off`: wg-quick adds no routes, so only the interface's own address prefix (a kernel
/// connected route) reaches it. A hand-written /32 address leaves every peer to the user's own
/// routing (conditional, with that reason); a /24 covers the overlay, and only the prefixes
/// outside it get a warning.
#[test]
fn table_off_leaves_routing_to_the_user() {
    let hosts = vec![
        host(
            "pub",
            "100.64.0.1",
            Some("198.51.100.1:51820"),
            vec![peer("nat", "100.64.0.2/32, 198.18.60.0/24", false, false)],
        ),
        host(
            "nat",
            "100.64.0.2",
            None,
            vec![peer("pub", "100.64.0.1/32", true, true)],
        ),
    ];
    let build = |prefix: &str| {
        let sets: Vec<ConfigSet> = hosts
            .iter()
            .map(|host| {
                let mut text = config(host, &hosts);
                if host.name == "pub" {
                    text = text
                        .replace("[Interface]\n", "[Interface]\nTable = off\n")
                        .replace("/24\nPrivateKey", &format!("/{prefix}\nPrivateKey"));
                }
                ConfigSet {
                    name: host.name.into(),
                    config: wgdeploy::core::wgconf::parse(std::path::Path::new(host.name), &text)
                        .unwrap(),
                }
            })
            .collect();
        let nat = vec!["nat".to_owned()];
        Network::from_configs(
            &sets,
            &Facts {
                nat: &nat,
                forwarding: None,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let narrow = build("32");
    let pub_ = index(&narrow, "pub");
    assert_eq!(
        pair(&narrow, "pub", "nat"),
        Verdict::Conditional(vec![Condition::OwnRouting { host: pub_ }])
    );
    let wide = build("24");
    assert_eq!(pair(&wide, "pub", "nat"), Verdict::Reachable);
    let warnings = Simulation::new(&wide).warnings(&[]);
    assert!(
        warnings.contains(&Warning::OwnRouting {
            host: pub_,
            prefixes: vec!["198.18.60.0/24".parse().unwrap()],
        }),
        "{warnings:?}"
    );
}
