//! Property tests: the parser never panics, and the planner keeps its invariants on random valid
//! inventories (1–4 relays, public and NAT-ed hosts, homes, routes, one or two families).

use ipnet::IpNet;
use proptest::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use wgdeploy::core::render::Deployment;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = wgdeploy::core::inventory::parse(Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn parsing_mutated_inventories_never_panics(position in 0usize..2000, insert in "[ -~\n\t:{}\\[\\]\"'#&*!|>-]{0,12}", cut in 0usize..20) {
        let source = include_str!("../examples/multi-relay/inventory.yaml");
        let at = position.min(source.len());
        let at = (0..=at).rev().find(|&index| source.is_char_boundary(index)).unwrap_or(0);
        let end = (at + cut).min(source.len());
        let end = (end..=source.len()).find(|&index| source.is_char_boundary(index)).unwrap_or(source.len());
        let mutated = format!("{}{}{}", &source[..at], insert, &source[end..]);
        if let Err(error) = wgdeploy::core::inventory::parse(Path::new("fuzz.yaml"), &mutated) {
            // Whatever the damage, the words are wgdeploy's, not serde's or Rust's.
            let text = error.to_string();
            for words in ["deserialize", "Option<", "serde", "invalid type", "unknown field", "expected one of"] {
                prop_assert!(!text.contains(words), "{words:?} in\n{text}");
            }
            prop_assert!(!error.diagnostics().is_empty());
        }
    }
}

#[derive(Debug, Clone)]
struct Spec {
    relays: usize,
    public: usize,
    nat: Vec<(Option<usize>, bool)>,
    public_routes: Vec<bool>,
    relay_routes: Vec<bool>,
    dual_stack: bool,
    /// `exit: true` on r0 and on p0 (when there is a p0).
    exits: (bool, bool),
    /// Per NAT-ed host, then per public host: 0 no `use_exit`, 1 r0, 2 p0 (used only where the
    /// inventory allows it).
    use_exit: Vec<u8>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1usize..=4,
        0usize..=4,
        proptest::collection::vec((proptest::option::of(0usize..4), any::<bool>()), 0..=8),
        any::<bool>(),
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec(0u8..3, 12),
    )
        .prop_flat_map(|(relays, public, nat, dual_stack, exits, use_exit)| {
            (
                Just(relays),
                Just(public),
                Just(nat),
                proptest::collection::vec(any::<bool>(), public),
                proptest::collection::vec(any::<bool>(), relays),
                Just(dual_stack),
                Just(exits),
                Just(use_exit),
            )
        })
        .prop_map(
            |(relays, public, nat, public_routes, relay_routes, dual_stack, exits, use_exit)| {
                Spec {
                    relays,
                    public,
                    nat: nat
                        .into_iter()
                        .map(|(via, routes)| (via.map(|via| via % relays), routes))
                        .collect(),
                    public_routes,
                    relay_routes,
                    dual_stack,
                    exits,
                    use_exit,
                }
            },
        )
}

fn yaml(spec: &Spec) -> String {
    let mut text = String::from("network:\n  addresses: [100.64.0.0/24");
    if spec.dual_stack {
        text.push_str(", 'fd00:64::/64'");
    }
    text.push_str("]\nhosts:\n");
    let mut subnet = 0;
    let mut routes = |wanted: bool| {
        subnet += 1;
        if wanted {
            format!(", routes: [198.18.{subnet}.0/24]")
        } else {
            String::new()
        }
    };
    let (relay_exit, public_exit) = (spec.exits.0, spec.exits.1 && spec.public > 0);
    let exit_flag = |is_exit: bool| if is_exit { ", exit: true" } else { "" };
    // The `use_exit` of the host with choice `choice`: r0 unless a `via` homes it elsewhere, p0
    // unless it is p0 itself.
    let use_exit = |choice: u8, via: Option<usize>, is_p0: bool| match choice {
        1 if relay_exit && via.is_none_or(|relay| relay == 0) => ", use_exit: r0",
        2 if public_exit && !is_p0 => ", use_exit: p0",
        _ => "",
    };
    for relay in 0..spec.relays {
        text.push_str(&format!(
            "  r{relay}: {{ endpoint: 198.51.100.{}, relay: true{}{} }}\n",
            relay + 1,
            routes(spec.relay_routes[relay]),
            exit_flag(relay == 0 && relay_exit)
        ));
    }
    for public in 0..spec.public {
        let choice = spec.use_exit[(spec.nat.len() + public) % spec.use_exit.len()];
        let is_exit = public == 0 && public_exit;
        text.push_str(&format!(
            "  p{public}: {{ endpoint: 198.51.100.{}{}{}{} }}\n",
            public + 50,
            routes(spec.public_routes[public]),
            exit_flag(is_exit),
            if is_exit {
                ""
            } else {
                use_exit(choice, None, public == 0)
            }
        ));
    }
    for (index, (via, has_routes)) in spec.nat.iter().enumerate() {
        let choice = spec.use_exit[index % spec.use_exit.len()];
        let exit = use_exit(choice, *via, false);
        let via = via
            .map(|relay| format!(", via: r{relay}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  n{index}: {{ ssh: {{ host: 198.18.0.{} }}{via}{}{exit} }}\n",
            index + 1,
            routes(*has_routes)
        ));
    }
    text
}

fn deploy(spec: &Spec) -> Deployment {
    let inventory = wgdeploy::core::inventory::parse(Path::new("gen.yaml"), &yaml(spec))
        .expect("generated inventory is valid");
    wgdeploy::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap()
}

/// Renders the deployment exactly as `wgdeploy render` would, parses the files back, and runs
/// `check` on them with the inventory's facts.
fn check_rendered(deployment: &Deployment) -> (wgdeploy::check::Network, bool) {
    let mut state = wgdeploy::store::state::State::default();
    state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    );
    let renderer = wgdeploy::core::render::Renderer::new(None).unwrap();
    let input = wgdeploy::check::input::from_deployment(deployment, &state, &renderer).unwrap();
    let network = wgdeploy::check::Network::from_configs(&input.sets, &input.facts()).unwrap();
    let reachable = {
        let simulation = wgdeploy::check::Simulation::new(&network);
        wgdeploy::check::Report::run(&simulation).all_reachable()
    };
    (network, reachable)
}

/// The subnets `check --configs` infers from what `render` writes (no inventory facts).
fn inferred_subnets(deployment: &Deployment) -> Vec<(usize, IpNet)> {
    let mut state = wgdeploy::store::state::State::default();
    state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    );
    let renderer = wgdeploy::core::render::Renderer::new(None).unwrap();
    let input = wgdeploy::check::input::from_deployment(deployment, &state, &renderer).unwrap();
    let configs = wgdeploy::check::input::CheckInput::configs(input.sets, input.nat, Vec::new());
    let network = wgdeploy::check::Network::from_configs(&configs.sets, &configs.facts()).unwrap();
    network
        .places
        .iter()
        .filter_map(|place| match place.kind {
            wgdeploy::check::PlaceKind::Subnet(net) => Some((place.owner, net)),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The planner's invariant: `check` proves every ordered pair reachable, both ways, in every
    /// family, on exactly what `render` writes: hosts, and the subnets their `routes` put behind
    /// them (every subnet reaches every host and every other subnet).
    #[test]
    fn check_proves_every_pair_reachable_on_rendered_configs(spec in spec()) {
        let deployment = deploy(&spec);
        let (network, reachable) = check_rendered(&deployment);
        // Every route is a place of its own, tested with every host and every other subnet.
        let routes: Vec<(usize, IpNet)> = deployment.inventory.hosts.iter().enumerate()
            .flat_map(|(owner, host)| host.routes.iter().map(move |&net| (owner, net)))
            .collect();
        let subnets: Vec<(usize, IpNet)> = network.places.iter()
            .filter_map(|place| match place.kind {
                wgdeploy::check::PlaceKind::Subnet(net) => Some((place.owner, net)),
                _ => None,
            })
            .collect();
        prop_assert_eq!(subnets.len(), routes.len());
        for route in &routes {
            prop_assert!(subnets.contains(route));
        }
        // The same subnets, with the same owners, inferred from the configs alone.
        // (A lone host's routes are in nobody's AllowedIPs: nothing to infer them from.)
        if deployment.inventory.hosts.len() > 1 {
            prop_assert_eq!(&inferred_subnets(&deployment), &subnets);
        }
        {
            let simulation = wgdeploy::check::Simulation::new(&network);
            let report = wgdeploy::check::Report::run(&simulation);
            let hosts = network.nodes.len();
            // The internet places (exits) are tested only with the hosts using them.
            let is_subnet = |place: usize| {
                matches!(network.places[place].kind, wgdeploy::check::PlaceKind::Subnet(_))
            };
            for subnet in (hosts..network.places.len()).filter(|&place| is_subnet(place)) {
                for other in (0..network.places.len()).filter(|&place| place < hosts || is_subnet(place)) {
                    let same_owner = network.places[other].owner == network.places[subnet].owner;
                    prop_assert_eq!(report.tested(subnet, other), !same_owner);
                }
            }
            // Every host with `use_exit` is tested against the internet via its exit, both ways.
            for (user, host) in deployment.inventory.hosts.iter().enumerate() {
                let Some(exit) = host.use_exit else { continue };
                let internet = (hosts..network.places.len()).find(|&place| {
                    network.places[place].owner == exit
                        && matches!(network.places[place].kind, wgdeploy::check::PlaceKind::Internet { .. })
                });
                prop_assert!(internet.is_some(), "no internet place for the exit of {}", host.name);
                let internet = internet.unwrap();
                prop_assert!(report.tested(user, internet) && report.tested(internet, user));
            }
        }
        if !reachable {
            let simulation = wgdeploy::check::Simulation::new(&network);
            let report = wgdeploy::check::Report::run(&simulation);
            panic!("{}\n{}", wgdeploy::ui::check::human(&simulation, &report), yaml(&spec));
        }
    }

    #[test]
    fn structural_invariants_hold(spec in spec()) {
        let deployment = deploy(&spec);
        let hosts = &deployment.inventory.hosts;
        for (me, plan) in deployment.topology.hosts.iter().enumerate() {
            let mut seen: HashMap<IpNet, usize> = HashMap::new();
            for peer in &plan.peers {
                // NAT-ed hosts never list each other, nor a relay that is not their home.
                if hosts[me].is_nat() {
                    prop_assert!(!hosts[peer.host].is_nat());
                    if hosts[peer.host].is_relay() {
                        prop_assert_eq!(hosts[me].home.map(|home| home.relay), Some(peer.host));
                    }
                }
                // Peering is symmetric.
                prop_assert!(deployment.topology.hosts[peer.host].peers.iter().any(|back| back.host == me));
                // One owner per prefix on an interface (the kernel would silently keep the last).
                for allowed in &peer.allowed {
                    prop_assert!(seen.insert(allowed.net, peer.host).is_none(), "{} twice on {}", allowed.net, hosts[me].name);
                }
                // A default route only towards the host's own exit.
                for allowed in peer.allowed.iter().filter(|allowed| allowed.net.prefix_len() == 0) {
                    prop_assert_eq!(hosts[me].use_exit, Some(peer.host));
                    prop_assert_eq!(allowed.carries, wgdeploy::core::topology::Carries::Internet(peer.host));
                }
                // Keepalive only from NAT-ed hosts, and only towards peers they dial.
                if peer.keepalive.is_some() {
                    prop_assert!(hosts[me].is_nat() && peer.dial);
                }
            }
        }
    }

    /// Every host with `use_exit` sends its default routes to that exit.
    #[test]
    fn every_exit_user_reaches_its_exit(spec in spec()) {
        let deployment = deploy(&spec);
        let families = if spec.dual_stack { 2 } else { 1 };
        for (me, host) in deployment.inventory.hosts.iter().enumerate() {
            let Some(exit) = host.use_exit else { continue };
            prop_assert!(deployment.inventory.hosts[exit].exit);
            let entry = deployment.topology.hosts[me].peers.iter().find(|peer| peer.host == exit);
            prop_assert!(entry.is_some(), "{} does not list its exit", host.name);
            let defaults = entry.unwrap().allowed.iter().filter(|allowed| allowed.net.prefix_len() == 0).count();
            prop_assert_eq!(defaults, families);
        }
    }

    #[test]
    fn planning_is_deterministic(spec in spec()) {
        let first = deploy(&spec);
        let second = deploy(&spec);
        prop_assert_eq!(first.addresses, second.addresses);
        prop_assert_eq!(first.topology, second.topology);
    }
}
