//! Running wgdeploy's scripts on one host over a transport and reading the answers: facts, the
//! apply step, verification against the plan.

use crate::core::change::HostChange;
use crate::core::facts::{Facts, FileFact, LiveInterface};
use crate::engine::error::HostFailure;
use crate::engine::types::*;
use crate::remote::{self, Become};
use crate::transport::{Output, Pending, Transport};

/// Runs `command` and turns transport failures and `sudo` refusals into host errors.
pub(crate) async fn run<T: Transport>(
    transport: &T,
    job: &Job,
    script: &remote::Script,
    stdin: &[u8],
) -> Result<Output, HostError> {
    let command = remote::command(script, job.become_);
    let output = transport
        .run(&command, stdin)
        .await
        .map_err(|err| HostFailure::Session(err.to_string()))?;
    refused_elevation(job, output)
}

/// `sudo` refusing to run the command, from its output.
fn refused_elevation(job: &Job, output: Output) -> Result<Output, HostError> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if job.become_ == Become::Sudo
        && (stderr.contains("a password is required") || stderr.contains("a terminal is required"))
    {
        return Err(HostFailure::SudoNeedsPassword.into());
    }
    if job.become_ == Become::Sudo
        && (stderr.contains("sudo: command not found") || stderr.contains("sudo: not found"))
    {
        return Err(HostFailure::SudoMissing.into());
    }
    Ok(output)
}

/// Gathers a host's facts in one round trip and checks wgdeploy can manage it.
pub async fn gather<T: Transport>(transport: &T, job: &Job) -> Result<Facts, HostError> {
    gather_with(transport, job, &remote::facts_script(&job.interface)).await
}

/// [`gather`] with since when the host runs its key (`status`).
pub async fn gather_with_key_age<T: Transport>(
    transport: &T,
    job: &Job,
) -> Result<Facts, HostError> {
    gather_with(
        transport,
        job,
        &remote::facts_script_with_key_age(&job.interface),
    )
    .await
}

/// Apply's survey: [`gather`], its command then left waiting for the host's apply step
/// ([`remote::facts_then_apply_script`]), which [`execute`] sends it. No pending command when the
/// transport cannot leave one (the step then runs as its own command).
pub async fn gather_for_apply<T: Transport>(
    transport: &T,
    job: &Job,
) -> Result<(Facts, Option<Pending>), HostError> {
    let nonce = nonce();
    let script = remote::facts_then_apply_script(&job.interface, &nonce);
    let command = remote::command(&script, job.become_);
    let marker = remote::ready_marker(&nonce);
    let Some(started) = transport.run_until(&command, marker.as_bytes()).await else {
        return Ok((gather(transport, job).await?, None));
    };
    let (output, pending) = started.map_err(|err| HostFailure::Session(err.to_string()))?;
    let output = refused_elevation(job, output)?;
    Ok((facts_from(output)?, pending))
}

/// A fresh value for the ready marker, so no file the facts print can hold the marker.
fn nonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 12];
    // The system's randomness failing leaves a fixed nonce: still one no config holds by chance.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn gather_with<T: Transport>(
    transport: &T,
    job: &Job,
    script: &remote::Script,
) -> Result<Facts, HostError> {
    facts_from(run(transport, job, script, &[]).await?)
}

/// The facts in a survey's output, checked that wgdeploy can manage the host.
fn facts_from(output: Output) -> Result<Facts, HostError> {
    let facts = crate::remote::facts::parse(&output.stdout).map_err(|err| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.lines().last().unwrap_or("").trim().to_owned();
        HostFailure::FactsIncomplete {
            problem: err.to_string(),
            detail: (!detail.is_empty()).then_some(detail),
        }
    })?;
    if let Some(missing) = facts.missing_tools() {
        return Err(HostFailure::MissingTools(missing).into());
    }
    if !facts.has_flock {
        return Err(HostFailure::MissingFlock.into());
    }
    if facts.config == FileFact::Unreadable || !facts.dir_readable {
        return Err(HostFailure::UnreadableConfigDir {
            user: facts.user.clone(),
        }
        .into());
    }
    Ok(facts)
}

/// How an apply step ended.
#[derive(Debug)]
pub enum StepEnd {
    /// It ran to its end: the live interface as it then was.
    Done(Option<LiveInterface>),
    /// It stopped with a reason; `reverted`: once armed, the host put its previous config back.
    Failed { error: HostError, reverted: bool },
    /// No complete answer (the SSH session broke, or took too long): only the host knows how far
    /// it got, which the confirm over a fresh connection finds out.
    Unknown(HostError),
}

/// Runs a host's apply step (armed with lock-out protection when `arm` is given): sent to the
/// survey's command when it waits for it (`pending`), else as a command of its own.
pub async fn execute<T: Transport>(
    transport: &T,
    job: &Job,
    change: &HostChange,
    arm: Option<crate::core::change::Arm>,
    pending: Option<Pending>,
) -> StepEnd {
    let stdin = if change.write {
        job.desired.expose().as_bytes()
    } else {
        &[]
    };
    let mut step = change.step.clone();
    step.arm = arm;
    let ran = match pending {
        Some(pending) => pending
            .finish(remote::step_input(&step, stdin))
            .await
            .map_err(|err| HostFailure::Session(err.to_string()).into())
            .and_then(|output| refused_elevation(job, output)),
        None => run(transport, job, &remote::apply_script(&step), stdin).await,
    };
    let output = match ran {
        Ok(output) => output,
        Err(error) => return StepEnd::Unknown(error),
    };
    let parsed = match crate::remote::facts::split(&output.stdout) {
        Ok(parsed) => parsed,
        Err(err) => return StepEnd::Unknown(err.into()),
    };
    if let Some((reason, _)) = parsed.section("fail") {
        let error = HostFailure::StepFailed {
            reason: reason.to_owned(),
            log: parsed.lines("log").to_vec(),
        }
        .into();
        let reverted = parsed.section("reverted-now").is_some();
        return StepEnd::Failed { error, reverted };
    }
    if !parsed.ended {
        return StepEnd::Unknown(
            HostFailure::StepCut {
                status: output
                    .status
                    .map_or_else(|| "none".to_owned(), |status| status.to_string()),
            }
            .into(),
        );
    }
    match crate::remote::facts::parse_live(&parsed) {
        Ok(live) => StepEnd::Done(live),
        Err(err) => StepEnd::Unknown(err.into()),
    }
}

/// The live interface must run the planned key and exactly the planned peers.
pub fn verify(job: &Job, live: Option<&LiveInterface>) -> Result<(), HostError> {
    let name = job.interface.as_str();
    let Some(live) = live else {
        return Err(HostFailure::NotRunning {
            interface: name.to_owned(),
        }
        .into());
    };
    let config = crate::core::wgconf::parse(std::path::Path::new(name), job.desired.expose())
        .map_err(|_| HostFailure::PlannedConfigUnparsable)?;
    let drift = live.drift_from(&config);
    if drift.is_empty() {
        Ok(())
    } else {
        Err(HostFailure::VerificationFailed(drift).into())
    }
}

/// Connects to every job's host, gathers facts and classifies, `limits.parallel` at a time.
/// Runs a short script and splits its answer.
pub(crate) async fn run_on<T: Transport>(
    transport: &T,
    job: &Job,
    script: &remote::Script,
) -> Result<crate::remote::facts::Parsed, HostError> {
    let output = run(transport, job, script, &[]).await?;
    crate::remote::facts::split(&output.stdout).map_err(HostError::from)
}
