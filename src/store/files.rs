//! Writing the operator's files: atomically (a temporary file in the same directory, renamed over
//! the target), readable by the owner only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Atomically and durably replaces `path` with `content`, readable by the owner only.
pub fn write_private_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    write_file(path, content, true)
}

/// Atomically replaces `path` with `content` (mode 0600): a temporary file in the same directory,
/// renamed over the target. `durable` adds an fsync before the rename.
pub fn write_file(path: &Path, content: &[u8], durable: bool) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(content)?;
        if durable {
            file.sync_all()?;
        }
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// What is wrong with a JSON file wgdeploy wrote (state, journal), in words and without quoting
/// it: serde_json's own text speaks of types and fields, and can quote a private key.
pub fn json_problem(err: &serde_json::Error) -> String {
    let what = match err.classify() {
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "holds a value wgdeploy does not expect",
        serde_json::error::Category::Eof => "ends early (the file is cut short)",
        serde_json::error::Category::Io => "cannot be read",
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}
