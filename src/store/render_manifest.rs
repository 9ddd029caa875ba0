//! The manifest `render --out DIR` keeps in `DIR/.wgdeploy-render.json`: every file it wrote there
//! (with a digest of what it wrote) and every host directory it created. It is how a later render
//! tells its own leftovers (a removed or renamed host's config, which carries a private key) from
//! files someone else put in DIR, which it never removes.

use crate::core::error::{Diagnostic, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

/// The manifest's name in the output directory. Host names start with a letter or digit, so no
/// host directory can take this name.
pub const FILE_NAME: &str = ".wgdeploy-render.json";

const VERSION: u32 = 1;

/// What render wrote into a directory. Paths are relative to it: files `HOST/FILE`, directories
/// `HOST`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Each file and the `sha256:` digest of the content render wrote into it.
    pub files: BTreeMap<String, String>,
    /// The host directories render created (removed again once unused and empty).
    pub directories: BTreeSet<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    /// For whoever opens the file; not read back.
    #[serde(default)]
    about: String,
    version: u32,
    #[serde(default)]
    directories: BTreeSet<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

const ABOUT: &str = "the files `wgdeploy render` wrote into this directory: it removes them \
                     again when their host leaves the inventory, and never touches other files";

/// Reads `DIR/.wgdeploy-render.json`; none yet (a first render, or a directory rendered into by
/// a wgdeploy without manifests) is an empty manifest.
pub fn load(dir: &Path) -> Result<Manifest> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(err) => return Err(Error::io("read the render manifest", &path, &err)),
    };
    let invalid = |what: String| -> Error {
        Diagnostic::new(format!(
            "`{}` is not the list of files `wgdeploy render` wrote: {what}",
            path.display()
        ))
        .help(format!(
            "delete it; render then writes a new one, and leaves the files earlier renders wrote into {} alone",
            dir.display()
        ))
        .into()
    };
    let file: ManifestFile = serde_json::from_str(&text).map_err(|err| {
        let what = if err.is_data() {
            "an entry has the wrong form"
        } else {
            "it is not valid JSON"
        };
        invalid(format!(
            "{what} (line {} column {})",
            err.line(),
            err.column()
        ))
    })?;
    if file.version != VERSION {
        return Err(invalid(format!(
            "it has version {}, this wgdeploy reads version {VERSION}",
            file.version
        )));
    }
    // Removal acts on these paths: only a host's own directory and a file directly in it, never
    // anything outside DIR.
    for name in file.files.keys() {
        if !is_config_path(name) {
            return Err(invalid(format!("`{name}` is not a path HOST/FILE.conf")));
        }
    }
    for name in &file.directories {
        if !is_plain_name(name) {
            return Err(invalid(format!("`{name}` is not a host directory")));
        }
    }
    Ok(Manifest {
        files: file.files,
        directories: file.directories,
    })
}

/// Writes the manifest atomically, unless the one in DIR already says exactly this (a render
/// that changed nothing writes nothing).
pub fn save(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(FILE_NAME);
    let file = ManifestFile {
        about: ABOUT.into(),
        version: VERSION,
        directories: manifest.directories.clone(),
        files: manifest.files.clone(),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("manifest serializes");
    text.push('\n');
    if std::fs::read(&path).is_ok_and(|existing| existing == text.as_bytes()) {
        return Ok(());
    }
    // Durable: a manifest lost in a crash would leave the next render blind to its leftovers.
    crate::store::files::write_private_file(&path, text.as_bytes())
        .map_err(|err| Error::io("write the render manifest", &path, &err))
}

/// `HOST/FILE.conf`: two plain components.
fn is_config_path(path: &str) -> bool {
    match path.split_once('/') {
        Some((host, file)) => is_plain_name(host) && is_plain_name(file) && file.ends_with(".conf"),
        None => false,
    }
}

/// One normal path component (no `/`, not `.` or `..`).
fn is_plain_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none()
        && !name.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_survives_the_round_trip_and_an_unchanged_one_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Manifest::default());
        let manifest = Manifest {
            files: [("home/wg0.conf".to_owned(), "sha256:ab".to_owned())].into(),
            directories: ["home".to_owned()].into(),
        };
        save(dir.path(), &manifest).unwrap();
        assert_eq!(load(dir.path()).unwrap(), manifest);
        let path = dir.path().join(FILE_NAME);
        let inode = |path: &Path| std::os::unix::fs::MetadataExt::ino(&path.metadata().unwrap());
        let before = inode(&path);
        save(dir.path(), &manifest).unwrap();
        assert_eq!(inode(&path), before, "an unchanged manifest is left alone");
    }

    #[test]
    fn paths_that_could_reach_outside_the_directory_are_refused() {
        for bad in [
            "../wg0.conf",
            "/etc/wireguard/wg0.conf",
            "home/../../x.conf",
            "home/wg0.txt",
            "home",
            "a/b/c.conf",
            "./wg0.conf",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let text = format!(r#"{{"version": 1, "files": {{"{bad}": "sha256:00"}}}}"#);
            std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
            let error = load(dir.path()).unwrap_err().to_string();
            assert!(
                error.contains("is not a path HOST/FILE.conf"),
                "{bad}: {error}"
            );
        }
        for bad in ["..", ".", "a/b", "/"] {
            let dir = tempfile::tempdir().unwrap();
            let text = format!(r#"{{"version": 1, "directories": ["{bad}"]}}"#);
            std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
            let error = load(dir.path()).unwrap_err().to_string();
            assert!(error.contains("is not a host directory"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_damaged_manifest_is_an_error_in_plain_words() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "{\"version\": 1, \"files\": {").unwrap();
        let error = load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("it is not valid JSON (line 1"), "{error}");
        assert!(error.contains("delete it"), "{error}");
        std::fs::write(
            dir.path().join(FILE_NAME),
            "{\"version\": 1, \"files\": [1]}",
        )
        .unwrap();
        let error = load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("an entry has the wrong form"), "{error}");
    }
}
