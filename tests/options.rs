//! Every option works on the command it is given to, or is refused there (exit 2, naming the
//! option and what to do instead): none is silently ignored. And `plan --offline` on a large fleet:
//! one line per host, details for the hosts asked for.

mod common;

use common::{repo, stderr, stdout, wgdeploy};
use std::path::{Path, PathBuf};

const NAT_RELAY: &str = "examples/nat-relay/inventory.yaml";
const NO_STATE: &str = "/nonexistent/state.json";

/// An inventory of 3 relays and 297 hosts behind NAT (`nat001`…`nat297`, homed by hash).
fn fleet_of_300(dir: &Path) -> PathBuf {
    let mut yaml = String::from("network:\n  addresses: [100.64.0.0/22]\nhosts:\n");
    for relay in 1..=3 {
        yaml.push_str(&format!(
            "  relay{relay}:\n    endpoint: 198.51.100.{relay}\n    relay: true\n"
        ));
    }
    for nat in 1..=297 {
        yaml.push_str(&format!("  nat{nat:03}: {{}}\n"));
    }
    let path = dir.join("fleet.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn plan_offline(inventory: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "plan",
        inventory.to_str().unwrap(),
        "--offline",
        "--state",
        NO_STATE,
    ];
    args.extend_from_slice(extra);
    wgdeploy(&args)
}

/// The host names that start a host's block in the detailed offline plan (`NAME  ADDRESS  relay,
/// endpoint …` or `…  behind NAT, home relay …`; a summary row has no such phrase).
fn detailed_hosts(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.contains("  100.64.") && !line.starts_with(' '))
        .filter(|line| line.contains(", endpoint ") || line.contains("  behind NAT, "))
        .map(|line| line.split_whitespace().next().unwrap())
        .collect()
}

#[test]
fn offline_hosts_shows_only_those_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_of_300(dir.path());
    let output = plan_offline(&fleet, &["--hosts", "nat005,relay2"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    // In inventory order, in full: each with its peers and AllowedIPs.
    assert_eq!(detailed_hosts(&text), ["relay2", "nat005"], "{text}");
    assert!(text.contains("home relay, dials 198.51.100."), "{text}");
    assert!(
        text.contains("Shown: 2 of 300 hosts (`--hosts`)."),
        "{text}"
    );
    assert!(text.contains("300 hosts, "), "{text}");
    // relay2's block lists its homed hosts, so it is long; nothing else is there.
    assert!(!text.contains("\nnat006  "), "{text}");
    assert!(text.lines().count() < 400, "{} lines", text.lines().count());
}

#[test]
fn offline_hosts_json_has_only_those_hosts_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_of_300(dir.path());
    let output = plan_offline(&fleet, &["--hosts", "nat005", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let hosts = plan["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["name"], "nat005");
    assert!(hosts[0]["peers"][0]["allowed_ips"].as_array().is_some());
    // The totals stay the fleet's.
    assert_eq!(
        plan["must_forward"],
        serde_json::json!(["relay1", "relay2", "relay3"])
    );
}

#[test]
fn offline_hosts_refuses_unknown_names_with_close_matches() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_of_300(dir.path());
    let output = plan_offline(&fleet, &["--hosts", "nat0005,relay1,zzzzzzzzzz"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    let text = stderr(&output);
    // Every unknown name at once, each with what it could be.
    assert!(
        text.contains("`--hosts` names `nat0005`, which is not in the inventory"),
        "{text}"
    );
    assert!(text.contains("did you mean `nat005`?"), "{text}");
    assert!(
        text.contains("`--hosts` names `zzzzzzzzzz`, which is not in the inventory"),
        "{text}"
    );
    // Not 300 names: ten, and how to list them all.
    assert!(text.contains("and 290 more"), "{text}");
    assert!(!text.contains("nat297"), "{text}");
}

#[test]
fn a_large_fleet_is_summarised_one_line_per_host() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_of_300(dir.path());
    let output = plan_offline(&fleet, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() < 320, "{} lines", lines.len());
    assert!(
        lines
            .iter()
            .any(|line| line.split_whitespace().collect::<Vec<_>>()
                == [
                    "HOST",
                    "ADDRESSES",
                    "ROLE",
                    "PEERS",
                    "REACHED",
                    "AT",
                    "FORWARDS"
                ]),
        "{text}"
    );
    let relay1 = lines
        .iter()
        .find(|line| line.starts_with("relay1 "))
        .unwrap();
    let cells: Vec<&str> = relay1.split_whitespace().collect();
    // Name, address, role, peers (the other relays and its homed hosts), endpoint, forwards.
    assert_eq!(cells[0..3], ["relay1", "100.64.0.1", "relay"], "{relay1}");
    assert!(cells[3].parse::<usize>().unwrap() > 2, "{relay1}");
    assert_eq!(cells[4..], ["198.51.100.1:51820", "yes"], "{relay1}");
    let nat = lines
        .iter()
        .find(|line| line.starts_with("nat005 "))
        .unwrap();
    let cells: Vec<&str> = nat.split_whitespace().collect();
    assert_eq!(cells[2..4], ["nat", "1"], "{nat}");
    assert_eq!(cells[4..6], ["home", "relay"], "{nat}");
    assert_eq!(cells[7], "no", "{nat}");
    assert!(text.contains("`--hosts NAME,...` or `--verbose`"), "{text}");
}

#[test]
fn verbose_shows_every_host_in_full_and_summary_any_fleet_in_short() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_of_300(dir.path());
    let text = stdout(&plan_offline(&fleet, &["--verbose"]));
    assert_eq!(detailed_hosts(&text).len(), 300);
    assert!(text.contains("overlay catch-all"));

    let small = repo(NAT_RELAY);
    let full = stdout(&plan_offline(&small, &[]));
    assert_eq!(detailed_hosts(&full), ["relay1", "web1", "home", "office"]);
    let short = stdout(&plan_offline(&small, &["--summary"]));
    assert!(detailed_hosts(&short).is_empty(), "{short}");
    assert!(
        short.lines().any(|line| line.starts_with("office ")),
        "{short}"
    );
    assert!(
        !short.contains("'s address") && !short.contains("catch-all"),
        "{short}"
    );
}

#[test]
fn offline_json_stays_complete_for_a_large_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet_of_300(dir.path());
    let output = plan_offline(&fleet, &["--json"]);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let hosts = plan["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 300);
    assert!(
        hosts
            .iter()
            .all(|host| host["peers"].as_array().is_some_and(|p| !p.is_empty()))
    );
}

/// Options given where they would do nothing, and a phrase of the refusal.
const REFUSED: &[(&[&str], &str)] = &[
    (
        &["plan", NAT_RELAY, "--offline", "--detailed-exitcode"],
        "`--detailed-exitcode` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--keep-removed"],
        "`--keep-removed` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--rekey", "web1"],
        "`--rekey` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--known-hosts", "kh"],
        "`--known-hosts` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--accept-new"],
        "`--accept-new` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--parallel", "4"],
        "`--parallel` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--timeout", "5"],
        "`--timeout` does nothing with `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--templates", "templates"],
        "`wgdeploy render INVENTORY --templates DIR --out OUT`",
    ),
    (
        &["plan", NAT_RELAY, "--summary"],
        "`--summary` does nothing without `--offline`: it shapes the text of `plan --offline`: add `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--verbose"],
        "`--verbose` does nothing without `--offline`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--json", "--summary"],
        "`--summary` does nothing with `--json`",
    ),
    (
        &["plan", NAT_RELAY, "--offline", "--json", "--verbose"],
        "`--verbose` does nothing with `--json`",
    ),
    (
        &["check", NAT_RELAY, "--nat", "home"],
        "`--nat` does nothing without `--configs`: it is for `check --configs DIR`",
    ),
    (
        &["check", NAT_RELAY, "--forwards", "relay1"],
        "`--forwards` does nothing without `--configs`: it is for `check --configs DIR`",
    ),
    (
        &[
            "check",
            "--configs",
            "inventories/configs/relay-layout",
            "--state",
            "s.json",
        ],
        "`--state` does nothing with `--configs`",
    ),
    (
        &[
            "check",
            "--configs",
            "inventories/configs/relay-layout",
            "--templates",
            "templates",
        ],
        "`--templates` does nothing with `--configs`",
    ),
    (
        &["rollback", NAT_RELAY, "--dry-run", "--yes"],
        "`--yes` does nothing with `--dry-run`",
    ),
    (
        &[
            "rollback",
            NAT_RELAY,
            "--dry-run",
            "--confirm-timeout",
            "30",
        ],
        "`--confirm-timeout` does nothing with `--dry-run`",
    ),
    (
        &["rollback", NAT_RELAY, "--dry-run", "--step-timeout", "30"],
        "`--step-timeout` does nothing with `--dry-run`",
    ),
    (
        &[
            "rollback",
            NAT_RELAY,
            "--dry-run",
            "--keep-generations",
            "3",
        ],
        "`--keep-generations` does nothing with `--dry-run`",
    ),
    (
        &["rollback", NAT_RELAY, "--templates", "templates"],
        "`--templates` does nothing on `rollback`",
    ),
    (
        &["adopt", NAT_RELAY, "--templates", "templates"],
        "`--templates` does nothing on `adopt`",
    ),
    (
        &[
            "render",
            NAT_RELAY,
            "--out",
            "/nonexistent/out",
            "--hosts",
            "web1",
        ],
        "unexpected argument '--hosts'",
    ),
    (
        &["check", NAT_RELAY, "--hosts", "web1"],
        "unexpected argument '--hosts'",
    ),
];

#[test]
fn options_that_would_do_nothing_are_usage_errors() {
    for (args, phrase) in REFUSED {
        let output = wgdeploy(args);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains(phrase), "{args:?}: {text}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}

#[test]
fn every_ignored_option_is_reported_at_once() {
    let output = wgdeploy(&[
        "plan",
        NAT_RELAY,
        "--offline",
        "--parallel",
        "4",
        "--rekey",
        "web1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("`--parallel` does nothing"), "{text}");
    assert!(text.contains("`--rekey` does nothing"), "{text}");
}

/// The combinations that do apply get past the command line (and stop at the unknown host, before
/// any connection), so a refusal is never broader than the rule.
#[test]
fn options_that_apply_are_accepted() {
    let accepted: &[&[&str]] = &[
        &[
            "plan",
            NAT_RELAY,
            "--parallel",
            "4",
            "--timeout",
            "5",
            "--templates",
            "templates",
            "--keep-removed",
            "--detailed-exitcode",
            "--hosts",
            "nosuch",
        ],
        &[
            "status",
            NAT_RELAY,
            "--templates",
            "templates",
            "--stale-after",
            "60",
            "--hosts",
            "nosuch",
        ],
        &[
            "rollback",
            NAT_RELAY,
            "--to",
            "original",
            "--yes",
            "--confirm-timeout",
            "30",
            "--hosts",
            "nosuch",
        ],
        &["adopt", NAT_RELAY, "--parallel", "2", "--hosts", "nosuch"],
    ];
    for args in accepted {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let journal = dir.path().join("journal.jsonl");
        let mut args = args.to_vec();
        args.extend_from_slice(&["--state", state.to_str().unwrap()]);
        if args[0] == "rollback" {
            args.extend_from_slice(&["--journal", journal.to_str().unwrap()]);
        }
        let output = wgdeploy(&args);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("`--hosts` names `nosuch`, which is not in the inventory"),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("hosts are: `home`, `office`, `relay1`, `web1`"),
            "{text}"
        );
    }
    let output = wgdeploy(&[
        "check",
        "--configs",
        "inventories/configs/relay-layout",
        "--nat",
        "home",
        "--json",
    ]);
    assert_ne!(output.status.code(), Some(2), "{}", stderr(&output));
}

fn help(command: &str) -> String {
    let output = wgdeploy(&[command, "--help"]);
    assert!(output.status.success());
    stdout(&output)
}

#[test]
fn help_says_what_each_command_does_with_its_options() {
    let status = help("status");
    assert!(!status.contains("still planned"), "{status}");
    assert!(status.contains("Only survey these hosts"), "{status}");
    assert!(status.contains("compared with"), "{status}");
    for command in ["adopt", "rollback"] {
        assert!(!help(command).contains("--templates"), "{command}");
    }
    let check = help("check");
    assert!(
        check.contains("wgdeploy check [OPTIONS] --configs DIR"),
        "{check}"
    );
    let configs_only = check
        .split("With --configs DIR:")
        .nth(1)
        .expect("a heading");
    assert!(configs_only.contains("--nat"), "{check}");
    let live_only = help("plan");
    let live_only = live_only
        .split("Live plan only (not with --offline):")
        .nth(1)
        .expect("a heading");
    for option in [
        "--templates",
        "--detailed-exitcode",
        "--keep-removed",
        "--rekey",
        "--parallel",
    ] {
        assert!(live_only.contains(option), "{option}: {live_only}");
    }
    let plan = help("plan");
    assert!(
        plan.contains("--summary") && plan.contains("--verbose"),
        "{plan}"
    );
}
