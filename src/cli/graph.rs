//! `wgdeploy graph`: the picture of the planned network; with `--check`, the pairs `check`
//! cannot prove are marked and the exit code is `check`'s.

use crate::cli::args::{GraphArgs, GraphFormat};
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Result};
use std::io::Write;

pub fn graph(args: &GraphArgs, out: &mut dyn Write) -> Result<()> {
    // Planned as `check` plans (renamed hosts keep their addresses); keys for hosts without one
    // are made in memory for `--check`, and the state file is never written.
    let loaded = crate::engine::deploy::load(
        &args.common.inventory,
        &args.common.state_path(),
        args.templates.as_deref(),
        &[],
    )?;
    let deployment = &loaded.deployment;
    let graph = crate::core::graph::build(&deployment.inventory, &deployment.topology);
    let proof = if args.check {
        let input =
            crate::check::input::from_deployment(deployment, &loaded.state, &loaded.renderer)?;
        let network =
            crate::check::Network::from_configs(&input.sets, &input.facts()).map_err(|why| {
                Diagnostic::new(why).help("each host needs its own config with its own PrivateKey")
            })?;
        let simulation = crate::check::Simulation::new(&network);
        let report = crate::check::Report::run(&simulation);
        Some(crate::ui::graph::proof(deployment, &simulation, &report))
    } else {
        None
    };
    let text = match args.format {
        GraphFormat::Mermaid => crate::ui::graph::mermaid(deployment, &graph, proof.as_ref()),
        GraphFormat::Dot => crate::ui::graph::dot(deployment, &graph, proof.as_ref()),
    };
    write_out(out, &text)?;
    match proof {
        // Said on stderr too: the picture usually goes to a file.
        Some(proof) if !proof.unproven.is_empty() => Err(Diagnostic::new(format!(
            "check cannot prove {} of {} pairs of hosts reachable both ways; the picture marks them",
            proof.unproven.len(),
            proof.pairs
        ))
        .help(format!(
            "run `{}` for each pair's path, the rule that breaks it and the fix",
            check_command(args)
        ))
        .into()),
        _ => Ok(()),
    }
}

/// The `check` command line that explains what `graph --check` found.
fn check_command(args: &GraphArgs) -> String {
    let mut command = format!("wgdeploy check {}", args.common.inventory.display());
    if let Some(state) = &args.common.state {
        command.push_str(&format!(" --state {}", state.display()));
    }
    if let Some(templates) = &args.templates {
        command.push_str(&format!(" --templates {}", templates.display()));
    }
    command
}
