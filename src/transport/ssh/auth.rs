//! Public-key authentication, in the order the product promises: the inventory's identity file,
//! ssh_config's IdentityFile(s), the ssh-agent's keys, then the default identities.
//!
//! Nothing here is interactive: an encrypted key file is usable only through an agent that holds
//! it. Private keys are held only for the duration of this step and never formatted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{AgentAuthError, MethodKind, client::AuthResult};

use super::config::Hop;
use super::handler::HostKeyCheck;
use super::{SshError, SshOptions};

/// A private key file as found on disk. Deliberately not `Debug`: it may hold a private key.
enum KeyFile {
    Ready(Arc<PrivateKey>),
    /// Needs a passphrase; its public half, when readable, lets the agent stand in for it.
    Encrypted(Option<PublicKey>),
}

/// Reads a key file: `Ok(None)` when it does not exist.
fn load_key_file(path: &Path) -> Result<Option<KeyFile>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    match russh::keys::decode_secret_key(&text, None) {
        Ok(key) => Ok(Some(KeyFile::Ready(Arc::new(key)))),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            Ok(Some(KeyFile::Encrypted(encrypted_public_half(path, &text))))
        }
        Err(error) => Err(format!("not a usable private key ({error})")),
    }
}

/// OpenSSH-format keys carry their public half in clear; other formats have it in `<path>.pub`.
fn encrypted_public_half(path: &Path, text: &str) -> Option<PublicKey> {
    if let Ok(key) = PrivateKey::from_openssh(text) {
        return Some(key.public_key().clone());
    }
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    russh::keys::load_public_key(PathBuf::from(public)).ok()
}

/// Whether to go on offering keys after an attempt.
enum Step {
    Done,
    Next,
    /// The server will not take (more) public keys, or the connection is gone.
    Stop,
}

/// How a key is offered, for its count of turns.
#[derive(Clone, Copy)]
enum Offer {
    /// A key file we hold: its first request carries the signature.
    Signed,
    /// An agent's key: the server is asked whether it takes the key before the agent signs.
    Probed,
}

struct Attempts<'a> {
    handle: &'a mut Handle<HostKeyCheck>,
    hop: &'a Hop,
    /// `WGDEPLOY_STATS`: the turns each offer costs.
    stats: Option<Arc<crate::transport::stats::Counter>>,
    /// What was offered or skipped, for the error message.
    tried: Vec<String>,
    offered: Vec<KeyData>,
    /// Encrypted key files no agent key has stood in for (yet).
    encrypted: Vec<(PathBuf, Option<PublicKey>)>,
    /// The RSA signature hash, asked of the server once, when the first RSA key comes up.
    rsa_hash: Option<Option<HashAlg>>,
    /// Offers made so far.
    offers: usize,
    /// The server took the first offer: a channel asked for early rode behind its signed request
    /// (vendor/russh: a key file's first request, an agent's after the server's PK_OK), at no turn
    /// of its own.
    channel_rode_along: bool,
}

/// Authenticates `hop.user` on an established connection, or says what was tried. `Ok(true)`: the
/// server took the first offer, so a channel asked for early (`Handle::channel_open_session_early`)
/// went behind its signed request.
pub(crate) async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    hop: &Hop,
    options: &SshOptions,
    stats: Option<&Arc<crate::transport::stats::Counter>>,
) -> Result<bool, SshError> {
    let mut attempts = Attempts {
        handle,
        hop,
        stats: stats.cloned(),
        tried: Vec::new(),
        offered: Vec::new(),
        encrypted: Vec::new(),
        rsa_hash: None,
        offers: 0,
        channel_rode_along: false,
    };
    if attempts.offer_all(options).await? {
        return Ok(attempts.channel_rode_along);
    }
    Err(attempts.failure())
}

impl Attempts<'_> {
    /// Offers every source in order; `Ok(true)` once the server accepts a key.
    async fn offer_all(&mut self, options: &SshOptions) -> Result<bool, SshError> {
        if let Some(path) = &self.hop.identity {
            let key = load_key_file(path)
                .and_then(|key| key.ok_or_else(|| "no such file".to_string()))
                .map_err(|reason| SshError::IdentityFile {
                    hop: self.hop.name.clone(),
                    path: path.clone(),
                    reason,
                })?;
            match self.offer_file(path, key).await {
                Step::Done => return Ok(true),
                Step::Stop => return Ok(false),
                Step::Next => {}
            }
        }
        let config_identities = self.hop.config_identities.clone();
        match self.offer_files(&config_identities).await {
            Step::Done => return Ok(true),
            Step::Stop => return Ok(false),
            Step::Next => {}
        }
        if let Some(socket) = &options.agent_socket {
            match self.offer_agent(socket).await {
                Step::Done => return Ok(true),
                Step::Stop => return Ok(false),
                Step::Next => {}
            }
        }
        Ok(matches!(
            self.offer_files(&options.default_identities).await,
            Step::Done
        ))
    }

    /// Optional key files (ssh_config's, the defaults): missing ones are skipped silently,
    /// unreadable ones noted.
    async fn offer_files(&mut self, paths: &[PathBuf]) -> Step {
        for path in paths {
            let step = match load_key_file(path) {
                Ok(None) => Step::Next,
                Ok(Some(key)) => self.offer_file(path, key).await,
                Err(reason) => {
                    self.tried
                        .push(format!("{} (skipped: {reason})", path.display()));
                    Step::Next
                }
            };
            if !matches!(step, Step::Next) {
                return step;
            }
        }
        Step::Next
    }

    async fn offer_file(&mut self, path: &Path, key: KeyFile) -> Step {
        let key = match key {
            KeyFile::Ready(key) => key,
            KeyFile::Encrypted(public) => {
                self.tried.push(format!("{} (encrypted)", path.display()));
                self.encrypted.push((path.to_path_buf(), public));
                return Step::Next;
            }
        };
        if self.already_offered(key.public_key().key_data()) {
            return Step::Next;
        }
        self.tried.push(path.display().to_string());
        let hash = self.hash_for(key.public_key()).await;
        let result = self
            .handle
            .authenticate_publickey(&self.hop.user, PrivateKeyWithHashAlg::new(key, hash))
            .await;
        self.count_offer(
            Offer::Signed,
            result.as_ref().is_ok_and(AuthResult::success),
        );
        self.judge(result.ok())
    }

    async fn offer_agent(&mut self, socket: &Path) -> Step {
        let mut agent = match AgentClient::connect_uds(socket).await {
            Ok(agent) => agent,
            Err(error) => {
                self.tried.push(format!(
                    "ssh-agent at {} (unreachable: {error})",
                    socket.display()
                ));
                return Step::Next;
            }
        };
        // OpenSSH binds the agent connection to this session so that destination-constrained keys
        // can be used; agents too old to know the extension refuse it, which is harmless.
        if let Some(binding) = self.handle.agent_session_binding() {
            let _ = agent.bind_session(binding, false).await;
        }
        let keys = match agent.request_identities().await {
            Ok(identities) => self.agent_keys_in_order(identities),
            Err(error) => {
                self.tried.push(format!(
                    "ssh-agent at {} (failed: {error})",
                    socket.display()
                ));
                return Step::Next;
            }
        };
        let mut count = 0;
        let mut step = Step::Next;
        for key in keys {
            if self.already_offered(key.key_data()) {
                continue;
            }
            count += 1;
            self.encrypted.retain(|(_, public)| {
                public.as_ref().map(|p| p.key_data()) != Some(key.key_data())
            });
            let hash = self.hash_for(&key).await;
            let result = self
                .handle
                .authenticate_publickey_with(&self.hop.user, key, hash, &mut agent)
                .await;
            self.count_offer(
                Offer::Probed,
                result.as_ref().is_ok_and(AuthResult::success),
            );
            step = match result {
                Ok(result) => self.judge(Some(result)),
                // The agent declined to sign (a confirm-constraint key, say): try the next one.
                Err(AgentAuthError::Key(_)) => Step::Next,
                Err(AgentAuthError::Send(_)) => Step::Stop,
            };
            if !matches!(step, Step::Next) {
                break;
            }
        }
        self.tried.push(match count {
            1 => "1 agent key".to_string(),
            n => format!("{n} agent keys"),
        });
        step
    }

    /// Plain keys (certificates are not used), the ones standing in for encrypted identity files
    /// first, as ssh does for keys named by IdentityFile.
    fn agent_keys_in_order(&self, identities: Vec<AgentIdentity>) -> Vec<PublicKey> {
        let (mut first, rest): (Vec<PublicKey>, Vec<PublicKey>) = identities
            .into_iter()
            .filter_map(|identity| match identity {
                AgentIdentity::PublicKey { key, .. } => Some(key),
                AgentIdentity::Certificate { .. } => None,
            })
            .partition(|key| {
                self.encrypted.iter().any(|(_, public)| {
                    public.as_ref().map(|p| p.key_data()) == Some(key.key_data())
                })
            });
        first.extend(rest);
        first
    }

    /// `WGDEPLOY_STATS`: the turns an offer cost. A key file's request is signed at once (1 turn:
    /// the server's answer); an agent's key is probed first, then signed when the server takes it.
    /// The `ssh-userauth` service request goes out with the first offer, unanswered (both are
    /// vendor/russh's changes).
    fn count_offer(&mut self, offer: Offer, accepted: bool) {
        self.offers += 1;
        self.channel_rode_along = accepted && self.offers == 1;
        if let Some(stats) = &self.stats {
            stats.turns(match offer {
                Offer::Signed => 1,
                Offer::Probed => 1 + u64::from(accepted),
            });
        }
    }

    /// Records a key as offered; true if it already was (an agent key also found on disk...).
    fn already_offered(&mut self, key: &KeyData) -> bool {
        if self.offered.contains(key) {
            return true;
        }
        self.offered.push(key.clone());
        false
    }

    /// RSA keys sign with rsa-sha2-512/256, never SHA-1 `ssh-rsa`: the best the server announced
    /// (server-sig-algs), else rsa-sha2-512, which every OpenSSH since 7.2 accepts.
    async fn hash_for(&mut self, key: &PublicKey) -> Option<HashAlg> {
        if !key.algorithm().is_rsa() {
            return None;
        }
        if self.rsa_hash.is_none() {
            let announced = self.handle.best_supported_rsa_hash().await.ok().flatten();
            self.rsa_hash = Some(announced.flatten().or(Some(HashAlg::Sha512)));
        }
        self.rsa_hash.flatten()
    }

    /// `None` is an attempt that could not be sent: the connection is gone.
    fn judge(&mut self, result: Option<AuthResult>) -> Step {
        match result {
            Some(AuthResult::Success) => Step::Done,
            Some(AuthResult::Failure {
                remaining_methods,
                partial_success,
            }) => {
                if partial_success {
                    self.tried.push(
                        "(the server wants a second factor besides the key, which wgdeploy cannot give)"
                            .to_string(),
                    );
                    Step::Stop
                } else if remaining_methods.contains(&MethodKind::PublicKey) {
                    Step::Next
                } else {
                    Step::Stop
                }
            }
            None => {
                self.tried
                    .push("(the server closed the connection)".to_string());
                Step::Stop
            }
        }
    }

    fn failure(self) -> SshError {
        let hop = self.hop.name.clone();
        let user = self.hop.user.clone();
        let host = self.hop.host.clone();
        match self.encrypted.into_iter().next() {
            Some((path, _)) => SshError::EncryptedKey {
                hop,
                user,
                host,
                path,
                tried: self.tried,
            },
            None => SshError::AuthFailed {
                hop,
                user,
                host,
                tried: self.tried,
            },
        }
    }
}
