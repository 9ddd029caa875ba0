//! `wgdeploy render` and `wgdeploy plan --offline` on the examples, as a user runs them.

mod common;

use common::{fixed_state, mode, repo, stderr, stdout, wgdeploy};

const EXAMPLES: &[&str] = &[
    "nat-relay",
    "multi-relay",
    "site-to-site",
    "dual-stack",
    "pirate-example-full",
    "road-warriors",
    "exit-node",
];

fn render_example(example: &str, dir: &std::path::Path) -> Vec<(String, String)> {
    let inventory = repo(&format!("examples/{example}/inventory.yaml"));
    let state = fixed_state(&inventory, dir);
    let out = dir.join("out");
    let output = wgdeploy(&[
        "render",
        inventory.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut files: Vec<(String, String)> = std::fs::read_dir(&out)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_dir())
        .map(|entry| {
            let host = entry.unwrap().file_name().to_string_lossy().into_owned();
            let path = out.join(&host).join("wg0.conf");
            assert_eq!(mode(&path), 0o600, "{host}");
            assert_eq!(mode(&out.join(&host)), 0o700, "{host}");
            (host, std::fs::read_to_string(path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn rendered_configs_match_snapshots() {
    for example in EXAMPLES {
        let dir = tempfile::tempdir().unwrap();
        for (host, config) in render_example(example, dir.path()) {
            insta::assert_snapshot!(format!("{example}__{host}"), config);
        }
    }
}

#[test]
fn offline_plans_match_snapshots() {
    for example in EXAMPLES {
        let inventory = format!("examples/{example}/inventory.yaml");
        let output = wgdeploy(&[
            "plan",
            &inventory,
            "--offline",
            "--state",
            "/nonexistent/state.json",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        insta::assert_snapshot!(format!("plan__{example}"), stdout(&output));
    }
}

#[test]
fn offline_plan_json_explains_every_prefix() {
    let output = wgdeploy(&[
        "plan",
        "examples/nat-relay/inventory.yaml",
        "--offline",
        "--json",
        "--state",
        "/nonexistent/s.json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(plan["must_forward"], serde_json::json!(["relay1"]));
    let home = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["name"] == "home")
        .unwrap();
    let peers: Vec<&str> = home["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|peer| peer["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        peers,
        ["relay1", "web1"],
        "a NAT-ed host never lists another NAT-ed host"
    );
    let catch_all = &home["peers"][0]["allowed_ips"][0];
    assert_eq!(catch_all["prefix"], "100.64.0.0/24");
    assert_eq!(catch_all["carries"], "overlay");
    assert_eq!(catch_all["reaches"], serde_json::json!(["office"]));
    assert_eq!(home["peers"][0]["keepalive"], 25);
    assert_eq!(plan["peer_entries"], 10);
}

#[test]
fn rendering_is_byte_identical_and_leaves_unchanged_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = repo("examples/multi-relay/inventory.yaml");
    let state = dir.path().join("state.json");
    let out = dir.path().join("out");
    let args = [
        "render",
        inventory.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ];
    let first = wgdeploy(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("8 written, 0 unchanged"),
        "{}",
        stdout(&first)
    );
    assert_eq!(mode(&state), 0o600, "the state file holds private keys");
    let before: Vec<Vec<u8>> = ["laptop", "relay-us"]
        .iter()
        .map(|host| std::fs::read(out.join(host).join("wg0.conf")).unwrap())
        .collect();
    let state_before = std::fs::read(&state).unwrap();
    let second = wgdeploy(&args);
    assert!(
        stdout(&second).contains("0 written, 8 unchanged"),
        "{}",
        stdout(&second)
    );
    let after: Vec<Vec<u8>> = ["laptop", "relay-us"]
        .iter()
        .map(|host| std::fs::read(out.join(host).join("wg0.conf")).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        state_before,
        std::fs::read(&state).unwrap(),
        "keys are reused, not regenerated"
    );
}

#[test]
fn generated_keys_are_real_x25519_pairs() {
    // Each host's PublicKey in its peers' configs must be derived from its own PrivateKey.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let state = dir.path().join("state.json");
    let output = wgdeploy(&[
        "render",
        "examples/nat-relay/inventory.yaml",
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let read = |host: &str| std::fs::read_to_string(out.join(host).join("wg0.conf")).unwrap();
    let private = read("relay1")
        .lines()
        .find_map(|line| line.strip_prefix("PrivateKey = ").map(str::to_owned))
        .unwrap();
    let public = wgdeploy::core::keys::PrivateKey::from_base64(&private)
        .unwrap()
        .public_key()
        .to_base64();
    let home = read("home");
    assert!(
        home.contains(&format!("# Name = relay1\nPublicKey = {public}\n")),
        "{home}"
    );
}

#[test]
fn a_user_template_overrides_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("wg-quick.conf.j2"),
        "# custom {{ host }}\n{% for peer in peers %}{{ peer.name }}={{ peer.allowed_ips | join(\",\") }}\n{% endfor %}",
    )
    .unwrap();
    let out = dir.path().join("out");
    let state = dir.path().join("s.json");
    let args = [
        "render",
        "examples/nat-relay/inventory.yaml",
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--templates",
        templates.to_str().unwrap(),
    ];
    let output = wgdeploy(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(out.join("home/wg0.conf")).unwrap(),
        "# custom home\nrelay1=100.64.0.0/24\nweb1=100.64.0.2/32\n"
    );

    // Strict undefined: a misspelt variable is an error naming the template line, not an empty string.
    std::fs::write(
        templates.join("wg-quick.conf.j2"),
        "[Interface]\nAddress = {{ adresses }}\n",
    )
    .unwrap();
    let output = wgdeploy(&args);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("template error") && err.contains("wg-quick.conf.j2:2"),
        "{err}"
    );
    assert!(
        !err.contains("PrivateKey") && !err.contains("private_key"),
        "{err}"
    );
}

#[test]
fn state_with_loose_permissions_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = repo("examples/nat-relay/inventory.yaml");
    let state = fixed_state(&inventory, dir.path());
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let out = dir.path().join("out");
    let output = wgdeploy(&[
        "render",
        inventory.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("mode 0640") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn live_plan_refuses_unknown_hosts_before_connecting_to_any() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let output = wgdeploy(&[
        "plan",
        "examples/nat-relay/inventory.yaml",
        "--state",
        state.to_str().unwrap(),
        "--hosts",
        "web1,nosuch",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("`--hosts` names `nosuch`, which is not in the inventory"),
        "{text}"
    );
    assert!(
        text.contains("hosts are: `home`, `office`, `relay1`, `web1`"),
        "{text}"
    );
}

#[test]
fn preshared_keys_are_shared_per_direct_pair_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.yaml");
    let source = std::fs::read_to_string(repo("examples/nat-relay/inventory.yaml")).unwrap();
    std::fs::write(
        &inventory,
        source.replace(
            "  keepalive: 25\n",
            "  keepalive: 25\n  preshared_keys: true\n",
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let args = [
        "render",
        inventory.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let output = wgdeploy(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    // The default state file sits beside the inventory, 0600.
    assert_eq!(
        mode(&dir.path().join("inventory.wgdeploy-state.json")),
        0o600
    );
    let psk = |host: &str, peer: &str| -> Option<String> {
        let config = std::fs::read_to_string(out.join(host).join("wg0.conf")).unwrap();
        let block = config
            .split("[Peer]")
            .find(|block| block.contains(&format!("# Name = {peer}\n")))?;
        block
            .lines()
            .find_map(|line| line.strip_prefix("PresharedKey = ").map(str::to_owned))
    };
    let relay_home = psk("relay1", "home").expect("relay1 has a PSK for home");
    assert_eq!(
        psk("home", "relay1").as_deref(),
        Some(relay_home.as_str()),
        "both sides share one PSK"
    );
    assert_ne!(
        psk("relay1", "office"),
        Some(relay_home.clone()),
        "each pair has its own PSK"
    );
    assert_eq!(
        psk("home", "office"),
        None,
        "NAT-ed hosts are not peers, so they share no PSK"
    );
    let again = wgdeploy(&args);
    assert!(
        stdout(&again).contains("0 written, 4 unchanged"),
        "{}",
        stdout(&again)
    );
    // Secrets never reach the plan.
    let plan = wgdeploy(&["plan", inventory.to_str().unwrap(), "--offline", "--json"]);
    assert!(!stdout(&plan).contains(&relay_home));
}

/// Every per-host setting as the built-in template writes it: network defaults, a host's
/// overrides, its own hooks after the forwarding ones (and undone before them), extra AllowedIPs.
#[test]
fn rendered_settings_match_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("settings.yaml");
    std::fs::write(
        &inventory,
        "network:
  addresses: [100.64.0.0/24]
  dns: [1.1.1.1, corp.example]
  mtu: 1420
hosts:
  gateway:
    endpoint: 198.51.100.7
    relay: true
    mtu: 1380
    table: off
    fwmark: 0xca6c
    pre_up: [\"ip rule add from 198.18.50.0/24 table 100\"]
    post_up: [\"touch /run/wg-up\", \"echo up\"]
    pre_down: \"ip rule del from 198.18.50.0/24 table 100\"
    post_down: [\"rm -f /run/wg-up\"]
  laptop:
    keepalive: 10
    dns: 9.9.9.9
    table: 100
    allowed_ips: { gateway: [0.0.0.0/0] }
",
    )
    .unwrap();
    let state = fixed_state(&inventory, dir.path());
    let out = dir.path().join("out");
    let output = wgdeploy(&[
        "render",
        inventory.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    for host in ["gateway", "laptop"] {
        let config = std::fs::read_to_string(out.join(host).join("wg0.conf")).unwrap();
        assert!(!config.contains("SaveConfig"), "{config}");
        insta::assert_snapshot!(format!("settings__{host}"), config);
    }
}

/// An exit's own rules are set up before the user's `post_up` runs and taken down after the
/// user's `post_down`, so a user hook can rely on them; the user of the exit gets the /0.
#[test]
fn an_exits_rules_wrap_the_users_hooks_and_its_user_gets_the_default_route() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("exit.yaml");
    std::fs::write(
        &inventory,
        "network: { addresses: [100.64.0.0/24] }
hosts:
  web1:
    endpoint: 198.51.100.2
    exit: true
    post_up: \"logger exit up\"
    post_down: \"logger exit down\"
  laptop: { use_exit: web1 }
",
    )
    .unwrap();
    let state = fixed_state(&inventory, dir.path());
    let out = dir.path().join("out");
    let output = wgdeploy(&[
        "render",
        inventory.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let web1 = std::fs::read_to_string(out.join("web1/wg0.conf")).unwrap();
    let hooks = |key: &str| -> Vec<&str> {
        web1.lines()
            .filter_map(|line| line.strip_prefix(key))
            .collect()
    };
    let masquerade = "POSTROUTING -s 100.64.0.0/24 ! -o %i -j MASQUERADE";
    assert_eq!(
        hooks("PostUp = "),
        [
            "sysctl -q -w net.ipv4.ip_forward=1".to_owned(),
            "iptables -C FORWARD -i %i ! -o %i -s 100.64.0.0/24 -j ACCEPT 2>/dev/null || iptables -I FORWARD -i %i ! -o %i -s 100.64.0.0/24 -j ACCEPT".to_owned(),
            "iptables -C FORWARD ! -i %i -o %i -d 100.64.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null || iptables -I FORWARD ! -i %i -o %i -d 100.64.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".to_owned(),
            format!("iptables -t nat -C {masquerade} 2>/dev/null || iptables -t nat -A {masquerade}"),
            "logger exit up".to_owned(),
        ]
    );
    let down = hooks("PostDown = ");
    assert_eq!(down[0], "logger exit down");
    assert_eq!(
        down.last().copied(),
        Some(format!("iptables -t nat -D {masquerade} 2>/dev/null || true").as_str())
    );
    assert_eq!(down.len(), 4, "{web1}");
    let laptop = std::fs::read_to_string(out.join("laptop/wg0.conf")).unwrap();
    assert!(
        laptop.contains("AllowedIPs = 100.64.0.1/32, 0.0.0.0/0\n"),
        "{laptop}"
    );

    // The offline plan's JSON says what the /0 is for.
    let output = wgdeploy(&[
        "plan",
        inventory.to_str().unwrap(),
        "--offline",
        "--json",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let laptop = plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["name"] == "laptop")
        .unwrap();
    let internet = &laptop["peers"][0]["allowed_ips"][1];
    assert_eq!(internet["prefix"], "0.0.0.0/0");
    assert_eq!(internet["carries"], "internet");
    assert_eq!(internet["host"], "web1");
    assert_eq!(plan["must_forward"], serde_json::json!(["web1"]));
}

/// `SaveConfig = true` would make wg-quick save the running state over the file on `down`: a
/// template that writes it is refused, naming the template and the host.
#[test]
fn a_template_writing_save_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("wg-quick.conf.j2"),
        "[Interface]\nPrivateKey = {{ private_key }}\nsaveconfig=True\n",
    )
    .unwrap();
    let output = wgdeploy(&[
        "render",
        "examples/nat-relay/inventory.yaml",
        "--out",
        dir.path().join("out").to_str().unwrap(),
        "--state",
        dir.path().join("s.json").to_str().unwrap(),
        "--templates",
        templates.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("the template writes `SaveConfig = true`")
            && err.contains("wg-quick.conf.j2")
            && err.contains("remove `SaveConfig`"),
        "{err}"
    );
    assert!(
        !dir.path()
            .join("out")
            .join("relay1")
            .join("wg0.conf")
            .exists()
    );
}

/// The offline plan's JSON carries each host's settings and its warnings (an up-hook that nothing
/// takes down), and the human plan shows both.
#[test]
fn offline_plan_shows_settings_and_warns_about_an_unpaired_hook() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("i.yaml");
    std::fs::write(
        &inventory,
        "network: { addresses: [100.64.0.0/24], dns: 1.1.1.1 }
hosts:
  gw: { endpoint: 198.51.100.7, table: off, fwmark: 51820, post_up: \"iptables -I INPUT -p tcp --dport 22 -j DROP\" }
  laptop: { keepalive: 10, dns: [], allowed_ips: { gw: [198.18.60.0/24] } }
",
    )
    .unwrap();
    let plan = |json: bool| {
        let mut args = vec![
            "plan",
            inventory.to_str().unwrap(),
            "--offline",
            "--state",
            "/nonexistent/s.json",
        ];
        if json {
            args.push("--json");
        }
        let output = wgdeploy(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    let parsed: serde_json::Value = serde_json::from_str(&plan(true)).unwrap();
    let (gw, laptop) = (&parsed["hosts"][0], &parsed["hosts"][1]);
    assert_eq!(gw["settings"]["table"], "off");
    assert_eq!(gw["settings"]["fwmark"], "0xca6c");
    assert_eq!(gw["settings"]["dns"], serde_json::json!(["1.1.1.1"]));
    assert!(
        gw["warnings"][0]
            .as_str()
            .unwrap()
            .contains("`post_up` has no matching `pre_down`/`post_down`"),
        "{gw}"
    );
    assert_eq!(laptop["settings"]["keepalive"], 10);
    assert_eq!(laptop["settings"]["dns"], serde_json::json!([]));
    assert_eq!(laptop["warnings"], serde_json::json!([]));
    assert_eq!(laptop["peers"][0]["allowed_ips"][1]["carries"], "extra");
    let human = plan(false);
    assert!(human.contains("every host: DNS 1.1.1.1\n"), "{human}");
    assert!(
        human.contains("  settings: Table off, FwMark 0xca6c\n")
            && human.contains("  post_up: iptables -I INPUT -p tcp --dport 22 -j DROP\n")
            && human.contains("  warning: `post_up` has no matching")
            && human.contains("  settings: no DNS\n"),
        "{human}"
    );
}
