//! `wgdeploy status INVENTORY`: live health of every host over SSH — interface, generation and
//! deployment, each peer's latest handshake and transfer — and with `--ping` the real reachability
//! matrix next to `check`'s prediction. The SSH edge; what is printed is in [`crate::ui::status`].

use crate::check::{HostIndex, Verdict};
use crate::cli::args::StatusArgs;
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Error, Result};
use crate::core::facts::Facts;
use crate::core::model::InterfaceName;
use crate::core::render::{Deployment, Renderer};
use crate::engine::error::HostFailure;
use crate::engine::types::{HostError, Job, Surveyed};
use crate::store::state::State;
use crate::transport::ssh::SshSession;
use crate::ui::output::Progress;
use crate::ui::status::{
    Cell, Health, HostStatus, Observed, Ping, PingMatrix, PingRow, Prediction,
};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// `status INVENTORY`: surveys the selected hosts (read-only on the hosts) and prints each one's
/// health; with `--ping`, every surveyed host pings every other inventory host's first overlay
/// address and the result is printed next to `check`'s prediction.
///
/// Exit code: 0 when every selected host was surveyed and runs its interface (and, with `--ping`,
/// ping agrees with every plain verdict of `check`); 1 (with the explanation already in the output)
/// when a host could not be surveyed, an interface is not running or its routes do not match its
/// AllowedIPs (a prefix whose traffic is not tunnelled, a stale route), or a ping disagrees.
/// Stale handshakes, drift from the inventory and unconfirmed applies are highlighted but exit 0:
/// an idle tunnel without keepalives has no recent handshake and is still healthy.
pub fn status(args: &StatusArgs, out: &mut dyn Write) -> Result<u8> {
    let selected = crate::cli::live::Selected {
        hosts: &args.hosts,
        templates: args.templates.as_deref(),
        rekey: &[],
        create_keys: false,
        rotate: None,
    };
    let fleet = crate::cli::live::survey(
        &args.common,
        &args.connect,
        selected,
        "status",
        crate::engine::survey::Goal::Observed,
    )?;
    let (runtime, connection, deployment, state, renderer, surveyed) = (
        fleet.runtime,
        fleet.connection,
        fleet.deployment,
        fleet.state,
        fleet.renderer,
        fleet.hosts,
    );

    let names = key_names(&deployment, &state);
    let hosts: Vec<HostStatus> = surveyed.iter().map(host_status).collect();
    let devices = devices_seen(&deployment, &state, &surveyed);
    if !args.json {
        write_out(
            out,
            &crate::ui::status::hosts_report(&hosts, &names, args.stale_after),
        )?;
        write_out(out, &crate::ui::device::status_text(&devices))?;
    }
    let mut healthy = hosts
        .iter()
        .all(|host| matches!(host.health(args.stale_after), Health::Up { .. }));
    let mut matrix = None;
    if args.ping {
        let predictions = predictions(&deployment, &state, &renderer)?;
        let progress = Arc::new(Progress::new("ping", false));
        let results = runtime.block_on(ping_all(
            &surveyed,
            &deployment,
            connection.limits,
            progress.clone(),
        ));
        progress.clear();
        let pinged = ping_matrix(&deployment, &surveyed, &results, &predictions);
        healthy &= pinged.counts().disagree == 0;
        if !args.json {
            write_out(out, &crate::ui::status::ping_report(&pinged))?;
        }
        matrix = Some(pinged);
    }
    if args.json {
        let document = crate::ui::status::json::document(
            &hosts,
            &names,
            args.stale_after,
            matrix.as_ref(),
            healthy,
        );
        let mut document = serde_json::to_value(&document).expect("a JSON value serializes");
        document["devices"] = crate::ui::device::status_json(&devices);
        let mut text = serde_json::to_string_pretty(&document).expect("a JSON value serializes");
        text.push('\n');
        write_out(out, &text)?;
    }
    if healthy { Ok(0) } else { Err(Error::silent()) }
}

/// Devices are never contacted: what their surveyed peers saw of them instead.
fn devices_seen(
    deployment: &Deployment,
    state: &State,
    surveyed: &[Surveyed<SshSession>],
) -> Vec<crate::ui::device::DeviceSeen> {
    deployment
        .inventory
        .hosts
        .iter()
        .filter(|host| host.is_device())
        .map(|host| {
            let key = crate::core::device::public_key(host, state).map(|key| key.to_base64());
            let handshake = surveyed
                .iter()
                .filter_map(|peer| {
                    let (_, facts, _) = peer.outcome.as_ref().ok()?;
                    let live = facts.live.as_ref()?;
                    let seen = live
                        .peers
                        .iter()
                        .find(|entry| Some(&entry.public_key) == key.as_ref())?;
                    (seen.latest_handshake > 0).then(|| {
                        (
                            peer.job.name.clone(),
                            facts.now.saturating_sub(seen.latest_handshake),
                        )
                    })
                })
                .min_by_key(|(_, age)| *age);
            crate::ui::device::DeviceSeen {
                name: host.name.as_str().to_owned(),
                handshake,
            }
        })
        .collect()
}

/// Every inventory host's public key (base64, as `wg show` prints it) → its name.
fn key_names(deployment: &Deployment, state: &State) -> HashMap<String, String> {
    deployment
        .inventory
        .hosts
        .iter()
        .filter_map(|host| {
            let key = crate::core::device::public_key(host, state)?;
            Some((key.to_base64(), host.name.as_str().to_owned()))
        })
        .collect()
}

fn host_status(surveyed: &Surveyed<SshSession>) -> HostStatus {
    let job = &surveyed.job;
    HostStatus {
        name: job.name.clone(),
        interface: job.interface.to_string(),
        outcome: match &surveyed.outcome {
            Ok((_, facts, change)) => Ok(Observed {
                live: facts.live.clone(),
                now: facts.now,
                generation: facts.current_generation().cloned(),
                key_since: facts.key_since,
                armed: facts.armed.clone(),
                reverted: facts.reverted.clone(),
                in_sync: change.is_empty(),
                route_drift: running_route_drift(facts, &job.interface),
            }),
            Err(error) => Err(error.clone()),
        },
    }
}

/// How the live routes differ from what the config the host runs needs (its own config, not the
/// inventory's: drift from the inventory is `in_sync`'s business).
fn running_route_drift(facts: &Facts, interface: &InterfaceName) -> Vec<String> {
    let (Some(live), Some(text)) = (&facts.live, facts.config.text()) else {
        return Vec::new();
    };
    match crate::core::wgconf::parse(std::path::Path::new(interface.as_str()), text) {
        Ok(config) => live.route_drift(&config).describe(),
        Err(_) => Vec::new(),
    }
}

/// `check`'s verdict on every ordered pair, indexed like the inventory's hosts (`check_input`
/// renders its config sets in inventory order).
fn predictions(
    deployment: &Deployment,
    state: &State,
    renderer: &Renderer,
) -> Result<Vec<Vec<Prediction>>> {
    let input = crate::check::input::from_deployment(deployment, state, renderer)?;
    let network = crate::check::Network::from_configs(&input.sets, &input.facts())
        .map_err(|why| Diagnostic::new(format!("cannot predict reachability: {why}")))?;
    let simulation = crate::check::Simulation::new(&network);
    let report = crate::check::Report::run(&simulation);
    let hosts = report.hosts;
    Ok((0..hosts)
        .map(|from| {
            (0..hosts)
                .map(|to| prediction(&simulation, &report, from, to))
                .collect()
        })
        .collect())
}

fn prediction(
    simulation: &crate::check::Simulation,
    report: &crate::check::Report,
    from: HostIndex,
    to: HostIndex,
) -> Prediction {
    if from == to || report.plainly_reachable(from, to) {
        return Prediction::Reachable;
    }
    match report.pair(from, to) {
        Verdict::Reachable => Prediction::Reachable,
        Verdict::Conditional(conditions) => Prediction::Conditional(
            conditions
                .iter()
                .map(|condition| crate::ui::check::describe_condition(simulation, condition))
                .collect::<Vec<_>>()
                .join(" and "),
        ),
        Verdict::Unreachable(problem) => Prediction::Unreachable(
            crate::ui::check::describe_problem(simulation, &problem, from, to).0,
        ),
    }
}

/// What one host's pings found: each target address and whether it answered.
type PingResults = std::result::Result<HashMap<String, bool>, HostError>;

/// Each inventory host's first overlay address, as text (`None`: the host has none).
fn targets(deployment: &Deployment) -> Vec<Option<String>> {
    deployment
        .addresses
        .iter()
        .map(|addresses| addresses.first().map(ToString::to_string))
        .collect()
}

/// Runs the ping script on every surveyed host, `limits.parallel` at a time; results follow the
/// order of `surveyed` (`None` for a host that could not be surveyed).
async fn ping_all(
    surveyed: &[Surveyed<SshSession>],
    deployment: &Deployment,
    limits: crate::engine::types::Limits,
    reporter: Arc<dyn crate::engine::types::Reporter>,
) -> Vec<Option<PingResults>> {
    let addresses = targets(deployment);
    // What each surveyed host pings: every overlay address but its own.
    let work: Vec<_> = surveyed
        .iter()
        .map(|host| {
            let (session, facts, _) = host.outcome.as_ref().ok()?;
            // A host whose interface is down has no route to the overlay: its pings would say
            // nothing about the tunnels (or leave by the default route).
            facts.live.as_ref()?;
            let own = deployment.inventory.host_id(&host.job.name);
            let others: Vec<String> = addresses
                .iter()
                .enumerate()
                .filter(|&(id, _)| Some(id) != own)
                .filter_map(|(_, address)| address.clone())
                .collect();
            Some((session.clone(), host.job.clone(), others))
        })
        .collect();
    let limit = limits.connect;
    crate::engine::parallel::bounded(work, limits.parallel, move |work| {
        let reporter = reporter.clone();
        async move {
            let (session, job, others) = work?;
            reporter.update(&job.name, "pinging");
            let result = match tokio::time::timeout(limit, ping_from(&session, &job, &others)).await
            {
                Ok(result) => result,
                Err(_) => Err(HostFailure::PingTimeout {
                    secs: limit.as_secs(),
                }
                .into()),
            };
            match &result {
                Ok(_) => reporter.finish(&job.name, true, "pinged"),
                Err(error) => reporter.finish(&job.name, false, &error.message),
            }
            Some(result)
        }
    })
    .await
}

/// Pings `addresses` from one host over its session.
async fn ping_from(session: &SshSession, job: &Job, addresses: &[String]) -> PingResults {
    // Without a `ping` binary every ping would "fail"; the script says so (`@@no-ping`) instead.
    let script = crate::remote::ping_script(addresses);
    let output = crate::engine::exec::run(session, job, &script, &[]).await?;
    parse_ping(&output.stdout)
}

/// Parses the ping script's output: `ADDRESS ok|fail` lines in the `ping` section.
fn parse_ping(stdout: &[u8]) -> PingResults {
    let parsed = crate::remote::facts::split(stdout)?;
    if parsed.section("no-ping").is_some() {
        return Err(HostFailure::PingMissing.into());
    }
    if parsed.section("ping").is_none() || !parsed.ended {
        return Err(HostFailure::PingCut.into());
    }
    Ok(parsed
        .lines("ping")
        .iter()
        .filter_map(|line| {
            let (address, result) = line.trim().split_once(' ')?;
            Some((address.to_owned(), result.trim() == "ok"))
        })
        .collect())
}

/// The matrix: a row per surveyed host, a column per inventory host.
fn ping_matrix(
    deployment: &Deployment,
    surveyed: &[Surveyed<SshSession>],
    results: &[Option<PingResults>],
    predictions: &[Vec<Prediction>],
) -> PingMatrix {
    let inventory = &deployment.inventory;
    let addresses = targets(deployment);
    let rows = surveyed
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let result = results.get(index).and_then(Option::as_ref);
            let error = match (&host.outcome, result) {
                (Err(_), _) => Some("could not be surveyed (see above)".to_owned()),
                (Ok((_, facts, _)), None) if facts.live.is_none() => Some(format!(
                    "its interface {} is not running",
                    host.job.interface
                )),
                (Ok(_), None) => Some("the ping did not run".to_owned()),
                (Ok(_), Some(Err(error))) => Some(match &error.help {
                    Some(help) => format!("{} ({help})", error.message),
                    None => error.message.clone(),
                }),
                (Ok(_), Some(Ok(_))) => None,
            };
            let from = inventory.host_id(&host.job.name);
            let cells = (0..inventory.hosts.len())
                .map(|to| {
                    if Some(to) == from {
                        return None;
                    }
                    let ping = match (result, &addresses[to]) {
                        (Some(Ok(answers)), Some(address)) => match answers.get(address) {
                            Some(true) => Ping::Ok,
                            Some(false) => Ping::Fail,
                            None => Ping::Unknown,
                        },
                        _ => Ping::Unknown,
                    };
                    let check = from
                        .and_then(|from| predictions.get(from)?.get(to).cloned())
                        .unwrap_or(Prediction::Reachable);
                    Some(Cell { ping, check })
                })
                .collect();
            PingRow {
                from: host.job.name.clone(),
                cells,
                error,
            }
        })
        .collect();
    PingMatrix {
        targets: inventory
            .hosts
            .iter()
            .map(|host| host.name.as_str().to_owned())
            .collect(),
        rows,
        down: surveyed
            .iter()
            .filter(|host| matches!(&host.outcome, Ok((_, facts, _)) if facts.live.is_none()))
            .map(|host| host.job.name.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ping_scripts_answer() {
        let answers =
            parse_ping(b"banner\n@@ping\n100.64.0.2 ok\n100.64.0.3 fail\n\n@@end\n").unwrap();
        assert_eq!(answers.get("100.64.0.2"), Some(&true));
        assert_eq!(answers.get("100.64.0.3"), Some(&false));
        assert_eq!(answers.len(), 2);
    }

    #[test]
    fn a_cut_answer_or_missing_ping_is_an_error_not_failed_pings() {
        assert!(parse_ping(b"@@ping\n100.64.0.2 ok\n").is_err());
        assert!(parse_ping(b"").is_err());
        let error = parse_ping(b"@@no-ping\n@@ping\n100.64.0.2 fail\n@@end\n").unwrap_err();
        assert_eq!(error, HostFailure::PingMissing.into());
        let error = parse_ping(b"@@ping\n100.64.0.2 ok\n").unwrap_err();
        assert_eq!(error, HostFailure::PingCut.into());
    }
}
