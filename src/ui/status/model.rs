//! What `status` observed, and how it judges it: each surveyed host's health (up, down, wrong
//! routes, not surveyed, stale peers) and each ping next to `check`'s prediction.

use crate::core::facts::{Generation, LiveInterface, LivePeer};
use crate::engine::types::HostError;

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
    /// When the key the host runs was first deployed (host's Unix seconds; see
    /// [`crate::core::facts::Facts::key_since`]).
    pub key_since: Option<u64>,
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

/// A peer is stale when it never completed a handshake, or its latest one is older than
/// `stale_after` seconds by the host's clock.
pub(super) fn is_stale(peer: &LivePeer, now: u64, stale_after: u64) -> bool {
    peer.latest_handshake == 0 || now.saturating_sub(peer.latest_handshake) > stale_after
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
    pub(super) fn cells(&self) -> impl Iterator<Item = (&str, &str, &Cell)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::status::fixtures::{NOW, peer};

    #[test]
    fn stale_means_never_or_older_than_the_limit() {
        assert!(is_stale(&peer("A", 0, 0, 0), NOW, 180));
        assert!(!is_stale(&peer("A", NOW - 180, 0, 0), NOW, 180));
        assert!(is_stale(&peer("A", NOW - 181, 0, 0), NOW, 180));
        assert!(!is_stale(&peer("A", NOW + 30, 0, 0), NOW, 180));
    }
}
