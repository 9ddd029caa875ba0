//! Messages a new user meets, run as the user runs them (issue 11, "Messages that mislead"): no
//! serde or Rust wording, no guesses that are not close, no 20 MB of echoed value, every problem of
//! a file at once, and JSON under `--json`.

mod common;

use common::{stderr, stdout, wgdeploy};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn plan_offline(path: &Path) -> (Option<i32>, String) {
    let output = wgdeploy(&["plan", path.to_str().unwrap(), "--offline"]);
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    (output.status.code(), stderr(&output))
}

/// Words of serde, Rust's Debug output or std that once reached users.
const NOT_FOR_USERS: &[&str] = &[
    "deserialize",
    "Option<",
    "serde",
    "expected one of",
    "invalid type",
    "unknown field",
    "budget breached",
    "Nodes {",
    "\\u{",
    "os error",
    "panicked",
];

fn assert_plain(text: &str) {
    for words in NOT_FOR_USERS {
        assert!(!text.contains(words), "{words:?} in\n{text}");
    }
}

#[test]
fn no_invalid_inventory_speaks_serde_or_rust() {
    for entry in std::fs::read_dir(common::repo("inventories/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let (code, err) = plan_offline(&path);
        assert_eq!(code, Some(1), "{}: {err}", path.display());
        assert_plain(&err);
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "null-key",
            "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  ~:\n",
        ),
        (
            "null-section-key",
            "network:\n  ~: 1\n  addresses: [100.64.0.0/24]\nhosts:\n  a:\n",
        ),
        (
            "list-key",
            "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  [a, b]: {}\n",
        ),
        (
            "hosts-list",
            "network:\n  addresses: [100.64.0.0/24]\nhosts: [a, b]\n",
        ),
        ("top-list", "- a\n- b\n"),
        (
            "host-scalar",
            "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  a: 5\n",
        ),
        (
            "ssh-scalar",
            "network:\n  addresses: [100.64.0.0/24]\ndefaults:\n  ssh: root\nhosts:\n  a:\n",
        ),
        (
            "address-map",
            "network:\n  addresses: {a: 1}\nhosts:\n  a:\n",
        ),
        (
            "nested-list",
            "network:\n  addresses: [[100.64.0.0/24]]\nhosts:\n  a:\n",
        ),
        ("two-documents", "network: {}\n---\nhosts: {}\n"),
        (
            "alias-unknown",
            "network:\n  addresses: *nope\nhosts:\n  a:\n",
        ),
        (
            "huge-number",
            "network:\n  addresses: [100.64.0.0/24]\n  port: 99999999999999999999999999999999999999999\nhosts:\n  a:\n",
        ),
        (
            "float-port",
            "network:\n  addresses: [100.64.0.0/24]\n  port: 1.5\nhosts:\n  a:\n",
        ),
    ] {
        let path = write(dir.path(), &format!("{name}.yaml"), text);
        let (code, err) = plan_offline(&path);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(err.contains("= help: "), "{name}: {err}");
        assert_plain(&err);
    }
}

#[test]
fn an_empty_host_name_is_not_blamed_on_the_host_above() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "i.yaml",
        "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  ~:\n    via: relay1\n",
    );
    let (code, err) = plan_offline(&path);
    assert_eq!(code, Some(1));
    assert!(err.contains("a host name is missing"), "{err}");
    assert!(err.contains("i.yaml:5:3"), "{err}");
    assert!(!err.contains("= host: relay1"), "{err}");
}

#[test]
fn did_you_mean_only_for_close_names_and_plain_words_for_missing_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "i.yaml",
        "network:\n  addresses: [100.64.0.0/24]\n  save_config: true\n  dns: 1.1.1.1\n  prot: 51820\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true, dns: 1.1.1.1, PostUp: x }\n  laptop: { mtu: 1400, interface: wg1, shh: { user: root } }\n  web: { endpoint: 198.51.100.2, post_up: x, colour: blue }\n",
    );
    let (code, err) = plan_offline(&path);
    assert_eq!(code, Some(1));
    // Settings wgdeploy has (`dns`, `mtu`, `post_up`) are not unknown keys anywhere.
    for key in ["`dns`", "`mtu`", "`post_up` in"] {
        assert!(!err.contains(&format!("unknown key {key}")), "{key}: {err}");
    }
    // `save_config` and a host's `interface` are not typos of anything: no guess, plain words.
    for key in ["`save_config` in `network`", "`interface` in host `laptop`"] {
        let block = err
            .split("\n\n")
            .find(|block| block.contains(key))
            .unwrap_or_else(|| panic!("{key} missing in\n{err}"));
        assert!(!block.contains("did you mean"), "{block}");
    }
    assert!(
        err.contains(
            "unknown key `save_config` in `network`: wgdeploy has no `save_config` setting\n"
        ) && err.contains("wgdeploy never writes `SaveConfig = true`"),
        "{err}"
    );
    assert!(
        err.contains(
            "unknown key `interface` in host `laptop`: wgdeploy has no per-host `interface` setting yet"
        ) && err.contains("`network.interface` names the interface on every host"),
        "{err}"
    );
    // wg-quick's name of a setting wgdeploy has leads to wgdeploy's name.
    assert!(
        err.contains("unknown key `PostUp` in host `relay1`")
            && err.contains("did you mean `post_up`?"),
        "{err}"
    );
    // Real typos still get their suggestion.
    assert!(
        err.contains("unknown key `prot` in `network`") && err.contains("did you mean `port`?"),
        "{err}"
    );
    assert!(
        err.contains("unknown key `shh` in host `laptop`") && err.contains("did you mean `ssh`?"),
        "{err}"
    );
    // Neither close nor known: the keys that exist, and no guess.
    assert!(
        err.contains("unknown key `colour` in host `web`; the keys there are endpoint, relay, address, via, routes, listen_port, ssh, dns, mtu"),
        "{err}"
    );
    assert!(err.ends_with("6 errors\n"), "{err}");
}

#[test]
fn unknown_keys_do_not_hide_the_other_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "i.yaml",
        "network:\n  addresses: [100.64.0.0/24]\n  colour: blue\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  laptop: { address: 1.2.3.4, via: rely1 }\n  phone: { listen_port: many }\n  web: { endpoint: 198.51.100.1 }\n",
    );
    let (code, err) = plan_offline(&path);
    assert_eq!(code, Some(1));
    let wanted = [
        "unknown key `colour` in `network`",
        "address `1.2.3.4` is outside the overlay",
        "`listen_port` must be a whole number, but YAML read the text `many`",
    ];
    for message in wanted {
        assert!(err.contains(message), "{message:?} missing in\n{err}");
    }
    // In file order.
    let positions: Vec<usize> = wanted.iter().map(|m| err.find(m).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{err}");
    assert!(err.ends_with("3 errors\n"), "{err}");

    // With only unknown keys wrong, the rules across hosts still run.
    let path = write(
        dir.path(),
        "j.yaml",
        "network:\n  addresses: [100.64.0.0/24]\n  colour: blue\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web: { endpoint: 198.51.100.1 }\n",
    );
    let (_, err) = plan_offline(&path);
    assert!(
        err.contains("unknown key `colour`") && err.contains("share the endpoint"),
        "{err}"
    );
}

#[test]
fn a_typo_of_a_key_does_not_cascade() {
    let dir = tempfile::tempdir().unwrap();
    // Without `endpoint` (misspelt), relay1 would also be "a relay without an endpoint".
    let path = write(
        dir.path(),
        "i.yaml",
        "network:\n  adresses: [100.64.0.0/24]\nhosts:\n  relay1: { endpiont: 198.51.100.1, relay: true }\n  laptop:\n",
    );
    let (code, err) = plan_offline(&path);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("did you mean `addresses`?") && err.contains("did you mean `endpoint`?"),
        "{err}"
    );
    assert!(
        !err.contains("has no `endpoint`") && !err.contains("is missing"),
        "{err}"
    );
    assert!(err.ends_with("2 errors\n"), "{err}");
}

#[test]
fn a_huge_value_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MB is enough to show the point (an error of bounded size) and keeps the test fast.
    let big = "a".repeat(1024 * 1024);
    for (name, text) in [
        (
            "endpoint",
            format!(
                "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  relay1: {{ endpoint: {big}, relay: true }}\n"
            ),
        ),
        (
            "interface",
            format!("network:\n  addresses: [100.64.0.0/24]\n  interface: {big}\nhosts:\n  a:\n"),
        ),
        (
            "port",
            format!("network:\n  addresses: [100.64.0.0/24]\n  port: {big}\nhosts:\n  a:\n"),
        ),
        (
            "key",
            format!("network:\n  addresses: [100.64.0.0/24]\n  {big}x: 1\nhosts:\n  a:\n"),
        ),
        (
            "via",
            format!(
                "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  r: {{ endpoint: 198.51.100.1, relay: true }}\n  a: {{ via: \"{big}\" }}\n"
            ),
        ),
        (
            "user",
            format!(
                "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  a: {{ ssh: {{ user: \"{big}\" }} }}\n"
            ),
        ),
        (
            "cidr",
            format!("network:\n  addresses: [\"{big}\"]\nhosts:\n  a:\n"),
        ),
    ] {
        let path = write(dir.path(), &format!("{name}.yaml"), &text);
        let (code, err) = plan_offline(&path);
        assert_eq!(code, Some(1), "{name}");
        assert!(
            err.len() < 4096,
            "{name}: {} bytes on stderr:\n{}",
            err.len(),
            &err[..4096.min(err.len())]
        );
        assert!(err.contains('…'), "{name}: {err}");
    }
}

#[test]
fn a_too_large_inventory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("network:\n  addresses: [100.64.0.0/8]\nhosts:\n");
    for index in 0..130_000 {
        text.push_str(&format!("  h{index}:\n"));
    }
    let path = write(dir.path(), "big.yaml", &text);
    let (code, err) = plan_offline(&path);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("the inventory is too large: wgdeploy reads at most 250,000 YAML nodes"),
        "{err}"
    );
    assert!(err.contains("split the fleet"), "{err}");
    assert!(!err.contains("= host:"), "{err}");
    assert_plain(&err);
}

#[test]
fn under_json_errors_are_one_json_document_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "i.yaml",
        "network:\n  addresses: [100.64.0.0/24]\n  save_config: true\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  laptop: { address: 1.2.3.4 }\n",
    );
    let path = path.to_str().unwrap();
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    for args in [
        vec!["check", path, "--json"],
        vec!["plan", path, "--offline", "--json", "--state", state],
        vec!["plan", path, "--json", "--state", state],
        vec!["status", path, "--json", "--state", state],
    ] {
        let output = wgdeploy(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stderr.is_empty(), "{args:?}: {}", stderr(&output));
        let document: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{args:?}: {err}: {}", stdout(&output)));
        let errors = document["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 2, "{args:?}: {document}");
        assert_eq!(
            errors[0],
            serde_json::json!({
                "message": "unknown key `save_config` in `network`: wgdeploy has no `save_config` setting",
                "file": path,
                "line": 3,
                "column": 3,
                "host": null,
                "help": errors[0]["help"],
            }),
            "{args:?}"
        );
        assert!(errors[0]["help"].as_str().unwrap().contains("SaveConfig"));
        assert_eq!(errors[1]["host"], "laptop", "{args:?}");
        assert_eq!(
            (errors[1]["line"].as_u64(), errors[1]["column"].as_u64()),
            (Some(6), Some(22))
        );
        assert!(!std::path::Path::new(state).exists(), "nothing written");
    }
    // A failure without a position (a missing file) is JSON too.
    let output = wgdeploy(&["check", "inventories/does-not-exist.yaml", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = &document["errors"][0];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read inventory")
    );
    assert_eq!(error["line"], serde_json::Value::Null);
    assert_plain(&document.to_string());
    // Without --json the errors stay text on stderr.
    let output = wgdeploy(&["check", path]);
    assert!(output.stdout.is_empty() && stderr(&output).starts_with("error: "));
}
