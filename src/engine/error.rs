//! Why one host failed, as the engine decides it: each kind renders its message (`Display`) and
//! its fix ([`HostFailure::help`]) here, in one place. A [`HostError`] (message + help) is what
//! reports carry; every kind converts into one.

use crate::engine::types::HostError;

/// The per-host failure kinds of surveying, applying and verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostFailure {
    /// The transport failed under a running script.
    #[error("the SSH session failed: {0}")]
    Session(String),
    #[error("no answer within {secs} s while connecting and gathering facts")]
    Unreachable { secs: u64 },
    #[error("`sudo -n` needs a password on this host")]
    SudoNeedsPassword,
    #[error("`become: sudo` is set but `sudo` is not installed on this host")]
    SudoMissing,
    /// The host's answer was cut or malformed (`detail`: the last line it wrote to stderr).
    #[error("{problem}{}", detail.as_ref().map(|detail| format!(": {detail}")).unwrap_or_default())]
    FactsIncomplete {
        problem: String,
        detail: Option<String>,
    },
    /// `wg` or `wg-quick` is missing: the sentence names them and the package.
    #[error("{0}")]
    MissingTools(String),
    #[error("`flock` not found on the host")]
    MissingFlock,
    #[error("`{user}` cannot read /etc/wireguard on this host")]
    UnreadableConfigDir { user: String },
    /// The apply step reported `@@fail`: its reason, and the tail of the host's log.
    #[error("{reason}")]
    StepFailed { reason: String, log: Vec<String> },
    #[error(
        "the apply step stopped before its end (exit status {status}); the config on the host is either the old or the new one, never a partial file — run apply again"
    )]
    StepCut { status: String },
    #[error("verification failed: `{interface}` is not running after the apply")]
    NotRunning { interface: String },
    #[error("verification failed: the planned config does not parse")]
    PlannedConfigUnparsable,
    #[error("verification failed: {}", .0.join("; "))]
    VerificationFailed(Vec<String>),
    #[error("the apply step did not finish within {secs} s (--step-timeout)")]
    StepTimeout { secs: u64 },
    /// The lock-out protection put the previous config back: no new SSH connection got through
    /// within the confirm window. `at`: when, as the host's clock read (`" at 10:15:00 UTC"`).
    #[error(
        "no confirmation within {secs} s (--confirm-timeout): no new SSH connection to {host} got through after the change, so the host put back its previous config by itself{at}; SSH works again"
    )]
    LockOutReverted { secs: u64, host: String, at: String },
    #[error("another wgdeploy run took over this host before the change was confirmed")]
    TakenOver,
    #[error("the confirm stopped before its end")]
    ConfirmCut,
    #[error("unexpected answer to the confirm")]
    ConfirmUnexpected,
}

/// How many of the host's last log lines a failed step shows.
const LOG_LINES_SHOWN: usize = 8;

impl HostFailure {
    /// What to do about it, when wgdeploy knows.
    pub fn help(&self) -> Option<String> {
        match self {
            HostFailure::Unreachable { .. } => {
                Some("check the host is up and reachable, or raise `--timeout`".into())
            }
            HostFailure::SudoNeedsPassword => Some(
                "allow the SSH user to run `sh` through sudo without a password (sudoers NOPASSWD), or connect as root".into(),
            ),
            HostFailure::SudoMissing => {
                Some("install sudo, or connect as root and drop `become: sudo`".into())
            }
            HostFailure::MissingFlock => Some(
                "install the `util-linux` package (wgdeploy locks the interface while applying)"
                    .into(),
            ),
            HostFailure::UnreadableConfigDir { .. } => Some(
                "set `ssh: {become: sudo}` for this host in the inventory, or connect as root"
                    .into(),
            ),
            HostFailure::StepTimeout { .. } => Some(
                "a slow `wg-quick up` (many peers, slow hooks) needs a larger `--step-timeout`"
                    .into(),
            ),
            HostFailure::LockOutReverted { .. } => Some(
                "the change cut off management access (a PostUp hook, a route, or AllowedIPs covering the SSH path?): fix the inventory, `wgdeploy plan`, then apply again".into(),
            ),
            HostFailure::StepFailed { log, .. } if !log.is_empty() => {
                let tail = &log[log.len().saturating_sub(LOG_LINES_SHOWN)..];
                Some(format!("the host said:\n  {}", tail.join("\n  ")))
            }
            _ => None,
        }
    }
}

impl From<HostFailure> for HostError {
    fn from(failure: HostFailure) -> HostError {
        HostError {
            message: failure.to_string(),
            help: failure.help(),
        }
    }
}

/// A cut or malformed answer from a host's script.
impl From<crate::remote::facts::FactsError> for HostFailure {
    fn from(error: crate::remote::facts::FactsError) -> HostFailure {
        HostFailure::FactsIncomplete {
            problem: error.to_string(),
            detail: None,
        }
    }
}

impl From<crate::remote::facts::FactsError> for HostError {
    fn from(error: crate::remote::facts::FactsError) -> HostError {
        HostFailure::from(error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_renders_its_message_and_fix() {
        let error = HostError::from(HostFailure::UnreadableConfigDir {
            user: "deploy".into(),
        });
        assert_eq!(
            error.message,
            "`deploy` cannot read /etc/wireguard on this host"
        );
        assert!(error.help.unwrap().contains("become: sudo"));
        let error = HostError::from(HostFailure::Unreachable { secs: 10 });
        assert_eq!(
            error.message,
            "no answer within 10 s while connecting and gathering facts"
        );
        assert_eq!(
            HostFailure::FactsIncomplete {
                problem: "the host's answer ended inside `config`".into(),
                detail: Some("sh: 1: wg: Permission denied".into()),
            }
            .to_string(),
            "the host's answer ended inside `config`: sh: 1: wg: Permission denied"
        );
        assert_eq!(
            HostFailure::VerificationFailed(vec!["a".into(), "b".into()]).to_string(),
            "verification failed: a; b"
        );
        assert_eq!(
            HostFailure::NotRunning {
                interface: "wg0".into()
            }
            .help(),
            None
        );
        let error = HostError::from(HostFailure::LockOutReverted {
            secs: 60,
            host: "web1".into(),
            at: " at 10:15:00 UTC".into(),
        });
        assert_eq!(
            error.message,
            "no confirmation within 60 s (--confirm-timeout): no new SSH connection to web1 got through after the change, so the host put back its previous config by itself at 10:15:00 UTC; SSH works again"
        );
        assert!(
            error
                .help
                .unwrap()
                .starts_with("the change cut off management access")
        );
    }

    #[test]
    fn a_failed_step_shows_the_last_lines_of_the_hosts_log() {
        let log: Vec<String> = (1..=10).map(|line| format!("line {line}")).collect();
        let failure = HostFailure::StepFailed {
            reason: "wg-quick up failed".into(),
            log,
        };
        assert_eq!(failure.to_string(), "wg-quick up failed");
        let help = failure.help().unwrap();
        assert!(help.starts_with("the host said:\n  line 3\n"), "{help}");
        assert!(help.ends_with("line 10"));
        let quiet = HostFailure::StepFailed {
            reason: "x".into(),
            log: Vec::new(),
        };
        assert_eq!(quiet.help(), None);
    }
}
