//! Why one host failed, as the engine decides it: each kind renders its message (`Display`) and
//! its fix ([`HostFailure::help`]) here, in one place. A [`HostError`] (message + help) is what
//! reports carry; every kind converts into one.

use crate::engine::types::HostError;

/// The per-host failure kinds of connecting, surveying, applying, verifying, rolling back and
/// adopting.
#[derive(Debug, thiserror::Error)]
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
    /// The config sets `DNS` (the value) and the host has no `resolvconf`, which wg-quick needs.
    #[error(
        "the config sets `DNS = {dns}` but `resolvconf` is not installed on this host: wg-quick needs it to set resolvers and would fail to bring the interface up"
    )]
    NoResolvconf { dns: String },
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
    /// A script other than the apply step (confirm, removal in a rollback) reported `@@fail`.
    #[error("{reason}")]
    ScriptFailed { reason: String },
    /// Added to a step's failure when the host's timer put the previous config back.
    #[error("the host put its previous config back")]
    PutBack,
    /// The confirm found the step unfinished and put the previous config back (`revert-now`).
    #[error("the apply step did not finish on the host")]
    StepUnfinished,
    #[error("the step had not finished on the host, so its previous config was put back")]
    UnfinishedPutBack,
    /// No fresh connection got through to confirm before the deadline (`last`: the last
    /// attempt's error); the host reverts by itself.
    #[error(
        "cannot reach {host} over a fresh SSH connection to confirm the change ({last}); the host puts back its previous config by itself {secs} s after the step ended (--confirm-timeout)"
    )]
    ConfirmUnreachable {
        host: String,
        last: String,
        secs: u64,
    },
    /// Before any confirm attempt: the deadline had already passed.
    #[error("no connection attempt was possible")]
    ConfirmNotTried,
    #[error("no answer within {secs} s")]
    ConfirmNoAnswer { secs: u64 },
    /// `apply --atomic`: the host was changed, another failed, and undoing this one failed.
    #[error("changed, then could not be rolled back ({why}): {error}")]
    RollbackFailed { why: String, error: String },
    #[error("removing the config did not finish")]
    RemovalCut,
    #[error("its config before this run could not be read, so it cannot be put back")]
    PreviousUnreadable,
    /// Refreshing peers' sessions after a restart overran `--step-timeout` (a note, not a failure).
    #[error("refreshing the sessions timed out")]
    RefreshTimeout,
    #[error("no SSH settings for this host")]
    NoSshSettings,
    /// Connecting failed: transport's words and fix (boxed: it is the largest kind by far).
    #[error(transparent)]
    Ssh(Box<crate::transport::ssh::SshError>),
    /// `rollback --to original`: wgdeploy kept no original here.
    #[error(
        "no original config (generation 0) on this host: wgdeploy replaced no config of another's here"
    )]
    NoOriginal,
    #[error("no generation recorded on this host: there is nothing to go back to")]
    NoGenerations,
    /// `rollback --to DEPLOYMENT`: the host's generations all came later (`oldest`).
    #[error(
        "no generation from deployment {target} or earlier on this host (its oldest is from {oldest})"
    )]
    NoGenerationAsOf { target: String, oldest: String },
    #[error("generation {number} (deployment {deployment}) cannot be read on this host")]
    GenerationUnreadable { number: u64, deployment: String },
    /// The plan would change the host's key without leave (`core::key_guard` words it).
    #[error("{}", .0.message)]
    KeyChange(crate::core::key_guard::KeyProblem),
    /// apply's guard: the host runs a config wgdeploy did not write and it was not adopted.
    #[error(
        "refusing to replace `{interface}` on {host}: wgdeploy did not write it and it was not adopted (nothing was changed)"
    )]
    RefuseUnmanaged { interface: String, host: String },
    /// adopt: `wg` is needed to read the running interface.
    #[error("`wg` not found on the host")]
    WgMissing,
    /// adopt: the host's wg-quick config does not parse (`first`: the first problem, no keys).
    #[error("its wg-quick config cannot be read: {first}")]
    AdoptConfigUnreadable { first: String },
    #[error("no answer within {secs} s while connecting and reading the interface")]
    AdoptUnreachable { secs: u64 },
    /// `status --ping`: the pings from one host did not all finish within the connect timeout.
    #[error("no answer within {secs} s while pinging")]
    PingTimeout { secs: u64 },
    /// `status --ping`: the host has no `ping` binary (the ping script says so instead of failing
    /// every ping).
    #[error("`ping` not found on the host")]
    PingMissing,
    #[error("the ping script stopped before its end on the host")]
    PingCut,
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
            HostFailure::NoResolvconf { .. } => Some(
                "install `resolvconf` (the `openresolv` package, or systemd-resolved's `resolvconf`, e.g. `apt-get install systemd-resolved`), or drop `dns` for this host in the inventory".into(),
            ),
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
                "the change cut off management access (a PostUp hook, a route, or AllowedIPs covering the SSH path? a `use_exit` full tunnel takes every address the host reaches through its default route, the operator's included): fix the inventory (for a full tunnel, manage the host over a network it reaches without its default route, e.g. a connected LAN or VPN, or give it a route to the operator's network in `pre_up`), `wgdeploy plan`, then apply again".into(),
            ),
            HostFailure::StepFailed { log, .. } if !log.is_empty() => {
                let tail = &log[log.len().saturating_sub(LOG_LINES_SHOWN)..];
                Some(format!("the host said:\n  {}", tail.join("\n  ")))
            }
            HostFailure::ConfirmUnreachable { .. } => Some(
                "if the change cut off SSH, the host reverts on its own; check it with `wgdeploy status`".into(),
            ),
            HostFailure::Ssh(error) => error.help(),
            HostFailure::NoOriginal => Some(
                "a host wgdeploy set up from scratch has nothing from before its first deployment; leave it out with `--hosts`".into(),
            ),
            HostFailure::NoGenerations => Some(
                "only runs of wgdeploy with generations record them; leave the host out with `--hosts`".into(),
            ),
            HostFailure::NoGenerationAsOf { .. } => Some(
                "it joined after that deployment: choose a later `--to`, or leave it out with `--hosts`".into(),
            ),
            HostFailure::KeyChange(problem) => Some(problem.help.clone()),
            HostFailure::RefuseUnmanaged { host, .. } => Some(format!(
                "run `wgdeploy adopt INVENTORY --hosts {host}` to keep its keys and addresses, or apply with `--replace-unmanaged` to replace it (new keys); either way the original is kept on the host as generation 0 for `wgdeploy rollback`"
            )),
            HostFailure::WgMissing => Some(
                "install the `wireguard-tools` package (e.g. `apt-get install wireguard-tools`)"
                    .into(),
            ),
            HostFailure::AdoptConfigUnreadable { .. } => Some(
                "fix the config on the host (or move it away to start afresh), then run adopt again"
                    .into(),
            ),
            HostFailure::AdoptUnreachable { .. } => {
                Some("check the host is up and reachable, or raise `--timeout`".into())
            }
            HostFailure::PingMissing => Some(
                "install the `iputils-ping` package (e.g. `apt-get install iputils-ping`)".into(),
            ),
            _ => None,
        }
    }
}

impl HostError {
    /// This error followed by `more` (`first; more`), with both fixes.
    pub(crate) fn and(self, more: HostFailure) -> HostError {
        let more = HostError::from(more);
        HostError {
            message: format!("{}; {}", self.message, more.message),
            help: match (self.help, more.help) {
                (Some(first), Some(then)) => Some(format!("{first}; {then}")),
                (first, then) => first.or(then),
            },
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

impl From<crate::transport::ssh::SshError> for HostFailure {
    fn from(error: crate::transport::ssh::SshError) -> HostFailure {
        HostFailure::Ssh(Box::new(error))
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

    /// DNS without resolvconf: the value, what would fail, and the three ways out.
    #[test]
    fn a_missing_resolvconf_names_the_dns_and_the_fix() {
        let error = HostError::from(HostFailure::NoResolvconf {
            dns: "1.1.1.1, corp.example".into(),
        });
        assert!(
            error.message.starts_with(
                "the config sets `DNS = 1.1.1.1, corp.example` but `resolvconf` is not installed"
            ),
            "{}",
            error.message
        );
        let help = error.help.unwrap();
        assert!(
            help.contains("openresolv")
                && help.contains("systemd-resolved")
                && help.contains("drop `dns`"),
            "{help}"
        );
    }

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
        let help = error.help.unwrap();
        assert!(help.starts_with("the change cut off management access"));
        // A full tunnel is the likeliest way to cut off an operator: the help names it.
        assert!(help.contains("`use_exit` full tunnel"), "{help}");
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

    /// A failure followed by another: both messages, both fixes, in order (a step that overran
    /// its limit, then the confirm that could not reach the host).
    #[test]
    fn a_failure_and_what_followed_keep_both_messages_and_fixes() {
        let error = HostError::from(HostFailure::StepTimeout { secs: 120 }).and(
            HostFailure::ConfirmUnreachable {
                host: "web1".into(),
                last: "no answer within 10 s".into(),
                secs: 60,
            },
        );
        assert_eq!(
            error.message,
            "the apply step did not finish within 120 s (--step-timeout); cannot reach web1 over a fresh SSH connection to confirm the change (no answer within 10 s); the host puts back its previous config by itself 60 s after the step ended (--confirm-timeout)"
        );
        assert_eq!(
            error.help.unwrap(),
            "a slow `wg-quick up` (many peers, slow hooks) needs a larger `--step-timeout`; if the change cut off SSH, the host reverts on its own; check it with `wgdeploy status`"
        );
        let error =
            HostError::from(HostFailure::StepUnfinished).and(HostFailure::UnfinishedPutBack);
        assert_eq!(
            error.message,
            "the apply step did not finish on the host; the step had not finished on the host, so its previous config was put back"
        );
        assert_eq!(error.help, None);
    }

    #[test]
    fn ssh_failures_keep_the_transports_words_and_fix() {
        let ssh = crate::transport::ssh::SshError::Unreachable {
            hop: "web1".into(),
            addr: "198.51.100.2:22".into(),
            reason: "connection refused".into(),
        };
        let (message, help) = (ssh.to_string(), ssh.help());
        let error = HostError::from(HostFailure::from(ssh));
        assert_eq!(error.message, message);
        assert!(help.is_some());
        assert_eq!(error.help, help);
    }

    #[test]
    fn refusing_an_unmanaged_host_names_the_adopt_command_for_it() {
        let error = HostError::from(HostFailure::RefuseUnmanaged {
            interface: "wg0".into(),
            host: "web1".into(),
        });
        assert_eq!(
            error.message,
            "refusing to replace `wg0` on web1: wgdeploy did not write it and it was not adopted (nothing was changed)"
        );
        assert!(
            error
                .help
                .unwrap()
                .starts_with("run `wgdeploy adopt INVENTORY --hosts web1` to keep")
        );
        assert_eq!(
            HostFailure::NoGenerationAsOf {
                target: "20261125-101500-abcd".into(),
                oldest: "20261126-090000-beef".into(),
            }
            .to_string(),
            "no generation from deployment 20261125-101500-abcd or earlier on this host (its oldest is from 20261126-090000-beef)"
        );
    }

    #[test]
    fn ping_failures_say_what_went_wrong_on_the_host() {
        let error = HostError::from(HostFailure::PingTimeout { secs: 10 });
        assert_eq!(error.message, "no answer within 10 s while pinging");
        assert_eq!(error.help, None);
        let error = HostError::from(HostFailure::PingMissing);
        assert_eq!(error.message, "`ping` not found on the host");
        assert_eq!(
            error.help.as_deref(),
            Some("install the `iputils-ping` package (e.g. `apt-get install iputils-ping`)")
        );
        assert_eq!(
            HostFailure::PingCut.to_string(),
            "the ping script stopped before its end on the host"
        );
    }
}
