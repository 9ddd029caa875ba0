//! Running wgdeploy's scripts on one host over a transport and reading the answers: facts, the
//! apply step, verification against the plan.

use crate::core::change::HostChange;
use crate::core::facts::{Facts, FileFact, LiveInterface};
use crate::engine::types::*;
use crate::remote::{self, Become};
use crate::transport::{Output, Transport};

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
        .map_err(|err| HostError::new(format!("the SSH session failed: {err}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if job.become_ == Become::Sudo
        && (stderr.contains("a password is required") || stderr.contains("a terminal is required"))
    {
        return Err(
            HostError::new("`sudo -n` needs a password on this host").help(
                "allow the SSH user to run `sh` through sudo without a password (sudoers NOPASSWD), or connect as root",
            ),
        );
    }
    if job.become_ == Become::Sudo
        && (stderr.contains("sudo: command not found") || stderr.contains("sudo: not found"))
    {
        return Err(HostError::new(
            "`become: sudo` is set but `sudo` is not installed on this host",
        )
        .help("install sudo, or connect as root and drop `become: sudo`"));
    }
    Ok(output)
}

/// Gathers a host's facts in one round trip and checks wgdeploy can manage it.
pub async fn gather<T: Transport>(transport: &T, job: &Job) -> Result<Facts, HostError> {
    let output = run(transport, job, &remote::facts_script(&job.interface), &[]).await?;
    let facts = crate::remote::facts::parse(&output.stdout).map_err(|err| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr.lines().last().unwrap_or("").trim().to_owned();
        if detail.is_empty() {
            HostError::new(err.0)
        } else {
            HostError::new(format!("{}: {detail}", err.0))
        }
    })?;
    if let Some(missing) = facts.missing_tools() {
        return Err(HostError::new(missing));
    }
    if !facts.has_flock {
        return Err(HostError::new("`flock` not found on the host").help(
            "install the `util-linux` package (wgdeploy locks the interface while applying)",
        ));
    }
    if facts.config == FileFact::Unreadable || !facts.dir_readable {
        let user = &facts.user;
        return Err(
            HostError::new(format!("`{user}` cannot read /etc/wireguard on this host")).help(
                "set `ssh: {become: sudo}` for this host in the inventory, or connect as root",
            ),
        );
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

/// Runs a host's apply step (armed with lock-out protection when `arm` is given).
pub async fn execute<T: Transport>(
    transport: &T,
    job: &Job,
    change: &HostChange,
    arm: Option<crate::core::change::Arm>,
) -> StepEnd {
    let stdin = if change.write {
        job.desired.expose().as_bytes()
    } else {
        &[]
    };
    let mut step = change.step.clone();
    step.arm = arm;
    let output = match run(transport, job, &remote::apply_script(&step), stdin).await {
        Ok(output) => output,
        Err(error) => return StepEnd::Unknown(error),
    };
    let parsed = match crate::remote::facts::split(&output.stdout) {
        Ok(parsed) => parsed,
        Err(err) => return StepEnd::Unknown(HostError::new(err.0)),
    };
    if let Some((reason, _)) = parsed.section("fail") {
        let log = parsed.lines("log");
        let mut error = HostError::new(reason.to_owned());
        if !log.is_empty() {
            let tail: Vec<&str> = log.iter().rev().take(8).rev().map(String::as_str).collect();
            error = error.help(format!("the host said:\n  {}", tail.join("\n  ")));
        }
        let reverted = parsed.section("reverted-now").is_some();
        return StepEnd::Failed { error, reverted };
    }
    if !parsed.ended {
        return StepEnd::Unknown(HostError::new(format!(
            "the apply step stopped before its end (exit status {}); the config on the host is either the old or the new one, never a partial file — run apply again",
            output
                .status
                .map_or_else(|| "none".to_owned(), |status| status.to_string())
        )));
    }
    match crate::remote::facts::parse_live(&parsed) {
        Ok(live) => StepEnd::Done(live),
        Err(err) => StepEnd::Unknown(HostError::new(err.0)),
    }
}

/// The live interface must run the planned key and exactly the planned peers.
pub fn verify(job: &Job, live: Option<&LiveInterface>) -> Result<(), HostError> {
    let name = job.interface.as_str();
    let Some(live) = live else {
        return Err(HostError::new(format!(
            "verification failed: `{name}` is not running after the apply"
        )));
    };
    let config = crate::core::wgconf::parse(std::path::Path::new(name), job.desired.expose())
        .map_err(|_| HostError::new("verification failed: the planned config does not parse"))?;
    let drift = live.drift_from(&config);
    if drift.is_empty() {
        Ok(())
    } else {
        Err(HostError::new(format!(
            "verification failed: {}",
            drift.join("; ")
        )))
    }
}

/// Connects to every job's host, gathers facts and classifies, `limits.parallel` at a time.
/// `error` with `more` added to its message.
pub(crate) fn append(mut error: HostError, more: &str) -> HostError {
    error.message = format!("{}; {more}", error.message);
    error
}

/// Runs a short script and splits its answer.
pub(crate) async fn run_on<T: Transport>(
    transport: &T,
    job: &Job,
    script: &remote::Script,
) -> Result<crate::remote::facts::Parsed, HostError> {
    let output = run(transport, job, script, &[]).await?;
    crate::remote::facts::split(&output.stdout).map_err(|err| HostError::new(err.0))
}
