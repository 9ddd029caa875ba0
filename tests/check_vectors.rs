//! `check` on real-world config sets (inventories/configs): the relay layout wgdeploy renders, and
//! the two forms of the widely shared proposal where NAT-ed hosts list each other.

mod common;

use common::{stderr, stdout, wgdeploy};
use serde_json::Value;

fn check_json(set: &str) -> (Option<i32>, Value) {
    let dir = format!("inventories/configs/{set}");
    let output = wgdeploy(&["check", "--configs", &dir, "--nat", "home,office", "--json"]);
    let json = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|err| panic!("{err}: {}", stderr(&output)));
    (output.status.code(), json)
}

fn verdicts(json: &Value) -> Vec<(String, String, String)> {
    json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair["from"].as_str().unwrap().into(),
                pair["to"].as_str().unwrap().into(),
                pair["verdict"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn pair<'a>(json: &'a Value, from: &str, to: &str) -> &'a Value {
    json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair["from"] == from && pair["to"] == to)
        .unwrap()
}

#[test]
fn the_relay_layout_reaches_everything() {
    let (code, json) = check_json("relay-layout");
    assert_eq!(code, Some(0));
    assert_eq!(json["all_reachable"], true);
    let all = verdicts(&json);
    assert_eq!(all.len(), 12);
    assert!(
        all.iter().all(|(_, _, verdict)| verdict == "reachable"),
        "{all:?}"
    );
    assert_eq!(json["must_forward"], serde_json::json!(["relay1"]));
}

#[test]
fn nat_hosts_listing_each_other_without_endpoint_cannot_talk() {
    let (code, json) = check_json("proposal-no-endpoint");
    assert_eq!(code, Some(1));
    let failing: Vec<_> = verdicts(&json)
        .into_iter()
        .filter(|(_, _, verdict)| verdict != "reachable")
        .collect();
    assert_eq!(
        failing,
        [
            ("home".into(), "office".into(), "unreachable".into()),
            ("office".into(), "home".into(), "unreachable".into())
        ]
    );
    let home_office = pair(&json, "home", "office");
    assert_eq!(home_office["leg"], "request");
    assert_eq!(
        home_office["rule"],
        "home lists office (100.64.0.4/32) with no endpoint and office never initiates to home: nobody can start the tunnel"
    );
    assert_eq!(
        home_office["fix"],
        "remove office from home's peers; traffic then goes through relay1"
    );
}

#[test]
fn nat_hosts_listing_each_other_at_the_relay_endpoint_cannot_talk() {
    let (code, json) = check_json("proposal-relay-endpoint");
    assert_eq!(code, Some(1));
    let failing: Vec<_> = verdicts(&json)
        .into_iter()
        .filter(|(_, _, verdict)| verdict != "reachable")
        .collect();
    assert_eq!(failing.len(), 2, "{failing:?}");
    let office_home = pair(&json, "office", "home");
    assert_eq!(
        office_home["rule"],
        "office lists home with Endpoint 198.51.100.1:51820, which is relay1's endpoint: the handshake for home's key lands on relay1, which drops it"
    );
    assert_eq!(
        office_home["fix"],
        "remove home from office's peers; traffic then goes through relay1"
    );
}

#[test]
fn the_human_report_draws_the_matrix_and_explains_failures() {
    let output = wgdeploy(&[
        "check",
        "--configs",
        "inventories/configs/proposal-no-endpoint",
        "--nat",
        "home,office",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "check: 4 hosts, 12 ordered pairs: 10 reachable, 0 conditional, 2 unreachable\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  home       ·     ✗       ✓       ✓"),
        "{text}"
    );
    assert!(text.contains("✗ home → office (request fails)\n    path tried: home (stops at home)\n    rule: home lists office"), "{text}");
    assert!(
        stderr(&output).is_empty(),
        "the verdict is the output; no error is added: {}",
        stderr(&output)
    );
    // No key material, ever.
    for file in ["home", "office", "relay1", "web1"] {
        let config = std::fs::read_to_string(format!(
            "inventories/configs/proposal-no-endpoint/{file}.conf"
        ))
        .unwrap();
        let private = config
            .lines()
            .find_map(|line| line.strip_prefix("PrivateKey = "))
            .unwrap();
        assert!(!text.contains(private));
    }
}

#[test]
fn check_accepts_render_output_layout_and_inventories() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let state = dir.path().join("s.json");
    let rendered = wgdeploy(&[
        "render",
        "examples/site-to-site/inventory.yaml",
        "--out",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(rendered.status.success());
    let from_dir = wgdeploy(&[
        "check",
        "--configs",
        out.to_str().unwrap(),
        "--nat",
        "office-paris,office-berlin,office-madrid,laptop-ana,laptop-ben,laptop-cleo,laptop-dan,laptop-eve",
    ]);
    assert_eq!(from_dir.status.code(), Some(0), "{}", stdout(&from_dir));
    for example in ["nat-relay", "multi-relay", "site-to-site", "dual-stack"] {
        let output = wgdeploy(&[
            "check",
            &format!("examples/{example}/inventory.yaml"),
            "--state",
            state.to_str().unwrap(),
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{example}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        assert!(stdout(&output).contains("every host reaches every other host, both ways."));
    }
}

#[test]
fn bad_check_input_is_a_clear_error() {
    let output = wgdeploy(&[
        "check",
        "--configs",
        "inventories/configs/relay-layout",
        "--nat",
        "hom",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("`--nat` names `hom`"),
        "{}",
        stderr(&output)
    );
    let output = wgdeploy(&[
        "check",
        "--configs",
        "inventories/configs/relay-layout",
        "--forwards",
        "relay2",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("`--forwards` names `relay2`, which has no config in the set"),
        "{}",
        stderr(&output)
    );
    let output = wgdeploy(&["check", "--configs", "inventories/invalid"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("holds no wg-quick configs"),
        "{}",
        stderr(&output)
    );
    let output = wgdeploy(&["check"]);
    assert_eq!(output.status.code(), Some(2), "usage error");
}

/// `wg` reads key names in any case, so `privatekey=` is as secret as `PrivateKey = `: no key text
/// is printed, whatever the case or spacing, in the report, in `--json`, or in an error's snippet.
#[test]
fn keys_written_in_any_case_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let psk = common::fixed_key("preshared");
    let mut secrets = vec![psk.clone()];
    for (file, spelling) in [
        ("home", "privatekey="),
        ("office", "PRIVATEKEY = "),
        ("relay1", "Privatekey ="),
        ("web1", "PrivateKey = "),
    ] {
        let config =
            std::fs::read_to_string(format!("inventories/configs/relay-layout/{file}.conf"))
                .unwrap();
        let private = config
            .lines()
            .find_map(|line| line.strip_prefix("PrivateKey = "))
            .unwrap()
            .to_owned();
        let config = config
            .replace(
                &format!("PrivateKey = {private}"),
                &format!("{spelling}{private}"),
            )
            .replace("[Peer]\n", &format!("[Peer]\nPRESHAREDKEY={psk}\n"));
        secrets.push(private);
        std::fs::write(dir.path().join(format!("{file}.conf")), config).unwrap();
    }
    let configs = dir.path().to_str().unwrap();
    let no_secret = |output: &std::process::Output, what: &str| {
        let text = format!("{}{}", stdout(output), stderr(output));
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{what} printed a key:\n{text}"
            );
        }
    };
    for json in [false, true] {
        let mut args = vec!["check", "--configs", configs, "--nat", "home,office"];
        if json {
            args.push("--json");
        }
        let output = wgdeploy(&args);
        // Read as the keys they are: the set checks as the relay layout does.
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        no_secret(&output, "check");
    }
    // Broken lines: a misspelt key name and a key that does not decode still hide their value.
    let home = dir.path().join("home.conf");
    let text = std::fs::read_to_string(&home).unwrap();
    let text = text
        .replace("privatekey=", "privatekeyy=")
        .replace("PRESHAREDKEY=", "presharedKey:");
    std::fs::write(&home, text).unwrap();
    let office = dir.path().join("office.conf");
    let text = std::fs::read_to_string(&office).unwrap();
    std::fs::write(&office, text.replace("PRIVATEKEY = ", "PRIVATEKEY = x")).unwrap();
    for json in [false, true] {
        let mut args = vec!["check", "--configs", configs];
        if json {
            args.push("--json");
        }
        let output = wgdeploy(&args);
        assert_eq!(output.status.code(), Some(1));
        if json {
            // Under --json the errors are the JSON document (positions, no source lines).
            let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            let errors = document["errors"].as_array().unwrap();
            assert!(
                errors.iter().any(|error| error["file"]
                    .as_str()
                    .is_some_and(|file| file.ends_with("home.conf"))
                    && error["line"] == 4
                    && error["column"] == 1),
                "{document}"
            );
            assert!(
                errors
                    .iter()
                    .any(|error| error["message"] == "`PrivateKey` is not a base64 32-byte key"),
                "{document}"
            );
        } else {
            let err = stderr(&output);
            assert!(err.contains("home.conf:4:1"), "{err}");
            assert!(err.contains("privatekeyy = (redacted)"), "{err}");
            assert!(
                err.contains("`PrivateKey` is not a base64 32-byte key"),
                "{err}"
            );
        }
        no_secret(&output, "check on broken files");
    }
}

/// pirate/wireguard-docs' example-full as its configs are written (overlay moved to
/// 100.64.44.0/24, fixed test keys): the bounce server forwards thanks to its setup.sh's sysctl,
/// which no config shows. `check` can only make it a condition, until `--forwards` says so.
#[test]
fn forwarding_enabled_outside_the_configs_is_given_with_forwards() {
    let dir = tempfile::tempdir().unwrap();
    let key = |name: &str| common::fixed_key(name);
    let public = |name: &str| {
        wgdeploy::core::keys::PrivateKey::from_base64(&key(name))
            .unwrap()
            .public_key()
            .to_base64()
    };
    let bounce = |name: &str, address: &str, listen: bool| {
        format!(
            "[Interface]\nAddress = 100.64.44.{address}/32\n{}PrivateKey = {}\nDNS = 1.1.1.1\n\n\
             [Peer]\nEndpoint = 198.51.100.1:51820\nPublicKey = {}\n\
             AllowedIPs = 100.64.44.1/24\nPersistentKeepalive = 25\n",
            if listen { "ListenPort = 51820\n" } else { "" },
            key(name),
            public("public-server1")
        )
    };
    let server1 = format!(
        "[Interface]\nAddress = 100.64.44.1/24\nListenPort = 51820\nPrivateKey = {}\nDNS = 1.1.1.1\n\n\
         [Peer]\nEndpoint = 198.51.100.2:51820\nPublicKey = {}\nAllowedIPs = 100.64.44.2/32\n\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = 100.64.44.3/32\n\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = 100.64.44.4/32\n\n\
         [Peer]\nPublicKey = {}\nAllowedIPs = 100.64.44.5/32\n",
        key("public-server1"),
        public("public-server2"),
        public("home-server"),
        public("laptop"),
        public("phone")
    );
    for (name, text) in [
        ("public-server1", server1),
        ("public-server2", bounce("public-server2", "2", true)),
        ("home-server", bounce("home-server", "3", true)),
        ("laptop", bounce("laptop", "4", false)),
        ("phone", bounce("phone", "5", false)),
    ] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("wg0.conf"), text).unwrap();
    }
    let configs = dir.path().to_str().unwrap();
    let output = wgdeploy(&["check", "--configs", configs, "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["summary"]["unreachable"], 0, "{json:#}");
    assert!(json["summary"]["conditional"].as_u64().unwrap() > 0);
    let conditional = pair(&json, "laptop", "phone");
    assert!(
        conditional["rule"]
            .as_str()
            .unwrap()
            .contains("public-server1 must forward"),
        "{conditional:#}"
    );
    let output = wgdeploy(&[
        "check",
        "--configs",
        configs,
        "--forwards",
        "public-server1",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("every host reaches every other host, both ways."),
        "{text}"
    );
    assert!(
        text.contains("public-server1 must forward (it does: named by `--forwards`)"),
        "{text}"
    );
}

/// The offices example: every host, every office LAN, every pair of LANs, both ways; the JSON
/// names each subnet with its owner and the address tested in it.
#[test]
fn the_offices_example_proves_every_lan_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    let output = wgdeploy(&[
        "check",
        "examples/site-to-site/inventory.yaml",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["all_reachable"], true);
    let subnets: Vec<(String, String, String)> = json["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|subnet| {
            (
                subnet["prefix"].as_str().unwrap().into(),
                subnet["owner"].as_str().unwrap().into(),
                subnet["address"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("198.18.10.0/24", "office-paris", "198.18.10.1"),
        ("198.18.20.0/24", "office-berlin", "198.18.20.1"),
        ("198.18.30.0/24", "office-madrid", "198.18.30.1"),
        ("198.18.31.0/24", "office-madrid", "198.18.31.1"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(subnets, expected);
    let hosts: Vec<&str> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|host| host.as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 10);
    let all = verdicts(&json);
    let owner = |place: &str| {
        expected
            .iter()
            .find(|(prefix, _, _)| prefix == place)
            .map_or(place.to_owned(), |(_, owner, _)| owner.clone())
    };
    // Every subnet with every host but its own, and with every subnet of another office.
    for (prefix, own, _) in &expected {
        for other in hosts
            .iter()
            .map(|host| host.to_string())
            .chain(expected.iter().map(|s| s.0.clone()))
        {
            if owner(&other) == *own {
                continue;
            }
            for (from, to) in [
                (prefix.clone(), other.clone()),
                (other.clone(), prefix.clone()),
            ] {
                assert!(
                    all.iter()
                        .any(|(f, t, verdict)| *f == from && *t == to && verdict == "reachable"),
                    "{from} → {to} missing or not reachable"
                );
            }
        }
    }
    // 10 hosts: 90 host pairs; 4 subnets: 9 hosts each, and 10 ordered subnet pairs across offices.
    assert_eq!(json["summary"]["host_pairs"], 90);
    assert_eq!(json["summary"]["place_pairs"], 2 * 4 * 9 + 10);
    assert_eq!(all.len(), 90 + 2 * 4 * 9 + 10);
}

/// Beyond the grid's size, the grid shows the hosts and each subnet gets a line of its counts.
#[test]
fn subnets_beyond_the_grid_get_a_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from(
        "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  r1: { endpoint: 198.51.100.1, relay: true }\n",
    );
    for site in 1..=30 {
        yaml.push_str(&format!(
            "  h{site}: {{ via: r1, routes: [198.18.{site}.0/24] }}\n"
        ));
    }
    let inventory = dir.path().join("inventory.yaml");
    std::fs::write(&inventory, yaml).unwrap();
    let state = dir.path().join("s.json");
    let output = wgdeploy(&[
        "check",
        inventory.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("check: 31 hosts, 30 subnets, 3600 ordered pairs (930 between hosts, 2670 with a subnet): 3600 reachable"),
        "{text}"
    );
    let header = text
        .lines()
        .find(|line| line.contains("from \\ to"))
        .unwrap();
    assert!(header.ends_with("h30"), "{header}");
    // 30 other hosts and 29 other subnets, both ways.
    assert!(
        text.contains("  subnet 198.18.7.0/24 behind h7: 118 ordered pairs: 118 reachable, 0 conditional, 0 unreachable"),
        "{text}"
    );
}
