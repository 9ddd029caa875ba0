//! Why an SSH connection could not be made, worded for the person running wgdeploy.
//!
//! Every message names the hop (the inventory host, or the jump host on the way to it) and the
//! address it was reached at, and never contains key material: keys appear only as their type and
//! OpenSSH-style SHA256 fingerprint.

use std::path::PathBuf;
use std::time::Duration;

/// A connection that could not be established. `hop` reads like "web1" for the target itself and
/// "jump host bastion (for web1)" for a bastion on the way.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {hop} at {addr}: {reason}")]
    Unreachable {
        hop: String,
        addr: String,
        reason: String,
    },

    #[error("timed out after {} connecting to {hop} at {addr} ({stage})", seconds(*.after))]
    Timeout {
        hop: String,
        addr: String,
        after: Duration,
        /// What was under way: "tcp connect", "ssh handshake", "authentication", ...
        stage: &'static str,
    },

    #[error(
        "the host key of {hop} ({host} port {port}) is not known: {key_type} key {fingerprint} is not in {}",
        known_hosts.display()
    )]
    UnknownHostKey {
        hop: String,
        host: String,
        port: u16,
        key_type: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },

    #[error(
        "the host key of {hop} ({host} port {port}) has changed: it is now {key_type} key {fingerprint} but {} line {line} records another key for this host; refusing to connect",
        known_hosts.display()
    )]
    ChangedHostKey {
        hop: String,
        host: String,
        port: u16,
        key_type: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: u32,
    },

    #[error(
        "the host key of {hop} ({host} port {port}), {key_type} key {fingerprint}, is marked @revoked in {} line {line}; refusing to connect",
        known_hosts.display()
    )]
    RevokedHostKey {
        hop: String,
        host: String,
        port: u16,
        key_type: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: u32,
    },

    #[error(
        "refusing {hop} ({host} port {port}): it offered a host certificate, which wgdeploy does not verify"
    )]
    HostCertificate {
        hop: String,
        host: String,
        port: u16,
    },

    #[error("cannot use known_hosts file {}: {reason}", path.display())]
    KnownHosts { path: PathBuf, reason: String },

    #[error(
        "authentication failed for {user}@{host} ({hop}); tried {}",
        tried_list(tried)
    )]
    AuthFailed {
        hop: String,
        user: String,
        host: String,
        /// What was offered, in order: key file paths, "N agent keys", notes on what was skipped.
        tried: Vec<String>,
    },

    #[error(
        "cannot authenticate as {user}@{host} ({hop}): identity file {} is encrypted, wgdeploy does not ask for passphrases and no ssh-agent holds that key",
        path.display()
    )]
    EncryptedKey {
        hop: String,
        user: String,
        host: String,
        path: PathBuf,
        tried: Vec<String>,
    },

    #[error("cannot use identity file {} for {hop}: {reason}", path.display())]
    IdentityFile {
        hop: String,
        path: PathBuf,
        reason: String,
    },

    #[error("cannot use ssh config {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    #[error("invalid ProxyJump `{}` for {hop}: {reason}", spec.escape_debug())]
    ProxyJump {
        hop: String,
        spec: String,
        reason: String,
    },

    #[error("ssh connection to {hop} at {addr} failed: {reason}")]
    Protocol {
        hop: String,
        addr: String,
        reason: String,
    },
}

impl SshError {
    /// The fix, when there is one to suggest: how to accept a host key, load a key into the agent...
    pub fn help(&self) -> Option<String> {
        match self {
            SshError::Unreachable { addr, .. } => Some(format!(
                "check that {addr} is the right address and port (inventory, or ssh_config HostName/Port) and that sshd is running and reachable from here"
            )),
            SshError::Timeout { addr, after, .. } => Some(format!(
                "{addr} did not answer within {}: check that the host is up and that no firewall drops the traffic, or raise the connect timeout",
                seconds(*after)
            )),
            SshError::UnknownHostKey {
                host,
                port,
                key_type,
                fingerprint,
                known_hosts,
                ..
            } => Some(format!(
                "check that {fingerprint} is really the host's key (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_{}_key.pub`), then re-run with --accept-new to record it, or add it with `ssh-keyscan -p {port} {} >> {}`",
                host_key_file_kind(key_type),
                quote(host),
                quote(&known_hosts.display().to_string())
            )),
            SshError::ChangedHostKey {
                host,
                port,
                known_hosts,
                line,
                ..
            } => Some(format!(
                "someone may be intercepting the connection, or the host was reinstalled; only if you have verified the new key out of band, remove the old entry (line {line}) with `ssh-keygen -R {} -f {}` and connect again with --accept-new",
                quote(&known_hosts_name(host, *port)),
                quote(&known_hosts.display().to_string())
            )),
            SshError::RevokedHostKey { .. } => Some(
                "the host presents a key that was deliberately revoked: replace the host's key before connecting".to_string(),
            ),
            SshError::AuthFailed { user, host, .. } => Some(format!(
                "add one of these keys to ~{user}/.ssh/authorized_keys on {host}, or name the right key: `identity` in the inventory, IdentityFile in ssh_config, or `ssh-add` it to your agent"
            )),
            SshError::EncryptedKey { path, .. } => Some(format!(
                "load the key into your agent with `ssh-add {}` and run wgdeploy with SSH_AUTH_SOCK set to that agent",
                quote(&path.display().to_string())
            )),
            SshError::KnownHosts { .. } => Some(
                "check the file's permissions, or point wgdeploy to another known_hosts file".to_string(),
            ),
            SshError::HostCertificate { .. }
            | SshError::IdentityFile { .. }
            | SshError::Config { .. }
            | SshError::ProxyJump { .. }
            | SshError::Protocol { .. } => None,
        }
    }
}

/// The name a host is recorded under in known_hosts: `host`, or `[host]:port` off port 22.
pub(crate) fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The `KIND` in sshd's default `/etc/ssh/ssh_host_KIND_key` for a key type.
fn host_key_file_kind(key_type: &str) -> &'static str {
    match key_type {
        "ssh-rsa" => "rsa",
        t if t.starts_with("ecdsa-") => "ecdsa",
        _ => "ed25519",
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        "no key at all (no identity file, ssh_config IdentityFile, agent key or default key was usable)".to_string()
    } else {
        tried.join(", ")
    }
}

/// Quotes a word for a shell command line in a help text, only when it needs it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
