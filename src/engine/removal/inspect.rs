//! The survey of removed hosts: connect, gather facts, inspect what decommissioning would do, and
//! plan it (`core::removal`).

use crate::core::facts::SecretText;
use crate::core::removal::{families_in, plan_forget, plan_removal};
use crate::engine::removal::RemovalFailure;
use crate::engine::removal::jobs::{RemovedJob, own_key};
use crate::engine::types::{Connector, HostError, Job, Limits, Reporter, Surveyed};
use crate::transport::Transport;
use std::sync::Arc;

/// Connects to each removed host, gathers its facts and what decommissioning it would do.
pub async fn survey<C: Connector>(
    connector: Arc<C>,
    jobs: Vec<RemovedJob>,
    limits: Limits,
    reporter: Arc<dyn Reporter>,
) -> Vec<Surveyed<C::Session>> {
    crate::engine::parallel::bounded(jobs, limits.parallel, move |removed| {
        let RemovedJob {
            mut job,
            invalid,
            alias,
        } = removed;
        // The same machine under its new name: its identity is not checked, nothing is touched.
        if alias.is_some() {
            job.desired = SecretText::new(String::new());
        }
        let (connector, reporter) = (connector.clone(), reporter.clone());
        async move {
            if let Some(invalid) = invalid {
                let error = HostError::from(invalid);
                reporter.finish(&job.name, false, &error.message);
                return Surveyed {
                    job: Arc::new(job),
                    outcome: Err(error),
                    pending: None,
                };
            }
            reporter.update(&job.name, "connecting (removed from the inventory)");
            let work = async {
                let session = connector.connect(&job).await?;
                reporter.update(&job.name, "gathering facts");
                let facts = crate::engine::exec::gather(&session, &job).await?;
                let change = match &alias {
                    Some(alias) => plan_forget(&job.name, &job.interface, alias, &facts),
                    None => {
                        let inspection = inspect(&session, &job).await?;
                        let own = own_key(&job);
                        plan_removal(
                            &job.name,
                            &job.interface,
                            own.as_deref(),
                            &facts,
                            &inspection,
                        )
                    }
                };
                Ok((Arc::new(session), facts, change))
            };
            let outcome = match tokio::time::timeout(limits.connect, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(RemovalFailure::SurveyTimeout {
                    secs: limits.connect.as_secs(),
                }
                .into()),
            };
            let outcome = outcome.map_err(|cause: HostError| {
                HostError::from(RemovalFailure::CannotDecommission { cause })
            });
            // What an `--atomic` undo would restore: the forwarding the host had.
            let mut job = job;
            if let Ok((_, facts, _)) = &outcome {
                job.forwarding = families_in(facts.sysctl_file.text().unwrap_or(""));
            }
            match &outcome {
                Ok((_, _, change)) => reporter.finish(&job.name, true, &change.summary()),
                Err(error) => reporter.finish(&job.name, false, &error.message),
            }
            Surveyed {
                job: Arc::new(job),
                outcome,
                pending: None,
            }
        }
    })
    .await
}

/// What decommissioning would keep and switch off, as the host says (read-only).
async fn inspect<T: Transport>(
    session: &T,
    job: &Job,
) -> Result<crate::core::removal::Inspection, HostError> {
    let script = crate::remote::inspect_script(&job.interface);
    let output = crate::engine::exec::run(session, job, &script, &[]).await?;
    let parsed = crate::remote::facts::split(&output.stdout)?;
    if !parsed.ended {
        return Err(RemovalFailure::InspectionCut.into());
    }
    Ok(crate::remote::removal::inspection(&parsed))
}
