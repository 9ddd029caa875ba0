//! Lock-out protection's second half, like `commit confirmed` on routers. An armed apply step left
//! a timer on the host that puts back the previous config; wgdeploy now proves the host is still
//! manageable by opening a *fresh* connection (the step's own session may survive a change that
//! blocks new ones) and confirming. If no connection gets through in time, the host reverts by
//! itself, and the next connection that does get through learns that it did.
//!
//! The fresh connection first tried ([`confirm_on_session`]) is a new TCP connection to the host's
//! sshd, through the same jump hosts, that must answer with its identification line: it travels
//! the routes and passes the firewall rules the change may have touched exactly as a new SSH
//! session would, and what a full handshake and authentication add on top (sshd's own
//! configuration) is nothing a WireGuard change touches. The confirm then runs on the step's own
//! session, whose packets follow the same routes. That costs two round trips, not a new
//! session's five (four to connect, one for the command); any doubt (no such probe, the step's
//! session gone) falls back to a full fresh session ([`confirm`]).

use crate::core::facts::LiveInterface;
use crate::engine::error::HostFailure;
use crate::engine::types::{Connector, HostError, Job, Reporter, Run};
use crate::remote;
use crate::transport::Transport;
use std::time::{Duration, Instant};

/// What the confirm found on the host.
#[derive(Debug)]
pub enum Confirmation {
    /// Disarmed and recorded as generation `generation`.
    Confirmed {
        generation: Option<u64>,
        live: Option<LiveInterface>,
        /// The host's clock when `live` was read.
        now: u64,
        /// Confirmed, but something after it failed (e.g. recording the generation).
        warning: Option<String>,
    },
    /// The host's timer put the previous config back, at this time of the host's clock.
    Reverted { at: Option<u64> },
    /// The step never finished on the host; the confirm put the previous config back instead.
    RevertedNow,
    /// Nothing of this run is armed there: the step never got that far, or another run took over.
    NotArmed,
    /// No fresh connection got through before the deadline: the host reverts by itself.
    Unreachable(HostError),
}

/// Each attempt gets this long to connect and answer; a blocked port costs a full attempt.
const ATTEMPT: Duration = Duration::from_secs(10);

/// The quick confirm: a new connection reaches sshd (answered with its banner), then the confirm
/// runs over `session`, the step's own. `None` when that cannot decide: the transport has no such
/// probe, the probe did not get through (then fresh sessions are tried until the deadline, and
/// the host reverts by itself if none does), or the step's session no longer answers.
pub async fn confirm_on_session<S: Transport>(
    session: &S,
    job: &Job,
    systemd: bool,
    run: &Run,
) -> Option<Confirmation> {
    let reached = tokio::time::timeout(ATTEMPT, session.reach_anew())
        .await
        .ok()??;
    reached.ok()?;
    let script = remote::confirm_script(&job.interface, systemd, &run.deployment, &run.record());
    let output = tokio::time::timeout(
        ATTEMPT,
        crate::engine::exec::run(session, job, &script, &[]),
    )
    .await
    .ok()?
    .ok()?;
    parse(&output.stdout).ok()
}

/// Tries to confirm over fresh connections until `deadline`, once a second.
pub async fn confirm<C: Connector>(
    connector: &C,
    job: &Job,
    systemd: bool,
    run: &Run,
    deadline: Instant,
    reporter: &dyn Reporter,
) -> Confirmation {
    let script = remote::confirm_script(&job.interface, systemd, &run.deployment, &run.record());
    let mut last_error = HostError::from(HostFailure::ConfirmNotTried);
    loop {
        let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
            return Confirmation::Unreachable(last_error);
        };
        let attempt = async {
            let session = connector.connect(job).await?;
            crate::engine::exec::run(&session, job, &script, &[]).await
        };
        match tokio::time::timeout(remaining.min(ATTEMPT), attempt).await {
            Ok(Ok(output)) => match parse(&output.stdout) {
                Ok(confirmation) => return confirmation,
                Err(error) => last_error = error,
            },
            Ok(Err(error)) => last_error = error,
            Err(_) => {
                last_error = HostFailure::ConfirmNoAnswer {
                    secs: remaining.min(ATTEMPT).as_secs(),
                }
                .into()
            }
        }
        reporter.update(
            &job.name,
            &format!(
                "cannot reconnect to confirm ({}); retrying",
                first_line(&last_error.message)
            ),
        );
        let pause = Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Reads the confirm script's answer; an error means "try again".
pub fn parse(stdout: &[u8]) -> Result<Confirmation, HostError> {
    let parsed = crate::remote::facts::split(stdout).map_err(HostError::from)?;
    let failure = parsed.section("fail").map(|(reason, _)| reason.to_owned());
    if parsed.section("confirmed").is_some() {
        return Ok(Confirmation::Confirmed {
            generation: parsed
                .section("generation")
                .and_then(|(arg, _)| arg.parse().ok()),
            live: crate::remote::facts::parse_live(&parsed).unwrap_or(None),
            now: parsed
                .section("now")
                .and_then(|(arg, _)| arg.parse().ok())
                .unwrap_or(0),
            warning: failure,
        });
    }
    if let Some(reason) = failure {
        return Err(HostFailure::ScriptFailed { reason }.into());
    }
    if !parsed.ended {
        return Err(HostFailure::ConfirmCut.into());
    }
    if let Some((at, _)) = parsed.section("reverted") {
        return Ok(Confirmation::Reverted {
            at: at.parse().ok(),
        });
    }
    if parsed.section("reverted-now").is_some() {
        return Ok(Confirmation::RevertedNow);
    }
    if parsed.section("not-armed").is_some() {
        return Ok(Confirmation::NotArmed);
    }
    Err(crate::engine::error::HostFailure::ConfirmUnexpected.into())
}

pub use crate::core::time::utc_time;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_what_happened_on_the_host() {
        let confirmed = parse(b"@@confirmed\n@@generation 7\n@@now 100\n@@dump\n@@end\n").unwrap();
        assert!(matches!(
            confirmed,
            Confirmation::Confirmed {
                generation: Some(7),
                now: 100,
                warning: None,
                ..
            }
        ));
        assert!(matches!(
            parse(b"@@reverted 1700000000\n@@dump\n@@end\n").unwrap(),
            Confirmation::Reverted {
                at: Some(1_700_000_000)
            }
        ));
        assert!(matches!(
            parse(b"@@reverted-now\n@@end\n").unwrap(),
            Confirmation::RevertedNow
        ));
        assert!(matches!(
            parse(b"@@not-armed\n@@end\n").unwrap(),
            Confirmation::NotArmed
        ));
        // Confirmed but the generation could not be written: still confirmed, with a warning.
        let warned =
            parse(b"@@confirmed\n@@fail confirmed, but cannot record generation 3\n").unwrap();
        assert!(matches!(
            warned,
            Confirmation::Confirmed {
                warning: Some(_),
                ..
            }
        ));
        // A lock held by another run, or a cut answer: try again.
        assert!(parse(b"@@fail another wgdeploy run holds the lock\n").is_err());
        assert!(parse(b"@@reverted 5\n").is_err());
    }

    #[test]
    fn utc_times_read_like_clocks() {
        assert_eq!(utc_time(1_700_000_000), "22:13:20 UTC");
    }
}
