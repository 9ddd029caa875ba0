//! `wgdeploy rollback INVENTORY`: every selected host goes back to its generation of an earlier
//! deployment (the one before the latest, or `--to ID`), read from the host itself. The change
//! runs like an apply (same classes, lock-out protection, confirm) and is recorded as a new
//! generation and journal entry, so a rollback can itself be rolled back.

use crate::cli::args::RollbackArgs;
use crate::cli::live;
use crate::cli::out::write_out;
use crate::core::error::{Diagnostic, Result};
use crate::engine::survey::Goal;
use crate::store::journal;
use crate::ui::output;
use std::io::Write;

pub fn rollback(args: &RollbackArgs, out: &mut dyn Write) -> Result<u8> {
    let entries = journal::read(&live::journal_path(&args.common, &args.change))?;
    let target = target(args.to.as_deref(), &entries)?;
    let goal = Goal::AsOf {
        target: target.clone(),
        journal: entries,
    };
    // A dry run only reads; a rollback changes hosts, so it holds the state lock like apply.
    let _lock = match args.dry_run {
        true => None,
        false => Some(crate::store::state::StateLock::acquire(
            &args.common.state_path(),
        )?),
    };
    // The configs come from the hosts' generations: nothing is rendered, so no `--templates`.
    let selected = live::Selected {
        hosts: &args.hosts,
        ..Default::default()
    };
    let fleet = live::survey(&args.common, &args.connect, selected, "survey", goal)?;
    let rows = crate::ui::output::rows(&fleet.hosts);
    let counts = crate::ui::output::counts(&fleet.hosts);
    let heading = if target == journal::ORIGINAL {
        "Rolling back to the original configs (generation 0: what ran before wgdeploy's first deployment).\n".to_owned()
    } else {
        format!(
            "Rolling back to deployment {}.\n",
            crate::core::model::printable(&target)
        )
    };
    write_out(out, &heading)?;
    write_out(out, &output::human_plan(&rows))?;
    if args.dry_run {
        write_out(out, "Dry run: nothing was changed.\n")?;
        return if counts.failed > 0 {
            Err(live::failed_hosts(&rows))
        } else {
            Ok(0)
        };
    }
    if counts.changed() == 0 {
        write_out(out, output::nothing_to_do(counts.failed))?;
        return if counts.failed > 0 {
            Err(live::failed_hosts(&rows))
        } else {
            Ok(0)
        };
    }
    if !args.yes {
        live::confirm("roll back", counts.changed())?;
    }
    let failed_survey = (counts.failed > 0).then(|| live::failed_hosts(&rows));
    let run = live::new_run("rollback", &args.common.inventory, &args.change, false)?;
    let result = live::change(fleet, run, &args.common, &args.change, Some(target), out);
    // Hosts that could not be surveyed (down, no earlier generation) were reported in the plan and
    // are reported again as errors: the rollback did not reach them.
    match (result, failed_survey) {
        (Ok(_), Some(error)) => Err(error),
        (Err(mut error), Some(survey)) => {
            for diagnostic in survey.into_diagnostics() {
                error.push(diagnostic);
            }
            Err(error)
        }
        (result, None) => result,
    }
}

/// The deployment to go back to: `--to` resolved against the journal (a full id unknown to the
/// journal is passed on: the hosts may know it), else the one before the latest.
fn target(to: Option<&str>, entries: &[journal::Entry]) -> Result<String> {
    if let Some(wanted) = to {
        if wanted == journal::ORIGINAL {
            return Ok(wanted.to_owned());
        }
        return match journal::resolve(wanted, entries.iter().map(|entry| entry.id.as_str())) {
            Ok(id) => Ok(id),
            Err(_) if looks_like_id(wanted) => Ok(wanted.to_owned()),
            Err(why) => Err(Diagnostic::new(why)
                .help("deployment ids are in the journal and in `wgdeploy status`; give one, or a unique prefix")
                .into()),
        };
    }
    match journal::previous(entries) {
        Some(entry) => Ok(entry.id.clone()),
        // One deployment so far: before it, hosts ran what wgdeploy found there (generation 0).
        None if entries.iter().any(journal::Entry::stands) => Ok(journal::ORIGINAL.to_owned()),
        None => Err(Diagnostic::new(
            "no earlier deployment in the journal to roll back to",
        )
        .help("name one with `--to ID` (see `wgdeploy status`); the journal lists runs that changed hosts")
        .into()),
    }
}

/// `20261125-101500-3f2a91c0`, or `20261125-101500-3f2a` as earlier builds wrote them (hosts and
/// journals keep those).
fn looks_like_id(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [date, time, suffix]
        if date.len() == 8 && time.len() == 6 && matches!(suffix.len(), 4 | 8)
            && date.bytes().chain(time.bytes()).all(|b| b.is_ascii_digit())
            && suffix.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> journal::Entry {
        journal::Entry {
            id: id.into(),
            time: String::new(),
            command: "apply".into(),
            target: None,
            inventory: String::new(),
            version: String::new(),
            outcome: "ok".into(),
            hosts: [("a".to_owned(), journal::CHANGED.to_owned())].into(),
        }
    }

    #[test]
    fn the_default_target_is_the_deployment_before_the_latest() {
        let entries = [entry("20261125-100000-aaaa"), entry("20261125-110000-bbbb")];
        assert_eq!(target(None, &entries).unwrap(), "20261125-100000-aaaa");
        // After the first deployment, back to what wgdeploy found (generation 0).
        assert_eq!(target(None, &entries[..1]).unwrap(), journal::ORIGINAL);
        assert!(target(None, &[]).is_err());
        assert_eq!(
            target(Some("original"), &entries).unwrap(),
            journal::ORIGINAL
        );
        assert_eq!(
            target(Some("20261125-11"), &entries).unwrap(),
            "20261125-110000-bbbb"
        );
        // A full id the journal does not know (applied from another machine) goes to the hosts.
        assert_eq!(
            target(Some("20250101-000000-cccc"), &entries).unwrap(),
            "20250101-000000-cccc"
        );
        assert_eq!(
            target(Some("20250101-000000-cccc0123"), &entries).unwrap(),
            "20250101-000000-cccc0123"
        );
        assert!(target(Some("nonsense"), &entries).is_err());
        assert!(target(Some("20250101-000000-ccc"), &entries).is_err());
    }
}
