//! `wgdeploy adopt INVENTORY`: read the interfaces hosts already run into the state, so the first
//! apply keeps their keys and addresses; report what cannot be kept. Changes nothing on hosts.

use crate::cli::args::AdoptArgs;
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Error, Result};
use crate::engine::adopt::{decide, record};
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
    let connection = args.connect.connection(&args.hosts);
    crate::core::selection::select(inventory, &connection.hosts, "--hosts")?;
    let jobs = crate::engine::adopt::jobs(inventory, &connection.hosts);
    let connector = Arc::new(crate::engine::deploy::SshConnector::new(
        inventory,
        connection.ssh.clone(),
    ));
    let runtime = crate::engine::deploy::runtime()?;
    let results = runtime.block_on(crate::engine::adopt::read_hosts(
        connector,
        jobs,
        connection.limits,
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
    let mut adoption = decide(inventory, &deployment.topology, &state, &reads);
    record(&adoption, inventory, &mut state);
    // Prove it: plan again from the new state; an address the allocator does not give back is lost.
    let replanned =
        crate::core::pipeline::plan_loaded(inventory.clone(), &state.remembered_addresses())?;
    adoption.confirm_addresses(inventory, &replanned.addresses);
    let adopted = adoption
        .hosts
        .iter()
        .filter(|host| host.key.is_some())
        .count();
    if adopted > 0 {
        crate::cli::out::save_state(&state, &state_path)?;
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
