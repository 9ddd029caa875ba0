//! One host's own settings: name, endpoint, role, pinned addresses, routes, `via`, `exit`.

use super::super::raw::{RawHost, RawSsh};
use super::Checker;
use super::device::check_device;
use super::exit::check_exit_flag;
use super::network::{NetworkDraft, parse_cidr};
use super::ssh::check_ssh;
use crate::core::error::At;
use crate::core::model::{Endpoint, Host, HostName, Role, printable_excerpt};
use ipnet::IpNet;
use serde_saphyr::Spanned;
use std::net::IpAddr;

/// What a host refers to by name, resolved once every host is known.
pub(super) struct HostRefs {
    pub(super) name_at: Option<At>,
    pub(super) via: Option<(String, Option<At>)>,
    pub(super) jump: Option<(String, Option<At>)>,
    pub(super) pinned_at: Vec<Option<At>>,
    pub(super) routes_at: Vec<Option<At>>,
    pub(super) endpoint_at: Option<At>,
    pub(super) use_exit: Option<(String, Option<At>)>,
}

pub(super) fn check_host(
    checker: &mut Checker,
    network: &NetworkDraft,
    name: &Spanned<String>,
    raw: &RawHost,
    defaults_ssh: Option<&RawSsh>,
) -> Option<(Host, HostRefs)> {
    let name_at = checker.at_of(name);
    let host_name = match HostName::parse(&name.value) {
        Ok(host_name) => host_name,
        Err(why) => {
            let shown = printable_excerpt(&name.value);
            checker.report(
                name_at,
                Some(&shown),
                why,
                Some("rename the host, e.g. `office-gw`".into()),
            );
            return None;
        }
    };
    if raw.broken {
        // A value of the wrong kind was reported; the checks below would report its absence.
        return None;
    }
    let label = Some(host_name.as_str());
    let problems_before = checker.problems.len();

    let listen_port = raw
        .listen_port
        .as_ref()
        .and_then(|port| checker.number(port, label, "listen_port", 1, u16::MAX))
        .unwrap_or(network.port);
    let endpoint_at = raw
        .endpoint
        .as_ref()
        .and_then(|endpoint| checker.at_of(endpoint));
    let endpoint = raw.endpoint.as_ref().and_then(|endpoint| {
        Endpoint::parse(&endpoint.value, listen_port)
            .map_err(|why| {
                checker.report(
                    endpoint_at.clone(),
                    label,
                    why,
                    Some("write `ADDRESS`, `ADDRESS:PORT`, `[IPv6]:PORT` (a port after an IPv6 address needs brackets) or `dns.name:PORT`; omit `endpoint` for a host behind NAT".into()),
                )
            })
            .ok()
    });
    let relay = raw.relay.as_ref().is_some_and(|relay| relay.value);
    if relay && raw.endpoint.is_none() {
        let at = raw.relay.as_ref().and_then(|relay| checker.at_of(relay));
        checker.report(
            at,
            label,
            format!(
                "`{host_name}` is a relay but has no `endpoint`: NAT-ed hosts could never reach it"
            ),
            Some("add `endpoint: PUBLIC_ADDRESS[:PORT]`, or remove `relay: true`".into()),
        );
    }
    let role = match (raw.endpoint.is_some(), relay) {
        (false, _) => Role::Nat,
        (true, true) => Role::Relay,
        (true, false) => Role::Public,
    };

    let mut pinned = Vec::new();
    let mut pinned_at = Vec::new();
    if let Some(address) = &raw.address {
        for (text, at) in checker.items(address) {
            match check_pin(network, text) {
                Ok(ip)
                    if pinned
                        .iter()
                        .any(|other: &IpAddr| other.is_ipv4() == ip.is_ipv4()) =>
                {
                    checker.report(
                        at,
                        label,
                        format!("`{host_name}` pins two addresses of the same family"),
                        Some("pin at most one IPv4 and one IPv6 address".into()),
                    )
                }
                Ok(ip) => {
                    pinned.push(ip);
                    pinned_at.push(at);
                }
                Err((why, help)) => {
                    if network.ranges_ok {
                        checker.report(at, label, why, Some(help));
                    }
                }
            }
        }
    }

    let mut routes = Vec::new();
    let mut routes_at = Vec::new();
    if let Some(raw_routes) = &raw.routes {
        for (text, at) in checker.items(raw_routes) {
            match parse_cidr(text, "route") {
                Err((why, help)) => checker.report(at, label, why, Some(help)),
                Ok(net) => {
                    routes.push(net);
                    routes_at.push(at);
                }
            }
        }
    }

    let via = raw
        .via
        .as_ref()
        .map(|via| (via.value.clone(), checker.at_of(via)));
    if let (Some((_, at)), Role::Public | Role::Relay) = (&via, role) {
        checker.report(
            at.clone(),
            label,
            format!("`{host_name}` has an endpoint, so it is not behind NAT and needs no `via`"),
            Some("remove `via`, or remove `endpoint` if the host really is behind NAT".into()),
        );
    }
    let (ssh, jump) = check_ssh(
        checker,
        &host_name,
        raw.ssh.as_ref().map(|ssh| &ssh.value),
        defaults_ssh,
    );
    let device = check_device(checker, &host_name, raw);
    // A device is never logged into, so `defaults.ssh.jump` means nothing for it.
    let jump = jump.filter(|_| device.is_none());
    let exit = check_exit_flag(checker, &host_name, raw, role);
    let use_exit = raw
        .use_exit
        .as_ref()
        .map(|name| (name.value.clone(), checker.at_of(name)));

    if checker.problems.len() > problems_before {
        return None;
    }
    let host = Host {
        name: host_name,
        role,
        endpoint,
        pinned,
        home: None,
        routes,
        listen_port,
        ssh,
        at: name_at.clone(),
        settings: Default::default(),
        device,
        exit,
        use_exit: None,
    };
    let refs = HostRefs {
        name_at,
        via,
        jump,
        pinned_at,
        routes_at,
        endpoint_at,
        use_exit,
    };
    Some((host, refs))
}

/// A pinned address: a single address (optionally written /32 or /128) usable inside the overlay.
pub(super) fn check_pin(network: &NetworkDraft, text: &str) -> Result<IpAddr, (String, String)> {
    let shown = printable_excerpt(text);
    let trimmed = text.trim();
    let ip = match trimmed.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match trimmed.parse::<IpNet>() {
            Ok(net) if net.prefix_len() == net.max_prefix_len() => net.addr(),
            Ok(net) => {
                return Err((
                    format!("address `{shown}` is a range; a host address is a single address"),
                    format!("write it without the prefix: `{}`", net.addr()),
                ));
            }
            Err(_) => {
                return Err((
                    format!("address `{shown}` is not a valid IP address"),
                    "write e.g. `100.64.0.10`".into(),
                ));
            }
        },
    };
    let Some(range) = network.ranges.iter().find(|range| range.contains(&ip)) else {
        let ranges: Vec<String> = network.ranges.iter().map(ToString::to_string).collect();
        return Err((
            format!(
                "address `{ip}` is outside the overlay ({})",
                ranges.join(", ")
            ),
            "pick an address inside `network.addresses`, or remove `address` to have one allocated"
                .into(),
        ));
    };
    if ip == range.network() {
        return Err((
            format!("address `{ip}` is the network address of `{range}`"),
            "pick another address in the range; the first one is reserved".into(),
        ));
    }
    if matches!(range, IpNet::V4(_)) && ip == range.broadcast() {
        return Err((
            format!("address `{ip}` is the broadcast address of `{range}`"),
            "pick another address in the range; the last one is reserved".into(),
        ));
    }
    Ok(ip)
}
