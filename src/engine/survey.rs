//! The first phase: connect to every selected host, gather its facts in one round trip and
//! classify its change (towards the plan, or towards a rollback's generation).

use crate::core::facts::{Facts, FileFact};
use crate::engine::error::HostFailure;
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
    /// The job's planned config (plan); a key change nobody asked for stops the host.
    Planned,
    /// As [`Goal::Planned`], and the change follows (apply): each host's survey command waits for
    /// its apply step ([`crate::engine::exec::gather_for_apply`]).
    Apply,
    /// The planned config, only to compare with (status): a host is observed whatever its keys.
    Observed,
    /// The host's newest generation from deployment `target` or before it (rollback); `journal`
    /// orders deployments. The survey command waits for the step, as with [`Goal::Apply`].
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
        let failure = if target == crate::store::journal::ORIGINAL {
            HostFailure::NoOriginal
        } else if known.is_empty() {
            HostFailure::NoGenerations
        } else {
            HostFailure::NoGenerationAsOf {
                target: target.to_owned(),
                oldest: known[0].to_owned(),
            }
        };
        return Err(failure.into());
    };
    let script = remote::read_generation_script(&job.interface, generation.number);
    let output = run(transport, job, &script, &[]).await?;
    let parsed = crate::remote::facts::split(&output.stdout).map_err(HostError::from)?;
    match parsed.file("generation-config") {
        Some(FileFact::Present(text)) if parsed.ended => Ok(Job {
            desired: text,
            ..job.clone()
        }),
        _ => Err(HostFailure::GenerationUnreadable {
            number: generation.number,
            deployment: generation.deployment.clone(),
        }
        .into()),
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
                // A change may follow on this session (apply's step, rollback's generation read):
                // its channel is opened with the facts', not after them.
                if !matches!(goal.as_ref(), Goal::Observed) {
                    session.open_ahead();
                }
                let (facts, pending) = match goal.as_ref() {
                    Goal::Observed => (gather_with_key_age(&session, &job).await?, None),
                    Goal::Planned => (gather(&session, &job).await?, None),
                    Goal::Apply | Goal::AsOf { .. } => gather_for_apply(&session, &job).await?,
                };
                match goal.as_ref() {
                    Goal::AsOf { target, journal } => {
                        job = Arc::new(
                            generation_job(&session, &job, &facts, target, journal).await?,
                        );
                    }
                    Goal::Observed => {}
                    Goal::Planned | Goal::Apply => {
                        crate::core::key_guard::judge(
                            &job.name,
                            job.desired.expose(),
                            &facts,
                            &job.keys,
                        )
                        .map_err(|problem| HostError::from(HostFailure::KeyChange(problem)))?;
                    }
                }
                // Rollback and plan alike: a config with DNS cannot come up without resolvconf.
                if !matches!(goal.as_ref(), Goal::Observed)
                    && let Some(dns) =
                        crate::core::facts::dns_without_resolvconf(job.desired.expose(), &facts)
                {
                    return Err(HostFailure::NoResolvconf { dns }.into());
                }
                let mut change = job.classify(&facts);
                change.diff = change.diff.map(|diff| job.keys.label(&diff));
                Ok((Arc::new(session), facts, change, pending))
            };
            let outcome = match tokio::time::timeout(limits.connect, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(HostError::from(HostFailure::Unreachable {
                    secs: limits.connect.as_secs(),
                })),
            };
            match &outcome {
                Ok((_, _, change, _)) => reporter.finish(&job.name, true, &change.summary()),
                Err(error) => reporter.finish(&job.name, false, &error.message),
            }
            let (outcome, pending) = match outcome {
                Ok((session, facts, change, pending)) => (Ok((session, facts, change)), pending),
                Err(error) => (Err(error), None),
            };
            Surveyed {
                job,
                outcome,
                pending,
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::facts::SecretText;
    use crate::transport::fake::{FakeTransport, ok};

    struct Quiet;
    impl crate::engine::types::Reporter for Quiet {
        fn update(&self, _: &str, _: &str) {}
        fn finish(&self, _: &str, _: bool, _: &str) {}
    }

    struct One(FakeTransport);
    impl crate::engine::types::Connector for One {
        type Session = FakeTransport;
        async fn connect(&self, _: &Job) -> std::result::Result<FakeTransport, HostError> {
            Ok(self.0.clone())
        }
    }

    /// `rollback` right after the first deployment goes to generation 0, the original; `--to` that
    /// deployment goes to its own generation.
    #[tokio::test]
    async fn rollback_after_the_first_deployment_reaches_generation_0() {
        let d1 = "20261125-101500-abcd";
        let ours = "# wg0 on relay1: generated by wgdeploy; local edits are overwritten on the next apply.\n[Interface]\n";
        let original = "[Interface]\n# hand-written\n";
        let facts = format!(
            "@@wgdeploy-facts 1\n@@user root\n@@tools\nwg\nwg-quick\nflock\n@@dir\nok\n@@stamp 1 2 3\n@@config {}\n{ours}\n@@generations\ngeneration=1\ndeployment={d1}\nkind=apply\ngeneration=0\ndeployment={d1}\nkind=original\n@@end\n",
            ours.len()
        );
        let transport = FakeTransport::new(move |command, _| {
            if command.contains("wgdeploy-facts") {
                ok(&facts)
            } else if command.contains("# read-generation.sh") && command.ends_with(" wg0 0") {
                ok(&format!(
                    "@@generation-config {}\n{original}\n@@end\n",
                    original.len()
                ))
            } else if command.contains("# read-generation.sh") && command.ends_with(" wg0 1") {
                ok(&format!(
                    "@@generation-config {}\n{ours}\n@@end\n",
                    ours.len()
                ))
            } else {
                ok("")
            }
        });
        let entry = crate::store::journal::Entry {
            id: d1.into(),
            time: String::new(),
            command: "apply".into(),
            target: None,
            inventory: String::new(),
            version: String::new(),
            outcome: "ok".into(),
            hosts: [(
                "relay1".to_owned(),
                crate::store::journal::CHANGED.to_owned(),
            )]
            .into(),
        };
        let job = Job {
            name: "relay1".into(),
            interface: crate::core::model::InterfaceName::parse("wg0").unwrap(),
            desired: SecretText::new(ours.into()),
            forwarding: Default::default(),
            become_: crate::remote::Become::None,
            keys: Default::default(),
        };
        let limits = crate::engine::types::Limits {
            parallel: 1,
            connect: std::time::Duration::from_secs(5),
            apply: std::time::Duration::from_secs(5),
        };
        for (target, want) in [(crate::store::journal::ORIGINAL, original), (d1, ours)] {
            let goal = crate::engine::survey::Goal::AsOf {
                target: target.into(),
                journal: vec![entry.clone()],
            };
            let surveyed = crate::engine::survey::survey_for(
                Arc::new(One(transport.clone())),
                vec![job.clone()],
                limits,
                Arc::new(Quiet),
                Arc::new(goal),
            )
            .await;
            assert!(surveyed[0].outcome.is_ok(), "{target}");
            assert_eq!(surveyed[0].job.desired.expose(), want, "{target}");
        }
    }
}
