//! `keys: on-host`: each managed host makes its own private key and only its public half comes
//! back. Peers' configs need every host's public key, so this runs before anything is rendered:
//! one short round trip per host (`host-key.sh`), which makes the key when `create` (apply) and
//! the host has none, and otherwise only reads it (plan, status, rollback: nothing is created).
//!
//! The host is the truth about its key; the state keeps the public halves it reported, so a host
//! that cannot be reached is rendered with the key it last reported. A lost state loses nothing:
//! the next run reads the keys back. A host with no key yet (a plan before the first apply) keeps
//! the stand-in `deploy::load` gave it, which plans show as `(key HOST will make)` and which is
//! never saved; an apply refuses to render peers with a stand-in.

use crate::core::error::{Diagnostic, Result};
use crate::core::facts::SecretText;
use crate::engine::deploy::{Connection, Loaded, SshConnector};
use crate::engine::exec::run;
use crate::engine::types::{Connector, HostError, Job, Reporter};
use crate::remote::Become;
use std::sync::Arc;

/// What one host said about its key.
type Answer = (
    String,
    std::result::Result<Option<crate::core::keys::PublicKey>, HostError>,
);

/// Reads (and with `create`, makes) the keys of the managed hosts whose keys this run needs, and
/// puts their public halves into `loaded`'s state and key context.
pub fn settle(
    runtime: &tokio::runtime::Runtime,
    loaded: &mut Loaded,
    connection: &Connection,
    create: bool,
    reporter: Arc<dyn Reporter>,
) -> Result<()> {
    let inventory = &loaded.deployment.inventory;
    let selected =
        |name: &str| connection.hosts.is_empty() || connection.hosts.iter().any(|s| s == name);
    // `wgdeploy rotate`: these hosts make a pending key and answer its public half; apply.sh
    // switches to it when their config names it.
    let rotated: Vec<String> = loaded
        .rotation
        .as_ref()
        .map(|rotation| rotation.rotated.clone())
        .unwrap_or_default();
    // Every selected host, and any other whose key the state does not hold (`deploy::load` gave
    // it a stand-in; its peers need the real one). A host left out of `--hosts` is never changed:
    // its key is only read.
    let jobs: Vec<(Job, crate::remote::HostKeyMode)> = inventory
        .hosts
        .iter()
        .filter(|host| inventory.key_on_host(host))
        .filter(|host| selected(host.name.as_str()) || loaded.state.is_stand_in(host.name.as_str()))
        .map(|host| {
            let job = Job {
                name: host.name.as_str().to_owned(),
                interface: inventory.network.interface.clone(),
                desired: SecretText::new(String::new()),
                forwarding: Default::default(),
                become_: if host.ssh.sudo {
                    Become::Sudo
                } else {
                    Become::None
                },
                keys: Default::default(),
            };
            let mode = if !create || !selected(host.name.as_str()) {
                crate::remote::HostKeyMode::Read
            } else if rotated.iter().any(|r| r == host.name.as_str()) {
                crate::remote::HostKeyMode::Rotate
            } else {
                crate::remote::HostKeyMode::Create
            };
            (job, mode)
        })
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let connector = Arc::new(SshConnector::new(inventory, connection.ssh.clone()));
    let answers = runtime.block_on(read(connector, jobs, connection.limits, reporter));
    let mut unknown = Vec::new();
    for (name, answer) in answers {
        let known = !loaded.state.is_stand_in(&name);
        match answer {
            Ok(Some(key)) => {
                loaded.state_changed |= loaded.state.record_public_key(&name, key);
                if rotated.contains(&name) {
                    loaded
                        .keys
                        .labels
                        .push((key.to_base64(), format!("(new key of {name})")));
                }
            }
            // An apply that leaves such a host out (`--hosts`) must not give its peers a
            // stand-in: they could never reach it.
            Ok(None) if create => unknown.push(format!(
                "`{name}` has no key yet and `--hosts` leaves it out, so it makes none in this run"
            )),
            // A plan: the stand-in, labelled `(key NAME will make)`, is what it shows.
            Ok(None) => {}
            // Rendered with the key it last reported; if it is selected, its survey fails too.
            Err(_) if known => {}
            Err(error) if create => unknown.push(format!("`{name}`: {}", error.message)),
            Err(_) => relabel(loaded, &name, format!("(key of {name}, unreachable)")),
        }
    }
    if !unknown.is_empty() {
        return Err(Diagnostic::new(format!(
            "cannot learn the key of {}: with `keys: on-host` each host's public key comes from the host itself, and its peers' configs need it",
            unknown.join("; ")
        ))
        .help("make the host reachable (and include it in `--hosts`), then run apply again")
        .into());
    }
    Ok(())
}

/// Names a stand-in key differently in plans.
fn relabel(loaded: &mut Loaded, name: &str, label: String) {
    let Some(key) = loaded.state.public_key(name).map(|key| key.to_base64()) else {
        return;
    };
    loaded.keys.labels.retain(|(labelled, _)| *labelled != key);
    loaded.keys.labels.push((key, label));
}

async fn read<C: Connector>(
    connector: Arc<C>,
    jobs: Vec<(Job, crate::remote::HostKeyMode)>,
    limits: crate::engine::types::Limits,
    reporter: Arc<dyn Reporter>,
) -> Vec<Answer> {
    crate::engine::parallel::bounded(jobs, limits.parallel, move |(job, mode)| {
        let (connector, reporter) = (connector.clone(), reporter.clone());
        async move {
            reporter.update(&job.name, "reading its key");
            let work = async {
                let session = connector.connect(&job).await?;
                let script = crate::remote::host_key_script(&job.interface, mode);
                let output = run(&session, &job, &script, &[]).await?;
                crate::remote::parse_host_key(&output.stdout)
                    .map_err(|why| HostError::new(format!("its key: {why}")))
            };
            let answer = match tokio::time::timeout(limits.connect, work).await {
                Ok(answer) => answer,
                Err(_) => Err(HostError::new(format!(
                    "no answer within {} s",
                    limits.connect.as_secs()
                ))),
            };
            reporter.update(&job.name, "key read");
            (job.name.clone(), answer)
        }
    })
    .await
}
