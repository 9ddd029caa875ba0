//! `wgdeploy plan --offline`: the planned peers and AllowedIPs from the inventory alone.

use crate::cli::args::PlanArgs;
use crate::cli::out::write_out;
use crate::core::error::Result;
use crate::store::state::State;
use std::io::Write;

pub fn plan(args: &PlanArgs, out: &mut dyn Write) -> Result<()> {
    // Offline planning reads the state (to keep remembered addresses) but never writes it.
    let state = State::load(&args.common.state_path())?;
    let deployment = crate::core::pipeline::plan_inventory(
        &args.common.inventory,
        &state.remembered_addresses(),
    )?;
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&crate::ui::plan_offline::json(&deployment))
            .expect("json");
        text.push('\n');
        text
    } else {
        crate::ui::plan_offline::human(&deployment)
    };
    write_out(out, &text)
}
