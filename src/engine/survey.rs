//! The first phase: connect to every selected host, gather its facts in one round trip and
//! classify its change (towards the plan, or towards a rollback's generation).

use crate::core::facts::{Facts, FileFact};
use crate::engine::exec::*;
use crate::engine::types::*;
use crate::remote::{self};
use crate::transport::Transport;
use std::sync::Arc;

pub async fn survey<C: Connector>(
    connector: Arc<C>,
    jobs: Vec<Job>,
    limits: Limits,
    reporter: Arc<dyn Reporter>,
) -> Vec<Surveyed<C::Session>> {
    survey_for(connector, jobs, limits, reporter, Arc::new(Goal::Planned)).await
}

/// The config each host is brought to.
#[derive(Debug, Clone)]
pub enum Goal {
    /// The job's planned config (plan, apply); a key change nobody asked for stops the host.
    Planned,
    /// The planned config, only to compare with (status): a host is observed whatever its keys.
    Observed,
    /// The host's newest generation from deployment `target` or before it (rollback); `journal`
    /// orders deployments.
    AsOf {
        target: String,
        journal: Vec<crate::store::journal::Entry>,
    },
}

/// The host's generation that `rollback` goes back to, read from the host.
async fn generation_job<T: Transport>(
    transport: &T,
    job: &Job,
    facts: &Facts,
    target: &str,
    journal: &[crate::store::journal::Entry],
) -> Result<Job, HostError> {
    let Some(generation) = facts.generations.iter().rev().find(|generation| {
        crate::store::journal::reaches(journal, &generation.deployment, &generation.kind, target)
    }) else {
        let known: Vec<&str> = facts
            .generations
            .iter()
            .map(|generation| generation.deployment.as_str())
            .collect();
        let (message, help) = if target == crate::store::journal::ORIGINAL {
            (
                "no original config (generation 0) on this host: wgdeploy replaced no config of another's here".to_owned(),
                "a host wgdeploy set up from scratch has nothing from before its first deployment; leave it out with `--hosts`".to_owned(),
            )
        } else if known.is_empty() {
            (
                "no generation recorded on this host: there is nothing to go back to".to_owned(),
                "only runs of wgdeploy with generations record them; leave the host out with `--hosts`".to_owned(),
            )
        } else {
            (
                format!("no generation from deployment {target} or earlier on this host (its oldest is from {})", known[0]),
                "it joined after that deployment: choose a later `--to`, or leave it out with `--hosts`".to_owned(),
            )
        };
        return Err(HostError::new(message).help(help));
    };
    let script = remote::read_generation_script(&job.interface, generation.number);
    let output = run(transport, job, &script, &[]).await?;
    let parsed = crate::remote::facts::split(&output.stdout).map_err(HostError::from)?;
    match parsed.file("generation-config") {
        Some(FileFact::Present(text)) if parsed.ended => Ok(Job {
            desired: text,
            ..job.clone()
        }),
        _ => Err(HostError::new(format!(
            "generation {} (deployment {}) cannot be read on this host",
            generation.number, generation.deployment
        ))),
    }
}

/// [`survey`], bringing each host to `goal`.
pub async fn survey_for<C: Connector>(
    connector: Arc<C>,
    jobs: Vec<Job>,
    limits: Limits,
    reporter: Arc<dyn Reporter>,
    goal: Arc<Goal>,
) -> Vec<Surveyed<C::Session>> {
    crate::engine::parallel::bounded(jobs, limits.parallel, move |job| {
        let job = Arc::new(job);
        let (connector, reporter, goal) = (connector.clone(), reporter.clone(), goal.clone());
        async move {
            reporter.update(&job.name, "connecting");
            let mut job = job;
            let work = async {
                let session = connector.connect(&job).await?;
                reporter.update(&job.name, "gathering facts");
                let facts = gather(&session, &job).await?;
                match goal.as_ref() {
                    Goal::AsOf { target, journal } => {
                        job = Arc::new(
                            generation_job(&session, &job, &facts, target, journal).await?,
                        );
                    }
                    Goal::Observed => {}
                    Goal::Planned => {
                        crate::core::key_guard::judge(
                            &job.name,
                            job.desired.expose(),
                            &facts,
                            &job.keys,
                        )
                        .map_err(|problem| HostError::new(problem.message).help(problem.help))?;
                    }
                }
                // Rollback and plan alike: a config with DNS cannot come up without resolvconf.
                if !matches!(goal.as_ref(), Goal::Observed)
                    && let Some((message, help)) =
                        crate::core::facts::dns_without_resolvconf(job.desired.expose(), &facts)
                {
                    return Err(HostError::new(message).help(help));
                }
                let mut change = crate::core::change::classify(
                    &job.name,
                    &job.interface,
                    job.desired.expose(),
                    job.forwarding,
                    &facts,
                );
                change.diff = change.diff.map(|diff| job.keys.label(&diff));
                Ok((Arc::new(session), facts, change))
            };
            let outcome = match tokio::time::timeout(limits.connect, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(HostError::from(
                    crate::engine::error::HostFailure::Unreachable {
                        secs: limits.connect.as_secs(),
                    },
                )),
            };
            match &outcome {
                Ok((_, _, change)) => reporter.finish(&job.name, true, &change.summary()),
                Err(error) => reporter.finish(&job.name, false, &error.message),
            }
            Surveyed { job, outcome }
        }
    })
    .await
}
