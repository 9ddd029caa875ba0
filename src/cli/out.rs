//! Writing a command's output.

use crate::core::error::{Diagnostic, Result};
use std::io::Write;

pub(crate) fn write_out(out: &mut dyn Write, text: &str) -> Result<()> {
    // A closed pipe (`wgdeploy plan … | head`) is not an error worth reporting.
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Diagnostic::new(format!("cannot write output: {err}")).into())
        }
        _ => Ok(()),
    }
}
