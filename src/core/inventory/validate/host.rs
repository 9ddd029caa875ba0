//! One host's own settings: name, endpoint, role, pinned addresses, routes, `via`, `exit`.

use super::super::raw::{RawHost, RawSsh};
use super::Checker;
use super::device::check_device;
use super::exit::check_exit_flag;
use super::network::{NetworkDraft, parse_cidr};
use super::ssh::check_ssh;
use crate::core::error::At;
use crate::core::model::{Endpoint, Host, HostName, Role, printable_excerpt};
use crate::core::underlay::{self, Families};
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
    /// Where each endpoint is written, in the order of `Host::endpoints`.
    pub(super) endpoints_at: Vec<Option<At>>,
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
    let (endpoints, endpoints_at) = check_endpoints(checker, &host_name, raw, listen_port);
    let (underlay, underlay_declared) =
        check_underlay(checker, &host_name, raw, &endpoints, &endpoints_at);
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
        endpoints,
        underlay,
        underlay_declared,
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
        endpoints_at,
        use_exit,
    };
    Some((host, refs))
}

/// The endpoints as written: each parsed, at most one per address family (a DNS name counts for
/// the families the addresses leave, see `core::underlay`), and never an empty list.
fn check_endpoints(
    checker: &mut Checker,
    host_name: &HostName,
    raw: &RawHost,
    listen_port: u16,
) -> (Vec<Endpoint>, Vec<Option<At>>) {
    let label = Some(host_name.as_str());
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut endpoints_at = Vec::new();
    let Some(list) = &raw.endpoint else {
        return (endpoints, endpoints_at);
    };
    let items = checker.items(list);
    if items.is_empty() {
        let at = checker.at_of(list);
        checker.report(
            at,
            label,
            format!("`endpoint` of `{host_name}` is an empty list"),
            Some("write at least one endpoint (`endpoint: 198.51.100.1`), or remove `endpoint` for a host behind NAT".into()),
        );
        return (endpoints, endpoints_at);
    }
    for (text, at) in items {
        let endpoint = match Endpoint::parse(text, listen_port) {
            Ok(endpoint) => endpoint,
            Err(why) => {
                checker.report(
                    at,
                    label,
                    why,
                    Some("write `ADDRESS`, `ADDRESS:PORT`, `[IPv6]:PORT` (a port after an IPv6 address needs brackets) or `dns.name:PORT`, or a list of them, one per address family; omit `endpoint` for a host behind NAT".into()),
                );
                continue;
            }
        };
        let family = underlay::literal_family(&endpoint);
        let twin = endpoints
            .iter()
            .find(|other| underlay::literal_family(other) == family);
        if let Some(twin) = twin {
            let (message, help) = match family {
                Some(family) => (
                    format!("`{host_name}` has two {family} endpoints, `{twin}` and `{endpoint}`: a peer dials one endpoint per address family"),
                    "keep one IPv4 and one IPv6 endpoint at most; to move the host, replace the old endpoint".to_owned(),
                ),
                None => (
                    format!("`{host_name}` has two DNS-name endpoints, `{twin}` and `{endpoint}`: one name already stands for every address family its IP endpoints leave"),
                    "keep one DNS name (its A and AAAA records cover both families)".to_owned(),
                ),
            };
            checker.report(at, label, message, Some(help));
            continue;
        }
        endpoints.push(endpoint);
        endpoints_at.push(at);
    }
    (endpoints, endpoints_at)
}

/// `underlay:` as written (`ipv4`, `ipv6`, or both), or inferred from the endpoints. Every endpoint
/// must stand for a family of the host's underlay, and a DNS name for at least one.
fn check_underlay(
    checker: &mut Checker,
    host_name: &HostName,
    raw: &RawHost,
    endpoints: &[Endpoint],
    endpoints_at: &[Option<At>],
) -> (Families, bool) {
    let label = Some(host_name.as_str());
    let Some(list) = &raw.underlay else {
        let families = underlay::inferred(endpoints);
        check_names_serve(checker, host_name, families, false, endpoints, endpoints_at);
        return (families, false);
    };
    let mut families = Families::NONE;
    let items = checker.items(list);
    if items.is_empty() {
        let at = checker.at_of(list);
        checker.report(
            at,
            label,
            format!("`underlay` of `{host_name}` is an empty list"),
            Some("write the address families the host's own network has: `underlay: ipv4`, `underlay: ipv6` or `underlay: [ipv4, ipv6]`; without it, the families of its endpoints (IPv4 for a host behind NAT)".into()),
        );
    }
    for (text, at) in items {
        match Families::parse_one(text) {
            Some(family) => families = families.union(family),
            None => checker.report(
                at,
                label,
                format!(
                    "`underlay` entry `{}` is not an address family",
                    printable_excerpt(text)
                ),
                Some("write `ipv4` or `ipv6` (or a list of both)".into()),
            ),
        }
    }
    if families.is_empty() {
        return (underlay::inferred(endpoints), true);
    }
    for (endpoint, at) in endpoints.iter().zip(endpoints_at) {
        if let Some(family) = underlay::literal_family(endpoint)
            && !families.meets(family)
        {
            checker.report(
                at.clone(),
                label,
                format!("endpoint `{endpoint}` of `{host_name}` is {family}, but its `underlay` has only {families}"),
                Some(format!("add `{}` to `underlay`, or remove this endpoint", family.names().join(""))),
            );
        }
    }
    check_names_serve(checker, host_name, families, true, endpoints, endpoints_at);
    (families, true)
}

/// A DNS-name endpoint must stand for some family: one its IP endpoints leave.
fn check_names_serve(
    checker: &mut Checker,
    host_name: &HostName,
    families: Families,
    declared: bool,
    endpoints: &[Endpoint],
    endpoints_at: &[Option<At>],
) {
    for (endpoint, at) in endpoints.iter().zip(endpoints_at) {
        if underlay::literal_family(endpoint).is_none()
            && underlay::serves(endpoint, families, endpoints).is_empty()
        {
            let why = if declared {
                format!("its `underlay` has only {families}, which its IP endpoints already cover")
            } else {
                "without `underlay:`, a name stands for IPv4, which an IPv4 endpoint already covers"
                    .to_owned()
            };
            checker.report(
                at.clone(),
                Some(host_name.as_str()),
                format!("the DNS-name endpoint `{endpoint}` of `{host_name}` stands for no address family: {why}"),
                Some("remove the name or the IP endpoint of its family; or, for a name peers of the other family should dial, declare `underlay: [ipv4, ipv6]`".into()),
            );
        }
    }
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
