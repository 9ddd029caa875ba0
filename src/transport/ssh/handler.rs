//! The russh client handler: strict host key verification against known_hosts.

use std::path::PathBuf;

use russh::client;
use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

use super::SshError;
use super::known_hosts::{self, Entry, Verdict};

/// Checks the server's key for one hop. Holds the known_hosts entries read before connecting (they
/// also chose the host key algorithms to ask for), and re-reads the file only to record a new key.
pub(crate) struct HostKeyCheck {
    pub hop: String,
    pub host: String,
    pub port: u16,
    pub known_hosts: PathBuf,
    pub accept_new: bool,
    pub entries: Vec<Entry>,
    /// The key accepted at the first exchange: a re-key must present the same one.
    pub accepted: Option<PublicKey>,
}

/// What the handshake failed with: russh's own error, or our refusal of the host key (carried out
/// whole, so the caller can report fingerprint and file line).
#[derive(Debug)]
pub(crate) enum HandshakeError {
    Ssh(russh::Error),
    Refused(Box<SshError>),
}

impl From<russh::Error> for HandshakeError {
    fn from(error: russh::Error) -> Self {
        HandshakeError::Ssh(error)
    }
}

impl client::Handler for HostKeyCheck {
    type Error = HandshakeError;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            // Never advertised (Preferred::host_key_certificates is empty), so never expected.
            return Err(self.refuse(SshError::HostCertificate {
                hop: self.hop.clone(),
                host: self.host.clone(),
                port: self.port,
            }));
        };
        if let Some(accepted) = &self.accepted {
            return if accepted.key_data() == key.key_data() {
                Ok(true)
            } else {
                Err(self.refuse(self.changed(key, 0)))
            };
        }
        match self.judge(key)? {
            Verdict::Known => {
                self.accepted = Some(key.clone());
                Ok(true)
            }
            Verdict::Unknown => Err(self.refuse(self.unknown(key))),
            Verdict::Changed { line } => Err(self.refuse(self.changed(key, line))),
            Verdict::Revoked { line } => Err(self.refuse(self.revoked(key, line))),
        }
    }
}

impl HostKeyCheck {
    /// The verdict, recording the key first when the host is new and `accept_new` is set.
    fn judge(&self, key: &PublicKey) -> Result<Verdict, HandshakeError> {
        let verdict = known_hosts::verdict(&self.entries, key);
        if verdict != Verdict::Unknown || !self.accept_new {
            return Ok(verdict);
        }
        known_hosts::record_if_unknown(&self.known_hosts, &self.host, self.port, key).map_err(
            |error| {
                self.refuse(SshError::KnownHosts {
                    path: self.known_hosts.clone(),
                    reason: format!("cannot record the new host key: {error}"),
                })
            },
        )
    }

    fn refuse(&self, error: SshError) -> HandshakeError {
        HandshakeError::Refused(Box::new(error))
    }

    fn unknown(&self, key: &PublicKey) -> SshError {
        SshError::UnknownHostKey {
            hop: self.hop.clone(),
            host: self.host.clone(),
            port: self.port,
            key_type: key_type(key),
            fingerprint: fingerprint(key),
            known_hosts: self.known_hosts.clone(),
        }
    }

    fn changed(&self, key: &PublicKey, line: u32) -> SshError {
        SshError::ChangedHostKey {
            hop: self.hop.clone(),
            host: self.host.clone(),
            port: self.port,
            key_type: key_type(key),
            fingerprint: fingerprint(key),
            known_hosts: self.known_hosts.clone(),
            line,
        }
    }

    fn revoked(&self, key: &PublicKey, line: u32) -> SshError {
        SshError::RevokedHostKey {
            hop: self.hop.clone(),
            host: self.host.clone(),
            port: self.port,
            key_type: key_type(key),
            fingerprint: fingerprint(key),
            known_hosts: self.known_hosts.clone(),
            line,
        }
    }
}

/// The key type as known_hosts and ssh-keygen name it: `ssh-ed25519`, `ssh-rsa`, ...
fn key_type(key: &PublicKey) -> String {
    key.algorithm().as_str().to_string()
}

/// `SHA256:` then unpadded base64, exactly as `ssh-keygen -l` and ssh(1) print it.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}
