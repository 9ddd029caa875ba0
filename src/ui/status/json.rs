//! `status --json`: the same observations as [`crate::ui::status`] prints, as one JSON document
//! for monitoring and scripts. Pure: plain data in, a [`serde_json::Value`] (of [`crate::ui::json`]'s types) out.
//!
//! Keys appear only as public keys (full, so they can be matched); times are the host's Unix
//! seconds next to ages computed on the host's own clock, so clock skew never shows as staleness.

use crate::core::facts::{LiveInterface, LivePeer};
use crate::ui::json::{
    StatusError, StatusGeneration, StatusHost, StatusLive, StatusObserved, StatusPeer, StatusPing,
    StatusPingCounts, StatusPingError, StatusPingPair, StatusReport, StatusReverted,
};
use crate::ui::status::model::{
    Health, HostStatus, Observed, Ping, PingMatrix, Prediction, is_stale,
};
use serde_json::Value;
use std::collections::HashMap;

/// The whole document: every host, the ping matrix when there is one, and the verdict `status`
/// exits with (`healthy` false ⇔ exit 1).
pub fn document(
    hosts: &[HostStatus],
    names: &HashMap<String, String>,
    stale_after: u64,
    matrix: Option<&PingMatrix>,
    healthy: bool,
) -> Value {
    crate::ui::json::to_value(StatusReport {
        stale_after_secs: stale_after,
        healthy,
        hosts: hosts
            .iter()
            .map(|host| host_json(host, names, stale_after))
            .collect(),
        ping: matrix.map(ping_json),
    })
}

fn host_json(host: &HostStatus, names: &HashMap<String, String>, stale_after: u64) -> StatusHost {
    let health = match host.health(stale_after) {
        Health::Failed => "failed",
        Health::Down => "down",
        Health::Unrouted => "unrouted",
        Health::Up { .. } => "up",
    };
    let (error, observed) = match &host.outcome {
        Err(error) => (
            Some(StatusError {
                message: error.message.clone(),
                help: error.help.clone(),
            }),
            None,
        ),
        Ok(observed) => (None, Some(observed_json(observed, names, stale_after))),
    };
    StatusHost {
        name: host.name.clone(),
        interface: host.interface.clone(),
        health,
        error,
        observed,
    }
}

fn observed_json(
    observed: &Observed,
    names: &HashMap<String, String>,
    stale_after: u64,
) -> StatusObserved {
    StatusObserved {
        now_unix: observed.now,
        in_sync: observed.in_sync,
        route_drift: observed.route_drift.clone(),
        generation: observed
            .generation
            .as_ref()
            .map(|generation| StatusGeneration {
                number: generation.number,
                deployment: generation.deployment.clone(),
                kind: generation.kind.clone(),
                time: generation.time.clone(),
                inventory_sha256: generation.inventory.clone(),
                version: generation.version.clone(),
            }),
        key_since_unix: observed.key_since,
        key_age_days: observed
            .key_since
            .map(|since| observed.now.saturating_sub(since) / 86_400),
        unconfirmed_deployment: observed.armed.clone(),
        reverted: observed
            .reverted
            .as_ref()
            .map(|(deployment, at)| StatusReverted {
                deployment: deployment.clone(),
                at_unix: *at,
            }),
        live: observed
            .live
            .as_ref()
            .map(|live| live_json(live, observed.now, names, stale_after)),
    }
}

fn live_json(
    live: &LiveInterface,
    now: u64,
    names: &HashMap<String, String>,
    stale_after: u64,
) -> StatusLive {
    StatusLive {
        public_key: live.public_key.clone(),
        listen_port: live.listen_port,
        peers: live
            .peers
            .iter()
            .map(|peer| peer_json(peer, now, names, stale_after))
            .collect(),
    }
}

fn peer_json(
    peer: &LivePeer,
    now: u64,
    names: &HashMap<String, String>,
    stale_after: u64,
) -> StatusPeer {
    // 0 is how `wg show dump` says "never": null here, so no script mistakes it for 1970.
    let (handshake, age) = match peer.latest_handshake {
        0 => (None, None),
        at => (Some(at), Some(now.saturating_sub(at))),
    };
    StatusPeer {
        name: names.get(&peer.public_key).cloned(),
        public_key: peer.public_key.clone(),
        endpoint: peer.endpoint.clone(),
        allowed_ips: peer.allowed_ips.iter().map(ToString::to_string).collect(),
        latest_handshake_unix: handshake,
        handshake_age_secs: age,
        stale: is_stale(peer, now, stale_after),
        rx_bytes: peer.rx,
        tx_bytes: peer.tx,
    }
}

fn ping_json(matrix: &PingMatrix) -> StatusPing {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for row in &matrix.rows {
        if let Some(error) = &row.error {
            errors.push(StatusPingError {
                from: row.from.clone(),
                message: error.clone(),
            });
        }
        for (cell, to) in row.cells.iter().zip(&matrix.targets) {
            let Some(cell) = cell else { continue };
            let (check, reason) = match &cell.check {
                Prediction::Reachable => ("reachable", None),
                Prediction::Conditional(why) => ("conditional", Some(why.clone())),
                Prediction::Unreachable(why) => ("unreachable", Some(why.clone())),
            };
            pairs.push(StatusPingPair {
                from: row.from.clone(),
                to: to.clone(),
                ping: match cell.ping {
                    Ping::Ok => "ok",
                    Ping::Fail => "fail",
                    Ping::Unknown => "unknown",
                },
                check,
                check_reason: reason,
                disagrees: cell.disagrees(),
            });
        }
    }
    let counts = matrix.counts();
    StatusPing {
        pairs,
        errors,
        down: matrix.down.clone(),
        counts: StatusPingCounts {
            pairs: counts.pairs,
            agree: counts.agree,
            disagree: counts.disagree,
            conditional: counts.conditional,
            unknown: counts.unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::facts::Generation;
    use crate::engine::types::HostError;
    use crate::ui::status::model::{Cell, PingRow};
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn peer(key: &str, handshake: u64) -> LivePeer {
        LivePeer {
            public_key: key.to_owned(),
            endpoint: Some("198.51.100.2:51820".to_owned()),
            allowed_ips: vec!["100.64.0.2/32".parse().unwrap()],
            latest_handshake: handshake,
            rx: 2048,
            tx: 1024,
            keepalive: Some(25),
        }
    }

    fn hosts() -> Vec<HostStatus> {
        vec![
            HostStatus {
                name: "relay1".to_owned(),
                interface: "wg0".to_owned(),
                outcome: Ok(Observed {
                    live: Some(LiveInterface {
                        public_key: "RELAY=".to_owned(),
                        listen_port: Some(51820),
                        peers: vec![peer("WEB=", NOW - 30), peer("HOME=", 0)],
                        routes: None,
                    }),
                    now: NOW,
                    generation: Some(Generation {
                        number: 3,
                        deployment: "20261125-101500-ab12".to_owned(),
                        kind: "apply".to_owned(),
                        ..Generation::default()
                    }),
                    // The key was first deployed 91 days and a bit before now.
                    key_since: Some(NOW - 91 * 86_400 - 600),
                    armed: None,
                    reverted: None,
                    in_sync: true,
                    route_drift: Vec::new(),
                }),
            },
            HostStatus {
                name: "home".to_owned(),
                interface: "wg0".to_owned(),
                outcome: Ok(Observed {
                    now: NOW,
                    ..Observed::default()
                }),
            },
            HostStatus {
                name: "web1".to_owned(),
                interface: "wg0".to_owned(),
                outcome: Err(HostError::new("timed out").help("check the host is up")),
            },
        ]
    }

    #[test]
    fn hosts_carry_health_generation_and_peers() {
        let names = HashMap::from([("WEB=".to_owned(), "web1".to_owned())]);
        let doc = document(&hosts(), &names, 180, None, false);
        assert_eq!(doc["healthy"], json!(false));
        assert!(doc.get("ping").is_none(), "no ping section without --ping");
        let relay = &doc["hosts"][0];
        assert_eq!(relay["health"], "up");
        assert_eq!(relay["generation"]["number"], 3);
        assert_eq!(relay["generation"]["deployment"], "20261125-101500-ab12");
        let web = &relay["live"]["peers"][0];
        assert_eq!(web["name"], "web1");
        assert_eq!(web["handshake_age_secs"], 30);
        assert_eq!(web["stale"], false);
        assert_eq!(web["allowed_ips"], json!(["100.64.0.2/32"]));
        let never = &relay["live"]["peers"][1];
        assert_eq!(never["name"], Value::Null, "unknown keys have no name");
        assert_eq!(never["latest_handshake_unix"], Value::Null);
        assert_eq!(never["stale"], true);
        assert_eq!(doc["hosts"][1]["health"], "down");
        assert_eq!(doc["hosts"][1]["live"], Value::Null);
        assert_eq!(doc["hosts"][2]["health"], "failed");
        assert_eq!(doc["hosts"][2]["error"]["help"], "check the host is up");
    }

    #[test]
    fn ping_pairs_say_what_check_predicted_and_whether_they_disagree() {
        let matrix = PingMatrix {
            targets: vec!["relay1".to_owned(), "home".to_owned()],
            rows: vec![
                PingRow {
                    from: "relay1".to_owned(),
                    cells: vec![
                        None,
                        Some(Cell {
                            ping: Ping::Fail,
                            check: Prediction::Reachable,
                        }),
                    ],
                    error: None,
                },
                PingRow {
                    from: "home".to_owned(),
                    cells: vec![
                        Some(Cell {
                            ping: Ping::Ok,
                            check: Prediction::Conditional("home dials first".to_owned()),
                        }),
                        None,
                    ],
                    error: Some("no ping binary".to_owned()),
                },
            ],
            down: vec!["home".to_owned()],
        };
        let doc = document(&[], &HashMap::new(), 180, Some(&matrix), false);
        let pairs = doc["ping"]["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), 2, "a host's own cell is not a pair");
        assert_eq!(pairs[0]["from"], "relay1");
        assert_eq!(pairs[0]["to"], "home");
        assert_eq!(pairs[0]["ping"], "fail");
        assert_eq!(pairs[0]["disagrees"], true);
        assert_eq!(pairs[1]["check"], "conditional");
        assert_eq!(pairs[1]["check_reason"], "home dials first");
        assert_eq!(pairs[1]["disagrees"], false);
        assert_eq!(doc["ping"]["counts"]["disagree"], 1);
        assert_eq!(doc["ping"]["errors"][0]["from"], "home");
        assert_eq!(doc["ping"]["down"], json!(["home"]));
    }
}
