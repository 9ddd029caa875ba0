//! The documents every `--json` prints, as typed structs: one place to see each command's shape.
//! Field names are the interface scripts rely on (README, "JSON output"); never rename one.
//! Builders turn them into a [`serde_json::Value`] ([`to_value`]), whose object keys print sorted.

use crate::core::change::Class;
use crate::core::model::{HomeChoice, Role};
use crate::core::topology::Link;
use serde::Serialize;

/// A document as a JSON value (objects with sorted keys, as every `--json` prints them).
pub fn to_value(document: impl Serialize) -> serde_json::Value {
    serde_json::to_value(document).expect("a JSON document of plain fields serializes")
}

// ---- `plan --json` (live) ----

#[derive(Serialize)]
pub struct LivePlan {
    pub hosts: Vec<LivePlanHost>,
    pub summary: LivePlanSummary,
}

/// One host of a live plan: its change, or why it could not be surveyed.
#[derive(Serialize)]
#[serde(untagged)]
pub enum LivePlanHost {
    Change {
        host: String,
        changes: bool,
        class: Class,
        write: bool,
        reasons: Vec<String>,
        replaces_unmanaged: bool,
        forwarding: Vec<String>,
        diff: Option<String>,
    },
    Failed {
        host: String,
        error: String,
        help: Option<String>,
    },
}

#[derive(Serialize)]
pub struct LivePlanSummary {
    pub changed: usize,
    pub up: usize,
    pub restart: usize,
    pub syncconf: usize,
    pub remove: usize,
    pub other: usize,
    pub unchanged: usize,
    pub failed: usize,
}

// ---- `plan --offline --json` ----

#[derive(Serialize)]
pub struct OfflinePlan<'a> {
    pub inventory: String,
    pub interface: &'a str,
    pub overlay: Vec<String>,
    pub hosts: Vec<OfflineHost<'a>>,
    pub must_forward: Vec<&'a str>,
    pub peer_entries: usize,
}

#[derive(Serialize)]
pub struct OfflineHost<'a> {
    pub name: &'a str,
    pub role: Role,
    pub addresses: Vec<String>,
    /// The first of `endpoints` (kept for readers of a single endpoint).
    pub endpoint: Option<String>,
    /// Every endpoint, in the inventory's order (at most one per address family).
    pub endpoints: Vec<String>,
    /// The address families of the host's own network: `ipv4`, `ipv6`.
    pub underlay: Vec<&'static str>,
    pub home_relay: Option<&'a str>,
    pub home_choice: Option<HomeChoice>,
    pub forwarding: Option<Vec<&'static str>>,
    /// The host's interface settings (the network's with its own overrides).
    pub settings: OfflineSettings<'a>,
    /// Plan warnings, e.g. an up-hook nothing takes down.
    pub warnings: Vec<String>,
    pub peers: Vec<OfflinePeer<'a>>,
    /// `false` for a device (`manage: false`) wgdeploy never logs into.
    pub managed: bool,
}

#[derive(Serialize)]
pub struct OfflineSettings<'a> {
    pub dns: &'a [String],
    pub mtu: Option<u16>,
    /// `auto`, `off` or a table number, as text; absent when not set.
    pub table: Option<String>,
    /// Hex, e.g. `0xca6c`.
    pub fwmark: Option<String>,
    pub keepalive: Option<u16>,
    pub pre_up: &'a [String],
    pub post_up: &'a [String],
    pub pre_down: &'a [String],
    pub post_down: &'a [String],
}

#[derive(Serialize)]
pub struct OfflinePeer<'a> {
    pub name: &'a str,
    pub link: Link,
    pub endpoint: Option<String>,
    pub keepalive: Option<u16>,
    pub allowed_ips: Vec<OfflineAllowed<'a>>,
}

#[derive(Serialize)]
pub struct OfflineAllowed<'a> {
    pub prefix: String,
    pub carries: &'static str,
    /// The host whose address or subnet this is; absent for the overlay catch-all.
    pub host: Option<&'a str>,
    /// For the catch-all: every host reached through it, besides the relay itself.
    pub reaches: Option<Vec<&'a str>>,
}

// ---- `check --json` ----

#[derive(Serialize)]
pub struct CheckReport {
    pub hosts: Vec<String>,
    /// Subnets routed behind hosts: places like the hosts, in `pairs` by prefix.
    pub subnets: Vec<CheckSubnet>,
    /// The internet via each exit host, in `pairs` as `internet via EXIT`.
    pub internet: Vec<CheckInternet>,
    pub summary: CheckSummary,
    pub all_reachable: bool,
    /// `all`, or `not-reachable-only` on large fleets.
    pub pairs_listed: &'static str,
    pub pairs: Vec<CheckPair>,
    pub warnings: Vec<String>,
    pub must_forward: Vec<String>,
}

#[derive(Serialize)]
pub struct CheckSummary {
    pub pairs: usize,
    /// Of `pairs`, those between two hosts.
    pub host_pairs: usize,
    /// Of `pairs`, those with a subnet or the internet at one end.
    pub place_pairs: usize,
    pub reachable: usize,
    pub conditional: usize,
    pub unreachable: usize,
}

/// A subnet `check` proves reachable: its prefix, the host it is routed behind, and the address
/// tested inside it.
#[derive(Serialize)]
pub struct CheckSubnet {
    pub prefix: String,
    pub owner: String,
    pub address: String,
}

/// The internet through an exit host, for the hosts using it; `addresses`: the ones tested.
#[derive(Serialize)]
pub struct CheckInternet {
    pub name: String,
    pub exit: String,
    pub users: Vec<String>,
    pub addresses: Vec<String>,
}

/// An ordered pair: plainly reachable (three fields), or explained.
#[derive(Serialize)]
#[serde(untagged)]
pub enum CheckPair {
    Explained {
        from: String,
        to: String,
        verdict: &'static str,
        leg: Option<&'static str>,
        path: Vec<String>,
        rule: String,
        fix: String,
    },
    Reachable {
        from: String,
        to: String,
        verdict: &'static str,
    },
}

// ---- `status --json` ----

#[derive(Serialize)]
pub struct StatusReport {
    pub stale_after_secs: u64,
    pub healthy: bool,
    pub hosts: Vec<StatusHost>,
    /// Only with `--ping`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<StatusPing>,
}

#[derive(Serialize)]
pub struct StatusHost {
    pub name: String,
    pub interface: String,
    /// `up`, `down`, `unrouted` or `failed`.
    pub health: &'static str,
    /// Only when the host could not be surveyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StatusError>,
    /// Only when it was.
    #[serde(flatten)]
    pub observed: Option<StatusObserved>,
}

#[derive(Serialize)]
pub struct StatusError {
    pub message: String,
    pub help: Option<String>,
}

#[derive(Serialize)]
pub struct StatusObserved {
    pub now_unix: u64,
    pub in_sync: bool,
    pub route_drift: Vec<String>,
    pub generation: Option<StatusGeneration>,
    /// When the key the host runs was first deployed (host's Unix seconds), and its age in whole
    /// days on the host's clock: `null` when no kept generation carries it.
    pub key_since_unix: Option<u64>,
    pub key_age_days: Option<u64>,
    pub unconfirmed_deployment: Option<String>,
    pub reverted: Option<StatusReverted>,
    pub live: Option<StatusLive>,
}

#[derive(Serialize)]
pub struct StatusGeneration {
    pub number: u64,
    pub deployment: String,
    pub kind: String,
    pub time: String,
    pub inventory_sha256: String,
    pub version: String,
}

#[derive(Serialize)]
pub struct StatusReverted {
    pub deployment: String,
    pub at_unix: u64,
}

#[derive(Serialize)]
pub struct StatusLive {
    pub public_key: String,
    pub listen_port: Option<u16>,
    pub peers: Vec<StatusPeer>,
}

#[derive(Serialize)]
pub struct StatusPeer {
    pub name: Option<String>,
    pub public_key: String,
    pub endpoint: Option<String>,
    pub allowed_ips: Vec<String>,
    /// Null for "never" (0 in `wg show dump`).
    pub latest_handshake_unix: Option<u64>,
    pub handshake_age_secs: Option<u64>,
    pub stale: bool,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[derive(Serialize)]
pub struct StatusPing {
    pub pairs: Vec<StatusPingPair>,
    pub errors: Vec<StatusPingError>,
    pub down: Vec<String>,
    pub counts: StatusPingCounts,
}

#[derive(Serialize)]
pub struct StatusPingPair {
    pub from: String,
    pub to: String,
    /// `ok`, `fail` or `unknown`.
    pub ping: &'static str,
    /// `reachable`, `conditional` or `unreachable`.
    pub check: &'static str,
    pub check_reason: Option<String>,
    pub disagrees: bool,
}

#[derive(Serialize)]
pub struct StatusPingError {
    pub from: String,
    pub message: String,
}

#[derive(Serialize)]
pub struct StatusPingCounts {
    pub pairs: usize,
    pub agree: usize,
    pub disagree: usize,
    pub conditional: usize,
    pub unknown: usize,
}

// ---- errors, under every `--json` ----

/// What a command given `--json` prints instead of its document when it fails before producing
/// one (an invalid inventory, a missing state file): every problem, as plain text prints them.
#[derive(Serialize)]
pub struct Errors {
    pub errors: Vec<ErrorEntry>,
}

#[derive(Serialize)]
pub struct ErrorEntry {
    pub message: String,
    /// The file the problem is in, when there is one; `line` and `column` (1-based) when the
    /// problem has a position in it.
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub host: Option<String>,
    pub help: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &serde_json::Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn a_live_plans_hosts_keep_their_two_shapes() {
        let plan = to_value(LivePlan {
            hosts: vec![
                LivePlanHost::Change {
                    host: "web".into(),
                    changes: true,
                    class: Class::Syncconf,
                    write: true,
                    reasons: vec!["peers changed".into()],
                    replaces_unmanaged: false,
                    forwarding: Vec::new(),
                    diff: None,
                },
                LivePlanHost::Failed {
                    host: "home".into(),
                    error: "cannot reach home".into(),
                    help: None,
                },
            ],
            summary: LivePlanSummary {
                changed: 1,
                up: 0,
                restart: 0,
                syncconf: 1,
                remove: 0,
                other: 0,
                unchanged: 0,
                failed: 1,
            },
        });
        assert_eq!(
            keys(&plan["hosts"][0]),
            [
                "changes",
                "class",
                "diff",
                "forwarding",
                "host",
                "reasons",
                "replaces_unmanaged",
                "write"
            ]
        );
        assert_eq!(plan["hosts"][0]["class"], "syncconf");
        assert!(plan["hosts"][0]["diff"].is_null());
        assert_eq!(keys(&plan["hosts"][1]), ["error", "help", "host"]);
        assert!(plan["hosts"][1]["help"].is_null());
        assert_eq!(plan["summary"]["failed"], 1);
    }

    #[test]
    fn a_status_host_has_either_an_error_or_its_observations() {
        let failed = to_value(StatusHost {
            name: "home".into(),
            interface: "wg0".into(),
            health: "failed",
            error: Some(StatusError {
                message: "cannot reach home".into(),
                help: None,
            }),
            observed: None,
        });
        assert_eq!(keys(&failed), ["error", "health", "interface", "name"]);
        let up = to_value(StatusHost {
            name: "web".into(),
            interface: "wg0".into(),
            health: "down",
            error: None,
            observed: Some(StatusObserved {
                now_unix: 5,
                in_sync: true,
                route_drift: Vec::new(),
                generation: None,
                key_since_unix: None,
                key_age_days: None,
                unconfirmed_deployment: None,
                reverted: None,
                live: None,
            }),
        });
        assert_eq!(
            keys(&up),
            [
                "generation",
                "health",
                "in_sync",
                "interface",
                "key_age_days",
                "key_since_unix",
                "live",
                "name",
                "now_unix",
                "reverted",
                "route_drift",
                "unconfirmed_deployment"
            ]
        );
    }
}
