//! Helpers for tests that run the `wgdeploy` binary as a user would.
#![allow(dead_code)]

use base64::Engine;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn wgdeploy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wgdeploy"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run wgdeploy")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A private key derived from the host name, so snapshots are reproducible. Test fixtures only.
pub fn fixed_key(name: &str) -> String {
    let mut bytes = [0u8; 32];
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, byte) in bytes.iter_mut().enumerate() {
        for b in name.bytes().chain([index as u8]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        *byte = (hash >> 24) as u8;
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes a 0600 state file with fixed keys for every host of the inventory.
pub fn fixed_state(inventory: &Path, dir: &Path) -> PathBuf {
    let inventory = wgdeploy::core::inventory::load(inventory).expect("valid inventory");
    let hosts: serde_json::Map<String, serde_json::Value> = inventory
        .hosts
        .iter()
        .map(|host| {
            let name = host.name.to_string();
            (
                name.clone(),
                serde_json::json!({ "private_key": fixed_key(&name) }),
            )
        })
        .collect();
    let path = dir.join("state.json");
    std::fs::write(
        &path,
        serde_json::json!({ "version": 1, "hosts": hosts }).to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub mod configs;
pub mod sshd;
