//! Mutation tests: breaking one peer entry of a correct rendered set must make `check` fail on
//! exactly the pairs that lose their path, and no others.

use std::collections::BTreeSet;
use wgdeploy::check::{ConfigSet, Facts, Network, Report, Simulation, Verdict};

fn rendered(example: &str) -> (Vec<ConfigSet>, Vec<String>, Option<Vec<bool>>) {
    let input = rendered_input(example);
    (input.sets, input.nat, input.forwarding)
}

fn rendered_input(example: &str) -> wgdeploy::check::input::CheckInput {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("examples/{example}/inventory.yaml"));
    let mut state = wgdeploy::store::state::State::default();
    let deployment =
        wgdeploy::core::pipeline::plan_inventory(&path, &state.remembered_addresses()).unwrap();
    state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    );
    let renderer = wgdeploy::core::render::Renderer::new(None).unwrap();
    wgdeploy::check::input::from_deployment(&deployment, &state, &renderer).unwrap()
}

/// Unordered pairs `check` does not find plainly reachable.
fn failing(
    sets: &[ConfigSet],
    nat: &[String],
    forwarding: &Option<Vec<bool>>,
) -> BTreeSet<(String, String)> {
    let network = Network::from_configs(
        sets,
        &Facts {
            nat,
            forwarding: forwarding.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let simulation = Simulation::new(&network);
    let report = Report::run(&simulation);
    let mut pairs = BTreeSet::new();
    for from in 0..report.hosts {
        for to in 0..report.hosts {
            if from != to && report.pair(from, to) != Verdict::Reachable {
                let (a, b) = (&network.nodes[from].name, &network.nodes[to].name);
                pairs.insert(if a < b {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                });
            }
        }
    }
    pairs
}

fn set_mut<'a>(sets: &'a mut [ConfigSet], host: &str) -> &'a mut ConfigSet {
    sets.iter_mut().find(|set| set.name == host).unwrap()
}

fn remove_peer(sets: &mut [ConfigSet], host: &str, peer: &str) {
    let config = &mut set_mut(sets, host).config;
    let before = config.peers.len();
    config
        .peers
        .retain(|entry| entry.name.as_deref() != Some(peer));
    assert_eq!(config.peers.len(), before - 1, "{host} lists {peer}");
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(a, b)| {
            if a < b {
                (a.to_string(), b.to_string())
            } else {
                (b.to_string(), a.to_string())
            }
        })
        .collect()
}

#[test]
fn the_unmutated_set_is_fully_reachable() {
    let (sets, nat, forwarding) = rendered("nat-relay");
    assert!(failing(&sets, &nat, &forwarding).is_empty());
}

#[test]
fn the_relay_forgetting_a_homed_host_cuts_it_off_from_everyone_but_direct_peers() {
    let (mut sets, nat, forwarding) = rendered("nat-relay");
    remove_peer(&mut sets, "relay1", "home");
    // home still reaches web1 directly; everything through relay1 is gone.
    assert_eq!(
        failing(&sets, &nat, &forwarding),
        pairs(&[("home", "relay1"), ("home", "office")])
    );
}

#[test]
fn a_nat_host_forgetting_a_public_peer_breaks_exactly_that_pair() {
    let (mut sets, nat, forwarding) = rendered("nat-relay");
    remove_peer(&mut sets, "home", "web1");
    // home's traffic for web1 now takes the relay's catch-all and arrives at web1 from relay1 with
    // home's source, which web1 attributes to its direct entry for home: dropped.
    assert_eq!(
        failing(&sets, &nat, &forwarding),
        pairs(&[("home", "web1")])
    );
}

#[test]
fn corrupting_allowed_ips_breaks_exactly_that_pair() {
    let (mut sets, nat, forwarding) = rendered("nat-relay");
    let web1 = &mut set_mut(&mut sets, "web1").config;
    let entry = web1
        .peers
        .iter_mut()
        .find(|entry| entry.name.as_deref() == Some("relay1"))
        .unwrap();
    entry.allowed_ips[0].net = "100.64.0.99/32".parse().unwrap();
    assert_eq!(
        failing(&sets, &nat, &forwarding),
        pairs(&[("relay1", "web1")])
    );
}

#[test]
fn a_relay_losing_its_mesh_entry_strands_the_other_relays_homed_hosts() {
    let (mut sets, nat, forwarding) = rendered("multi-relay");
    remove_peer(&mut sets, "relay-eu", "relay-us");
    // relay-eu and its homed hosts (laptop, nas, camera) lose relay-us and everything homed there
    // (phone, printer); relay-us also rejects relay-eu's handshake now (one-sided).
    let eu = ["relay-eu", "laptop", "nas", "camera"];
    let us = ["relay-us", "phone", "printer"];
    let expected: Vec<(&str, &str)> = eu
        .iter()
        .flat_map(|a| us.iter().map(move |b| (*a, *b)))
        .collect();
    assert_eq!(failing(&sets, &nat, &forwarding), pairs(&expected));
}

#[test]
fn removing_any_single_entry_breaks_at_least_its_own_pair() {
    let (sets, nat, forwarding) = rendered("multi-relay");
    for (host_index, set) in sets.iter().enumerate() {
        for peer in &set.config.peers {
            let mut mutated = sets.clone();
            mutated[host_index]
                .config
                .peers
                .retain(|entry| entry.public_key != peer.public_key);
            let broken = failing(&mutated, &nat, &forwarding);
            let name = peer.name.clone().unwrap();
            let own = if set.name < name {
                (set.name.clone(), name.clone())
            } else {
                (name.clone(), set.name.clone())
            };
            assert!(
                broken.contains(&own),
                "removing {name} from {} left {own:?} reachable: {broken:?}",
                set.name
            );
        }
    }
}
