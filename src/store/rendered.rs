//! Rendered configs in a directory (`wgdeploy render --out DIR`): the operator's copy of what
//! each host should run, written atomically, 0600, and left alone when already right.

use crate::core::error::{Error, Result};
use crate::core::keys::KeySource;
use crate::core::render::{Deployment, Renderer};
use std::path::Path;

/// Renders every host into `DIR/<host>/<interface>.conf` (0600, directories 0700), replacing
/// files atomically and leaving files whose content is already right untouched.
pub fn render_to_dir(
    renderer: &Renderer,
    out: &Path,
    deployment: &Deployment,
    keys: &dyn KeySource,
) -> Result<Written> {
    let inventory = &deployment.inventory;
    let file_name = format!("{}.conf", inventory.network.interface);
    let outcomes = renderer.render_each(deployment, keys, |id, text| {
        write_config(
            &out.join(inventory.hosts[id].name.as_str()),
            &file_name,
            &text,
        )
    })?;
    let written = outcomes.iter().filter(|written| **written).count();
    Ok(Written {
        written,
        unchanged: outcomes.len() - written,
    })
}

/// What writing the configs did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub written: usize,
    pub unchanged: usize,
}

/// Writes one config into `dir` (created 0700) unless it already has exactly this content.
/// Returns whether the file was written. Replacing an existing file is atomic (temporary file +
/// rename) so a reader never sees half a config; a new file is created directly (0600, exclusive),
/// since there is no old version to protect and an interrupted write is redone by the next render
/// (its content then differs). No fsync: rendered files can always be rendered again; the state
/// file, which cannot, is fsynced.
fn write_config(dir: &Path, file_name: &str, text: &str) -> Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = dir.join(file_name);
    match std::fs::read(&path) {
        Ok(existing) if existing == text.as_bytes() => Ok(false),
        Ok(_) => {
            crate::store::files::write_file(&path, text.as_bytes(), false)
                .map_err(|err| Error::io("write config", &path, &err))?;
            Ok(true)
        }
        Err(_) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|err| Error::io("create directory", dir, &err))?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .map_err(|err| Error::io("write config", &path, &err))?;
            Ok(true)
        }
    }
}
