//! Endpoints per address family (`core::underlay`): which endpoint each dialer gets, what `check`
//! says when a dialer lacks an endpoint's family (inventory and `--configs`), and the warnings on
//! endpoints that cannot be right.

mod common;

use common::{repo, stderr, stdout, wgdeploy};
use std::collections::HashMap;
use std::path::Path;
use wgdeploy::check::{Network, Problem, Report, Simulation, Verdict, Warning};

const EXAMPLE: &str = "examples/dual-stack/inventory.yaml";

/// Renders an inventory into `dir/out` (keys in `dir/state.json`); each host's config by name.
fn render(inventory: &str, dir: &Path) -> HashMap<String, String> {
    let out = dir.join("out");
    let output = wgdeploy(&[
        "render",
        inventory,
        "--out",
        out.to_str().unwrap(),
        "--state",
        dir.join("state.json").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(entry.path().join("wg0.conf")).unwrap();
            (name, text)
        })
        .collect()
}

/// The `Endpoint =` a config gives the peer named `peer`, if any.
fn endpoint_of(config: &str, peer: &str) -> Option<String> {
    let block = config
        .split("[Peer]")
        .find(|block| block.lines().any(|line| line == format!("# Name = {peer}")))?;
    block
        .lines()
        .find_map(|line| line.strip_prefix("Endpoint = "))
        .map(str::to_owned)
}

#[test]
fn each_dialer_gets_the_first_endpoint_of_a_family_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let configs = render(EXAMPLE, dir.path());
    let endpoint = |host: &str, peer: &str| endpoint_of(&configs[host], peer);
    // IPv4 NAT-ed hosts: the relay's IPv4 endpoint; web (IPv6 only) is not their peer at all.
    for nat in ["home", "office"] {
        assert_eq!(
            endpoint(nat, "relay1").as_deref(),
            Some("198.51.100.1:51820")
        );
        assert!(!configs[nat].contains("# Name = web"), "{}", configs[nat]);
    }
    // The dual-stack NAT-ed host: the relay's first endpoint (IPv4), web's only one (IPv6).
    assert_eq!(
        endpoint("laptop", "relay1").as_deref(),
        Some("198.51.100.1:51820")
    );
    assert_eq!(
        endpoint("laptop", "web").as_deref(),
        Some("[2001:db8::20]:51820")
    );
    // The IPv6-only host: the relay's IPv6 endpoint, and the relay dials it on IPv6.
    assert_eq!(
        endpoint("web", "relay1").as_deref(),
        Some("[2001:db8::1]:51820")
    );
    assert_eq!(
        endpoint("relay1", "web").as_deref(),
        Some("[2001:db8::20]:51820")
    );
    // web reaches home and office through the relay: its entry for relay1 carries them.
    assert!(
        configs["web"].contains("AllowedIPs = 100.64.0.1/32, fd00:64::1/128, 100.64.0.2/32"),
        "{}",
        configs["web"]
    );
}

#[test]
fn check_proves_the_example_and_the_configs_need_the_assumption_stated() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let output = wgdeploy(&["check", EXAMPLE, "--state", state.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    render(EXAMPLE, dir.path());
    let out = dir.path().join("out");
    // From the files alone, nobody lists an endpoint for laptop: IPv4 is assumed, and its IPv6
    // endpoint for web cannot be dialled.
    let assumed = wgdeploy(&["check", "--configs", out.to_str().unwrap()]);
    let text = stdout(&assumed);
    assert_eq!(assumed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("laptop lists web at Endpoint [2001:db8::20]:51820 (IPv6), but laptop has only IPv4 (assumed: nobody lists an IP endpoint for laptop; `--underlay laptop=ipv4,ipv6` states its families)"),
        "{text}"
    );
    assert!(
        text.contains("home, laptop, office: nobody lists an IP endpoint for them, so their own networks are assumed to have IPv4 only"),
        "{text}"
    );
    let stated = wgdeploy(&[
        "check",
        "--configs",
        out.to_str().unwrap(),
        "--underlay",
        "laptop=ipv4,ipv6",
    ]);
    assert_eq!(stated.status.code(), Some(0), "{}", stdout(&stated));
}

#[test]
fn underlay_is_only_for_configs_and_names_hosts_and_families_of_the_set() {
    let usage = wgdeploy(&["check", EXAMPLE, "--underlay", "web=ipv6"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        stderr(&usage).contains("`--underlay` does nothing without `--configs`"),
        "{}",
        stderr(&usage)
    );
    let family = wgdeploy(&[
        "check",
        "--configs",
        "inventories/configs/relay-layout",
        "--underlay",
        "home=ipx",
    ]);
    assert_eq!(family.status.code(), Some(2));
    assert!(
        stderr(&family).contains("`ipx` is not an address family"),
        "{}",
        stderr(&family)
    );
    let unknown = wgdeploy(&[
        "check",
        "--configs",
        "inventories/configs/relay-layout",
        "--underlay",
        "hom=ipv6",
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("`--underlay` names `hom`, which has no config in the set"),
        "{}",
        stderr(&unknown)
    );
}

/// The inventory's families reach `check`: a config that dials the relay's IPv6 endpoint from an
/// IPv4-only host is the case, a v4-only host told to dial a v6-only relay.
#[test]
fn check_with_an_inventorys_families_reports_an_endpoint_of_a_family_the_dialer_lacks() {
    let path = repo(EXAMPLE);
    let mut state = wgdeploy::store::state::State::default();
    let deployment =
        wgdeploy::core::pipeline::plan_inventory(&path, &state.remembered_addresses()).unwrap();
    state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    );
    let renderer = wgdeploy::core::render::Renderer::new(None).unwrap();
    let mut input =
        wgdeploy::check::input::from_deployment(&deployment, &state, &renderer).unwrap();
    let home = input
        .sets
        .iter()
        .position(|set| set.name == "home")
        .unwrap();
    for peer in &mut input.sets[home].config.peers {
        if peer.endpoint.as_deref() == Some("198.51.100.1:51820") {
            peer.endpoint = Some("[2001:db8::1]:51820".to_owned());
        }
    }
    let network = Network::from_configs(&input.sets, &input.facts()).unwrap();
    let relay = network
        .nodes
        .iter()
        .position(|node| node.name == "relay1")
        .unwrap();
    let simulation = Simulation::new(&network);
    let report = Report::run(&simulation);
    match report.pair(home, relay) {
        Verdict::Unreachable(Problem::EndpointFamily { at, .. }) => assert_eq!(at, home),
        other => panic!("{other:?}"),
    }
    let (rule, fix) = wgdeploy::ui::check::describe_problem(
        &simulation,
        &Problem::EndpointFamily {
            at: home,
            entry: 0,
            dst: "100.64.0.1".parse().unwrap(),
        },
        home,
        relay,
    );
    assert!(
        rule.contains("home lists relay1 at Endpoint [2001:db8::1]:51820 (IPv6), but home has only IPv4: it cannot send the handshake"),
        "{rule}"
    );
    assert!(fix.contains("give relay1 an endpoint of IPv4"), "{fix}");
}

#[test]
fn endpoints_that_cannot_be_right_are_warned_about_in_plans_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("i.yaml");
    std::fs::write(
        &inventory,
        "network: { addresses: [100.64.0.0/24, \"fd00:64::/64\"] }
hosts:
  relay1: { endpoint: [127.0.0.1, \"[::]:51820\"], relay: true }
  web: { endpoint: 100.64.0.200 }
  home: {}
",
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--state", state.to_str().unwrap()]);
        let output = wgdeploy(&all);
        assert!(!stdout(&output).is_empty(), "{}", stderr(&output));
        stdout(&output)
    };
    let inventory = inventory.to_str().unwrap();
    let loopback = "warning: endpoint `127.0.0.1:51820` of `relay1` is a loopback address";
    let unspecified = "warning: endpoint `[::]:51820` of `relay1` is the unspecified address";
    let overlay =
        "warning: endpoint `100.64.0.200:51820` of `web` is inside the overlay range 100.64.0.0/24";
    for form in [&["--verbose"][..], &["--summary"]] {
        let mut args = vec!["plan", inventory, "--offline"];
        args.extend(form);
        let plan = run(&args);
        for warning in [loopback, unspecified, overlay] {
            assert!(plan.contains(warning), "{form:?}: {warning}\n{plan}");
        }
    }
    let json: serde_json::Value =
        serde_json::from_str(&run(&["plan", inventory, "--offline", "--json"])).unwrap();
    assert_eq!(
        json["hosts"][0]["endpoints"],
        serde_json::json!(["127.0.0.1:51820", "[::]:51820"])
    );
    assert_eq!(
        json["hosts"][0]["underlay"],
        serde_json::json!(["ipv4", "ipv6"])
    );
    assert!(
        json["hosts"][1]["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with(overlay),
        "{json}"
    );
    // `check` sees the endpoints the configs dial (the relay's IPv4 one, web's).
    let check = run(&["check", inventory]);
    assert!(
        check.contains("endpoint `127.0.0.1:51820` of `relay1` is a loopback address")
            && check.contains("endpoint `100.64.0.200:51820` of `web` is inside the overlay"),
        "{check}"
    );
}

/// `--configs` sets: the families of a host come from the endpoints others list for it, and a
/// `DoubtfulEndpoint` names the host whose endpoint it is.
#[test]
fn families_are_inferred_from_the_endpoints_listed() {
    let dir = tempfile::tempdir().unwrap();
    render(EXAMPLE, dir.path());
    let sets = wgdeploy::check::input::from_dir(&dir.path().join("out")).unwrap();
    let network = Network::from_configs(&sets, &wgdeploy::check::Facts::default()).unwrap();
    let families = |name: &str| {
        let node = network.nodes.iter().find(|node| node.name == name).unwrap();
        (node.underlay.families.to_string(), node.underlay.assumed)
    };
    assert_eq!(families("relay1"), ("IPv4 and IPv6".to_owned(), false));
    assert_eq!(families("web"), ("IPv6".to_owned(), false));
    assert_eq!(families("home"), ("IPv4".to_owned(), true));
    assert!(
        network
            .notes
            .iter()
            .any(|note| matches!(note, Warning::AssumedIpv4 { hosts } if hosts.len() == 3)),
        "{:?}",
        network.notes
    );
}
