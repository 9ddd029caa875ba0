//! The reachability matrix `status --ping` prints: each cell `ping/check`, the hosts that could
//! not ping, every disagreement and conditional pair in words, and how far ping and check agree.

use crate::ui::status::model::{Cell, Ping, PingCounts, PingMatrix, PingRow, Prediction};
use crate::ui::status::units::plural;
use std::fmt::Write;

/// Above this many columns the grid is too wide to read; the lists below it still say everything.
const GRID_MAX_TARGETS: usize = 16;

/// The matrix (each cell `ping/check`), the disagreements and conditional pairs in words, and a
/// final line on how far ping and check agree.
pub fn ping_report(matrix: &PingMatrix) -> String {
    let mut text = String::from(
        "\nReachability: ping from each host (rows) to every other host's overlay address (columns), next to check's prediction.\n",
    );
    if matrix.targets.len() <= GRID_MAX_TARGETS {
        text.push_str("Cells are ping/check: ok, FAIL (no reply), no (check predicts unreachable), cond (check predicts reachable only under conditions), ? (not pinged); ! marks a disagreement.\n\n");
        let mut header = vec!["from \\ to".to_owned()];
        header.extend(matrix.targets.iter().cloned());
        let mut rows = vec![header];
        for row in &matrix.rows {
            let mut line = vec![row.from.clone()];
            line.extend(matrix.targets.iter().enumerate().map(|(index, _)| {
                match row.cells.get(index) {
                    Some(Some(cell)) => cell_text(cell),
                    Some(None) => "-".to_owned(),
                    None => "?".to_owned(),
                }
            }));
            rows.push(line);
        }
        text.push_str(&crate::ui::table::render(&rows, "  "));
    } else {
        let _ = writeln!(
            text,
            "({} hosts: too many for a grid; the pairs that need attention follow)",
            matrix.targets.len()
        );
    }
    let errors: Vec<&PingRow> = matrix
        .rows
        .iter()
        .filter(|row| row.error.is_some())
        .collect();
    if !errors.is_empty() {
        text.push('\n');
        for row in errors {
            let _ = writeln!(
                text,
                "{} {}: no pings from this host: {}",
                crate::ui::colour::mark('!'),
                row.from,
                row.error.as_deref().unwrap_or_default()
            );
        }
    }
    let disagreements: Vec<String> = matrix
        .cells()
        .filter(|(_, _, cell)| cell.disagrees())
        .map(|(from, to, cell)| match &cell.check {
            Prediction::Unreachable(why) => format!(
                "DISAGREE {from} → {to}: check predicts unreachable ({why}), ping got replies"
            ),
            _ if matrix.down.iter().any(|down| down == to) => format!(
                "DISAGREE {from} → {to}: check predicts reachable, ping failed ({to}'s interface is not running)"
            ),
            _ => format!("DISAGREE {from} → {to}: check predicts reachable, ping failed"),
        })
        .collect();
    let conditional: Vec<String> = matrix
        .cells()
        .filter(|(_, _, cell)| cell.ping != Ping::Unknown)
        .filter_map(|(from, to, cell)| match &cell.check {
            Prediction::Conditional(why) => Some(format!(
                "note: {from} → {to}: check predicts reachable only if {why}; ping {}",
                if cell.ping == Ping::Ok {
                    "got replies"
                } else {
                    "failed"
                }
            )),
            _ => None,
        })
        .collect();
    if !disagreements.is_empty() || !conditional.is_empty() {
        text.push('\n');
    }
    for line in disagreements.iter().chain(&conditional) {
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(text, "\n{}", agreement_line(&matrix.counts()));
    text
}

/// `ping agrees with check on all 12 ordered pairs.`, or how far it does and what is left.
fn agreement_line(counts: &PingCounts) -> String {
    if counts.pairs == 0 {
        return "no pairs to ping (fewer than two hosts).".to_owned();
    }
    let pairs = plural(counts.pairs, "ordered pair", "ordered pairs");
    if counts.agree == counts.pairs {
        return if counts.pairs == 1 {
            format!("ping agrees with check on the only {pairs}.")
        } else {
            format!("ping agrees with check on all {pairs}.")
        };
    }
    let mut rest = Vec::new();
    if counts.disagree > 0 {
        rest.push(format!("{} DISAGREE", counts.disagree));
    }
    if counts.conditional > 0 {
        rest.push(format!("{} conditional in check", counts.conditional));
    }
    if counts.unknown > 0 {
        rest.push(format!("{} not pinged", counts.unknown));
    }
    format!(
        "ping agrees with check on {} of {pairs}; {}.",
        counts.agree,
        rest.join(", ")
    )
}

/// A cell as the grid shows it: `ok/ok`, `FAIL/ok !`, `?/cond`.
fn cell_text(cell: &Cell) -> String {
    let ping = match cell.ping {
        Ping::Ok => "ok",
        Ping::Fail => "FAIL",
        Ping::Unknown => "?",
    };
    let check = match cell.check {
        Prediction::Reachable => "ok",
        Prediction::Conditional(_) => "cond",
        Prediction::Unreachable(_) => "no",
    };
    let mark = if cell.disagrees() { " !" } else { "" };
    format!("{ping}/{check}{mark}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ping: Ping, check: Prediction) -> Option<Cell> {
        Some(Cell { ping, check })
    }

    fn matrix() -> PingMatrix {
        use Ping::*;
        use Prediction::*;
        PingMatrix {
            targets: vec!["home".into(), "office".into(), "laptop".into()],
            rows: vec![
                PingRow {
                    from: "home".into(),
                    cells: vec![None, cell(Ok, Reachable), cell(Fail, Reachable)],
                    error: None,
                },
                PingRow {
                    from: "office".into(),
                    cells: vec![
                        cell(
                            Ok,
                            Unreachable("office has no AllowedIPs covering 100.64.0.1".into()),
                        ),
                        None,
                        cell(Fail, Conditional("laptop sends first".into())),
                    ],
                    error: None,
                },
                PingRow {
                    from: "laptop".into(),
                    cells: vec![cell(Unknown, Reachable), cell(Unknown, Reachable), None],
                    error: Some("the SSH session failed: closed".into()),
                },
            ],
            down: vec!["laptop".into()],
        }
    }

    #[test]
    fn ping_report_shows_the_matrix_and_calls_out_disagreements() {
        let text = ping_report(&matrix());
        let expected = "
Reachability: ping from each host (rows) to every other host's overlay address (columns), next to check's prediction.
Cells are ping/check: ok, FAIL (no reply), no (check predicts unreachable), cond (check predicts reachable only under conditions), ? (not pinged); ! marks a disagreement.

  from \\ to  home     office  laptop
  home       -        ok/ok   FAIL/ok !
  office     ok/no !  -       FAIL/cond
  laptop     ?/ok     ?/ok    -

! laptop: no pings from this host: the SSH session failed: closed

DISAGREE home → laptop: check predicts reachable, ping failed (laptop's interface is not running)
DISAGREE office → home: check predicts unreachable (office has no AllowedIPs covering 100.64.0.1), ping got replies
note: office → laptop: check predicts reachable only if laptop sends first; ping failed

ping agrees with check on 1 of 6 ordered pairs; 2 DISAGREE, 1 conditional in check, 2 not pinged.
";
        assert_eq!(text, expected);
        assert_eq!(
            matrix().counts(),
            PingCounts {
                pairs: 6,
                agree: 1,
                disagree: 2,
                conditional: 1,
                unknown: 2
            }
        );
    }

    #[test]
    fn full_agreement_has_one_closing_line() {
        let targets: Vec<String> = (0..4).map(|i| format!("h{i}")).collect();
        let rows = targets
            .iter()
            .enumerate()
            .map(|(from, name)| PingRow {
                from: name.clone(),
                cells: (0..4)
                    .map(|to| {
                        (to != from).then_some(Cell {
                            ping: Ping::Ok,
                            check: Prediction::Reachable,
                        })
                    })
                    .collect(),
                error: None,
            })
            .collect();
        let text = ping_report(&PingMatrix {
            targets,
            rows,
            down: Vec::new(),
        });
        assert!(text.ends_with("\nping agrees with check on all 12 ordered pairs.\n"));
        assert!(!text.contains("DISAGREE") && !text.contains(" !\n"));
    }

    #[test]
    fn big_and_empty_matrices_do_not_break() {
        let targets: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
        // Rows shorter than the targets (a bug elsewhere) print `?`, never panic.
        let rows = vec![PingRow {
            from: "h0".into(),
            cells: vec![None, cell(Ping::Fail, Prediction::Reachable)],
            error: None,
        }];
        let text = ping_report(&PingMatrix {
            targets,
            rows,
            down: Vec::new(),
        });
        assert!(text.contains("too many for a grid"));
        assert!(text.contains("DISAGREE h0 → h1"));
        let empty = ping_report(&PingMatrix {
            targets: vec![],
            rows: vec![],
            down: vec![],
        });
        assert!(empty.ends_with("no pairs to ping (fewer than two hosts).\n"));
        let mut short = matrix();
        short.rows[0].cells.truncate(1);
        let text = ping_report(&short);
        let home = text
            .lines()
            .find(|line| line.starts_with("  home"))
            .unwrap();
        assert_eq!(
            home.split_whitespace().collect::<Vec<_>>(),
            ["home", "-", "?", "?"]
        );
    }
}
