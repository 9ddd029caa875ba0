//! `wgdeploy render`: every host's config written to a directory.

use crate::cli::args::RenderArgs;
use crate::cli::out::{save_state, write_out};
use crate::core::error::Result;
use crate::store::state;
use std::io::Write;

pub fn render(args: &RenderArgs, out: &mut dyn Write) -> Result<()> {
    let state_path = args.common.state_path();
    // The files it writes carry the keys, so it saves them; under the lock like apply.
    let _lock = state::StateLock::acquire(&state_path)?;
    let loaded = crate::engine::deploy::load(
        &args.common.inventory,
        &state_path,
        args.templates.as_deref(),
        &[],
    )?;
    crate::engine::deploy::refuse_stand_ins(&loaded)?;
    if loaded.state_changed {
        save_state(&loaded.state, &state_path)?;
    }
    let deployment = &loaded.deployment;
    let written = crate::store::rendered::render_to_dir(
        &loaded.renderer,
        &args.out,
        deployment,
        &loaded.state,
    )?;
    write_out(
        out,
        &crate::ui::render::report(&args.out, deployment.inventory.hosts.len(), &written),
    )
}
