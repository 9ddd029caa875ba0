//! The `plan` (live), `apply` and `rollback` commands: load, survey over SSH, show, confirm, change
//! with lock-out protection, summarise, journal.

use crate::cli::args::{ApplyArgs, ChangeArgs, ConnectArgs, PlanArgs, RotateArgs, StateArgs};
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Error, Result};
use crate::engine::deploy;
use crate::engine::fleet::{Fleet, FleetOptions};
use crate::engine::survey::Goal;
use crate::engine::types::{HostReport, Run};
use crate::store::journal;
use crate::ui::output::{self, Progress};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Surveys the hosts removed from the inventory too (see [`crate::engine::removal::add_removed`]).
fn add_removed(fleet: &mut Fleet, keep: bool) -> String {
    let progress = Arc::new(Progress::new("plan", false));
    let left_alone = crate::engine::removal::add_removed(fleet, keep, progress.clone());
    progress.clear();
    left_alone
}

/// What a command chose to survey and how to render it: `--hosts`, `--templates`, `--rekey`.
#[derive(Default)]
pub struct Selected<'a> {
    pub hosts: &'a [String],
    pub templates: Option<&'a Path>,
    pub rekey: &'a [String],
    /// `keys: on-host`: hosts without a key make theirs (apply only).
    pub create_keys: bool,
    /// `wgdeploy rotate`.
    pub rotate: Option<&'a crate::core::rotation::Ask>,
}

/// Loads, plans and surveys (see [`crate::engine::fleet::survey`]), drawing progress as `phase`.
pub fn survey(
    common: &StateArgs,
    connect: &ConnectArgs,
    selected: Selected<'_>,
    phase: &'static str,
    goal: Goal,
) -> Result<Fleet> {
    let progress = Arc::new(Progress::new(phase, false));
    let state = common.state_path();
    let options = FleetOptions {
        inventory: &common.inventory,
        state: &state,
        templates: selected.templates,
        connection: connect.connection(selected.hosts),
        rekey: selected.rekey,
        create_keys: selected.create_keys,
        rotate: selected.rotate,
    };
    let fleet = crate::engine::fleet::survey(options, goal, progress.clone());
    progress.clear();
    fleet
}

/// `plan INVENTORY`: what apply would do, per host. Exit code 0, or with `--detailed-exitcode`
/// 0 nothing to do / 2 changes; errors (a host that could not be surveyed) exit 1.
pub fn plan(args: &PlanArgs, out: &mut dyn Write) -> Result<u8> {
    let selected = Selected {
        hosts: &args.hosts,
        templates: args.templates.as_deref(),
        rekey: &args.keys.rekey,
        // A plan never makes a key: a host without one is planned with a stand-in.
        create_keys: false,
        rotate: None,
    };
    let mut fleet = survey(&args.common, &args.connect, selected, "plan", Goal::Planned)?;
    crate::engine::adopt::guard(&mut fleet.hosts, &fleet.state, false, false);
    let left_alone = add_removed(&mut fleet, args.keep_removed);
    let rows = output::rows(&fleet.hosts);
    let text = if args.json {
        let mut plan = output::json_plan(&rows);
        plan["devices"] = crate::ui::device::json(&fleet.devices);
        let mut text = serde_json::to_string_pretty(&plan).expect("json");
        text.push('\n');
        text
    } else {
        crate::ui::device::plan_text(&fleet.devices, &args.common.inventory)
            + &output::human_plan(&rows)
            + &left_alone
            + &renamed_text(&fleet.renamed)
    };
    write_out(out, &text)?;
    let counts = output::counts(&fleet.hosts);
    if counts.failed > 0 {
        Err(Error::silent())
    } else if args.detailed_exitcode && counts.changed() > 0 {
        Ok(2)
    } else {
        Ok(0)
    }
}

/// What `apply` and `rotate` ask of [`deploy_run`]: the same run, `rotate` naming the keys it
/// renews.
pub struct Request<'a> {
    /// `apply` or `rotate`: the journal's kind, and what plans and the summary say.
    pub kind: &'static str,
    pub common: &'a StateArgs,
    pub connect: &'a ConnectArgs,
    pub change: &'a ChangeArgs,
    pub hosts: &'a [String],
    pub templates: Option<&'a Path>,
    pub rekey: &'a [String],
    pub rotate: Option<&'a crate::core::rotation::Ask>,
    pub yes: bool,
    pub atomic: bool,
    pub replace_unmanaged: bool,
    pub keep_removed: bool,
}

/// `apply INVENTORY`: survey, show the plan, confirm, apply in parallel with lock-out protection,
/// verify, summarise, journal.
pub fn apply(args: &ApplyArgs, out: &mut dyn Write) -> Result<u8> {
    deploy_run(
        Request {
            kind: "apply",
            common: &args.common,
            connect: &args.connect,
            change: &args.change,
            hosts: &args.hosts,
            templates: args.templates.as_deref(),
            rekey: &args.keys.rekey,
            rotate: None,
            yes: args.yes,
            atomic: args.atomic,
            replace_unmanaged: args.replace_unmanaged,
            keep_removed: args.keep_removed,
        },
        out,
    )
}

/// `rotate INVENTORY`: new keys for the chosen hosts (every managed host by default), their peers
/// changed in the same run; otherwise an apply like any other (journal kind `rotate`).
pub fn rotate(args: &RotateArgs, out: &mut dyn Write) -> Result<u8> {
    let ask = crate::core::rotation::Ask {
        hosts: args.hosts.clone(),
        psk: args.psk,
    };
    deploy_run(
        Request {
            kind: "rotate",
            common: &args.common,
            connect: &args.connect,
            change: &args.change,
            // The rotation decides which hosts are contacted (the rotated ones and their peers).
            hosts: &[],
            templates: args.templates.as_deref(),
            rekey: &[],
            rotate: Some(&ask),
            yes: args.yes,
            atomic: args.atomic,
            replace_unmanaged: false,
            // A rotation renews keys; decommissioning removed hosts is apply's business.
            keep_removed: true,
        },
        out,
    )
}

/// The body of `apply` and `rotate`: survey, show the plan, confirm, change with lock-out
/// protection, verify, summarise, journal.
pub fn deploy_run(request: Request<'_>, out: &mut dyn Write) -> Result<u8> {
    let Request {
        kind,
        common,
        connect,
        change: change_args,
        ..
    } = request;
    // Held to the end: no other run generates keys for these hosts or changes them meanwhile.
    let _lock = crate::store::state::StateLock::acquire(&common.state_path())?;
    let selected = Selected {
        hosts: request.hosts,
        templates: request.templates,
        rekey: request.rekey,
        create_keys: true,
        rotate: request.rotate,
    };
    let mut fleet = survey(common, connect, selected, "survey", Goal::Apply)?;
    crate::engine::adopt::guard(
        &mut fleet.hosts,
        &fleet.state,
        request.replace_unmanaged,
        true,
    );
    let left_alone = add_removed(&mut fleet, request.keep_removed);
    let counts = output::counts(&fleet.hosts);
    write_out(
        out,
        &crate::ui::device::plan_text(&fleet.devices, &common.inventory),
    )?;
    if let Some(rotation) = &fleet.rotation {
        write_out(out, &rotation.text())?;
    }
    write_out(out, &output::human_plan(&output::rows(&fleet.hosts)))?;
    write_out(out, &left_alone)?;
    write_out(out, &renamed_text(&fleet.renamed))?;
    if counts.changed() == 0 {
        let connector =
            deploy::SshConnector::new(&fleet.deployment.inventory, fleet.connection.ssh.clone());
        let reached = crate::engine::removal::reached(&fleet.hosts, &connector);
        // Only what the hosts taught (how they were reached) is recorded: keys this run generated
        // in memory were pushed nowhere, so they are not saved.
        let state_path = common.state_path();
        let mut on_disk = crate::store::state::State::load(&state_path)?;
        // The public keys hosts that make their own key reported are facts too (`keys: on-host`):
        // a lost state file is written again from them.
        let reported = on_disk.keep_reported(&fleet.state, &fleet.deployment.inventory);
        crate::engine::removal::settle(&mut on_disk, reached, &[], &state_path)?;
        if reported {
            crate::cli::out::save_state(&on_disk, &state_path)?;
        }
        write_out(out, output::nothing_to_do(counts.failed))?;
        return if counts.failed > 0 {
            Err(failed_hosts(&output::rows(&fleet.hosts)))
        } else {
            Ok(0)
        };
    }
    // A rotation that cannot reach every host it changes would leave a tunnel with a key only one
    // side knows: nothing is changed, as with `--atomic`.
    let whole = request.atomic || request.rotate.is_some();
    if whole && counts.failed > 0 {
        let mut error = failed_hosts(&output::rows(&fleet.hosts));
        let why = match request.rotate {
            Some(_) => "not rotating anything, because not every host the rotation changes could be surveyed (a peer left with the old key could no longer reach the rotated host)".to_owned(),
            None => "--atomic: not applying anything, because not every host could be surveyed".to_owned(),
        };
        error.push(
            Diagnostic::new(why)
                .help("fix or leave out (`--hosts`) the hosts above, then run again"),
        );
        return Err(error);
    }
    if !request.yes {
        confirm(kind, counts.changed())?;
    }
    // The keys the configs carry are saved before any host gets them.
    if fleet.state_changed {
        crate::cli::out::save_state(&fleet.state, &common.state_path())?;
    }
    let run = new_run(kind, &common.inventory, change_args, request.atomic)?;
    change(fleet, run, common, change_args, None, out)
}

/// The second half of apply and rollback: change the hosts, print the summary, journal the run.
/// A rollback (`target`) also takes back into the state the keys the configs it put back carry.
pub fn change(
    mut fleet: Fleet,
    run: Run,
    common: &StateArgs,
    change: &ChangeArgs,
    target: Option<String>,
    out: &mut dyn Write,
) -> Result<u8> {
    let restore = match target {
        Some(_) => crate::engine::rollback_keys::keys_of(&fleet.hosts),
        None => Vec::new(),
    };
    let connector =
        deploy::SshConnector::new(&fleet.deployment.inventory, fleet.connection.ssh.clone());
    // Removed hosts are reached with their remembered settings; reached hosts are remembered.
    let reached = crate::engine::removal::reached(&fleet.hosts, &connector);
    let removed =
        crate::engine::removal::targets(&fleet.state, &fleet.deployment.inventory, &connector);
    let connector = Arc::new(connector.with_targets(removed));
    let progress = Arc::new(Progress::new(run.kind, true));
    let run = Arc::new(run);
    let limits = crate::engine::types::Limits {
        apply: std::time::Duration::from_secs(change.step_timeout),
        ..fleet.connection.limits
    };
    let reports = fleet.runtime.block_on(crate::engine::apply::apply(
        connector,
        fleet.hosts,
        limits,
        run.clone(),
        progress.clone(),
    ));
    progress.clear();
    if crate::engine::rollback_keys::restore(&mut fleet.state, &restore, &reports) {
        crate::cli::out::save_state(&fleet.state, &common.state_path())?;
    }
    let settled =
        crate::engine::removal::settle(&mut fleet.state, reached, &reports, &common.state_path());
    write_out(out, &output::summary_table(&reports))?;
    let entry = journal_entry(&run, target, &reports);
    let journal_path = journal_path(common, change);
    let journaled = journal::append(&journal_path, &entry);
    write_out(
        out,
        &format!(
            "deployment {} ({}): {}\n",
            run.deployment, run.kind, entry.outcome
        ),
    )?;
    let mut diagnostics: Vec<Diagnostic> = reports
        .iter()
        .filter_map(|report| {
            Some(host_diagnostic(
                &report.name,
                report.outcome.as_ref().err()?,
            ))
        })
        .collect();
    if let Err(error) = journaled {
        diagnostics.extend(error.into_diagnostics());
    }
    match settled {
        Ok(settled) => write_out(out, &crate::engine::removal::settled_text(&settled))?,
        Err(error) => diagnostics.extend(error.into_diagnostics()),
    }
    if diagnostics.is_empty() {
        Ok(0)
    } else {
        Err(Error::from_all(diagnostics).unwrap_or_else(Error::silent))
    }
}

/// One line per host renamed in the inventory.
fn renamed_text(renamed: &[(String, String)]) -> String {
    renamed
        .iter()
        .map(|(old, new)| {
            format!(
                "renamed: {old} is now {new} (reached the same way): it keeps its key and addresses\n"
            )
        })
        .collect()
}

/// The journal file of a command.
pub fn journal_path(common: &StateArgs, change: &ChangeArgs) -> PathBuf {
    change
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&common.inventory))
}

/// A run with a fresh deployment id, recording the inventory's digest.
pub fn new_run(
    kind: &'static str,
    inventory: &Path,
    change: &ChangeArgs,
    atomic: bool,
) -> Result<Run> {
    let bytes = std::fs::read(inventory).map_err(|err| Error::io("read", inventory, &err))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Run {
        deployment: journal::new_id(now.as_secs()),
        kind,
        inventory_digest: journal::digest(&bytes),
        keep: usize::try_from(change.keep_generations).unwrap_or(10),
        confirm_timeout: std::time::Duration::from_secs(change.confirm_timeout),
        atomic,
    })
}

fn journal_entry(run: &Run, target: Option<String>, reports: &[HostReport]) -> journal::Entry {
    let hosts: std::collections::BTreeMap<String, String> = reports
        .iter()
        .map(|report| {
            let what = match &report.outcome {
                _ if report.rolled_back => journal::ROLLED_BACK,
                Err(_) => journal::FAILED,
                Ok(applied) if applied.changed => journal::CHANGED,
                Ok(_) => journal::UNCHANGED,
            };
            (report.name.clone(), what.to_owned())
        })
        .collect();
    let failed = hosts.values().any(|what| what == journal::FAILED);
    let rolled_back = hosts.values().any(|what| what == journal::ROLLED_BACK);
    let outcome = match (failed, rolled_back) {
        (_, true) => journal::ROLLED_BACK,
        (true, false) => "failed",
        (false, false) => "ok",
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    journal::Entry {
        id: run.deployment.clone(),
        time: journal::iso_utc(now),
        command: run.kind.to_owned(),
        target,
        inventory: run.inventory_digest.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        outcome: outcome.to_owned(),
        hosts,
    }
}

/// A host's failure as an error; its text may quote the host (`@@fail` reasons, logs), so it is
/// escaped for the terminal.
pub fn host_diagnostic(host: &str, why: &crate::engine::types::HostError) -> Diagnostic {
    use crate::core::model::{printable, printable_lines};
    let diagnostic = Diagnostic::new(printable(&why.message)).host(host);
    match &why.help {
        Some(help) => diagnostic.help(printable_lines(help)),
        None => diagnostic,
    }
}

pub fn failed_hosts(rows: &[output::PlanRow]) -> Error {
    let diagnostics = rows
        .iter()
        .filter_map(|row| match row {
            output::PlanRow::Failed(host, why) => Some(host_diagnostic(host, why)),
            output::PlanRow::Change(..) => None,
        })
        .collect();
    Error::from_all(diagnostics).unwrap_or_else(Error::silent)
}

/// Asks on the terminal; without one, refuses (an unattended run must say `--yes`).
pub fn confirm(verb: &str, changed: usize) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Diagnostic::new(format!(
            "refusing to {verb} without confirmation: stdin is not a terminal"
        ))
        .help("review the plan above, then re-run with `--yes`")
        .into());
    }
    eprint!("{verb} on {changed} host(s)? Type `yes` to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|err| Diagnostic::new(format!("cannot read the answer: {err}")))?;
    if matches!(answer.trim(), "yes" | "y") {
        Ok(())
    } else {
        Err(Diagnostic::new("cancelled; nothing was changed").into())
    }
}
