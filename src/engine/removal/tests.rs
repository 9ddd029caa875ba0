//! Whole runs with removed hosts over a fake transport: survey, decommission, `--atomic` undo, and
//! what the state keeps afterwards.

use super::*;
use crate::core::change::Class;
use crate::core::facts::SecretText;
use crate::core::forwarding::Families;
use crate::core::keys::PrivateKey;
use crate::core::model::Inventory;
use crate::core::removal::fixtures::{SYSCTL_FILE, config, facts_output, public, wg0};
use crate::engine::testing::{Quiet, limits, run_of};
use crate::engine::types::{Applied, Connector, HostError, HostReport, Job};
use crate::remote::Become;
use crate::store::state::{Managed, RememberedSsh, State};
use crate::transport::fake::{FakeTransport, ok};
use std::path::Path;

/// The key a removed host's job carries (its identity from the state).
fn key_of(job: &Job) -> PrivateKey {
    crate::core::wgconf::parse(Path::new("job"), job.desired.expose())
        .unwrap()
        .private_key
        .unwrap()
}

struct Fleet;

impl Connector for Fleet {
    type Session = FakeTransport;
    async fn connect(&self, job: &Job) -> std::result::Result<FakeTransport, HostError> {
        if job.name == "gone" {
            return Err(HostError::new("connection refused"));
        }
        let facts = facts_output(Some(&config(&key_of(job))), Some(SYSCTL_FILE), true);
        Ok(FakeTransport::new(move |command, _| {
            if command.contains("wgdeploy-facts") {
                ok(&facts)
            } else if command.contains("# remove-host.sh IFACE") {
                ok(
                    "@@generation kept 2\n@@removed-sysctl-file\n@@switched-off\nnet.ipv4.ip_forward\n@@done remove\n@@end\n",
                )
            } else {
                ok("@@generation kept 2\n@@forward\noff net.ipv4.ip_forward\n@@end\n")
            }
        }))
    }
}

fn managed(host: &str) -> Managed {
    Managed {
        interface: "wg0".into(),
        ssh: RememberedSsh {
            host: host.into(),
            port: Some(22),
            user: Some("root".into()),
            identity: Some("/keys/id".into()),
            become_: None,
            jump: None,
        },
    }
}

/// The state of an inventory with r, office and gone, all applied; then office and gone leave.
fn state_after_removal() -> (State, Inventory) {
    let planned = |yaml: &str| {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        let addresses =
            crate::core::addressing::assign(&inventory, &std::collections::HashMap::new()).unwrap();
        let topology = crate::core::topology::plan(&inventory, &addresses);
        (inventory, addresses, topology)
    };
    let mut state = State::default();
    let (all, addresses, topology) = planned(
        "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  office: {}\n  gone: {}\n",
    );
    state.reconcile(&all, &addresses, &topology);
    for host in ["r", "office", "gone"] {
        assert!(state.remember(host, managed(host)));
    }
    let (smaller, addresses, topology) = planned(
        "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n",
    );
    state.reconcile(&smaller, &addresses, &topology);
    (state, smaller)
}

#[tokio::test]
async fn apply_decommissions_a_removed_host_then_the_state_forgets_it_and_keeps_an_unreachable_one()
{
    let (mut state, inventory) = state_after_removal();
    let removed: Vec<&str> = state.removed(&inventory).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        removed,
        ["gone", "office"],
        "managed hosts stay until decommissioned"
    );
    // `--hosts office` contacts only office.
    let selected = jobs(&state, &inventory, &["office".into()]);
    assert_eq!(selected.len(), 1);
    assert!(selected[0].alias.is_none());
    let limits = limits(4);
    let fleet = Arc::new(Fleet);
    let surveyed = survey(
        fleet.clone(),
        jobs(&state, &inventory, &[]),
        limits,
        Arc::new(Quiet),
    )
    .await;
    let gone = surveyed
        .iter()
        .find(|host| host.job.name == "gone")
        .unwrap();
    let error = gone.outcome.as_ref().err().unwrap();
    assert!(
        error.message.contains(
            "removed from the inventory, but cannot be decommissioned: connection refused"
        )
    );
    assert!(error.help.as_deref().unwrap().contains("--keep-removed"));
    let run = run_of(false);
    let reports = crate::engine::apply::apply(fleet, surveyed, limits, run, Arc::new(Quiet)).await;
    let office = reports
        .iter()
        .find(|report| report.name == "office")
        .unwrap();
    assert_eq!(office.class, Some(Class::Remove));
    assert!(office.outcome.as_ref().unwrap().changed);
    assert_eq!(
        office.notes,
        [
            "decommissioned: `wg0` down, config removed (kept as generation 2), sysctl.d file removed, net.ipv4.ip_forward = 0"
        ]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let settled = settle(&mut state, Vec::new(), &reports, &path).unwrap();
    assert_eq!(settled.forgotten, ["office"]);
    assert!(state.managed("office").is_none() && state.private_key("office").is_none());
    assert!(
        state.managed("gone").is_some(),
        "an unreachable removed host is kept"
    );
    let saved = State::load(&path).unwrap();
    assert_eq!(saved.managed("gone"), Some(&managed("gone")));
}

#[test]
fn a_jump_host_is_resolved_among_inventory_hosts_then_remembered_ones() {
    let (mut state, inventory) = state_after_removal();
    let mut office = managed("198.18.0.4");
    office.ssh.jump = Some("gone".into());
    state.remember("office", office);
    let mut gone = managed("198.18.0.9");
    gone.ssh.jump = Some("r".into());
    state.remember("gone", gone);
    let options = crate::engine::deploy::ssh_options(None, false, 5);
    let connector = SshConnector::new(&inventory, options);
    let targets = targets(&state, &inventory, &connector);
    let office = targets.iter().find(|t| t.label == "office").unwrap();
    let hop = office.jump.as_ref().unwrap();
    assert_eq!(
        (hop.label.as_str(), hop.host.as_str()),
        ("gone", "198.18.0.9")
    );
    assert_eq!(
        hop.jump.as_ref().unwrap().label,
        "r",
        "then the inventory's r"
    );
}

/// `office` (removed; decommissioned, then given a config again, statefully) and `broken` (in
/// the inventory; its apply step fails once armed).
struct AtomicFleet {
    office: std::sync::Mutex<Option<FakeTransport>>,
}

fn office_dump(key: &PrivateKey) -> String {
    format!(
        "-\t{}\t51820\toff\n{}\t-\t(none)\t100.64.0.1/32\t0\t0\t0\toff\n",
        key.public_key().to_base64(),
        public(9)
    )
}

impl Connector for AtomicFleet {
    type Session = FakeTransport;
    async fn connect(&self, job: &Job) -> std::result::Result<FakeTransport, HostError> {
        if job.name == "broken" {
            let facts = facts_output(None, None, false);
            return Ok(FakeTransport::new(move |command, _| {
                if command.contains("wgdeploy-facts") {
                    ok(&facts)
                } else {
                    ok("@@armed\n@@written\n@@fail wg-quick up wg0 failed\n@@reverted-now\n")
                }
            }));
        }
        let mut office = self.office.lock().unwrap();
        if let Some(host) = office.as_ref() {
            return Ok(host.clone());
        }
        let key = key_of(job);
        let current = Arc::new(std::sync::Mutex::new(Some(config(&key))));
        let host = FakeTransport::new(move |command, stdin| {
            let mut current = current.lock().unwrap();
            let dump = office_dump(&key);
            if command.contains("wgdeploy-facts") {
                let file = current.is_some().then_some(SYSCTL_FILE);
                ok(&facts_output(current.as_deref(), file, current.is_some()))
            } else if command.contains("@@confirmed") {
                ok(&format!(
                    "@@confirmed\n@@generation 3\n@@now 0\n@@dump\n{dump}@@end\n"
                ))
            } else if command.contains("# remove-host.sh IFACE") {
                *current = None;
                ok(
                    "@@generation kept 2\n@@removed-sysctl-file\n@@switched-off\n@@done remove\n@@end\n",
                )
            } else if command.contains("# inspect.sh IFACE") {
                ok("@@generation kept 2\n@@forward\n@@end\n")
            } else {
                *current = Some(String::from_utf8_lossy(stdin).into_owned());
                ok(&format!(
                    "@@armed\n@@written\n@@done up\n@@dump\n{dump}@@end\n"
                ))
            }
        });
        *office = Some(host.clone());
        Ok(host)
    }
}

#[tokio::test]
async fn atomic_brings_a_decommissioned_host_back_when_another_host_fails() {
    let (mut state, inventory) = state_after_removal();
    let limits = limits(4);
    let fleet = Arc::new(AtomicFleet {
        office: Default::default(),
    });
    let office_jobs = jobs(&state, &inventory, &["office".into()]);
    let mut surveyed = survey(fleet.clone(), office_jobs, limits, Arc::new(Quiet)).await;
    let broken = Job {
        name: "broken".into(),
        interface: wg0(),
        desired: SecretText::new(config(&PrivateKey::from_bytes([3; 32]))),
        forwarding: Families::default(),
        become_: Become::None,
        keys: Default::default(),
    };
    surveyed.extend(
        crate::engine::survey::survey(fleet.clone(), vec![broken], limits, Arc::new(Quiet)).await,
    );
    let run = run_of(true);
    let reports =
        crate::engine::apply::apply(fleet.clone(), surveyed, limits, run, Arc::new(Quiet)).await;
    let office = &reports[0];
    assert_eq!(
        (office.name.as_str(), office.class),
        ("office", Some(Class::Remove))
    );
    assert!(office.rolled_back && office.outcome.is_ok(), "{office:?}");
    // Its config went back on stdin, with its forwarding persisted again.
    let host = fleet.office.lock().unwrap().clone().unwrap();
    let pushed: Vec<(String, Vec<u8>)> = host
        .recorded()
        .into_iter()
        .filter(|(_, stdin)| !stdin.is_empty())
        .collect();
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        String::from_utf8(pushed[0].1.clone()).unwrap(),
        config(state.private_key("office").unwrap())
    );
    assert!(
        pushed[0]
            .0
            .contains(" write '# Written by wgdeploy: wg0 forwards"),
        "forwarding persisted again: {}",
        pushed[0].0.rsplit("' wgdeploy ").next().unwrap_or("")
    );
    let dir = tempfile::tempdir().unwrap();
    let settled = settle(&mut state, Vec::new(), &reports, &dir.path().join("s.json")).unwrap();
    assert_eq!(
        settled,
        Settled::default(),
        "a rolled-back removal is not forgotten"
    );
    assert!(state.managed("office").is_some());
}

#[test]
fn a_decommissioned_jump_host_is_kept_while_a_host_still_in_the_state_needs_it() {
    let (mut state, _) = state_after_removal();
    let mut office = managed("198.18.0.4");
    office.ssh.jump = Some("gone".into());
    state.remember("office", office);
    let report = |name: &str| HostReport {
        name: name.into(),
        class: Some(Class::Remove),
        outcome: Ok(Applied {
            changed: true,
            live: None,
            generation: None,
            now: 0,
        }),
        notes: Vec::new(),
        rolled_back: false,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    // office (reached through gone) failed: gone is decommissioned but stays.
    let settled = settle(&mut state, Vec::new(), &[report("gone")], &path).unwrap();
    assert_eq!(
        settled.kept_as_jump,
        [("gone".to_owned(), "office".to_owned())]
    );
    assert!(settled.forgotten.is_empty() && state.managed("gone").is_some());
    assert!(settled_text(&settled).contains(
        "gone: decommissioned, but kept in the state file: office is reached through it"
    ));
    // Both decommissioned: both forgotten.
    let settled = settle(
        &mut state,
        Vec::new(),
        &[report("gone"), report("office")],
        &path,
    )
    .unwrap();
    assert_eq!(settled.forgotten, ["gone", "office"]);
}
