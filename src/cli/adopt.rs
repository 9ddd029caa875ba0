//! `wgdeploy adopt INVENTORY`: read the interfaces hosts already run into the state, so the first
//! apply keeps their keys and addresses; report what cannot be kept. Changes nothing on hosts.

use crate::cli::args::AdoptArgs;
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Error, Result};
use crate::core::facts::SecretText;
use crate::engine::adopt::{Lost, decide, parse_read};
use crate::engine::types::{HostError, Job};
use crate::store::state::State;
use std::io::Write;
use std::sync::Arc;

/// `wgdeploy adopt INVENTORY`.
pub fn adopt(args: &AdoptArgs, out: &mut dyn Write) -> Result<u8> {
    let state_path = args.common.state_path();
    // Adopt writes the state: held to the end, like apply, so no other run writes keys meanwhile.
    let _lock = crate::store::state::StateLock::acquire(&state_path)?;
    let mut state = State::load(&state_path)?;
    let deployment = crate::core::pipeline::plan_inventory(
        &args.common.inventory,
        &state.remembered_addresses(),
    )?;
    let inventory = &deployment.inventory;
    let connection = args.connect.connection();
    for name in &connection.hosts {
        if inventory.host_id(name).is_none() {
            let names: Vec<&str> = inventory.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(Diagnostic::new(format!(
                "`--hosts` names `{}`, which is not in the inventory",
                crate::core::model::printable(name)
            ))
            .help(format!("hosts are: {}", names.join(", ")))
            .into());
        }
    }
    let jobs: Vec<Job> = inventory
        .hosts
        .iter()
        // Devices are never logged into: nothing to read there.
        .filter(|host| !host.is_device())
        .filter(|host| {
            connection.hosts.is_empty() || connection.hosts.iter().any(|h| h == host.name.as_str())
        })
        .map(|host| Job {
            name: host.name.as_str().to_owned(),
            interface: inventory.network.interface.clone(),
            desired: SecretText::new(String::new()),
            forwarding: Default::default(),
            become_: if host.ssh.sudo {
                crate::remote::Become::Sudo
            } else {
                crate::remote::Become::None
            },
            keys: Default::default(),
        })
        .collect();
    let connector = Arc::new(crate::engine::deploy::SshConnector::new(
        inventory,
        connection.ssh.clone(),
    ));
    let runtime = crate::engine::deploy::runtime()?;
    let limit = connection.limits.connect;
    let results = runtime.block_on(crate::engine::parallel::bounded(
        jobs,
        connection.limits.parallel,
        move |job| {
            let connector = connector.clone();
            async move {
                let work = async {
                    use crate::engine::types::Connector;
                    let session = connector.connect(&job).await?;
                    let script = crate::remote::adopt_script(&job.interface);
                    let output = crate::engine::exec::run(&session, &job, &script, &[]).await?;
                    parse_read(&job.name, &output.stdout)
                };
                let outcome = match tokio::time::timeout(limit, work).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(HostError::new(format!(
                        "no answer within {} s while connecting and reading the interface",
                        limit.as_secs()
                    ))
                    .help("check the host is up and reachable, or raise `--timeout`")),
                };
                (job.name, outcome)
            }
        },
    ));
    let mut reads = Vec::new();
    let mut failed = Vec::new();
    let mut absent = Vec::new();
    for (name, outcome) in results {
        let id = inventory
            .host_id(&name)
            .expect("jobs come from the inventory");
        match outcome {
            Ok(read) if read.found => reads.push((id, read)),
            Ok(_) => absent.push(name),
            Err(error) => failed.push((name, error)),
        }
    }
    let adoption = decide(inventory, &deployment.topology, &state, &reads);
    adoption.record(&mut state);
    // Prove it: plan again from the new state; an address the allocator does not give back is lost.
    let replanned =
        crate::core::pipeline::plan_loaded(inventory.clone(), &state.remembered_addresses())?;
    let mut adoption = adoption;
    for host in &mut adoption.hosts {
        let id = inventory
            .host_id(&host.name)
            .expect("adopted hosts are inventory hosts");
        for ip in host.addresses.clone() {
            if !replanned.addresses[id].contains(&ip) {
                host.lost.push(Lost {
                    what: format!("address {ip}"),
                    why: "the allocator gives it to another host".into(),
                    fix: None,
                });
            }
        }
    }
    let adopted = adoption
        .hosts
        .iter()
        .filter(|host| host.key.is_some())
        .count();
    if adopted > 0 {
        state.save(&state_path)?;
    }
    write_out(
        out,
        &crate::ui::adopt::report(
            &adoption,
            &absent,
            &failed,
            inventory,
            &state_path,
            &args.common.inventory,
        ),
    )?;
    let diagnostics: Vec<Diagnostic> = failed
        .iter()
        .map(|(name, error)| crate::cli::live::host_diagnostic(name, error))
        .collect();
    match Error::from_all(diagnostics) {
        Some(error) => Err(error),
        None => Ok(0),
    }
}
