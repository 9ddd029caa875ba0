//! What the engine works with: a host's job, its errors, the connector and reporter it is given,
//! the run's limits and identity, and what happened on each host.

use crate::core::change::{Class, HostChange};
use crate::core::facts::{Facts, LiveInterface};
use crate::core::forwarding::Families;
use crate::core::model::InterfaceName;
use crate::remote::{self, Become};
use crate::transport::Transport;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One host's work, owned so it can move into a task.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub interface: InterfaceName,
    /// The config it must run (holds the private key: never printed).
    pub desired: crate::core::facts::SecretText,
    pub forwarding: Families,
    pub become_: Become,
    /// Which key changes this run may make, and how plans name generated keys.
    pub keys: Arc<crate::core::key_guard::KeyContext>,
}

impl Job {
    /// The change this host needs, from what its facts show against the job's desired config.
    pub fn classify(&self, facts: &Facts) -> HostChange {
        crate::core::change::classify(
            &self.name,
            &self.interface,
            self.desired.expose(),
            self.forwarding,
            facts,
        )
    }
}

/// Why a host failed, with the fix when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    pub message: String,
    pub help: Option<String>,
}

impl HostError {
    pub fn new(message: impl Into<String>) -> HostError {
        HostError {
            message: message.into(),
            help: None,
        }
    }
    pub fn help(mut self, help: impl Into<String>) -> HostError {
        self.help = Some(help.into());
        self
    }
}

/// How a session to a host is opened (SSH for real, a fake in tests).
pub trait Connector: Send + Sync + 'static {
    type Session: Transport + 'static;
    fn connect(&self, job: &Job) -> impl Future<Output = Result<Self::Session, HostError>> + Send;
}

/// Progress of each host, drawn by the output layer.
pub trait Reporter: Send + Sync {
    fn update(&self, host: &str, what: &str);
    fn finish(&self, host: &str, ok: bool, what: &str);
}

/// Limits of a run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub parallel: usize,
    /// For connecting and gathering facts, per host.
    pub connect: Duration,
    /// For one apply step (wg-quick up can be slow), per host: `--step-timeout`. Separate from
    /// the confirm window, which starts when the step ends.
    pub apply: Duration,
}

/// A host after the survey: its session, facts and change, or why it could not be surveyed.
pub struct Surveyed<S> {
    pub job: Arc<Job>,
    pub outcome: Result<(Arc<S>, Facts, HostChange), HostError>,
    /// Apply's survey command, still running and waiting for the host's step
    /// ([`crate::remote::facts_then_apply_script`]); dropped, it ends without changing anything.
    pub pending: Option<crate::transport::Pending>,
}

/// What every host of one run shares: its deployment id, what it records, how it protects.
#[derive(Debug, Clone)]
pub struct Run {
    /// Shared by every host the run changes; recorded in each host's generation.
    pub deployment: String,
    /// `apply` or `rollback`.
    pub kind: &'static str,
    /// `sha256:…` of the inventory file.
    pub inventory_digest: String,
    /// Generations kept on each host.
    pub keep: usize,
    /// Lock-out protection: a changed host reverts unless confirmed over a fresh connection in time.
    pub confirm_timeout: Duration,
    /// `apply --atomic`: if any host fails, the hosts this run changed are rolled back.
    pub atomic: bool,
}

impl Run {
    pub(crate) fn arm(&self, step_limit: Duration) -> crate::core::change::Arm {
        crate::core::change::Arm {
            token: self.deployment.clone(),
            seconds: self.confirm_timeout.as_secs().max(1),
            step_seconds: step_limit.as_secs().max(1),
        }
    }

    pub(crate) fn record(&self) -> remote::GenerationRecord {
        remote::GenerationRecord {
            deployment: self.deployment.clone(),
            kind: self.kind,
            inventory_digest: self.inventory_digest.clone(),
            version: env!("CARGO_PKG_VERSION"),
            keep: self.keep,
        }
    }
}

/// What happened on a host.
#[derive(Debug, Clone)]
pub struct HostReport {
    pub name: String,
    pub class: Option<Class>,
    pub outcome: Result<Applied, HostError>,
    /// Things worth knowing that are not failures (e.g. sessions refreshed after a peer restarted).
    pub notes: Vec<String>,
    /// `apply --atomic`: this host's change was undone because another host failed.
    pub rolled_back: bool,
}

#[derive(Debug, Clone)]
pub struct Applied {
    /// Something was changed on the host.
    pub changed: bool,
    pub live: Option<LiveInterface>,
    /// The host's generation now (the one this run recorded when it changed the host).
    pub generation: Option<u64>,
    /// The host's clock when `live` was read, for handshake ages.
    pub now: u64,
}
