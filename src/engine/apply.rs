//! Bringing hosts to their planned config, over any [`Transport`].
//!
//! Two phases, so the user sees the whole plan before anything changes: `survey` connects to every
//! selected host, gathers its facts in one round trip and classifies its change; `apply` then runs
//! one apply step per changed host on the same connection and verifies the live interface. Hosts
//! run in parallel, bounded; a host that fails never stops the others.

use crate::core::change::{Class, HostChange};
use crate::core::facts::{Facts, FileFact};
use crate::engine::error::HostFailure;
use crate::engine::exec::*;
use crate::engine::types::*;
use crate::remote::{self};
use crate::transport::{Pending, Transport};
use std::sync::Arc;
use std::time::Duration;

/// After the host's own timer fired, how long wgdeploy keeps trying to reach it to learn (and
/// report) that it reverted. A revert is a down and an up of the interface: seconds.
const REVERT_GRACE: Duration = Duration::from_secs(20);

/// How long a survey's command waiting for its step ([`Surveyed::pending`]) is used: `apply --yes`
/// comes within a second; after a long confirmation prompt the step runs as a command of its own
/// rather than on a channel that sat idle (sshd's `ChannelTimeout` may have closed it, and a step
/// that never arrived would then be taken for one that broke).
const PENDING_FOR: Duration = Duration::from_secs(20);

/// Applies every surveyed host's change, `limits.parallel` at a time: each changed host is armed,
/// changed, verified and confirmed over a fresh connection (see [`crate::engine::confirm`]). With
/// `run.atomic`, if any host failed, the hosts this run changed are then rolled back.
pub async fn apply<C: Connector>(
    connector: Arc<C>,
    surveyed: Vec<Surveyed<C::Session>>,
    limits: Limits,
    run: Arc<Run>,
    reporter: Arc<dyn Reporter>,
) -> Vec<HostReport> {
    let done = crate::engine::parallel::bounded(surveyed, limits.parallel, {
        let (connector, run, reporter) = (connector.clone(), run.clone(), reporter.clone());
        move |host| {
            apply_host(
                connector.clone(),
                host,
                limits,
                run.clone(),
                reporter.clone(),
            )
        }
    })
    .await;
    let done = if run.atomic {
        roll_back_changed(connector, done, limits, run, reporter.clone()).await
    } else {
        done
    };
    refresh_after_restarts(done, limits, reporter).await
}

/// One surveyed host through [`apply_one`], as a task of [`apply`]: its report, and what an undo
/// (`--atomic`) or a session refresh needs of it (`None` when it could not be surveyed).
async fn apply_host<C: Connector>(
    connector: Arc<C>,
    host: Surveyed<C::Session>,
    limits: Limits,
    run: Arc<Run>,
    reporter: Arc<dyn Reporter>,
) -> (HostReport, Option<Kept<C::Session>>) {
    let (job, pending) = (host.job, host.pending);
    let (session, facts, change) = match host.outcome {
        Ok(surveyed) => surveyed,
        Err(error) => {
            let report = HostReport {
                name: job.name.clone(),
                class: None,
                outcome: Err(error),
                notes: Vec::new(),
                rolled_back: false,
            };
            return (report, None);
        }
    };
    if !change.is_empty() {
        reporter.update(&job.name, &format!("applying ({})", change.class.as_str()));
    }
    let (outcome, notes) = apply_one(
        connector.as_ref(),
        &job,
        session.as_ref(),
        &facts,
        &change,
        pending,
        limits,
        &run,
        reporter.as_ref(),
    )
    .await;
    match &outcome {
        Ok(applied) if applied.changed => reporter.finish(
            &job.name,
            true,
            &format!("applied ({})", change.class.as_str()),
        ),
        Ok(_) => reporter.finish(&job.name, true, "unchanged"),
        Err(error) => reporter.finish(&job.name, false, &error.message),
    }
    let report = HostReport {
        name: job.name.clone(),
        class: Some(change.class),
        outcome,
        notes,
        rolled_back: false,
    };
    let kept = Kept {
        job,
        session,
        before: facts,
    };
    (report, Some(kept))
}

/// One host's change, start to end. Returns its outcome and notes.
#[allow(clippy::too_many_arguments)]
async fn apply_one<C: Connector>(
    connector: &C,
    job: &Job,
    session: &C::Session,
    facts: &Facts,
    change: &HostChange,
    pending: Option<Pending>,
    limits: Limits,
    run: &Run,
    reporter: &dyn Reporter,
) -> (Result<Applied, HostError>, Vec<String>) {
    if change.class == Class::Remove {
        return crate::engine::removal::decommission(session, job, facts, limits, run).await;
    }
    let mut notes = Vec::new();
    if change.is_empty() {
        let unchanged = Applied {
            changed: false,
            live: facts.live.clone(),
            generation: facts.current_generation().map(|g| g.number),
            now: facts.now,
        };
        return (Ok(unchanged), notes);
    }
    let window = run.confirm_timeout.max(Duration::from_secs(1));
    // The step's own limit: the host's timer allows for it (see `crate::core::change::Arm`), so a slow
    // `wg-quick up` is not mistaken for a lock-out.
    let step_limit = limits.apply.max(Duration::from_secs(1));
    // The step goes to the survey's command when it still waits (a long confirmation prompt may
    // have outlasted it: see `PENDING_FOR`); else the confirm's channel opens alongside the
    // step's, so the quick confirm on this session (`confirm_on_session`) waits for its answer
    // only (the survey opened one ahead for the pending step's confirm).
    let pending = pending.filter(|pending| pending.waited() < PENDING_FOR);
    if pending.is_none() {
        session.open_ahead();
    }
    let step = match tokio::time::timeout(
        step_limit,
        execute(session, job, change, Some(run.arm(step_limit)), pending),
    )
    .await
    {
        Ok(end) => end,
        Err(_) => StepEnd::Unknown(
            HostFailure::StepTimeout {
                secs: step_limit.as_secs(),
            }
            .into(),
        ),
    };
    // The host restarted its countdown when the step ended, which is no later than now.
    let step_ended = std::time::Instant::now();
    let put_back = |error: HostError, reverted: bool| match reverted {
        true => error.and(HostFailure::PutBack),
        false => error,
    };
    let broken = match step {
        StepEnd::Failed { error, reverted } => return (Err(put_back(error, reverted)), notes),
        StepEnd::Done(live) => match verify(job, live.as_ref()) {
            Ok(()) => None,
            Err(error) => {
                let script =
                    remote::revert_now_script(&job.interface, facts.systemd, &run.deployment);
                let reverted = run_on(session, job, &script)
                    .await
                    .is_ok_and(|parsed| parsed.section("reverted-now").is_some());
                return (Err(put_back(error, reverted)), notes);
            }
        },
        StepEnd::Unknown(error) => Some(error),
    };
    reporter.update(&job.name, "confirming over a fresh connection");
    let deadline = step_ended + window + REVERT_GRACE;
    let seconds = window.as_secs();
    let name = &job.name;
    use crate::engine::confirm::Confirmation;
    // A step that did not answer leaves its session in doubt: only a fresh session decides then.
    let quick = match broken {
        None => crate::engine::confirm::confirm_on_session(session, job, facts.systemd, run).await,
        Some(_) => None,
    };
    let confirmation = match quick {
        Some(confirmation) => confirmation,
        None => {
            crate::engine::confirm::confirm(connector, job, facts.systemd, run, deadline, reporter)
                .await
        }
    };
    let outcome = match confirmation {
        Confirmation::Confirmed {
            generation,
            live,
            now,
            warning,
        } => {
            notes.extend(warning);
            if let Some(error) = &broken {
                notes.push(format!(
                    "no answer from the apply step ({}), but the step had finished on the host; confirmed over a fresh connection",
                    error.message
                ));
                if let Err(error) = verify(job, live.as_ref()) {
                    return (Err(error), notes);
                }
            }
            Ok(Applied {
                changed: true,
                live,
                generation,
                now,
            })
        }
        Confirmation::Reverted { at } => {
            let at = at
                .map(|at| format!(" at {}", crate::engine::confirm::utc_time(at)))
                .unwrap_or_default();
            Err(HostFailure::LockOutReverted {
                secs: seconds,
                host: name.to_string(),
                at,
            }
            .into())
        }
        Confirmation::RevertedNow => Err(broken
            .unwrap_or_else(|| HostFailure::StepUnfinished.into())
            .and(HostFailure::UnfinishedPutBack)),
        Confirmation::NotArmed => Err(broken.unwrap_or_else(|| HostFailure::TakenOver.into())),
        Confirmation::Unreachable(last) => {
            let unreachable = HostFailure::ConfirmUnreachable {
                host: name.to_string(),
                last: last.message,
                secs: seconds,
            };
            // A step that overran its limit comes first: that is the limit to raise.
            Err(match broken {
                Some(broken) => broken.and(unreachable),
                None => unreachable.into(),
            })
        }
    };
    (outcome, notes)
}

/// `apply --atomic` after a failure: every host this run changed goes back to the config it ran
/// before (a first deployment is removed again). Failed hosts already put themselves back.
async fn roll_back_changed<C: Connector>(
    connector: Arc<C>,
    done: Vec<(HostReport, Option<Kept<C::Session>>)>,
    limits: Limits,
    run: Arc<Run>,
    reporter: Arc<dyn Reporter>,
) -> Vec<(HostReport, Option<Kept<C::Session>>)> {
    let failed: Vec<String> = done
        .iter()
        .filter(|(report, _)| report.outcome.is_err())
        .map(|(report, _)| report.name.clone())
        .collect();
    if failed.is_empty() {
        return done;
    }
    let why = format!("--atomic: {} failed", failed.join(", "));
    crate::engine::parallel::bounded(done, limits.parallel, move |(mut report, kept)| {
        let (reporter, connector, run, why) = (
            reporter.clone(),
            connector.clone(),
            run.clone(),
            why.clone(),
        );
        async move {
            let changed = report.outcome.as_ref().is_ok_and(|applied| applied.changed);
            let Some(host) = kept.as_ref().filter(|_| changed) else {
                return (report, kept);
            };
            let (job, session) = (host.job.clone(), host.session.clone());
            let (before, systemd) = (host.before.config.clone(), host.before.systemd);
            reporter.update(&report.name, &format!("rolling back ({why})"));
            let outcome = roll_back_one(
                connector.as_ref(),
                &job,
                session.as_ref(),
                &before,
                systemd,
                limits,
                &run,
                reporter.as_ref(),
            )
            .await;
            match outcome {
                Ok(applied) => {
                    report.rolled_back = true;
                    report.notes.push(format!("rolled back ({why})"));
                    reporter.finish(&report.name, true, &format!("rolled back ({why})"));
                    report.outcome = Ok(applied);
                }
                Err(error) => {
                    let error = HostError::from(HostFailure::RollbackFailed {
                        why: why.clone(),
                        error: error.message,
                    });
                    reporter.finish(&report.name, false, &error.message);
                    report.outcome = Err(error);
                }
            }
            (report, kept)
        }
    })
    .await
}

#[allow(clippy::too_many_arguments)]
async fn roll_back_one<C: Connector>(
    connector: &C,
    job: &Job,
    session: &C::Session,
    before: &FileFact,
    systemd: bool,
    limits: Limits,
    run: &Run,
    reporter: &dyn Reporter,
) -> Result<Applied, HostError> {
    match before {
        FileFact::Present(text) => {
            let job = Job {
                desired: text.clone(),
                ..job.clone()
            };
            let facts = gather(session, &job).await?;
            let change = job.classify(&facts);
            let undo = Run {
                kind: "rollback",
                ..run.clone()
            };
            apply_one(
                connector, &job, session, &facts, &change, None, limits, &undo, reporter,
            )
            .await
            .0
        }
        FileFact::Absent => {
            let script = remote::remove_script(&job.interface, systemd, &run.deployment);
            let parsed = run_on(session, job, &script).await?;
            if let Some((reason, _)) = parsed.section("fail") {
                return Err(HostFailure::ScriptFailed {
                    reason: reason.to_owned(),
                }
                .into());
            }
            if parsed.section("done").is_none() || !parsed.ended {
                return Err(HostFailure::RemovalCut.into());
            }
            Ok(Applied {
                changed: true,
                live: None,
                generation: None,
                now: 0,
            })
        }
        FileFact::Unreadable => Err(HostFailure::PreviousUnreadable.into()),
    }
}

/// A host still connected after its apply: what the later stages need.
struct Kept<S> {
    job: Arc<Job>,
    session: Arc<S>,
    /// Its facts before this run changed anything.
    before: Facts,
}

/// After hosts restarted, every other host that lists one of them drops its stale session with it
/// (see [`remote::refresh_script`]), so the fleet is whole again in seconds, not minutes. A host
/// whose key changed (`rotate`, `--rekey`) counts as restarted: the hosts that dial it handshake
/// with its new key at once, and it re-adds the peers it dials itself, so it handshakes with them
/// at once too instead of at its next packet or keepalive (a one-way flow towards a NAT-ed host
/// would otherwise wait for that).
async fn refresh_after_restarts<S: Transport + 'static>(
    done: Vec<(HostReport, Option<Kept<S>>)>,
    limits: Limits,
    reporter: Arc<dyn Reporter>,
) -> Vec<HostReport> {
    // An interface brought up may have been running until it failed (or an interrupted earlier
    // apply took it down): its peers may hold sessions with the old process too.
    let started = |report: &HostReport| {
        matches!(report.class, Some(Class::Restart | Class::Up))
            && report.outcome.as_ref().is_ok_and(|applied| applied.changed)
    };
    let rekeyed = |report: &HostReport, job: &Job| {
        job.keys.rekeyed.contains(&report.name)
            && report.outcome.as_ref().is_ok_and(|applied| applied.changed)
    };
    let restarted: Vec<(String, String)> = done
        .iter()
        .filter(|(report, host)| {
            started(report) || host.as_ref().is_some_and(|kept| rekeyed(report, &kept.job))
        })
        .filter_map(|(report, host)| {
            let kept = host.as_ref()?;
            // A config whose key a PostUp hook sets names no key: the interface's own says it.
            let key = public_key_of(&kept.job).or_else(|| {
                let applied = report.outcome.as_ref().ok()?;
                Some(applied.live.as_ref()?.public_key.clone())
            })?;
            Some((report.name.clone(), key))
        })
        .collect();
    if restarted.is_empty() {
        return done.into_iter().map(|(report, _)| report).collect();
    }
    let restarted = Arc::new(restarted);
    crate::engine::parallel::bounded(done, limits.parallel, move |(mut report, host)| {
        let (reporter, restarted) = (reporter.clone(), restarted.clone());
        async move {
            let Some(Kept { job, session, .. }) = host else {
                return report;
            };
            // Only peers this host dials (it has their endpoint in its config): re-adding such a
            // peer loses nothing and its keepalive or next packet handshakes at once. A peer it
            // only knows by the endpoint it learned (one behind NAT) is left alone: removing it
            // would forget that endpoint, and that peer handshakes by itself when it starts.
            let listed = crate::core::wgconf::parse(std::path::Path::new(&job.name), job.desired.expose())
                .map(|config| {
                    config
                        .peers
                        .iter()
                        .filter(|peer| peer.endpoint.is_some())
                        .map(|peer| peer.public_key.to_base64())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let (names, mut keys): (Vec<String>, Vec<String>) = restarted
                .iter()
                .filter(|(name, key)| *name != job.name && listed.contains(key))
                .cloned()
                .unzip();
            let mut with = format!("restarted {}", names.join(", "));
            if rekeyed(&report, &job) && !started(&report) {
                with = "every peer it dials (its key changed)".to_owned();
                keys = listed;
            }
            // A host that itself (re)started has only fresh sessions; so a first deployment,
            // where every host comes up, refreshes nothing.
            if keys.is_empty() || report.outcome.is_err() || started(&report) {
                return report;
            }
            reporter.update(&job.name, &format!("refreshing sessions with {with}"));
            let script = remote::refresh_script(&job.interface, &keys);
            let outcome = tokio::time::timeout(limits.apply, run(session.as_ref(), &job, &script, &[]))
                .await
                .map_err(|_| HostError::from(HostFailure::RefreshTimeout))
                .and_then(|outcome| outcome);
            let note = match outcome.map(|output| crate::remote::facts::split(&output.stdout)) {
                Ok(Ok(parsed)) if parsed.section("done").is_some() && parsed.ended => {
                    format!("fresh sessions with {with}")
                }
                _ => format!(
                    "could not refresh its sessions with {with} (they recover by themselves within minutes)"
                ),
            };
            reporter.finish(&job.name, true, &note);
            report.notes.push(note);
            report
        }
    })
    .await
}

/// The public key of the host a job configures, from the private key in its config.
fn public_key_of(job: &Job) -> Option<String> {
    let config =
        crate::core::wgconf::parse(std::path::Path::new(&job.name), job.desired.expose()).ok()?;
    // `keys: on-host`: the config names the host's public key, its private key stays there.
    let key = config
        .private_key
        .map(|key| key.public_key())
        .or(config.public_key)?;
    Some(key.to_base64())
}

/// One line about a host's change: "nothing to do", "syncconf: peers change", ...
#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::forwarding::Families;
    use crate::core::keys::PrivateKey;
    use crate::core::model::InterfaceName;
    use crate::engine::survey::*;
    use crate::engine::testing::{Quiet, limits, run_of};
    use crate::remote::Become;
    use crate::transport::Output;
    use crate::transport::TransportError;
    use crate::transport::fake::{FakeTransport, WAITING_INPUT, ok};

    /// One host, reached through `FakeTransport`s sharing its record.
    struct One(FakeTransport);
    impl Connector for One {
        type Session = FakeTransport;
        async fn connect(&self, _: &Job) -> Result<FakeTransport, HostError> {
            Ok(self.0.clone())
        }
    }

    struct Keys {
        host: PrivateKey,
        peer: PrivateKey,
    }

    fn keys() -> Keys {
        Keys {
            host: PrivateKey::from_bytes([1; 32]),
            peer: PrivateKey::from_bytes([2; 32]),
        }
    }

    fn config(keys: &Keys, address: &str, peer_ips: &str) -> String {
        format!(
            "# wg0 on relay1: generated by wgdeploy; local edits are overwritten on the next apply.\n[Interface]\nPrivateKey = {}\nAddress = {address}\nListenPort = 51820\n\n[Peer]\n# Name = web1\nPublicKey = {}\nAllowedIPs = {peer_ips}\n",
            keys.host.expose_base64(),
            keys.peer.public_key().to_base64()
        )
    }

    fn dump(keys: &Keys, peer_ips: &str) -> String {
        format!(
            "-\t{}\t51820\toff\n{}\t-\t(none)\t{peer_ips}\t0\t0\t0\toff\n",
            keys.host.public_key().to_base64(),
            keys.peer.public_key().to_base64()
        )
    }

    fn facts_output(config: Option<&str>, dump: Option<&str>) -> String {
        let config = match config {
            Some(text) => format!("@@config {}\n{text}\n", text.len()),
            None => "@@config absent\n".to_owned(),
        };
        format!(
            "@@wgdeploy-facts 1\n@@user root\n@@os\nDebian\n@@tools\nwg\nwg-quick\nflock\n@@systemd\n@@dir\nok\n@@stamp 1 2 3\n{config}@@sysctl-file absent\n@@sysctl\nnet.ipv4.ip_forward=0\n@@link\n@@dump\n{}@@end\n",
            dump.unwrap_or("")
        )
    }

    fn job(desired: &str) -> Job {
        Job {
            name: "relay1".into(),
            interface: InterfaceName::parse("wg0").unwrap(),
            desired: crate::core::facts::SecretText::new(desired.to_owned()),
            forwarding: Families::default(),
            become_: Become::None,
            keys: Default::default(),
        }
    }

    /// A host that answers the facts script with `facts` and the apply script with `applied`.
    /// A host that answers the facts script with `facts`, the apply script with `applied`, and the
    /// confirm as confirmed (generation 1), with `applied`'s live state.
    fn host(facts: String, applied: String) -> FakeTransport {
        FakeTransport::new(move |command, _| {
            if command.contains("wgdeploy-facts") {
                ok(&facts)
            } else if command.contains("@@confirmed") {
                ok(&format!("@@confirmed\n@@generation 1\n@@now 0\n{applied}"))
            } else {
                ok(&applied)
            }
        })
    }

    /// Surveys and applies `jobs` on `fleet`, as `apply` does.
    async fn run_fleet<C: Connector>(
        fleet: Arc<C>,
        jobs: Vec<Job>,
        parallel: usize,
        atomic: bool,
    ) -> Vec<HostReport> {
        let limits = limits(parallel);
        let surveyed = survey(fleet.clone(), jobs, limits, Arc::new(Quiet)).await;
        super::apply(fleet, surveyed, limits, run_of(atomic), Arc::new(Quiet)).await
    }

    async fn survey_and_apply(
        transport: &FakeTransport,
        job: &Job,
    ) -> (HostChange, Result<Applied, HostError>) {
        let facts = gather(transport, job).await.unwrap();
        let change = job.classify(&facts);
        if change.is_empty() {
            let unchanged = Applied {
                changed: false,
                live: facts.live.clone(),
                generation: None,
                now: 0,
            };
            return (change, Ok(unchanged));
        }
        let applied = match execute(transport, job, &change, None, None).await {
            StepEnd::Done(live) => verify(job, live.as_ref()).map(|()| Applied {
                changed: true,
                live,
                generation: None,
                now: 0,
            }),
            StepEnd::Failed { error, .. } | StepEnd::Unknown(error) => Err(error),
        };
        (change, applied)
    }

    /// A host gaining a routed subnet behind its peer: its config before and after, and the apply
    /// step's answer (a syncconf).
    fn peer_change(k: &Keys) -> (String, String, String) {
        let old = config(k, "100.64.0.1/24", "100.64.0.2/32");
        let desired = config(k, "100.64.0.1/24", "100.64.0.2/32, 100.64.1.0/24");
        let after = format!(
            "@@written\n@@done syncconf\n@@dump\n{}@@end\n",
            dump(k, "100.64.0.2/32,100.64.1.0/24")
        );
        (old, desired, after)
    }

    /// Apply's survey leaves its command waiting: a changed host's step goes to it (its input: the
    /// step's arguments on one line, then the config; no second command, no key on a command
    /// line); an unchanged host's waiting command is let go with nothing sent.
    #[tokio::test]
    async fn the_step_goes_to_the_surveys_waiting_command() {
        let k = keys();
        let (old, desired, after) = peer_change(&k);
        let changed = host(
            facts_output(Some(&old), Some(&dump(&k, "100.64.0.2/32"))),
            after.clone(),
        )
        .with_waiting();
        let unchanged = host(
            facts_output(
                Some(&desired),
                Some(&dump(&k, "100.64.0.2/32,100.64.1.0/24")),
            ),
            after,
        )
        .with_waiting();
        for (transport, changes) in [(changed, true), (unchanged, false)] {
            let fleet = Arc::new(One(transport.clone()));
            let limits = limits(1);
            let surveyed = crate::engine::survey::survey_for(
                fleet.clone(),
                vec![job(&desired)],
                limits,
                Arc::new(Quiet),
                Arc::new(Goal::Apply),
            )
            .await;
            assert!(surveyed[0].pending.is_some());
            let reports =
                super::apply(fleet, surveyed, limits, run_of(false), Arc::new(Quiet)).await;
            let applied = reports[0].outcome.as_ref().expect("applied");
            assert_eq!(applied.changed, changes);
            let recorded = transport.recorded();
            let commands: Vec<&str> = recorded
                .iter()
                .map(|(command, _)| command.as_str())
                .collect();
            assert!(
                commands[0].contains("# then-apply.sh"),
                "{:.80}",
                commands[0]
            );
            assert!(
                !commands
                    .iter()
                    .any(|command| command.contains("# apply.sh IFACE")
                        && !command.contains("# then-apply.sh")),
                "no step of its own"
            );
            let inputs: Vec<&[u8]> = recorded
                .iter()
                .filter(|(command, _)| command == WAITING_INPUT)
                .map(|(_, stdin)| stdin.as_slice())
                .collect();
            if !changes {
                assert!(inputs.is_empty(), "nothing sent to an unchanged host");
                assert_eq!(recorded.len(), 1);
                continue;
            }
            assert_eq!(inputs.len(), 1);
            let input = String::from_utf8(inputs[0].to_vec()).unwrap();
            let (line, config) = input.split_once('\n').unwrap();
            assert_eq!(config, desired);
            assert!(
                line.starts_with("wg0 ") && line.contains(" syncconf "),
                "{line}"
            );
            for (command, _) in &recorded {
                assert!(!command.contains(&k.host.expose_base64()));
            }
        }
    }

    #[tokio::test]
    async fn a_converged_host_gets_no_write_and_no_reload() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let transport = host(
            facts_output(Some(&desired), Some(&dump(&k, "100.64.0.2/32"))),
            String::new(),
        );
        let (change, applied) = survey_and_apply(&transport, &job(&desired)).await;
        assert!(change.is_empty(), "{:?}", change.reasons);
        assert!(!applied.unwrap().changed);
        assert_eq!(transport.recorded().len(), 1, "only the facts round trip");
    }

    #[tokio::test]
    async fn a_peer_change_is_a_syncconf_with_the_config_on_stdin_only() {
        let k = keys();
        let (old, desired, after) = peer_change(&k);
        let transport = host(
            facts_output(Some(&old), Some(&dump(&k, "100.64.0.2/32"))),
            after,
        );
        let (change, applied) = survey_and_apply(&transport, &job(&desired)).await;
        assert_eq!(change.class, Class::Syncconf);
        assert!(applied.unwrap().changed);
        let recorded = transport.recorded();
        assert_eq!(recorded.len(), 2);
        let (command, stdin) = &recorded[1];
        assert!(command.contains("wg syncconf"));
        assert!(
            !command.contains(&k.host.expose_base64()),
            "the private key must not be on a command line"
        );
        assert_eq!(stdin, desired.as_bytes());
        assert!(!change.diff.unwrap().contains(&k.host.expose_base64()));
    }

    #[tokio::test]
    async fn an_address_change_restarts_and_a_stopped_interface_comes_up() {
        let k = keys();
        let old = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let moved = config(&k, "100.64.0.9/24", "100.64.0.2/32");
        let facts = crate::remote::facts::parse(
            facts_output(Some(&old), Some(&dump(&k, "100.64.0.2/32"))).as_bytes(),
        )
        .unwrap();
        let change = crate::core::change::classify(
            "relay1",
            &job(&moved).interface,
            &moved,
            Families::default(),
            &facts,
        );
        assert_eq!(change.class, Class::Restart);
        assert_eq!(change.reasons, vec!["interface changes: Address"]);
        let stopped =
            crate::remote::facts::parse(facts_output(Some(&old), None).as_bytes()).unwrap();
        let change = crate::core::change::classify(
            "relay1",
            &job(&old).interface,
            &old,
            Families::default(),
            &stopped,
        );
        assert_eq!(change.class, Class::Up);
        assert!(
            !change.write,
            "the file is right; only the interface is down"
        );
    }

    #[tokio::test]
    async fn live_drift_is_repaired_with_syncconf() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let facts = crate::remote::facts::parse(
            facts_output(Some(&desired), Some(&dump(&k, "100.64.0.3/32"))).as_bytes(),
        )
        .unwrap();
        let change = crate::core::change::classify(
            "relay1",
            &job(&desired).interface,
            &desired,
            Families::default(),
            &facts,
        );
        assert_eq!(change.class, Class::Syncconf);
        assert!(!change.write);
        assert!(
            change.reasons[0].contains("peer `web1` has other AllowedIPs"),
            "{:?}",
            change.reasons
        );
    }

    #[tokio::test]
    async fn forwarding_hosts_get_the_sysctl_switched_on_and_persisted() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let facts = crate::remote::facts::parse(
            facts_output(Some(&desired), Some(&dump(&k, "100.64.0.2/32"))).as_bytes(),
        )
        .unwrap();
        let families = Families {
            ipv4: true,
            ipv6: false,
        };
        let change = crate::core::change::classify(
            "relay1",
            &job(&desired).interface,
            &desired,
            families,
            &facts,
        );
        assert_eq!(change.class, Class::Nothing);
        assert!(!change.is_empty());
        assert_eq!(change.step.sysctl_on, vec!["net.ipv4.ip_forward"]);
        assert!(
            change
                .step
                .sysctl_file
                .as_deref()
                .unwrap()
                .contains("net.ipv4.ip_forward = 1")
        );
    }

    #[tokio::test]
    async fn a_failed_step_reports_the_hosts_reason_and_its_log() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let transport = host(
            facts_output(None, None),
            "@@log\nRTNETLINK answers: Operation not permitted\n@@fail wg-quick up wg0 failed\n"
                .into(),
        );
        let (_, applied) = survey_and_apply(&transport, &job(&desired)).await;
        let error = applied.unwrap_err();
        assert_eq!(error.message, "wg-quick up wg0 failed");
        assert!(error.help.unwrap().contains("Operation not permitted"));
    }

    #[tokio::test]
    async fn text_from_the_host_is_escaped_wherever_plan_and_apply_print_it() {
        use crate::ui::output::PlanRow;
        let k = keys();
        let old = config(&k, "100.64.0.1/24", "100.64.0.2/32").replacen(
            "[Peer]",
            "# \x1b[31mred\r\n[Peer]",
            1,
        );
        let desired = config(&k, "100.64.0.9/24", "100.64.0.2/32");
        let transport = host(
            facts_output(Some(&old), Some(&dump(&k, "100.64.0.2/32"))),
            "@@written\n@@log\n\x1b]0;log\x07\n@@fail \x1b]0;title\x07 wg-quick up wg0 failed\n"
                .into(),
        );
        let (change, applied) = survey_and_apply(&transport, &job(&desired)).await;
        let error = applied.unwrap_err();
        // The host's text reaches the plan and the error as it was sent...
        assert!(change.diff.as_ref().unwrap().contains("\x1b[31m"));
        assert!(error.message.contains("\x1b]0;title\x07"));
        // ...and every place that prints it escapes it.
        let plan = crate::ui::output::human_plan(&[
            PlanRow::Change("relay1", &change),
            PlanRow::Failed("relay1", &error),
        ]);
        let report = HostReport {
            name: "relay1".into(),
            class: Some(change.class),
            outcome: Err(error.clone()),
            notes: Vec::new(),
            rolled_back: false,
        };
        let table = crate::ui::output::summary_table(&[report]);
        let diagnostic = crate::cli::live::host_diagnostic("relay1", &error).to_string();
        for text in [&plan, &table, &diagnostic] {
            assert!(
                !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\r'),
                "{text:?}"
            );
            assert!(text.contains("\\u{1b}]0;title\\u{7}"), "{text}");
        }
        assert!(plan.contains("# \\u{1b}[31mred"), "{plan}");
    }

    #[tokio::test]
    async fn an_apply_step_cut_short_is_reported_as_such() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let transport = host(facts_output(None, None), "@@written\n".into());
        let (_, applied) = survey_and_apply(&transport, &job(&desired)).await;
        assert!(
            applied
                .unwrap_err()
                .message
                .contains("stopped before its end")
        );
    }

    #[tokio::test]
    async fn verification_catches_an_interface_that_does_not_run_the_plan() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let after = format!(
            "@@written\n@@done up\n@@dump\n{}@@end\n",
            dump(&k, "100.64.0.7/32")
        );
        let transport = host(facts_output(None, None), after);
        let (_, applied) = survey_and_apply(&transport, &job(&desired)).await;
        assert!(
            applied
                .unwrap_err()
                .message
                .starts_with("verification failed")
        );
    }

    #[tokio::test]
    async fn sudo_needing_a_password_and_missing_tools_are_clear_errors() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let mut sudo_job = job(&desired);
        sudo_job.become_ = Become::Sudo;
        let transport = FakeTransport::new(|_, _| {
            Ok(Output {
                status: Some(1),
                stdout: vec![],
                stderr: b"sudo: a password is required\n".to_vec(),
            })
        });
        let error = gather(&transport, &sudo_job).await.unwrap_err();
        assert!(error.message.contains("sudo -n") && error.help.unwrap().contains("NOPASSWD"));
        assert!(transport.recorded()[0].0.starts_with("sudo -n sh -c "));

        let no_quick = facts_output(None, None).replace("wg-quick\n", "");
        let transport = host(no_quick, String::new());
        let error = gather(&transport, &job(&desired)).await.unwrap_err();
        assert!(
            error.message.contains("`wg-quick` not found")
                && error.message.contains("wireguard-tools")
        );
    }

    struct FakeFleet;

    impl Connector for FakeFleet {
        type Session = FakeTransport;
        async fn connect(&self, job: &Job) -> Result<FakeTransport, HostError> {
            if job.name == "down" {
                return Err(
                    HostFailure::from(crate::transport::ssh::SshError::Unreachable {
                        hop: "down".into(),
                        addr: "198.18.0.9:22".into(),
                        reason: "no route to host".into(),
                    })
                    .into(),
                );
            }
            if job.name == "broken" {
                return Ok(FakeTransport::new(|_, _| {
                    Err(TransportError {
                        message: "connection reset".into(),
                    })
                }));
            }
            let k = keys();
            let after = format!(
                "@@written\n@@done up\n@@dump\n{}@@end\n",
                dump(&k, "100.64.0.2/32")
            );
            Ok(host(facts_output(None, None), after))
        }
    }

    /// A fleet for the lock-out and --atomic tests: every host's config moves from `old` to `new`
    /// (an address change: restart). The host keeps what it was last given, so a second survey
    /// (the --atomic undo) sees the new config. `lost` hosts refuse every new connection after the
    /// step until their timer reverted them; `failing` hosts fail their step once armed.
    struct ProtectedFleet {
        lost: &'static [&'static str],
        failing: &'static [&'static str],
        hosts: std::sync::Mutex<std::collections::HashMap<String, FakeTransport>>,
        /// Sessions answer [`Transport::reach_anew`]: a new connection reaches sshd, except on
        /// `lost` hosts.
        probe: bool,
        connects: std::sync::Mutex<Vec<String>>,
    }

    impl ProtectedFleet {
        fn new(lost: &'static [&'static str], failing: &'static [&'static str]) -> Arc<Self> {
            Arc::new(ProtectedFleet {
                lost,
                failing,
                hosts: Default::default(),
                probe: false,
                connects: Default::default(),
            })
        }

        fn host_for(&self, name: &str) -> FakeTransport {
            let k = keys();
            let old = config(&k, "100.64.0.1/24", "100.64.0.2/32");
            let live = dump(&k, "100.64.0.2/32");
            let current = Arc::new(std::sync::Mutex::new(old));
            let failing = self.failing.contains(&name);
            let transport = FakeTransport::new(move |command, stdin| {
                let mut current = current.lock().unwrap();
                if command.contains("wgdeploy-facts") {
                    ok(&facts_output(Some(&current), Some(&live)))
                } else if command.contains("@@confirmed") {
                    ok(&format!(
                        "@@confirmed\n@@generation 2\n@@now 0\n@@dump\n{live}@@end\n"
                    ))
                } else if failing {
                    ok(
                        "@@armed\n@@written\n@@log\nsimulated\n@@fail wg-quick up wg0 failed\n@@reverted-now\n",
                    )
                } else {
                    *current = String::from_utf8_lossy(stdin).into_owned();
                    ok(&format!(
                        "@@armed\n@@written\n@@done restart\n@@dump\n{live}@@end\n"
                    ))
                }
            });
            match (self.probe, self.lost.contains(&name)) {
                (false, _) => transport,
                (true, false) => transport.with_reach(Ok(())),
                (true, true) => transport.with_reach(Err(crate::transport::TransportError {
                    message: "connection timed out".into(),
                })),
            }
        }
    }

    impl Connector for ProtectedFleet {
        type Session = FakeTransport;
        async fn connect(&self, job: &Job) -> Result<FakeTransport, HostError> {
            self.connects.lock().unwrap().push(job.name.clone());
            let mut hosts = self.hosts.lock().unwrap();
            if let Some(host) = hosts.get(&job.name) {
                if self.lost.contains(&job.name.as_str()) {
                    // Connected before (survey): the change has cut off new connections since.
                    return Ok(FakeTransport::new(|command, _| {
                        if command.contains("@@confirmed") {
                            ok("@@reverted 1700000000\n@@dump\n@@end\n")
                        } else {
                            ok("")
                        }
                    }));
                }
                return Ok(host.clone());
            }
            let host = self.host_for(&job.name);
            hosts.insert(job.name.clone(), host.clone());
            Ok(host)
        }
    }

    fn protected_jobs(names: &[&str]) -> Vec<Job> {
        let k = keys();
        let new = config(&k, "100.64.0.9/24", "100.64.0.2/32");
        names
            .iter()
            .map(|name| Job {
                name: (*name).into(),
                ..job(&new)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_host_that_reverted_by_itself_is_reported_so_and_a_failed_step_is_put_back() {
        let fleet = ProtectedFleet::new(&["cut"], &["broken"]);
        let jobs = protected_jobs(&["fine", "cut", "broken"]);
        let reports = run_fleet(fleet, jobs, 4, false).await;
        let fine = reports[0].outcome.as_ref().unwrap();
        assert!(fine.changed && fine.generation == Some(2));
        let cut = reports[1].outcome.as_ref().unwrap_err();
        assert!(
            cut.message
                .starts_with("no confirmation within 5 s (--confirm-timeout): ")
                && !cut.message.contains("--step-timeout")
                && cut
                    .message
                    .contains("put back its previous config by itself at 22:13:20 UTC")
                && cut.message.contains("SSH works again"),
            "{}",
            cut.message
        );
        let broken = reports[2].outcome.as_ref().unwrap_err();
        assert!(
            broken
                .message
                .ends_with("the host put its previous config back")
        );
        assert!(
            reports.iter().all(|report| !report.rolled_back),
            "not --atomic"
        );
    }

    /// With a transport that can probe: a new connection reaching sshd confirms over the step's
    /// own session (one connection per host in all); one that does not get through falls back to
    /// fresh sessions, and the host that reverted by itself is reported as before.
    #[tokio::test]
    async fn a_new_connection_reaching_sshd_confirms_over_the_steps_session() {
        let fleet = Arc::new(ProtectedFleet {
            probe: true,
            ..Arc::into_inner(ProtectedFleet::new(&["cut"], &[])).unwrap()
        });
        let jobs = protected_jobs(&["fine", "cut"]);
        let reports = run_fleet(fleet.clone(), jobs, 4, false).await;
        let fine = reports[0].outcome.as_ref().unwrap();
        assert!(fine.changed && fine.generation == Some(2));
        let connects = fleet.connects.lock().unwrap().clone();
        assert_eq!(
            connects.iter().filter(|name| *name == "fine").count(),
            1,
            "the survey's connection only: {connects:?}"
        );
        let fine_log: Vec<String> = fleet.hosts.lock().unwrap()["fine"]
            .recorded()
            .into_iter()
            .map(|(command, _)| command)
            .collect();
        let probe = fine_log.iter().position(|c| c == "reach_anew").unwrap();
        let confirm = fine_log
            .iter()
            .position(|c| c.contains("@@confirmed"))
            .unwrap();
        assert!(probe < confirm, "the probe comes first: {fine_log:?}");
        let cut = reports[1].outcome.as_ref().unwrap_err();
        assert!(
            cut.message
                .contains("put back its previous config by itself at 22:13:20 UTC"),
            "{}",
            cut.message
        );
        assert!(
            connects.iter().filter(|name| *name == "cut").count() > 1,
            "fresh sessions after the probe failed: {connects:?}"
        );
    }

    /// One host whose apply step (an address change: restart) takes `step`, and whose confirm,
    /// like the real one, confirms only a step that finished and otherwise puts it back.
    struct SlowHost(FakeTransport);

    impl SlowHost {
        fn new(step: Duration) -> Arc<SlowHost> {
            let k = keys();
            let old = config(&k, "100.64.0.1/24", "100.64.0.2/32");
            let live = dump(&k, "100.64.0.2/32");
            let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let host = FakeTransport::new(move |command, _| {
                use std::sync::atomic::Ordering::SeqCst;
                if command.contains("wgdeploy-facts") {
                    ok(&facts_output(Some(&old), Some(&live)))
                } else if command.contains("@@confirmed") && finished.load(SeqCst) {
                    ok(&format!(
                        "@@confirmed\n@@generation 2\n@@now 0\n@@dump\n{live}@@end\n"
                    ))
                } else if command.contains("@@confirmed") {
                    ok("@@reverted-now\n@@end\n")
                } else {
                    finished.store(true, SeqCst);
                    ok(&format!(
                        "@@armed\n@@written\n@@done restart\n@@dump\n{live}@@end\n"
                    ))
                }
            })
            .with_delay(move |command| match command.contains("# apply.sh ") {
                true => step,
                false => Duration::ZERO,
            });
            Arc::new(SlowHost(host))
        }
    }

    impl Connector for SlowHost {
        type Session = FakeTransport;
        async fn connect(&self, _: &Job) -> Result<FakeTransport, HostError> {
            Ok(self.0.clone())
        }
    }

    /// Applies the protected change to a [`SlowHost`] with these limits.
    async fn apply_slow(step: Duration, step_limit: Duration, confirm: Duration) -> HostReport {
        let host = SlowHost::new(step);
        let limits = Limits {
            apply: step_limit,
            ..limits(1)
        };
        let run = Arc::new(Run {
            confirm_timeout: confirm,
            ..(*run_of(false)).clone()
        });
        let surveyed = survey(
            host.clone(),
            protected_jobs(&["slow"]),
            limits,
            Arc::new(Quiet),
        )
        .await;
        let mut reports = super::apply(host.clone(), surveyed, limits, run, Arc::new(Quiet)).await;
        reports.remove(0)
    }

    #[tokio::test]
    async fn a_step_slower_than_the_confirm_window_but_within_its_own_limit_succeeds() {
        let report = apply_slow(
            Duration::from_millis(1500),
            Duration::from_secs(3),
            Duration::from_secs(1),
        )
        .await;
        let applied = report.outcome.unwrap();
        assert!(applied.changed && applied.generation == Some(2));
        assert!(report.notes.is_empty(), "{:?}", report.notes);
    }

    #[tokio::test]
    async fn the_host_timer_waits_for_the_step_and_restarts_when_it_ends() {
        let host = SlowHost::new(Duration::ZERO);
        let limits = Limits {
            apply: Duration::from_secs(3),
            ..limits(1)
        };
        let surveyed = survey(
            host.clone(),
            protected_jobs(&["slow"]),
            limits,
            Arc::new(Quiet),
        )
        .await;
        super::apply(
            host.clone(),
            surveyed,
            limits,
            run_of(false),
            Arc::new(Quiet),
        )
        .await;
        let (script, _) = host
            .0
            .recorded()
            .into_iter()
            .find(|(command, _)| command.contains("# apply.sh "))
            .unwrap();
        // Armed for step limit + confirm window (3 + 5 s), restarted at 5 s when the step ends
        // (apply.sh's FIRST_SECONDS and SECONDS, after the token; the order is apply.sh's own and
        // is tested in remote::tests).
        assert!(script.contains(" restart "), "{script}");
        assert!(script.contains(" 8 5 "), "{script}");
    }

    #[tokio::test]
    async fn a_step_over_its_limit_is_reported_as_the_step_timeout() {
        let report = apply_slow(
            Duration::from_secs(3),
            Duration::from_secs(1),
            Duration::from_secs(5),
        )
        .await;
        let error = report.outcome.unwrap_err();
        assert!(
            error
                .message
                .starts_with("the apply step did not finish within 1 s (--step-timeout)")
                && error.message.contains("its previous config was put back")
                && !error.message.contains("--confirm-timeout"),
            "{}",
            error.message
        );
        assert!(error.help.unwrap().contains("--step-timeout"));
    }

    #[tokio::test]
    async fn atomic_rolls_back_the_hosts_a_failed_run_changed() {
        let fleet = ProtectedFleet::new(&[], &["broken"]);
        let jobs = protected_jobs(&["a", "broken", "b"]);
        let reports = run_fleet(fleet.clone(), jobs, 4, true).await;
        assert!(reports[0].rolled_back && reports[2].rolled_back);
        assert!(!reports[1].rolled_back && reports[1].outcome.is_err());
        assert_eq!(reports[0].notes, ["rolled back (--atomic: broken failed)"]);
        // a was given the new config, then the old one again, on stdin.
        let k = keys();
        let old = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let a = fleet.hosts.lock().unwrap()["a"].clone();
        let pushed: Vec<String> = a
            .recorded()
            .into_iter()
            .filter(|(_, stdin)| !stdin.is_empty())
            .map(|(_, stdin)| String::from_utf8(stdin).unwrap())
            .collect();
        assert_eq!(pushed.len(), 2, "the change and its undo");
        assert_eq!(pushed[1], old);
    }

    #[tokio::test]
    async fn a_failing_host_never_stops_the_others() {
        let k = keys();
        let desired = config(&k, "100.64.0.1/24", "100.64.0.2/32");
        let names = ["a", "down", "b", "broken", "c"];
        let jobs: Vec<Job> = names
            .iter()
            .map(|name| Job {
                name: (*name).into(),
                ..job(&desired)
            })
            .collect();
        let limits = limits(2);
        let fleet = Arc::new(FakeFleet);
        let surveyed = survey(fleet.clone(), jobs, limits, Arc::new(Quiet)).await;
        let order: Vec<&str> = surveyed.iter().map(|s| s.job.name.as_str()).collect();
        assert_eq!(order, names, "results keep inventory order");
        let reports = super::apply(fleet, surveyed, limits, run_of(false), Arc::new(Quiet)).await;
        let ok: Vec<&str> = reports
            .iter()
            .filter(|r| r.outcome.is_ok())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(ok, ["a", "b", "c"]);
        let down = reports.iter().find(|r| r.name == "down").unwrap();
        assert!(
            down.outcome
                .as_ref()
                .unwrap_err()
                .message
                .contains("no route to host")
        );
    }

    /// Two hosts: `a` restarts (its address moves), `b` lists `a` and has nothing to change.
    struct RestartFleet {
        b: FakeTransport,
    }

    fn pair_config(own: &PrivateKey, address: &str, peer: &PrivateKey, peer_ip: &str) -> String {
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = {address}\nListenPort = 51820\n\n[Peer]\nPublicKey = {}\nAllowedIPs = {peer_ip}\nEndpoint = 198.51.100.1:51820\n",
            own.expose_base64(),
            peer.public_key().to_base64()
        )
    }

    fn pair_dump(own: &PrivateKey, peer: &PrivateKey, peer_ip: &str) -> String {
        format!(
            "-\t{}\t51820\toff\n{}\t-\t(none)\t{peer_ip}\t0\t0\t0\toff\n",
            own.public_key().to_base64(),
            peer.public_key().to_base64()
        )
    }

    impl Connector for RestartFleet {
        type Session = FakeTransport;
        async fn connect(&self, job: &Job) -> Result<FakeTransport, HostError> {
            let k = keys();
            if job.name == "a" {
                let old = pair_config(&k.host, "100.64.0.1/24", &k.peer, "100.64.0.2/32");
                let live = pair_dump(&k.host, &k.peer, "100.64.0.2/32");
                let after = format!("@@written\n@@done restart\n@@dump\n{live}@@end\n");
                Ok(host(facts_output(Some(&old), Some(&live)), after))
            } else {
                Ok(self.b.clone())
            }
        }
    }

    #[tokio::test]
    async fn peers_of_a_restarted_host_drop_their_stale_sessions_with_it() {
        let k = keys();
        let a_desired = pair_config(&k.host, "100.64.0.9/24", &k.peer, "100.64.0.2/32");
        let b_desired = pair_config(&k.peer, "100.64.0.2/24", &k.host, "100.64.0.9/32");
        let (reports, b) = restart_next_to(&a_desired, &b_desired).await;
        assert_eq!(reports[0].class, Some(Class::Restart));
        assert_eq!(reports[1].class, Some(Class::Nothing));
        let commands: Vec<String> = b
            .recorded()
            .into_iter()
            .map(|(command, _)| command)
            .collect();
        assert_eq!(commands.len(), 2, "facts, then the refresh: {commands:?}");
        let a_key = k.host.public_key().to_base64();
        assert!(
            commands[1].contains("# refresh.sh")
                && commands[1].ends_with(&format!(" wg0 {}", crate::remote::quote(&a_key))),
            "{}",
            commands[1]
        );
        assert_eq!(reports[1].notes, vec!["fresh sessions with restarted a"]);

        // Had `b` only known `a` by a learned endpoint (no Endpoint line), it would be left alone.
        let without_endpoint = b_desired.replace("Endpoint = 198.51.100.1:51820\n", "");
        let (reports, b) = restart_next_to(&a_desired, &without_endpoint).await;
        assert_eq!(b.recorded().len(), 1, "only the facts round trip");
        assert!(reports[1].notes.is_empty());
    }

    /// A restarted host whose config has no PrivateKey (a PostUp hook sets it, as on hosts adopted
    /// that way) is still known to its peers by the key its interface runs after the apply.
    #[tokio::test]
    async fn a_restarted_host_whose_key_a_hook_sets_is_refreshed_by_its_live_key() {
        let k = keys();
        let a_desired = pair_config(&k.host, "100.64.0.9/24", &k.peer, "100.64.0.2/32").replace(
            &format!("PrivateKey = {}", k.host.expose_base64()),
            "PostUp = wg set %i private-key /etc/wireguard/a.key",
        );
        let b_desired = pair_config(&k.peer, "100.64.0.2/24", &k.host, "100.64.0.9/32");
        let (reports, b) = restart_next_to(&a_desired, &b_desired).await;
        assert_eq!(reports[0].class, Some(Class::Restart));
        let a_key = k.host.public_key().to_base64();
        let commands: Vec<String> = b.recorded().into_iter().map(|(c, _)| c).collect();
        assert!(
            commands
                .iter()
                .any(|c| c.contains("# refresh.sh") && c.ends_with(&crate::remote::quote(&a_key))),
            "{commands:?}"
        );
    }

    /// Applies `a_desired` to `a` (a [`RestartFleet`] restarts it) next to `b`, which runs exactly
    /// `b_desired` already. Returns the reports and `b`'s transport, to see what `b` was sent.
    /// `a` gets a new key (rotate): a syncconf, no restart. `b` already lists the new key. Both
    /// refresh: `b` re-adds `a` (it dials it), and `a` re-adds every peer it dials, so both sides
    /// handshake with the new key at once.
    #[tokio::test]
    async fn a_host_whose_key_changed_counts_as_restarted_and_refreshes_its_own_peers() {
        let k = keys();
        let new_key = PrivateKey::from_bytes([3; 32]);
        let a_old = pair_config(&k.host, "100.64.0.9/24", &k.peer, "100.64.0.2/32");
        let a_desired = pair_config(&new_key, "100.64.0.9/24", &k.peer, "100.64.0.2/32");
        let b_desired = pair_config(&k.peer, "100.64.0.2/24", &new_key, "100.64.0.9/32");
        let a_after = format!(
            "@@written\n@@done syncconf\n@@dump\n{}@@end\n",
            pair_dump(&new_key, &k.peer, "100.64.0.2/32")
        );
        let a = host(
            facts_output(
                Some(&a_old),
                Some(&pair_dump(&k.host, &k.peer, "100.64.0.2/32")),
            ),
            a_after,
        );
        let b_facts = facts_output(
            Some(&b_desired),
            Some(&pair_dump(&k.peer, &new_key, "100.64.0.9/32")),
        );
        let b = FakeTransport::new(move |command, _| {
            if command.contains("wgdeploy-facts") {
                ok(&b_facts)
            } else {
                ok("@@done refresh\n@@end\n")
            }
        });
        struct Pair(FakeTransport, FakeTransport);
        impl Connector for Pair {
            type Session = FakeTransport;
            async fn connect(&self, job: &Job) -> Result<FakeTransport, HostError> {
                Ok(if job.name == "a" {
                    self.0.clone()
                } else {
                    self.1.clone()
                })
            }
        }
        let rotated = Arc::new(crate::core::key_guard::KeyContext {
            rekeyed: vec!["a".into()],
            ..Default::default()
        });
        let jobs = vec![
            Job {
                name: "a".into(),
                keys: rotated.clone(),
                ..job(&a_desired)
            },
            Job {
                name: "b".into(),
                keys: rotated,
                ..job(&b_desired)
            },
        ];
        let reports = run_fleet(Arc::new(Pair(a.clone(), b.clone())), jobs, 2, false).await;
        assert_eq!(reports[0].class, Some(Class::Syncconf));
        assert!(reports[0].outcome.is_ok(), "{:?}", reports[0].outcome);
        let refreshed = |transport: &FakeTransport| {
            transport
                .recorded()
                .into_iter()
                .map(|(command, _)| command)
                .find(|command| command.contains("# refresh.sh"))
        };
        let quoted = |key: &PrivateKey| crate::remote::quote(&key.public_key().to_base64());
        let on_b = refreshed(&b).expect("b refreshes a");
        assert!(
            on_b.ends_with(&format!(" wg0 {}", quoted(&new_key))),
            "{on_b}"
        );
        assert_eq!(reports[1].notes, vec!["fresh sessions with restarted a"]);
        let on_a = refreshed(&a).expect("a refreshes the peers it dials");
        assert!(
            on_a.ends_with(&format!(" wg0 {}", quoted(&k.peer))),
            "{on_a}"
        );
        assert_eq!(
            reports[0].notes,
            vec!["fresh sessions with every peer it dials (its key changed)"]
        );
    }

    async fn restart_next_to(a_desired: &str, b_desired: &str) -> (Vec<HostReport>, FakeTransport) {
        let k = keys();
        let b_live = pair_dump(&k.peer, &k.host, "100.64.0.9/32");
        let b_facts = facts_output(Some(b_desired), Some(&b_live));
        let b = FakeTransport::new(move |command, _| {
            if command.contains("wgdeploy-facts") {
                ok(&b_facts)
            } else {
                ok("@@done refresh\n@@end\n")
            }
        });
        let jobs = vec![
            Job {
                name: "a".into(),
                ..job(a_desired)
            },
            Job {
                name: "b".into(),
                ..job(b_desired)
            },
        ];
        let reports = run_fleet(Arc::new(RestartFleet { b: b.clone() }), jobs, 2, false).await;
        (reports, b)
    }
}
