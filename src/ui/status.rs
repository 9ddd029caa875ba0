//! What `status` prints: per host its interface, generation and peers' handshakes, and with
//! `--ping` the real reachability matrix next to `check`'s prediction. Pure: plain data in, text
//! out, so every line is unit-tested. The SSH side is `wgdeploy status` in the CLI layer.
//!
//! Everything a host reported (endpoints, deployment ids, times) goes through
//! [`crate::core::model::printable`] before it is printed; keys are shown only as public keys, shortened.

use crate::core::facts::{Generation, LiveInterface, LivePeer};
use crate::core::model::printable;
use crate::engine::types::HostError;
use std::collections::HashMap;
use std::fmt::Write;

/// One surveyed host, as `status` shows it.
#[derive(Debug, Clone)]
pub struct HostStatus {
    pub name: String,
    pub interface: String,
    /// What was observed, or why the host could not be surveyed.
    pub outcome: Result<Observed, HostError>,
}

/// What a host's facts say about its health.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `None`: the interface is not running.
    pub live: Option<LiveInterface>,
    /// The host's clock (Unix seconds), for handshake ages.
    pub now: u64,
    /// The generation the host runs now, if any was recorded.
    pub generation: Option<Generation>,
    /// An apply that was armed and never confirmed: its deployment id.
    pub armed: Option<String>,
    /// The last revert by the lock-out protection: deployment id and when (host's Unix seconds).
    pub reverted: Option<(String, u64)>,
    /// The host runs exactly what the inventory plans (nothing for `apply` to do).
    pub in_sync: bool,
    /// How the interface's routes differ from what its running config's AllowedIPs need: a
    /// prefix with no route is not tunnelled (it may even leave unencrypted by another route).
    pub route_drift: Vec<String>,
}

/// How one host fares, for the summary line and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Could not be surveyed.
    Failed,
    /// The interface is not running.
    Down,
    /// Up, but its routes do not match its AllowedIPs (traffic not tunnelled, or sent into it
    /// for prefixes no peer holds).
    Unrouted,
    /// Up; `stale` peers have no recent handshake.
    Up { stale: usize },
}

/// Seconds as a short age: `12s`, `4m 3s`, `2h 5m`, `3d 4h` (zero parts left out: `5m`).
pub fn format_age(secs: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let (big, big_unit, small, small_unit) = if secs < MINUTE {
        return format!("{secs}s");
    } else if secs < HOUR {
        (secs / MINUTE, "m", secs % MINUTE, "s")
    } else if secs < DAY {
        (secs / HOUR, "h", secs % HOUR / MINUTE, "m")
    } else {
        (secs / DAY, "d", secs % DAY / HOUR, "h")
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

/// A span in words for sentences: `3 min`, `1 h`, `90 s`.
fn span_words(secs: u64) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// How long ago a handshake was, or `never` (0 in the dump).
pub fn handshake_age(latest_handshake: u64, now: u64) -> String {
    if latest_handshake == 0 {
        "never".to_owned()
    } else {
        format!("{} ago", format_age(now.saturating_sub(latest_handshake)))
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.2 KiB`, `3.0 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.96 KiB would print as `1024.0 KiB`: step up a unit before rounding gets there.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A peer is stale when it never completed a handshake, or its latest one is older than
/// `stale_after` seconds by the host's clock.
pub fn is_stale(peer: &LivePeer, now: u64, stale_after: u64) -> bool {
    peer.latest_handshake == 0 || now.saturating_sub(peer.latest_handshake) > stale_after
}

/// One line on a running interface, for `status` and `apply`'s summary: `up, 3 peers, 2 with a
/// handshake in the last 3 min`, or `interface not running`. Callers put the interface name in
/// front when they have it.
pub fn health_line(live: Option<&LiveInterface>, now: u64, stale_after: u64) -> String {
    let Some(live) = live else {
        return "interface not running".to_owned();
    };
    let total = live.peers.len();
    if total == 0 {
        return "up, no peers".to_owned();
    }
    let fresh = live
        .peers
        .iter()
        .filter(|peer| !is_stale(peer, now, stale_after))
        .count();
    let peers = if total == 1 { "peer" } else { "peers" };
    let how_many = if fresh == total && total > 1 {
        "all".to_owned()
    } else if fresh == 0 {
        "none".to_owned()
    } else {
        fresh.to_string()
    };
    format!(
        "up, {total} {peers}, {how_many} with a handshake in the last {}",
        span_words(stale_after)
    )
}

/// A public key as status shows a peer it cannot name: its first 8 characters.
pub fn short_key(key: &str) -> String {
    printable(&crate::core::keys::short_key(key))
}

/// A peer's inventory name from its public key, else its shortened key.
pub fn peer_label(key: &str, names: &HashMap<String, String>) -> String {
    names.get(key).cloned().unwrap_or_else(|| short_key(key))
}

impl HostStatus {
    pub fn health(&self, stale_after: u64) -> Health {
        match &self.outcome {
            Err(_) => Health::Failed,
            Ok(Observed { live: None, .. }) => Health::Down,
            Ok(Observed { route_drift, .. }) if !route_drift.is_empty() => Health::Unrouted,
            Ok(Observed {
                live: Some(live),
                now,
                ..
            }) => Health::Up {
                stale: live
                    .peers
                    .iter()
                    .filter(|peer| is_stale(peer, *now, stale_after))
                    .count(),
            },
        }
    }
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// One host's block: its health line, generation, sync, warnings and a table of its peers.
pub fn host_block(host: &HostStatus, names: &HashMap<String, String>, stale_after: u64) -> String {
    let mut text = String::new();
    let observed = match &host.outcome {
        Err(error) => {
            let _ = writeln!(
                text,
                "{} {}: FAILED: {}",
                crate::ui::colour::mark('!'),
                host.name,
                error.message
            );
            if let Some(help) = &error.help {
                let _ = writeln!(text, "    help: {help}");
            }
            return text;
        }
        Ok(observed) => observed,
    };
    let health = host.health(stale_after);
    let mark = match health {
        Health::Up { stale: 0 } if observed.in_sync && observed.armed.is_none() => '=',
        Health::Up { .. } => '~',
        Health::Down | Health::Failed | Health::Unrouted => '!',
    };
    let line = health_line(observed.live.as_ref(), observed.now, stale_after);
    let down = if matches!(health, Health::Down) {
        " (DOWN)"
    } else {
        ""
    };
    let _ = writeln!(
        text,
        "{} {}: {} {line}{down}",
        crate::ui::colour::mark(mark),
        host.name,
        host.interface
    );
    match &observed.generation {
        Some(generation) => {
            let mut line = format!("    generation {}", generation.number);
            if !generation.deployment.is_empty() {
                let _ = write!(line, ", deployment {}", printable(&generation.deployment));
            }
            let kind = printable(&generation.kind);
            let time = printable(&generation.time);
            match (kind.is_empty(), time.is_empty()) {
                (false, false) => {
                    let _ = write!(line, " ({kind} at {time})");
                }
                (false, true) => {
                    let _ = write!(line, " ({kind})");
                }
                (true, false) => {
                    let _ = write!(line, " (at {time})");
                }
                (true, true) => {}
            }
            let _ = writeln!(text, "{line}");
        }
        None => {
            let _ = writeln!(text, "    no generation recorded on the host");
        }
    }
    if observed.in_sync {
        let _ = writeln!(text, "    in sync with the inventory");
    } else {
        let _ = writeln!(
            text,
            "    differs from the inventory: run `wgdeploy plan` to see how"
        );
    }
    for drift in &observed.route_drift {
        let _ = writeln!(text, "    ROUTES: {drift}");
    }
    if !observed.route_drift.is_empty() {
        let _ = writeln!(
            text,
            "    (`wgdeploy apply` puts the routes right without restarting the interface)"
        );
    }
    if let Some(armed) = &observed.armed {
        let _ = writeln!(
            text,
            "    warning: unconfirmed apply {} pending: the host reverts it unless confirmed",
            printable(armed)
        );
    }
    if let Some((deployment, at)) = &observed.reverted {
        let when = if *at == 0 {
            String::new()
        } else {
            format!(" {} ago", format_age(observed.now.saturating_sub(*at)))
        };
        let _ = writeln!(
            text,
            "    note: the lock-out protection reverted deployment {}{when} (it was never confirmed)",
            printable(deployment)
        );
    }
    if let Some(live) = &observed.live
        && !live.peers.is_empty()
    {
        let mut rows = vec![vec![
            "peer".to_owned(),
            "endpoint".to_owned(),
            "handshake".to_owned(),
            "received".to_owned(),
            "sent".to_owned(),
            String::new(),
        ]];
        for peer in &live.peers {
            let stale = is_stale(peer, observed.now, stale_after);
            rows.push(vec![
                peer_label(&peer.public_key, names),
                peer.endpoint
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), printable),
                handshake_age(peer.latest_handshake, observed.now),
                format_bytes(peer.rx),
                format_bytes(peer.tx),
                if stale { "STALE" } else { "" }.to_owned(),
            ]);
        }
        text.push_str(&crate::ui::table::render(&rows, "    "));
    }
    text
}

/// Every host's block, then one summary line.
pub fn hosts_report(
    hosts: &[HostStatus],
    names: &HashMap<String, String>,
    stale_after: u64,
) -> String {
    let mut text = String::new();
    for host in hosts {
        text.push_str(&host_block(host, names, stale_after));
    }
    let (mut up, mut down, mut failed, mut unrouted) = (0, 0, 0, 0);
    let (mut stale, mut stale_hosts) = (0, 0);
    for host in hosts {
        match host.health(stale_after) {
            Health::Failed => failed += 1,
            Health::Down => down += 1,
            Health::Unrouted => unrouted += 1,
            Health::Up { stale: count } => {
                up += 1;
                stale += count;
                stale_hosts += usize::from(count > 0);
            }
        }
    }
    let mut parts = vec![format!("{up} up")];
    if down > 0 {
        parts.push(format!("{down} down"));
    }
    if unrouted > 0 {
        parts.push(format!("{unrouted} with wrong routes"));
    }
    if failed > 0 {
        parts.push(format!("{failed} could not be surveyed"));
    }
    let stale = if stale == 0 {
        format!(
            "no stale peers (none older than {})",
            span_words(stale_after)
        )
    } else {
        format!(
            "{} STALE on {} (no handshake in the last {})",
            plural(stale, "peer", "peers"),
            plural(stale_hosts, "host", "hosts"),
            span_words(stale_after)
        )
    };
    let _ = writeln!(
        text,
        "\nStatus: {}: {}; {stale}.",
        plural(hosts.len(), "host", "hosts"),
        parts.join(", ")
    );
    text
}

/// A ping's result from one host to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Ok,
    Fail,
    /// Not pinged: the source could not be surveyed or did not answer, or the target has no address.
    Unknown,
}

/// `check`'s verdict on a pair (the request and its reply), with its reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prediction {
    Reachable,
    /// Reachable only under conditions (first contact, NAT mapping, forwarding).
    Conditional(String),
    Unreachable(String),
}

/// One cell of the matrix: a source pinging a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub ping: Ping,
    pub check: Prediction,
}

impl Cell {
    /// Reality contradicts a plain verdict of `check` (a conditional one can go either way).
    pub fn disagrees(&self) -> bool {
        matches!(
            (&self.ping, &self.check),
            (Ping::Fail, Prediction::Reachable) | (Ping::Ok, Prediction::Unreachable(_))
        )
    }

    fn text(&self) -> String {
        let ping = match self.ping {
            Ping::Ok => "ok",
            Ping::Fail => "FAIL",
            Ping::Unknown => "?",
        };
        let check = match self.check {
            Prediction::Reachable => "ok",
            Prediction::Conditional(_) => "cond",
            Prediction::Unreachable(_) => "no",
        };
        let mark = if self.disagrees() { " !" } else { "" };
        format!("{ping}/{check}{mark}")
    }
}

/// One source host's row: a cell per target (`None` for itself), or why it could not ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingRow {
    pub from: String,
    pub cells: Vec<Option<Cell>>,
    pub error: Option<String>,
}

/// Real reachability from the surveyed hosts (rows) to every inventory host (columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingMatrix {
    pub targets: Vec<String>,
    pub rows: Vec<PingRow>,
    /// Hosts seen with their interface not running: pings to them fail for that reason, which the
    /// report says next to each such disagreement.
    pub down: Vec<String>,
}

/// How ping and check compare over the ordered pairs of a matrix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingCounts {
    pub pairs: usize,
    pub agree: usize,
    pub disagree: usize,
    /// Pinged pairs that check calls conditional.
    pub conditional: usize,
    pub unknown: usize,
}

impl PingMatrix {
    fn cells(&self) -> impl Iterator<Item = (&str, &str, &Cell)> {
        self.rows.iter().flat_map(move |row| {
            row.cells
                .iter()
                .zip(&self.targets)
                .filter_map(move |(cell, to)| {
                    Some((row.from.as_str(), to.as_str(), cell.as_ref()?))
                })
        })
    }

    pub fn counts(&self) -> PingCounts {
        let mut counts = PingCounts::default();
        for (_, _, cell) in self.cells() {
            counts.pairs += 1;
            if cell.ping == Ping::Unknown {
                counts.unknown += 1;
            } else if cell.disagrees() {
                counts.disagree += 1;
            } else if matches!(cell.check, Prediction::Conditional(_)) {
                counts.conditional += 1;
            } else {
                counts.agree += 1;
            }
        }
        counts
    }
}

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
                    Some(Some(cell)) => cell.text(),
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
pub fn agreement_line(counts: &PingCounts) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: &str, handshake: u64, rx: u64, tx: u64) -> LivePeer {
        LivePeer {
            public_key: key.to_owned(),
            endpoint: Some("198.51.100.2:51820".to_owned()),
            allowed_ips: Vec::new(),
            latest_handshake: handshake,
            rx,
            tx,
            keepalive: None,
        }
    }

    fn live(peers: Vec<LivePeer>) -> LiveInterface {
        LiveInterface {
            public_key: "SELF=".to_owned(),
            listen_port: Some(51820),
            peers,
            routes: None,
        }
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn ages_read_like_a_person_says_them() {
        assert_eq!(format_age(0), "0s");
        assert_eq!(format_age(12), "12s");
        assert_eq!(format_age(243), "4m 3s");
        assert_eq!(format_age(300), "5m");
        assert_eq!(format_age(7500), "2h 5m");
        assert_eq!(format_age(3 * 86400 + 4 * 3600 + 59), "3d 4h");
        assert_eq!(format_age(u64::MAX).chars().last(), Some('h'));
        assert_eq!(handshake_age(0, NOW), "never");
        assert_eq!(handshake_age(NOW - 12, NOW), "12s ago");
        // A handshake ahead of the host's clock is not an underflow.
        assert_eq!(handshake_age(NOW + 5, NOW), "0s ago");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1229), "1.2 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(format_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn stale_means_never_or_older_than_the_limit() {
        assert!(is_stale(&peer("A", 0, 0, 0), NOW, 180));
        assert!(!is_stale(&peer("A", NOW - 180, 0, 0), NOW, 180));
        assert!(is_stale(&peer("A", NOW - 181, 0, 0), NOW, 180));
        assert!(!is_stale(&peer("A", NOW + 30, 0, 0), NOW, 180));
    }

    #[test]
    fn health_line_counts_fresh_handshakes() {
        assert_eq!(health_line(None, NOW, 180), "interface not running");
        assert_eq!(health_line(Some(&live(vec![])), NOW, 180), "up, no peers");
        let three = live(vec![
            peer("A", NOW - 10, 0, 0),
            peer("B", NOW - 100, 0, 0),
            peer("C", 0, 0, 0),
        ]);
        assert_eq!(
            health_line(Some(&three), NOW, 180),
            "up, 3 peers, 2 with a handshake in the last 3 min"
        );
        assert_eq!(
            health_line(Some(&three), NOW, 5),
            "up, 3 peers, none with a handshake in the last 5 s"
        );
        assert_eq!(
            health_line(Some(&three), NOW + 3600, 7200),
            "up, 3 peers, 2 with a handshake in the last 2 h"
        );
        let fresh = live(vec![peer("A", NOW, 0, 0), peer("B", NOW, 0, 0)]);
        assert_eq!(
            health_line(Some(&fresh), NOW, 90),
            "up, 2 peers, all with a handshake in the last 90 s"
        );
        let one = live(vec![peer("A", NOW, 0, 0)]);
        assert_eq!(
            health_line(Some(&one), NOW, 180),
            "up, 1 peer, 1 with a handshake in the last 3 min"
        );
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([
            ("OFFICEKEY=".to_owned(), "office".to_owned()),
            ("LAPTOPKEY=".to_owned(), "laptop".to_owned()),
        ])
    }

    fn home() -> HostStatus {
        let mut never = peer("LAPTOPKEY=", 0, 0, 0);
        never.endpoint = None;
        HostStatus {
            name: "home".to_owned(),
            interface: "wg0".to_owned(),
            outcome: Ok(Observed {
                live: Some(live(vec![
                    peer("OFFICEKEY=", NOW - 12, 1229, 3 * 1024 * 1024),
                    never,
                    peer("abcdefghijklmnop=", NOW - 243, 512, 100),
                ])),
                now: NOW,
                generation: Some(Generation {
                    number: 4,
                    deployment: "20261124T100000-3f2a".to_owned(),
                    kind: "apply".to_owned(),
                    time: "2026-11-24T10:00:00Z".to_owned(),
                    inventory: "sha256:00".to_owned(),
                    version: "0.1.0".to_owned(),
                }),
                armed: None,
                reverted: None,
                in_sync: true,
                route_drift: Vec::new(),
            }),
        }
    }

    #[test]
    fn host_block_names_peers_and_marks_stale_ones() {
        let text = host_block(&home(), &names(), 180);
        assert_eq!(
            text,
            "~ home: wg0 up, 3 peers, 1 with a handshake in the last 3 min
    generation 4, deployment 20261124T100000-3f2a (apply at 2026-11-24T10:00:00Z)
    in sync with the inventory
    peer       endpoint            handshake  received  sent
    office     198.51.100.2:51820  12s ago    1.2 KiB   3.0 MiB
    laptop     -                   never      0 B       0 B      STALE
    abcdefgh…  198.51.100.2:51820  4m 3s ago  512 B     100 B    STALE
"
        );
        assert!(!text.lines().any(|line| line.ends_with(' ')));
    }

    #[test]
    fn host_block_shows_down_failed_armed_and_drift() {
        let mut down = home();
        if let Ok(observed) = &mut down.outcome {
            observed.live = None;
            observed.generation = None;
            observed.in_sync = false;
            observed.armed = Some("20261124T110000-cd34".to_owned());
            observed.reverted = Some(("20261124T090000-0000".to_owned(), NOW - 7500));
        }
        assert_eq!(down.health(180), Health::Down);
        assert_eq!(
            host_block(&down, &names(), 180),
            "! home: wg0 interface not running (DOWN)
    no generation recorded on the host
    differs from the inventory: run `wgdeploy plan` to see how
    warning: unconfirmed apply 20261124T110000-cd34 pending: the host reverts it unless confirmed
    note: the lock-out protection reverted deployment 20261124T090000-0000 2h 5m ago (it was never confirmed)
"
        );
        let failed = HostStatus {
            name: "office".to_owned(),
            interface: "wg0".to_owned(),
            outcome: Err(HostError::new("no answer within 60 s").help("check the host is up")),
        };
        assert_eq!(failed.health(180), Health::Failed);
        assert_eq!(
            host_block(&failed, &names(), 180),
            "! office: FAILED: no answer within 60 s\n    help: check the host is up\n"
        );
    }

    #[test]
    fn host_output_escapes_what_the_host_sent() {
        let mut host = home();
        if let Ok(Observed {
            live: Some(live), ..
        }) = &mut host.outcome
        {
            live.peers[0].endpoint = Some("1.2.3.4:5\n\x1b[31m".to_owned());
            live.peers[2].public_key = "\x1b]0;x\x07abc".to_owned();
        }
        let text = host_block(&host, &names(), 180);
        assert!(!text.contains('\x1b') && !text.contains('\x07'));
        assert_eq!(text.lines().count(), 7);
    }

    #[test]
    fn route_drift_is_unhealthy_and_says_what_is_wrong() {
        let mut host = home();
        if let Ok(observed) = &mut host.outcome {
            observed.route_drift = vec!["no route for 198.18.77.0/24 (a peer's AllowedIPs)".into()];
        }
        assert_eq!(host.health(180), Health::Unrouted);
        let text = host_block(&host, &names(), 180);
        assert!(text.starts_with("! home: wg0 up"), "{text}");
        assert!(
            text.contains("    ROUTES: no route for 198.18.77.0/24 (a peer's AllowedIPs)\n"),
            "{text}"
        );
        let report = hosts_report(&[host], &names(), 180);
        assert!(
            report.contains("Status: 1 host: 0 up, 1 with wrong routes;"),
            "{report}"
        );
    }

    #[test]
    fn summary_counts_hosts_and_stale_peers() {
        let failed = HostStatus {
            name: "office".to_owned(),
            interface: "wg0".to_owned(),
            outcome: Err(HostError::new("refused")),
        };
        let text = hosts_report(&[home(), failed], &names(), 180);
        assert!(text.ends_with(
            "\nStatus: 2 hosts: 1 up, 1 could not be surveyed; 2 peers STALE on 1 host (no handshake in the last 3 min).\n"
        ));
        let text = hosts_report(&[], &names(), 180);
        assert_eq!(
            text,
            "\nStatus: 0 hosts: 0 up; no stale peers (none older than 3 min).\n"
        );
    }

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
