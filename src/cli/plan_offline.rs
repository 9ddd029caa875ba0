//! `wgdeploy plan --offline`: the planned peers and AllowedIPs from the inventory alone.

use crate::cli::args::PlanArgs;
use crate::cli::out::write_out;
use crate::core::error::Result;
use crate::store::state::State;
use crate::ui::plan_offline::{Form, SUMMARY_ABOVE};
use std::io::Write;

pub fn plan(args: &PlanArgs, out: &mut dyn Write) -> Result<()> {
    // Offline planning reads the state (to keep remembered addresses) but never writes it.
    let state = State::load(&args.common.state_path())?;
    let deployment = crate::core::pipeline::plan_inventory(
        &args.common.inventory,
        &state.remembered_addresses(),
    )?;
    let selected = if args.hosts.is_empty() {
        None
    } else {
        let inventory = &deployment.inventory;
        Some(crate::core::selection::select(
            inventory,
            &args.hosts,
            "--hosts",
        )?)
    };
    let shown = selected.as_deref();
    let text = if args.json {
        let mut text =
            serde_json::to_string_pretty(&crate::ui::plan_offline::json(&deployment, shown))
                .expect("json");
        text.push('\n');
        text
    } else {
        crate::ui::plan_offline::human(
            &deployment,
            shown,
            form(args, deployment.inventory.hosts.len()),
        )
    };
    write_out(out, &text)
}

/// One line per host when asked (`--summary`), or for a large fleet shown whole; else in full.
fn form(args: &PlanArgs, hosts: usize) -> Form {
    let large = args.hosts.is_empty() && hosts > SUMMARY_ABOVE;
    if args.summary || (large && !args.verbose) {
        Form::Summary
    } else {
        Form::Details
    }
}
