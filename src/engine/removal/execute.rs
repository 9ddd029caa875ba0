//! Decommissioning one surveyed removed host over its session.

use crate::core::facts::Facts;
use crate::core::removal::{ALIAS_NOTE, Answer, done_notes, not_ours_note};
use crate::engine::removal::RemovalFailure;
use crate::engine::removal::jobs::own_key;
use crate::engine::types::{Applied, HostError, Job, Limits, Run};
use crate::transport::Transport;

/// Decommissions a surveyed removed host over its session. Returns the outcome and notes.
pub async fn decommission<T: Transport>(
    session: &T,
    job: &Job,
    facts: &Facts,
    limits: Limits,
    run: &Run,
) -> (Result<Applied, HostError>, Vec<String>) {
    let untouched = Applied {
        changed: false,
        live: facts.live.clone(),
        generation: None,
        now: facts.now,
    };
    if job.desired.expose().is_empty() {
        // plan_forget: in the inventory under another name; nothing to do on the host (so nothing
        // for `--atomic` to undo either).
        return (Ok(untouched), vec![ALIAS_NOTE.to_owned()]);
    }
    let mut record = run.record();
    record.kind = "remove";
    let own = own_key(job).unwrap_or_default();
    let script = crate::remote::remove_host_script(
        &job.interface,
        facts.systemd,
        &facts.stamp,
        &own,
        &record,
    );
    let output = match tokio::time::timeout(
        limits.apply,
        crate::engine::exec::run(session, job, &script, &[]),
    )
    .await
    {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return (Err(error), Vec::new()),
        Err(_) => {
            let secs = limits.apply.as_secs();
            return (Err(RemovalFailure::Timeout { secs }.into()), Vec::new());
        }
    };
    let parsed = match crate::remote::facts::split(&output.stdout) {
        Ok(parsed) => parsed,
        Err(error) => return (Err(error.into()), Vec::new()),
    };
    match crate::remote::removal::answer(&parsed) {
        Answer::Failed { reason, log } => (
            Err(RemovalFailure::Failed { reason, log }.into()),
            Vec::new(),
        ),
        Answer::Cut => (Err(RemovalFailure::Cut.into()), Vec::new()),
        Answer::NotOurs => (
            Ok(untouched),
            vec![not_ours_note(&job.name, job.interface.as_str())],
        ),
        Answer::Done(done) => {
            let applied = Applied {
                changed: true,
                live: None,
                generation: None,
                now: facts.now,
            };
            (Ok(applied), done_notes(job.interface.as_str(), &done))
        }
    }
}
