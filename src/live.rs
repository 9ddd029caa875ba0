//! The `plan` (live) and `apply` commands: load, survey over SSH, show, confirm, apply, summarise.

use crate::cli::{ApplyArgs, ConnectArgs, PlanArgs, StateArgs, write_out};
use crate::deploy;
use crate::error::{Diagnostic, Error, Result};
use crate::output::{self, Progress};
use crate::transport::ssh::SshSession;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

/// Loads and plans the whole inventory, then surveys the selected hosts over SSH: the first half
/// of both `plan` and `apply`. The runtime and connection are returned for apply's second half.
fn survey(
    common: &StateArgs,
    connect: &ConnectArgs,
    phase: &'static str,
) -> Result<(
    tokio::runtime::Runtime,
    deploy::Connection,
    Vec<crate::apply::Surveyed<SshSession>>,
)> {
    let (deployment, state, renderer) = deploy::load(
        &common.inventory,
        &common.state_path(),
        connect.templates.as_deref(),
    )?;
    let connection = connect.connection();
    let jobs = deploy::jobs(&deployment, &state, &renderer, &connection.hosts)?;
    let runtime = deploy::runtime()?;
    let progress = Arc::new(Progress::new(phase, false));
    let surveyed = deploy::survey(&runtime, &deployment, jobs, &connection, progress.clone());
    progress.clear();
    Ok((runtime, connection, surveyed))
}

/// `plan INVENTORY`: what apply would do, per host. Exit code 0, or with `--detailed-exitcode`
/// 0 nothing to do / 2 changes; errors (a host that could not be surveyed) exit 1.
pub fn plan(args: &PlanArgs, out: &mut dyn Write) -> Result<u8> {
    let (_, _, surveyed) = survey(&args.common, &args.connect, "plan")?;
    let rows = deploy::rows(&surveyed);
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&output::json_plan(&rows)).expect("json");
        text.push('\n');
        text
    } else {
        output::human_plan(&rows)
    };
    write_out(out, &text)?;
    let counts = deploy::counts(&surveyed);
    if counts.failed > 0 {
        Err(Error::silent())
    } else if args.detailed_exitcode && counts.changed() > 0 {
        Ok(2)
    } else {
        Ok(0)
    }
}

/// `apply INVENTORY`: survey, show the plan, confirm, apply in parallel, verify, summarise.
pub fn apply(args: &ApplyArgs, out: &mut dyn Write) -> Result<u8> {
    let (runtime, connection, surveyed) = survey(&args.common, &args.connect, "survey")?;
    let counts = deploy::counts(&surveyed);
    write_out(out, &output::human_plan(&deploy::rows(&surveyed)))?;
    if counts.changed() == 0 {
        write_out(out, "Nothing to do.\n")?;
        return if counts.failed > 0 {
            Err(failed_hosts(&deploy::rows(&surveyed)))
        } else {
            Ok(0)
        };
    }
    if !args.yes {
        confirm(counts.changed())?;
    }
    let progress = Arc::new(Progress::new("apply", true));
    let reports = runtime.block_on(crate::apply::apply(
        surveyed,
        connection.limits,
        progress.clone(),
    ));
    progress.clear();
    write_out(out, &output::summary_table(&reports))?;
    let failed: Vec<&crate::apply::HostReport> = reports
        .iter()
        .filter(|report| report.outcome.is_err())
        .collect();
    if failed.is_empty() {
        return Ok(0);
    }
    let diagnostics = failed
        .iter()
        .filter_map(|report| {
            Some(host_diagnostic(
                &report.name,
                report.outcome.as_ref().err()?,
            ))
        })
        .collect();
    Err(Error::from_all(diagnostics).unwrap_or_else(Error::silent))
}

fn host_diagnostic(host: &str, why: &crate::apply::HostError) -> Diagnostic {
    let diagnostic = Diagnostic::new(why.message.clone()).host(host);
    match &why.help {
        Some(help) => diagnostic.help(help.clone()),
        None => diagnostic,
    }
}

fn failed_hosts(rows: &[output::PlanRow]) -> Error {
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
fn confirm(changed: usize) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Diagnostic::new(
            "refusing to apply without confirmation: stdin is not a terminal",
        )
        .help("review the plan above, then re-run with `--yes`")
        .into());
    }
    eprint!("Apply these changes to {changed} host(s)? Type `yes` to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|err| Diagnostic::new(format!("cannot read the answer: {err}")))?;
    if matches!(answer.trim(), "yes" | "y") {
        Ok(())
    } else {
        Err(Diagnostic::new("apply cancelled; nothing was changed").into())
    }
}
