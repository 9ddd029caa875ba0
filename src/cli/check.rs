//! `wgdeploy check`: prove every ordered pair reachable on an inventory's configs or on a
//! directory of existing wg-quick files.

use crate::cli::args::CheckArgs;
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Result};
use crate::store::state;
use std::io::Write;
use std::path::Path;

pub fn check(args: &CheckArgs, out: &mut dyn Write) -> Result<()> {
    let input = match (&args.inventory, &args.configs) {
        (Some(inventory), _) => {
            let state_path = args
                .state
                .clone()
                .unwrap_or_else(|| state::default_path(inventory));
            check_input_of(inventory, &state_path, args.templates.as_deref())?
        }
        (None, Some(dir)) => crate::check::input::CheckInput {
            underlay: args.underlay.clone(),
            ..crate::check::input::CheckInput::configs(
                crate::check::input::from_dir(dir)?,
                args.nat.clone(),
                args.forwards.clone(),
            )
        },
        (None, None) => unreachable!("clap requires one of them"),
    };
    let names: Vec<&str> = input.sets.iter().map(|set| set.name.as_str()).collect();
    for (option, given) in [("--nat", &input.nat), ("--forwards", &input.forwards)] {
        if let Some(unknown) = given.iter().find(|host| !names.contains(&host.as_str())) {
            return Err(Diagnostic::new(format!(
                "`{option}` names `{unknown}`, which has no config in the set"
            ))
            .help(format!("name hosts of the set: {}", names.join(", ")))
            .into());
        }
    }
    if let Some((unknown, _)) = input
        .underlay
        .iter()
        .find(|(host, _)| !names.contains(&host.as_str()))
    {
        return Err(Diagnostic::new(format!(
            "`--underlay` names `{}`, which has no config in the set",
            crate::core::model::printable_excerpt(unknown)
        ))
        .help(format!("name hosts of the set: {}", names.join(", ")))
        .into());
    }
    let network =
        crate::check::Network::from_configs(&input.sets, &input.facts()).map_err(|why| {
            Diagnostic::new(why).help("each host needs its own config with its own PrivateKey")
        })?;
    let simulation = crate::check::Simulation::new(&network);
    let report = crate::check::Report::run(&simulation);
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&crate::ui::check::json(&simulation, &report))
            .expect("json");
        text.push('\n');
        text
    } else {
        crate::ui::check::human(&simulation, &report)
    };
    write_out(out, &text)?;
    if report.all_reachable() {
        Ok(())
    } else {
        Err(crate::core::error::Error::silent())
    }
}

/// The configs `render` would write for an inventory, with the hosts behind NAT and the
/// forwarding hosts as the inventory says. Keys come from the state; hosts without one get a
/// throwaway key in memory (the state file is never written by `check`).
fn check_input_of(
    inventory: &Path,
    state_path: &Path,
    templates: Option<&Path>,
) -> Result<crate::check::input::CheckInput> {
    // Keys for hosts without one are generated in memory: `check` never writes the state.
    let loaded = crate::engine::deploy::load(inventory, state_path, templates, &[])?;
    crate::check::input::from_deployment(&loaded.deployment, &loaded.state, &loaded.renderer)
}
