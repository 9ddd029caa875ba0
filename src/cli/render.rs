//! `wgdeploy render`: every host's config written to a directory.

use crate::cli::args::RenderArgs;
use crate::cli::out::write_out;
use crate::core::error::Result;
use crate::store::state::{self, State};
use std::io::Write;

pub fn render(args: &RenderArgs, out: &mut dyn Write) -> Result<()> {
    let renderer = crate::core::render::Renderer::new(args.templates.as_deref())?;
    let state_path = args.common.state_path();
    // The files it writes carry the keys, so it saves them; under the lock like apply.
    let _lock = state::StateLock::acquire(&state_path)?;
    let mut state = State::load(&state_path)?;
    let deployment = crate::core::pipeline::plan_inventory(
        &args.common.inventory,
        &state.remembered_addresses(),
    )?;
    if state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    ) {
        state.save(&state_path)?;
    }
    let written = crate::store::rendered::render_to_dir(&renderer, &args.out, &deployment, &state)?;
    write_out(
        out,
        &format!(
            "rendered {} hosts into {}: {} written, {} unchanged\n",
            deployment.inventory.hosts.len(),
            args.out.display(),
            written.written,
            written.unchanged
        ),
    )
}
