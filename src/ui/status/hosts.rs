//! Each surveyed host's block (health line, generation, sync, route drift, pending or reverted
//! applies, a table of its peers) and the summary line under them.

use crate::core::facts::LiveInterface;
use crate::core::model::printable;
use crate::ui::status::model::{Health, HostStatus, is_stale};
use crate::ui::status::units::{
    format_age, format_bytes, handshake_age, peer_label, plural, span_words,
};
use std::collections::HashMap;
use std::fmt::Write;

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

/// One host's block: its health line, generation, sync, warnings and a table of its peers.
fn host_block(host: &HostStatus, names: &HashMap<String, String>, stale_after: u64) -> String {
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
    if let Some(since) = observed.key_since {
        let _ = writeln!(
            text,
            "    key in use for {}",
            crate::ui::status::units::format_age(observed.now.saturating_sub(since))
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::facts::Generation;
    use crate::engine::types::HostError;
    use crate::ui::status::fixtures::{NOW, live, peer};
    use crate::ui::status::model::Observed;

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
                key_since: None,
                armed: None,
                reverted: None,
                in_sync: true,
                route_drift: Vec::new(),
            }),
        }
    }

    #[test]
    fn host_block_says_how_long_the_key_is_in_use() {
        let mut host = home();
        if let Ok(observed) = &mut host.outcome {
            observed.key_since = Some(NOW - 3 * 86_400 - 7200);
        }
        let text = host_block(&host, &names(), 180);
        assert!(
            text.contains(")\n    key in use for 3d 2h\n    in sync"),
            "{text}"
        );
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
}
