//! The local journal: one JSON line per run that changed hosts, beside the inventory
//! (`<stem>.wgdeploy-journal.jsonl`). The hosts hold the truth (their generations); the journal
//! holds the order of deployments and how each went, which is what `rollback` needs to name "the
//! previous deployment". Deployment ids sort by time: `20261125-101500-3f2a91c0` (UTC).

use crate::core::error::{Diagnostic, Error, Result};
use crate::core::facts::ORIGINAL_KIND;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What happened to one host in a run.
pub const CHANGED: &str = "changed";
pub const UNCHANGED: &str = "unchanged";
pub const FAILED: &str = "failed";
pub const ROLLED_BACK: &str = "rolled-back";

/// One run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// When the run started (UTC, ISO 8601).
    pub time: String,
    /// `apply` or `rollback`.
    pub command: String,
    /// For a rollback: the deployment it went back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `sha256:…` of the inventory file.
    pub inventory: String,
    pub version: String,
    /// `ok`, `failed` (some host failed) or `rolled-back` (`--atomic` undid it).
    pub outcome: String,
    /// Host → [`CHANGED`], [`UNCHANGED`], [`FAILED`] or [`ROLLED_BACK`].
    pub hosts: BTreeMap<String, String>,
}

impl Entry {
    /// The run left at least one host changed: it is a deployment a rollback can go back to.
    pub fn stands(&self) -> bool {
        self.outcome != ROLLED_BACK && self.hosts.values().any(|what| what == CHANGED)
    }
}

/// `<dir>/<stem>.wgdeploy-journal.jsonl` for `<dir>/<stem>.yaml`.
pub fn default_path(inventory: &Path) -> PathBuf {
    let stem = inventory.file_stem().map_or_else(
        || "inventory".into(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    inventory.with_file_name(format!("{stem}.wgdeploy-journal.jsonl"))
}

/// All entries, oldest first; no file means no runs yet.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("read the journal", path, &err)),
    };
    parse(&text).map_err(|(line, why)| {
        Diagnostic::new(format!(
            "{}:{line}: not a journal entry: the line {why}",
            path.display()
        ))
        .help("the journal is written by wgdeploy; restore the line from a backup or delete it")
        .into()
    })
}

/// Parses journal text; the error names the line (1-based).
pub fn parse(text: &str) -> std::result::Result<Vec<Entry>, (usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .map_err(|err| (index + 1, crate::store::files::json_problem(&err)))
        })
        .collect()
}

/// Appends one entry as a single write, so concurrent runs never interleave within a line.
pub fn append(path: &Path, entry: &Entry) -> Result<()> {
    let mut line = serde_json::to_string(entry).expect("journal entries serialize");
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|err| Error::io("write the journal", path, &err))
}

/// The deployment before the latest one that stands: what a plain `rollback` goes back to.
pub fn previous(entries: &[Entry]) -> Option<&Entry> {
    let standing: Vec<&Entry> = entries.iter().filter(|entry| entry.stands()).collect();
    standing.len().checked_sub(2).map(|index| standing[index])
}

/// Resolves `--to`: an exact id, or a prefix matching exactly one of `known`.
pub fn resolve<'a>(
    wanted: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> std::result::Result<String, String> {
    let mut known: Vec<&str> = known.into_iter().collect();
    known.sort_unstable();
    known.dedup();
    if known.contains(&wanted) {
        return Ok(wanted.to_owned());
    }
    let matches: Vec<&str> = known
        .iter()
        .copied()
        .filter(|id| !wanted.is_empty() && id.starts_with(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(format!(
            "no deployment `{wanted}` in the journal or on the hosts"
        )),
        many => Err(format!(
            "`{wanted}` matches {} deployments: {}",
            many.len(),
            many.join(", ")
        )),
    }
}

/// Whether deployment `id` is `target` or came before it: by journal order when both are in the
/// journal, else by id (ids sort by time).
pub fn at_or_before(entries: &[Entry], id: &str, target: &str) -> bool {
    let position = |wanted: &str| entries.iter().position(|entry| entry.id == wanted);
    match (position(id), position(target)) {
        (Some(a), Some(b)) => a <= b,
        _ => id <= target,
    }
}

/// The rollback target "before wgdeploy's first deployment": each host's generation 0, the config
/// wgdeploy found there and replaced (recorded with `kind=original`).
pub const ORIGINAL: &str = "original";

/// Whether a host's generation (its `deployment` and `kind`) is one a rollback to `target` may go
/// to: an original came before every deployment, so it is reachable from any target (the newest
/// reachable generation wins, so it is taken only when nothing later is); [`ORIGINAL`] reaches
/// nothing else.
pub fn reaches(entries: &[Entry], deployment: &str, kind: &str, target: &str) -> bool {
    kind == ORIGINAL_KIND || (target != ORIGINAL && at_or_before(entries, deployment, target))
}

/// A new deployment id for a run starting at `unix` seconds: `YYYYMMDD-HHMMSS-xxxxxxxx`, sortable
/// by time. The suffix is 32 random bits: two runs in the same second (from one machine or from
/// two operators) must never share an id, since a host's confirm and revert act on the id alone.
pub fn new_id(unix: u64) -> String {
    use ring::rand::SecureRandom;
    let (date, time) = crate::core::time::civil(unix);
    let mut bytes = [0u8; 4];
    // The system's random source failing is not something to work around with a weaker suffix.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator works");
    let suffix = u32::from_be_bytes(bytes);
    format!(
        "{}-{}-{suffix:08x}",
        date.replace('-', ""),
        time.replace(':', "")
    )
}

pub use crate::core::time::iso_utc;

/// `sha256:<hex>` of bytes (the inventory file).
pub fn digest(bytes: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = hash
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, outcome: &str, hosts: &[(&str, &str)]) -> Entry {
        Entry {
            id: id.into(),
            time: "t".into(),
            command: "apply".into(),
            target: None,
            inventory: "sha256:0".into(),
            version: "0".into(),
            outcome: outcome.into(),
            hosts: hosts
                .iter()
                .map(|(host, what)| ((*host).to_owned(), (*what).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn previous_skips_runs_that_changed_nothing_or_were_undone() {
        let entries = vec![
            entry("1", "ok", &[("a", CHANGED)]),
            entry("2", "ok", &[("a", UNCHANGED)]),
            entry("3", "ok", &[("a", CHANGED), ("b", FAILED)]),
            entry("4", ROLLED_BACK, &[("a", ROLLED_BACK)]),
        ];
        assert_eq!(previous(&entries).map(|e| e.id.as_str()), Some("1"));
        assert_eq!(previous(&entries[..1]), None);
    }

    #[test]
    fn ids_resolve_exactly_or_by_unique_prefix() {
        let known = [
            "20261125-101500-aaaa",
            "20261125-101500-bbbb",
            "20261124-090000-cccc",
        ];
        assert_eq!(resolve("20261124", known).unwrap(), "20261124-090000-cccc");
        assert!(
            resolve("20261125-101500", known)
                .unwrap_err()
                .contains("matches 2")
        );
        assert!(
            resolve("2030", known)
                .unwrap_err()
                .contains("no deployment")
        );
        assert!(resolve("", known).is_err());
    }

    #[test]
    fn order_follows_the_journal_then_the_ids() {
        let entries = vec![entry("b", "ok", &[]), entry("a", "ok", &[])];
        assert!(at_or_before(&entries, "b", "a"), "journal order wins");
        assert!(!at_or_before(&entries, "a", "b"));
        assert!(
            at_or_before(&entries, "20260101", "20261231"),
            "unknown ids: by id"
        );
    }

    #[test]
    fn an_original_is_reached_from_any_target_and_original_reaches_only_it() {
        let entries = [entry("20261125-100000-aaaa", "ok", &[("a", CHANGED)])];
        let d1 = "20261125-100000-aaaa";
        assert!(reaches(&entries, d1, ORIGINAL_KIND, ORIGINAL));
        assert!(reaches(&entries, d1, ORIGINAL_KIND, "20200101-000000-0000"));
        assert!(!reaches(&entries, d1, "apply", ORIGINAL));
        assert!(reaches(&entries, d1, "apply", d1));
    }

    #[test]
    fn times_and_ids_are_utc_and_sort_by_time() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(1_795_601_700), "2026-11-25T10:15:00Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        let id = new_id(1_795_601_700);
        assert!(id.starts_with("20261125-101500-"), "{id}");
        assert_eq!(id.len(), "20261125-101500-".len() + 8, "{id}");
        assert!(new_id(1_795_601_700) < new_id(1_795_601_761));
    }

    #[test]
    fn ids_of_the_same_second_are_distinct() {
        // 32 random bits: 10,000 ids of one second share one about once in 90 runs (the birthday
        // bound), so a few collisions are allowed; a weak or constant suffix gives thousands.
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_id(1_795_601_700)).collect();
        assert!(ids.len() >= 9_995, "{} distinct of 10000", ids.len());
    }

    #[test]
    fn the_journal_round_trips_and_names_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.wgdeploy-journal.jsonl");
        assert!(read(&path).unwrap().is_empty());
        let first = entry("1", "ok", &[("a", CHANGED)]);
        append(&path, &first).unwrap();
        append(&path, &entry("2", "failed", &[("a", FAILED)])).unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], first);
        std::fs::write(&path, "{\"id\": 1}\n").unwrap();
        let error = format!("{:?}", read(&path).unwrap_err());
        assert!(error.contains(":1: not a journal entry"), "{error}");
        // In words, not serde's ("invalid type: integer `1`, expected a string").
        assert!(
            error.contains("holds a value wgdeploy does not expect at line 1")
                && !error.contains("invalid type"),
            "{error}"
        );
        assert_eq!(
            default_path(Path::new("/x/inventory.yaml")),
            Path::new("/x/inventory.wgdeploy-journal.jsonl")
        );
    }

    #[test]
    fn digests_are_sha256() {
        assert_eq!(
            digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
