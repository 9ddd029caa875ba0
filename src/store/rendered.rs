//! Rendered configs in a directory (`wgdeploy render --out DIR`): the operator's copy of what
//! each host should run, written atomically, 0600, and left alone when already right. The files
//! render wrote earlier for hosts that are gone are removed again (they carry private keys, and
//! `check --configs DIR` would read them as hosts); what it knows it wrote is in its manifest
//! (`render_manifest`), and nothing else in the directory is ever removed.

use crate::core::error::{Diagnostic, Error, Result};
use crate::core::keys::KeySource;
use crate::core::render::{Deployment, Renderer};
use crate::store::render_manifest::{self, Manifest};
use std::collections::HashSet;
use std::path::Path;

/// Renders every host into `DIR/<host>/<interface>.conf` (0600, directories 0700), replacing
/// files atomically and leaving files whose content is already right untouched; then removes
/// the files of earlier renders that no host has any more, and records what it wrote.
pub fn render_to_dir(
    renderer: &Renderer,
    out: &Path,
    deployment: &Deployment,
    keys: &dyn KeySource,
) -> Result<Written> {
    // Read first: a damaged manifest stops the render before anything is written.
    let earlier = render_manifest::load(out)?;
    let inventory = &deployment.inventory;
    let file_name = format!("{}.conf", inventory.network.interface);
    let outcomes = renderer.render_each(deployment, keys, |id, text| {
        let outcome = write_config(
            &out.join(inventory.hosts[id].name.as_str()),
            &file_name,
            &text,
        )?;
        // Hashed here, on the worker threads, beside the write.
        Ok((outcome, crate::store::journal::digest(text.as_bytes())))
    })?;
    let mut written = Written::default();
    let mut manifest = Manifest::default();
    for (host, (outcome, digest)) in inventory.hosts.iter().zip(outcomes) {
        let host = host.name.as_str();
        if outcome.written {
            written.written += 1;
        } else {
            written.unchanged += 1;
        }
        manifest.files.insert(format!("{host}/{file_name}"), digest);
        if outcome.created_dir || earlier.directories.contains(host) {
            manifest.directories.insert(host.to_owned());
        }
    }
    let hosts: HashSet<&str> = inventory
        .hosts
        .iter()
        .map(|host| host.name.as_str())
        .collect();
    let problems = remove_leftovers(
        out,
        &earlier,
        &mut manifest,
        &hosts,
        &inventory.network.interface.to_string(),
        &mut written,
    );
    render_manifest::save(out, &manifest)?;
    written.foreign = foreign_configs(out, &manifest, &hosts, &written.left_changed)?;
    match Error::from_all(problems) {
        Some(error) => Err(error),
        None => Ok(written),
    }
}

/// Removes the files of `earlier` this render did not write again, when they are still what
/// render wrote, and the directories render created for them once empty; records in `written`
/// what it removed and left, and in `manifest` what is still render's. Returns the failures.
fn remove_leftovers(
    out: &Path,
    earlier: &Manifest,
    manifest: &mut Manifest,
    hosts: &HashSet<&str>,
    interface: &str,
    written: &mut Written,
) -> Vec<Diagnostic> {
    let why = |path: &str| {
        let host = path.split_once('/').map_or(path, |(host, _)| host);
        if hosts.contains(host) {
            Why::InterfaceChanged {
                host: host.to_owned(),
                interface: interface.to_owned(),
            }
        } else {
            Why::HostGone {
                host: host.to_owned(),
            }
        }
    };
    let mut problems: Vec<Diagnostic> = Vec::new();
    for (path, digest) in &earlier.files {
        if manifest.files.contains_key(path) {
            continue;
        }
        match prune_file(&out.join(path), digest) {
            Ok(Pruned::Removed) => written.removed.push(Leftover {
                path: path.clone(),
                why: why(path),
            }),
            Ok(Pruned::Changed) => written.left_changed.push(Leftover {
                path: path.clone(),
                why: why(path),
            }),
            Ok(Pruned::Gone) => {}
            Err(err) => {
                // Still render's: the next render tries again.
                manifest.files.insert(path.clone(), digest.clone());
                problems.extend(
                    Error::io("remove", &out.join(path), &err)
                        .diagnostics()
                        .to_vec(),
                );
            }
        }
    }
    for dir in &earlier.directories {
        if hosts.contains(dir.as_str()) {
            continue;
        }
        match std::fs::remove_dir(out.join(dir)) {
            Ok(()) => written.removed_dirs.push(dir.clone()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            // Not empty (something else is in it), or not removable: still render's, and tried
            // again by a later render.
            Err(_) => {
                manifest.directories.insert(dir.clone());
            }
        }
    }
    problems
}

/// What writing the configs did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub written: usize,
    pub unchanged: usize,
    /// Files of earlier renders removed (paths relative to the directory).
    pub removed: Vec<Leftover>,
    /// Host directories of earlier renders removed once empty.
    pub removed_dirs: Vec<String>,
    /// Files of earlier renders no host has any more but changed since render wrote them: left,
    /// and no longer render's.
    pub left_changed: Vec<Leftover>,
    /// wg-quick files render did not write that `check --configs DIR` would read as hosts (e.g.
    /// the leftovers of a render by a wgdeploy without manifests). Never touched.
    pub foreign: Vec<String>,
}

/// A file an earlier render wrote that no host of this render has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: String,
    pub why: Why,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Its host is no longer in the inventory (removed or renamed).
    HostGone { host: String },
    /// Its host is, but under another interface name now.
    InterfaceChanged { host: String, interface: String },
}

enum Pruned {
    Removed,
    /// Not what render wrote there any more: someone changed or replaced it.
    Changed,
    /// Already gone.
    Gone,
}

/// Removes `path` if it is still the regular file render wrote (same digest).
fn prune_file(path: &Path, digest: &str) -> std::io::Result<Pruned> {
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Pruned::Gone),
        Err(err) => return Err(err),
        Ok(metadata) if !metadata.is_file() => return Ok(Pruned::Changed),
        Ok(_) => {}
    }
    if crate::store::journal::digest(&std::fs::read(path)?) != digest {
        return Ok(Pruned::Changed);
    }
    std::fs::remove_file(path)?;
    Ok(Pruned::Removed)
}

/// The `.conf` files `check --configs DIR` would read (`DIR/NAME.conf`, `DIR/NAME/*.conf`) that
/// render did not write. Host directories of this render are not listed through: one `read_dir`
/// of DIR, plus one per directory that is not a host's.
fn foreign_configs(
    out: &Path,
    manifest: &Manifest,
    hosts: &HashSet<&str>,
    left: &[Leftover],
) -> Result<Vec<String>> {
    let known = |path: &str| {
        manifest.files.contains_key(path) || left.iter().any(|leftover| leftover.path == path)
    };
    let read = |dir: &Path| {
        std::fs::read_dir(dir).map_err(|err| Error::io("read the output directory", dir, &err))
    };
    let mut foreign = Vec::new();
    for entry in read(out)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // The entry's own type needs no stat; a symlink is followed, as check follows it.
        let is_dir = entry
            .file_type()
            .is_ok_and(|kind| kind.is_dir() || (kind.is_symlink() && entry.path().is_dir()));
        if is_dir && !hosts.contains(name.as_str()) {
            for inner in read(&entry.path())?.flatten() {
                let inner = inner.file_name().to_string_lossy().into_owned();
                let path = format!("{name}/{inner}");
                if inner.ends_with(".conf") && !known(&path) {
                    foreign.push(path);
                }
            }
        } else if !is_dir && name.ends_with(".conf") {
            foreign.push(name);
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// What writing one config did.
struct Outcome {
    written: bool,
    /// Its host directory did not exist and was made for it.
    created_dir: bool,
}

/// Writes one config into `dir` (created 0700) unless it already has exactly this content.
/// Replacing an existing file is atomic (temporary file + rename) so a reader never sees half a
/// config; a new file is created directly (0600, exclusive), since there is no old version to
/// protect and an interrupted write is redone by the next render (its content then differs). No
/// fsync: rendered files can always be rendered again; the state file, which cannot, is fsynced.
fn write_config(dir: &Path, file_name: &str, text: &str) -> Result<Outcome> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(file_name);
    match std::fs::read(&path) {
        Ok(existing) if existing == text.as_bytes() => Ok(Outcome {
            written: false,
            created_dir: false,
        }),
        Ok(_) => {
            crate::store::files::write_file(&path, text.as_bytes(), false)
                .map_err(|err| Error::io("write config", &path, &err))?;
            Ok(Outcome {
                written: true,
                created_dir: false,
            })
        }
        Err(_) => {
            let created_dir = create_dir(dir)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .map_err(|err| Error::io("write config", &path, &err))?;
            Ok(Outcome {
                written: true,
                created_dir,
            })
        }
    }
}

/// Creates `dir` (0700, and the output directory above it when missing); returns whether `dir`
/// itself was created, which makes it render's to remove again.
fn create_dir(dir: &Path) -> Result<bool> {
    use std::os::unix::fs::DirBuilderExt;
    let create = || std::fs::DirBuilder::new().mode(0o700).create(dir);
    let result = match create() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|err| Error::io("create directory", parent, &err))?;
            }
            create()
        }
        result => result,
    };
    match result {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(err) => Err(Error::io("create directory", dir, &err)),
    }
}
