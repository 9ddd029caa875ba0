//! Why decommissioning one removed host failed: each kind renders its message (`Display`) and its
//! fix ([`RemovalFailure::help`]) here, next to `engine::error::HostFailure`, and converts into the
//! [`HostError`] that reports carry.

use crate::engine::types::HostError;

/// How many of the host's last log lines a failed removal shows.
const LOG_LINES_SHOWN: usize = 8;

/// The per-host failure kinds of surveying and decommissioning removed hosts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemovalFailure {
    /// The state remembers an interface name that does not parse (shown escaped).
    #[error(
        "removed from the inventory, but the state file remembers an invalid interface name `{name}` for it"
    )]
    InvalidInterface { name: String },
    /// Connecting, gathering facts or inspecting failed (`cause`): the host cannot be planned.
    #[error("removed from the inventory, but cannot be decommissioned: {}", cause.message)]
    CannotDecommission { cause: HostError },
    #[error("no answer within {secs} s while connecting and gathering facts")]
    SurveyTimeout { secs: u64 },
    #[error("the host's answer about its generations and forwarding was cut short")]
    InspectionCut,
    #[error(
        "no answer from the removal within {secs} s; the host stays in the state file: run apply again"
    )]
    Timeout { secs: u64 },
    /// The removal reported `@@fail`: its reason, and the tail of the host's log.
    #[error("{reason}; the host stays in the state file")]
    Failed { reason: String, log: Vec<String> },
    #[error(
        "the removal stopped before its end; the host stays in the state file: run apply again"
    )]
    Cut,
}

impl RemovalFailure {
    /// What to do about it, when wgdeploy knows.
    pub fn help(&self) -> Option<String> {
        match self {
            RemovalFailure::InvalidInterface { .. } => {
                Some("correct or delete the host's entry in the state file".into())
            }
            RemovalFailure::CannotDecommission { cause } => Some(format!(
                "{}it stays in the state file until it is decommissioned; bring it back and apply again, or leave it alone with `--keep-removed`",
                cause
                    .help
                    .as_ref()
                    .map(|help| format!("{help}; "))
                    .unwrap_or_default()
            )),
            RemovalFailure::Failed { log, .. } if !log.is_empty() => {
                let tail = &log[log.len().saturating_sub(LOG_LINES_SHOWN)..];
                Some(format!("the host said:\n  {}", tail.join("\n  ")))
            }
            _ => None,
        }
    }
}

impl From<RemovalFailure> for HostError {
    fn from(failure: RemovalFailure) -> HostError {
        HostError {
            message: failure.to_string(),
            help: failure.help(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_renders_its_message_and_fix() {
        let error = HostError::from(RemovalFailure::InvalidInterface {
            name: "wg\\u{1b}".into(),
        });
        assert_eq!(
            error.message,
            "removed from the inventory, but the state file remembers an invalid interface name `wg\\u{1b}` for it"
        );
        assert_eq!(
            error.help.as_deref(),
            Some("correct or delete the host's entry in the state file")
        );
        let cause = HostError::new("connection refused").help("check the port");
        let error = HostError::from(RemovalFailure::CannotDecommission { cause });
        assert_eq!(
            error.message,
            "removed from the inventory, but cannot be decommissioned: connection refused"
        );
        assert_eq!(
            error.help.as_deref(),
            Some(
                "check the port; it stays in the state file until it is decommissioned; bring it back and apply again, or leave it alone with `--keep-removed`"
            )
        );
        let failed = RemovalFailure::Failed {
            reason: "cannot take wg0 down".into(),
            log: (1..=10).map(|line| format!("line {line}")).collect(),
        };
        assert_eq!(
            failed.to_string(),
            "cannot take wg0 down; the host stays in the state file"
        );
        let help = failed.help().unwrap();
        assert!(help.starts_with("the host said:\n  line 3\n") && help.ends_with("line 10"));
        assert_eq!(RemovalFailure::Cut.help(), None);
    }
}
