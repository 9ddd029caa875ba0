//! What `plan` and `apply` print: the live plan (diffs, classes, a summary line), progress per host
//! (indicatif bars on a terminal, plain lines otherwise) and the final summary table.

use crate::core::change::{Class, HostChange};
use crate::core::model::{printable, printable_lines};
use crate::engine::types::{HostError, HostReport, Reporter, Surveyed};
use crate::ui::colour;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// One host's row in a live plan.
pub enum PlanRow<'a> {
    Change(&'a str, &'a HostChange),
    Failed(&'a str, &'a HostError),
}

/// Counts of a plan, for the summary line and the exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanCounts {
    pub unchanged: usize,
    pub syncconf: usize,
    pub restart: usize,
    pub up: usize,
    /// Hosts removed from the inventory, to decommission.
    pub remove: usize,
    /// Changes that do not touch the interface (file rewrite, forwarding, unit).
    pub other: usize,
    pub failed: usize,
}

impl PlanCounts {
    pub fn of(rows: &[PlanRow]) -> PlanCounts {
        let mut counts = PlanCounts::default();
        for row in rows {
            match row {
                PlanRow::Failed(..) => counts.failed += 1,
                PlanRow::Change(_, change) if change.is_empty() => counts.unchanged += 1,
                PlanRow::Change(_, change) => match change.class {
                    Class::Nothing => counts.other += 1,
                    Class::Syncconf => counts.syncconf += 1,
                    Class::Restart => counts.restart += 1,
                    Class::Up => counts.up += 1,
                    Class::Remove => counts.remove += 1,
                },
            }
        }
        counts
    }
    pub fn changed(&self) -> usize {
        self.syncconf + self.restart + self.up + self.remove + self.other
    }
    pub fn line(&self) -> String {
        let mut kinds = Vec::new();
        for (count, what) in [
            (self.up, "up"),
            (self.restart, "restart"),
            (self.syncconf, "syncconf"),
            (self.remove, "remove"),
            (self.other, "other"),
        ] {
            if count > 0 {
                kinds.push(format!("{count} {what}"));
            }
        }
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        format!(
            "Plan: {} to change{kinds}, {} unchanged, {} failed.\n",
            self.changed(),
            self.unchanged,
            self.failed
        )
    }
}

/// The last line when no host needs a change: with failed hosts it must not read as "all done".
pub fn nothing_to_do(failed: usize) -> &'static str {
    if failed == 0 {
        "Nothing to do.\n"
    } else {
        "Nothing to do on the other hosts.\n"
    }
}

/// Plan rows of a survey, in inventory order.
pub fn rows<S>(surveyed: &[Surveyed<S>]) -> Vec<PlanRow<'_>> {
    surveyed
        .iter()
        .map(|host| match &host.outcome {
            Ok((_, _, change)) => PlanRow::Change(&host.job.name, change),
            Err(error) => PlanRow::Failed(&host.job.name, error),
        })
        .collect()
}

pub fn counts<S>(surveyed: &[Surveyed<S>]) -> PlanCounts {
    PlanCounts::of(&rows(surveyed))
}

/// The human plan: per host its class and reasons, the redacted diff, forwarding; then the summary.
pub fn human_plan(rows: &[PlanRow]) -> String {
    let mut text = String::new();
    for row in rows {
        match row {
            PlanRow::Change(host, change) if change.is_empty() => {
                text.push_str(&format!("{} {host}: nothing to do\n", colour::mark('=')));
            }
            PlanRow::Change(host, change) => {
                let mark = if change.class == Class::Remove {
                    '-'
                } else {
                    '~'
                };
                text.push_str(&format!(
                    "{} {host}: {}\n",
                    colour::mark(mark),
                    change.summary()
                ));
                // Reasons and the diff carry the host's text (its live config): escaped.
                for reason in &change.reasons {
                    text.push_str(&format!("    {}\n", printable(reason)));
                }
                for note in &change.forwarding {
                    text.push_str(&format!("    forwarding: {}\n", printable(note)));
                }
                if let Some(diff) = &change.diff {
                    for line in diff.lines() {
                        text.push_str(&format!(
                            "    {}\n",
                            colour::diff_line(&printable_lines(line))
                        ));
                    }
                }
            }
            PlanRow::Failed(host, error) => {
                text.push_str(&format!(
                    "{} {host}: error: {}\n",
                    colour::mark('!'),
                    printable(&error.message)
                ));
                if let Some(help) = &error.help {
                    text.push_str(&format!("    help: {}\n", printable_lines(help)));
                }
            }
        }
    }
    text.push_str(&PlanCounts::of(rows).line());
    text
}

pub fn json_plan(rows: &[PlanRow]) -> serde_json::Value {
    use crate::ui::json::{LivePlan, LivePlanHost, LivePlanSummary};
    let hosts = rows
        .iter()
        .map(|row| match row {
            PlanRow::Change(host, change) => LivePlanHost::Change {
                host: (*host).to_owned(),
                changes: !change.is_empty(),
                class: change.class,
                write: change.write,
                reasons: change.reasons.clone(),
                replaces_unmanaged: change.replaces_unmanaged,
                forwarding: change.forwarding.clone(),
                diff: change.diff.clone(),
            },
            PlanRow::Failed(host, error) => LivePlanHost::Failed {
                host: (*host).to_owned(),
                error: error.message.clone(),
                help: error.help.clone(),
            },
        })
        .collect();
    let counts = PlanCounts::of(rows);
    crate::ui::json::to_value(LivePlan {
        hosts,
        summary: LivePlanSummary {
            changed: counts.changed(),
            up: counts.up,
            restart: counts.restart,
            syncconf: counts.syncconf,
            remove: counts.remove,
            other: counts.other,
            unchanged: counts.unchanged,
            failed: counts.failed,
        },
    })
}

/// The table `apply` ends with: one row per host, columns aligned.
pub fn summary_table(reports: &[HostReport]) -> String {
    let mut rows = vec![vec![
        "host".to_owned(),
        "change".to_owned(),
        "result".to_owned(),
        "detail".to_owned(),
    ]];
    for report in reports {
        let class = report.class.map_or("-", Class::as_str).to_owned();
        let (result, detail) = match &report.outcome {
            Ok(applied) if report.rolled_back => ("rolled back", verified(applied)),
            Ok(applied) if applied.changed && report.class == Some(Class::Remove) => {
                ("removed", verified(applied))
            }
            Ok(applied) if applied.changed => ("applied", verified(applied)),
            Ok(applied) => ("unchanged", verified(applied)),
            Err(error) => ("FAILED", error.message.clone()),
        };
        let detail = if report.notes.is_empty() {
            detail
        } else {
            format!("{detail}; {}", report.notes.join("; "))
        };
        // Errors and notes may quote the host (`@@fail` reasons): escaped.
        rows.push(vec![
            report.name.clone(),
            class,
            result.to_owned(),
            printable(&detail),
        ]);
    }
    crate::ui::table::render(&rows, "")
}

/// Generation and health after verifying: "generation 4; up, 3 peers, …".
fn verified(applied: &crate::engine::types::Applied) -> String {
    let health = crate::ui::status::health_line(applied.live.as_ref(), applied.now, 180);
    match applied.generation {
        Some(generation) => format!("generation {generation}; {health}"),
        None => health,
    }
}

/// Progress per host: spinners on a terminal, one plain line per finished host otherwise.
pub struct Progress {
    bars: Option<(
        indicatif::MultiProgress,
        Mutex<HashMap<String, indicatif::ProgressBar>>,
    )>,
    phase: &'static str,
    plain: bool,
}

impl Progress {
    /// `plain` prints a line per finished host when stderr is not a terminal (apply does; plan stays
    /// quiet because its output is the plan itself).
    pub fn new(phase: &'static str, plain: bool) -> Progress {
        use std::io::IsTerminal;
        let bars = std::io::stderr().is_terminal().then(|| {
            (
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()),
                Mutex::new(HashMap::new()),
            )
        });
        Progress { bars, phase, plain }
    }

    fn bar(&self, host: &str) -> Option<indicatif::ProgressBar> {
        let (multi, bars) = self.bars.as_ref()?;
        let mut bars = bars.lock().ok()?;
        let bar = bars.entry(host.to_owned()).or_insert_with(|| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix:<16} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.set_prefix(host.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Some(bar.clone())
    }

    /// Removes the bars (the summary replaces them).
    pub fn clear(&self) {
        if let Some((multi, _)) = &self.bars {
            let _ = multi.clear();
        }
    }
}

impl Reporter for Progress {
    fn update(&self, host: &str, what: &str) {
        if let Some(bar) = self.bar(host) {
            bar.set_message(printable(what));
        }
    }

    fn finish(&self, host: &str, ok: bool, what: &str) {
        let mark = if ok { "ok" } else { "FAILED" };
        let what = printable(what);
        if let Some(bar) = self.bar(host) {
            bar.finish_with_message(format!("{mark}: {what}"));
        } else if self.plain {
            let _ = writeln!(std::io::stderr(), "{}: {host}: {mark}: {what}", self.phase);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_coloured_only_when_colour_is_on() {
        let error = HostError::from(crate::engine::error::HostFailure::Unreachable { secs: 10 });
        let rows = [PlanRow::Failed("home", &error)];
        let plain = human_plan(&rows);
        assert!(
            plain.starts_with(
                "! home: error: no answer within 10 s while connecting and gathering facts\n"
            ),
            "{plain}"
        );
        colour::set(true);
        let coloured = human_plan(&rows);
        colour::set(false);
        assert!(
            coloured.starts_with("\u{1b}[31m!\u{1b}[0m home: error: no answer within 10 s"),
            "{coloured}"
        );
        assert_eq!(human_plan(&rows), plain);
    }
}
