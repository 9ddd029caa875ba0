//! Writing a command's output, and saving the state file where a command may create it.

use crate::core::error::{Diagnostic, Result};
use crate::store::state::State;
use std::io::Write;
use std::path::Path;

pub(crate) fn write_out(out: &mut dyn Write, text: &str) -> Result<()> {
    // A closed pipe (`wgdeploy plan … | head`) is not an error worth reporting.
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Diagnostic::new(format!("cannot write output: {err}")).into())
        }
        _ => Ok(()),
    }
}

/// Saves the state, saying so on stderr when this creates the file: it holds private keys, and
/// appears beside the inventory unless `--state` puts it elsewhere, so the operator should know.
/// Callers hold the state lock, so the file cannot appear between the look and the save.
pub(crate) fn save_state(state: &State, path: &Path) -> Result<()> {
    let created = matches!(
        std::fs::symlink_metadata(path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound
    );
    state.save(path)?;
    if created {
        eprintln!(
            "created the state file {} (this network's private keys, mode 0600; keep it, and keep it private)",
            path.display()
        );
    }
    Ok(())
}
