//! Raw inventory → validated [`Inventory`]. Collects every problem instead of stopping at the first,
//! and attaches to each the file, line, column, host and the fix.

mod device;

use super::raw::{OneOrMany, RawHost, RawInventory, RawNetwork, RawSsh};
use crate::core::error::{At, Diagnostic, Error};
use crate::core::model::{
    Endpoint, Home, HomeChoice, Host, HostId, HostName, InterfaceName, Inventory, Network, Role,
    Ssh, printable,
};
use ipnet::IpNet;
use serde_saphyr::{Location, Spanned};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

pub const DEFAULT_PORT: u16 = 51820;
pub const DEFAULT_KEEPALIVE: u16 = 25;

/// Collects diagnostics and turns saphyr locations into [`At`]s with the source line attached.
struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
    /// The source split once: every value gets a location, and rescanning per value is quadratic.
    lines: Vec<&'a str>,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&self, location: &Location) -> Option<At> {
        if *location == Location::UNKNOWN || location.line() == 0 {
            return None;
        }
        Some(At::in_lines(
            self.file,
            &self.lines,
            location.line() as usize,
            location.column() as usize,
        ))
    }

    /// The checker as `settings.rs` takes it.
    fn settings(&mut self) -> super::settings::Sink<'_> {
        super::settings::Sink {
            file: self.file,
            lines: &self.lines,
            problems: &mut self.problems,
        }
    }

    fn at_of<T>(&self, spanned: &Spanned<T>) -> Option<At> {
        self.at(&spanned.referenced)
    }

    /// Records a problem. `at` falls back to the whole file so every error names the file.
    fn report(
        &mut self,
        at: Option<At>,
        host: Option<&str>,
        message: String,
        help: Option<String>,
    ) {
        let mut diagnostic = Diagnostic::new(message);
        diagnostic.at = Some(at.unwrap_or_else(|| At::file(self.file)));
        diagnostic.host = host.map(str::to_owned);
        diagnostic.help = help;
        self.problems.push(diagnostic);
    }

    /// An integer setting within `min..=max`.
    fn number(
        &mut self,
        value: &Spanned<i64>,
        host: Option<&str>,
        what: &str,
        min: u16,
        max: u16,
    ) -> Option<u16> {
        match u16::try_from(value.value) {
            Ok(number) if (min..=max).contains(&number) => Some(number),
            _ => {
                let at = self.at_of(value);
                self.report(
                    at,
                    host,
                    format!("`{what}` is {}, outside {min}-{max}", value.value),
                    Some(format!("use a whole number from {min} to {max}")),
                );
                None
            }
        }
    }

    /// Items of a scalar-or-list value, each with the best location known for it.
    fn items<'v>(&self, value: &'v Spanned<OneOrMany>) -> Vec<(&'v str, Option<At>)> {
        let outer = self.at_of(value);
        value
            .value
            .0
            .iter()
            .map(|item| {
                (
                    item.value.as_str(),
                    self.at_of(item).or_else(|| outer.clone()),
                )
            })
            .collect()
    }
}

/// Validates a parsed inventory. `source` is the file's text, used for error snippets.
pub fn validate(file: &Path, source: &str, raw: RawInventory) -> Result<Inventory, Error> {
    let mut checker = Checker {
        file,
        source,
        lines: source.lines().collect(),
        problems: Vec::new(),
    };
    let network = check_network(&mut checker, raw.network.as_ref());
    let defaults = super::settings::network(
        &mut checker.settings(),
        raw.network.as_ref().map(|raw| &raw.value),
        network.mtu,
    );
    let defaults_ssh = raw
        .defaults
        .and_then(|defaults| defaults.value.ssh)
        .map(|ssh| ssh.value);

    let Some(raw_hosts) = raw
        .hosts
        .map(|hosts| hosts.value.0)
        .filter(|hosts| !hosts.is_empty())
    else {
        let at = raw_hosts_location(&checker, file);
        checker.report(
            at,
            None,
            "the inventory has no hosts".into(),
            Some("add a `hosts:` mapping, e.g. `hosts: { relay1: { endpoint: 198.51.100.1, relay: true } }`".into()),
        );
        return Err(Error::from_all(checker.problems).expect("a problem was just reported"));
    };

    let mut hosts = Vec::with_capacity(raw_hosts.len());
    let mut pending = Vec::with_capacity(raw_hosts.len());
    let mut extra_peers = Vec::with_capacity(raw_hosts.len());
    for (name, body) in &raw_hosts {
        let body_default = RawHost::default();
        let body = body.as_ref().map_or(&body_default, |body| &body.value);
        let role = if body.endpoint.is_some() {
            Role::Public
        } else {
            Role::Nat
        };
        let has_v6 = network.ranges.iter().any(|net| matches!(net, IpNet::V6(_)));
        let (own, peers) = super::settings::host(
            &mut checker.settings(),
            &defaults,
            network.keepalive,
            has_v6,
            &printable(&name.value),
            role,
            body,
        );
        if let Some((mut host, refs)) =
            check_host(&mut checker, &network, name, body, defaults_ssh.as_ref())
        {
            host.settings = own;
            hosts.push(host);
            pending.push(refs);
            extra_peers.push(peers);
        }
    }
    // Cross-host rules only make sense once every host parsed; otherwise they would cascade.
    if checker.problems.is_empty() {
        resolve_references(&mut checker, &mut hosts, &pending);
        device::check_jumps(&mut checker, &hosts, |id| {
            pending[id].jump.as_ref().and_then(|(_, at)| at.clone())
        });
    }
    if checker.problems.is_empty() {
        check_cross_host(&mut checker, &network, &mut hosts, &pending);
    }
    if checker.problems.is_empty() {
        super::settings::resolve_peers(
            &mut checker.settings(),
            &mut hosts,
            extra_peers,
            &network.ranges,
        );
    }
    if let Some(error) = Error::from_all(checker.problems) {
        return Err(error);
    }
    let mut network = network.into_network();
    network.settings = defaults;
    Ok(Inventory {
        path: file.to_owned(),
        network,
        hosts,
    })
}

fn raw_hosts_location(checker: &Checker, file: &Path) -> Option<At> {
    // Point at a `hosts:` line when there is one, else at the file.
    checker
        .source
        .lines()
        .position(|line| line.trim_start().starts_with("hosts:"))
        .map(|index| At::in_source(file, checker.source, index + 1, 1))
}

/// Network settings as checked so far; ranges may be empty when they were invalid.
struct NetworkDraft {
    interface: InterfaceName,
    ranges: Vec<IpNet>,
    ranges_ok: bool,
    ranges_at: Option<At>,
    port: u16,
    keepalive: u16,
    keepalive_at: Option<At>,
    mtu: Option<u16>,
    preshared_keys: bool,
}

impl NetworkDraft {
    fn into_network(self) -> Network {
        Network {
            interface: self.interface,
            ranges: self.ranges,
            port: self.port,
            keepalive: self.keepalive,
            mtu: self.mtu,
            preshared_keys: self.preshared_keys,
            ranges_at: self.ranges_at,
            settings: Default::default(),
        }
    }
}

fn check_network(checker: &mut Checker, raw: Option<&Spanned<RawNetwork>>) -> NetworkDraft {
    let default = RawNetwork::default();
    let network_at = raw.and_then(|raw| checker.at_of(raw));
    let raw = raw.map_or(&default, |raw| &raw.value);

    let interface = match &raw.interface {
        None => InterfaceName::default(),
        Some(name) => InterfaceName::parse(&name.value).unwrap_or_else(|why| {
            let at = checker.at_of(name);
            checker.report(
                at,
                None,
                why,
                Some("use a short name such as `wg0` or `wg-office`".into()),
            );
            InterfaceName::default()
        }),
    };

    let mut ranges: Vec<IpNet> = Vec::new();
    let mut ranges_ok = true;
    let ranges_at = raw
        .addresses
        .as_ref()
        .and_then(|addresses| checker.at_of(addresses));
    match &raw.addresses {
        None => {
            ranges_ok = false;
            checker.report(
                network_at,
                None,
                "`network.addresses` is missing: wgdeploy needs the overlay range to allocate host addresses from".into(),
                Some("add `addresses: [100.64.0.0/24]` under `network:` (and an IPv6 range such as `fd00:64::/64` for dual stack)".into()),
            );
        }
        Some(addresses) => {
            let items = checker.items(addresses);
            if items.is_empty() {
                ranges_ok = false;
                checker.report(
                    ranges_at.clone(),
                    None,
                    "`network.addresses` is empty".into(),
                    Some(
                        "list one overlay range per address family, e.g. `[100.64.0.0/24]`".into(),
                    ),
                );
            }
            for (text, at) in items {
                match parse_cidr(text, "overlay range") {
                    Err((why, help)) => {
                        ranges_ok = false;
                        checker.report(at, None, why, Some(help));
                    }
                    Ok(net) => {
                        let too_small = match net {
                            IpNet::V4(v4) => v4.prefix_len() > 30,
                            IpNet::V6(v6) => v6.prefix_len() > 126,
                        };
                        if too_small {
                            ranges_ok = false;
                            checker.report(
                                at,
                                None,
                                format!("overlay range `{net}` is too small to hold hosts"),
                                Some("use a larger range such as `100.64.0.0/24`".into()),
                            );
                        } else if let Some(other) =
                            ranges.iter().find(|other| same_family(other, &net))
                        {
                            ranges_ok = false;
                            checker.report(at, None, format!("overlay range `{net}` is a second range of the same family as `{other}`"), Some("give one overlay range per address family (one IPv4, one IPv6)".into()));
                        } else {
                            ranges.push(net);
                        }
                    }
                }
            }
        }
    }
    // IPv4 first so rendered `Address =` lines are ordered the same way everywhere.
    ranges.sort_by_key(|net| matches!(net, IpNet::V6(_)));

    let port = raw
        .port
        .as_ref()
        .and_then(|port| checker.number(port, None, "network.port", 1, u16::MAX))
        .unwrap_or(DEFAULT_PORT);
    let keepalive = raw
        .keepalive
        .as_ref()
        .and_then(|keepalive| checker.number(keepalive, None, "network.keepalive", 0, u16::MAX))
        .unwrap_or(DEFAULT_KEEPALIVE);
    let keepalive_at = raw
        .keepalive
        .as_ref()
        .and_then(|keepalive| checker.at_of(keepalive));
    let has_v6 = ranges.iter().any(|net| matches!(net, IpNet::V6(_)));
    let mtu_min = if has_v6 { 1280 } else { 576 };
    let mtu = raw.mtu.as_ref().and_then(|mtu| {
        checker.number(mtu, None, "network.mtu", mtu_min, super::settings::MTU_MAX)
    });
    let preshared_keys = raw.preshared_keys.as_ref().is_some_and(|psk| psk.value);
    NetworkDraft {
        interface,
        ranges,
        ranges_ok,
        ranges_at,
        port,
        keepalive,
        keepalive_at,
        mtu,
        preshared_keys,
    }
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

/// Parses a CIDR range that must be written as a network address (no host bits set).
fn parse_cidr(text: &str, what: &str) -> Result<IpNet, (String, String)> {
    let shown = printable(text);
    match text.trim().parse::<IpNet>() {
        Ok(net) if net.trunc() != net => Err((
            format!("{what} `{shown}` has host bits set"),
            format!("write the network address: `{}`", net.trunc()),
        )),
        Ok(net) => Ok(net),
        Err(_) if text.trim().parse::<IpAddr>().is_ok() => Err((
            format!("{what} `{shown}` is an address, not a range"),
            format!(
                "add a prefix length, e.g. `{}/24` or `{}/32`",
                text.trim(),
                text.trim()
            ),
        )),
        Err(_) => Err((
            format!("{what} `{shown}` is not a valid CIDR range"),
            "write it as ADDRESS/PREFIX, e.g. `100.64.0.0/24` or `fd00:64::/64`".into(),
        )),
    }
}

/// What a host refers to by name, resolved once every host is known.
struct HostRefs {
    name_at: Option<At>,
    via: Option<(String, Option<At>)>,
    jump: Option<(String, Option<At>)>,
    pinned_at: Vec<Option<At>>,
    routes_at: Vec<Option<At>>,
    endpoint_at: Option<At>,
}

fn check_host(
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
            let shown = printable(&name.value);
            checker.report(
                name_at,
                Some(&shown),
                why,
                Some("rename the host, e.g. `office-gw`".into()),
            );
            return None;
        }
    };
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
    let device = device::check_device(checker, &host_name, raw);
    // A device is never logged into, so `defaults.ssh.jump` means nothing for it.
    let jump = jump.filter(|_| device.is_none());

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
    };
    let refs = HostRefs {
        name_at,
        via,
        jump,
        pinned_at,
        routes_at,
        endpoint_at,
    };
    Some((host, refs))
}

/// A pinned address: a single address (optionally written /32 or /128) usable inside the overlay.
fn check_pin(network: &NetworkDraft, text: &str) -> Result<IpAddr, (String, String)> {
    let shown = printable(text);
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

/// SSH settings: the host's own fields over `defaults.ssh`, each validated before it could ever
/// reach a command line.
fn check_ssh(
    checker: &mut Checker,
    host_name: &HostName,
    own: Option<&RawSsh>,
    defaults: Option<&RawSsh>,
) -> (Ssh, Option<(String, Option<At>)>) {
    let label = Some(host_name.as_str());
    let empty = RawSsh::default();
    let own = own.unwrap_or(&empty);
    let defaults = defaults.unwrap_or(&empty);
    let pick = |field: fn(&RawSsh) -> &Option<Spanned<String>>| {
        field(own).as_ref().or(field(defaults).as_ref())
    };

    let mut ssh = Ssh {
        host: host_name.as_str().to_owned(),
        ..Ssh::default()
    };
    if let Some(host) = pick(|ssh| &ssh.host) {
        // An address or a name, never a port: any IPv6 address is fine here (the endpoint rule
        // against `…:4000` concerns ports).
        let parsed = match host.value.trim().parse::<IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) if host.value.contains(':') => None,
            Err(_) => Endpoint::parse(&host.value, 22)
                .ok()
                .map(|endpoint| match endpoint.host {
                    crate::core::model::EndpointHost::Ip(ip) => ip.to_string(),
                    crate::core::model::EndpointHost::Dns(name) => name,
                }),
        };
        match parsed {
            Some(parsed) => ssh.host = parsed,
            None => {
                let at = checker.at_of(host);
                checker.report(
                    at,
                    label,
                    format!(
                        "`ssh.host` `{}` is neither an IP address nor a DNS name",
                        printable(&host.value)
                    ),
                    Some("write an address or name only; put the port in `ssh.port`".into()),
                );
            }
        }
    }
    if let Some(user) = pick(|ssh| &ssh.user) {
        let ok = user
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && user.value.len() <= 32
            && user
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            ssh.user = Some(user.value.clone());
        } else {
            let at = checker.at_of(user);
            checker.report(
                at,
                label,
                format!(
                    "`ssh.user` `{}` is not a valid user name",
                    printable(&user.value)
                ),
                Some("use letters, digits, `_`, `-` and `.`".into()),
            );
        }
    }
    if let Some(port) = own.port.as_ref().or(defaults.port.as_ref()) {
        ssh.port = checker.number(port, label, "ssh.port", 1, u16::MAX);
    }
    if let Some(identity) = pick(|ssh| &ssh.identity) {
        if identity.value.is_empty() || identity.value.chars().any(char::is_control) {
            let at = checker.at_of(identity);
            checker.report(
                at,
                label,
                "`ssh.identity` must be a file path without control characters".into(),
                Some("write e.g. `~/.ssh/id_ed25519`".into()),
            );
        } else {
            ssh.identity = Some(identity.value.clone());
        }
    }
    if let Some(become_) = own.become_.as_ref().or(defaults.become_.as_ref()) {
        match become_.value.as_str() {
            "sudo" => ssh.sudo = true,
            "none" => ssh.sudo = false,
            other => {
                let at = checker.at_of(become_);
                checker.report(
                    at,
                    label,
                    format!("`ssh.become` `{}` is not supported", printable(other)),
                    Some("use `sudo` (runs commands with `sudo -n`) or `none`".into()),
                );
            }
        }
    }
    // `jump` names a host; it is resolved once all hosts are known. A default jump host does not
    // apply to itself.
    let jump = own
        .jump
        .as_ref()
        .or(defaults
            .jump
            .as_ref()
            .filter(|jump| jump.value != host_name.as_str()))
        .map(|jump| (jump.value.clone(), checker.at_of(jump)));
    (ssh, jump)
}

/// Resolves `via` and `ssh.jump` names to host indices.
fn resolve_references(checker: &mut Checker, hosts: &mut [Host], refs: &[HostRefs]) {
    let by_name: HashMap<&str, HostId> = hosts
        .iter()
        .enumerate()
        .map(|(id, host)| (host.name.as_str(), id))
        .collect();
    let relays: Vec<&str> = hosts
        .iter()
        .filter(|host| host.is_relay())
        .map(|host| host.name.as_str())
        .collect();
    let mut homes = vec![None; hosts.len()];
    let mut jumps = vec![None; hosts.len()];
    for (id, (host, refs)) in hosts.iter().zip(refs).enumerate() {
        let label = Some(host.name.as_str());
        if let Some((via, at)) = &refs.via {
            match by_name.get(via.as_str()) {
                None => checker.report(
                    at.clone(),
                    label,
                    format!("`via` names `{}`, which is not a host in this inventory", printable(via)),
                    Some(suggest(via, &relays, "relay")),
                ),
                Some(&relay) if !hosts[relay].is_relay() => checker.report(
                    at.clone(),
                    label,
                    format!("`via` names `{via}`, which is not a relay"),
                    Some(if relays.is_empty() {
                        format!("make `{via}` a relay (`relay: true` with an `endpoint`); this inventory has no relay yet")
                    } else {
                        format!("point `via` at a relay ({}), or set `relay: true` on `{via}`", relays.join(", "))
                    }),
                ),
                Some(&relay) => {
                    homes[id] = Some(Home {
                        relay,
                        choice: HomeChoice::Via,
                    })
                }
            }
        }
        if let Some((jump, at)) = &refs.jump {
            match by_name.get(jump.as_str()) {
                Some(&target) if target != id => jumps[id] = Some(target),
                Some(_) => checker.report(
                    at.clone(),
                    label,
                    format!("`{jump}` cannot be its own `ssh.jump` host"),
                    Some("remove `jump`, or name another host".into()),
                ),
                None => {
                    let names: Vec<&str> = by_name.keys().copied().collect();
                    checker.report(
                        at.clone(),
                        label,
                        format!(
                            "`ssh.jump` names `{}`, which is not a host in this inventory",
                            printable(jump)
                        ),
                        Some(suggest(jump, &names, "host")),
                    )
                }
            }
        }
    }
    // A jump chain that loops would make connecting recurse forever.
    for start in 0..hosts.len() {
        let mut current = start;
        for _ in 0..=hosts.len() {
            match jumps[current] {
                Some(next) => current = next,
                None => break,
            }
            if current == start {
                let at = refs[start].jump.as_ref().and_then(|(_, at)| at.clone());
                checker.report(
                    at,
                    Some(hosts[start].name.as_str()),
                    format!("`ssh.jump` of `{}` leads back to itself", hosts[start].name),
                    Some("break the loop of `jump` settings".into()),
                );
                break;
            }
        }
    }
    for (host, (home, jump)) in hosts.iter_mut().zip(homes.into_iter().zip(jumps)) {
        host.home = home;
        host.ssh.jump = jump;
    }
}

/// "did you mean" for a misspelt name, or the list of valid names.
fn suggest(wrong: &str, names: &[&str], kind: &str) -> String {
    let closest = names
        .iter()
        .map(|name| (edit_distance(wrong, name), *name))
        .filter(|(distance, _)| *distance <= 2)
        .min();
    match closest {
        Some((_, name)) => format!("did you mean `{name}`?"),
        None if names.is_empty() => format!("this inventory has no {kind}"),
        None => {
            let mut sorted = names.to_vec();
            sorted.sort_unstable();
            sorted.truncate(10);
            format!("name a {kind} of this inventory: {}", sorted.join(", "))
        }
    }
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Rules across hosts: unique pins and endpoints, non-overlapping routes, a relay for NAT-ed hosts,
/// and default home relays.
fn check_cross_host(
    checker: &mut Checker,
    network: &NetworkDraft,
    hosts: &mut [Host],
    refs: &[HostRefs],
) {
    let mut pins: HashMap<IpAddr, HostId> = HashMap::new();
    for (id, (host, refs)) in hosts.iter().zip(refs).enumerate() {
        for (ip, at) in host.pinned.iter().zip(&refs.pinned_at) {
            if let Some(&first) = pins.get(ip) {
                checker.report(
                    at.clone(),
                    Some(host.name.as_str()),
                    format!("`{}` and `{}` are both pinned to `{ip}`", hosts[first].name, host.name),
                    Some("give each host its own address, or remove `address` from one to have it allocated".into()),
                );
            } else {
                pins.insert(*ip, id);
            }
        }
    }

    let mut endpoints: HashMap<&Endpoint, HostId> = HashMap::new();
    for (id, (host, refs)) in hosts.iter().zip(refs).enumerate() {
        let Some(endpoint) = &host.endpoint else {
            continue;
        };
        if let Some(&first) = endpoints.get(endpoint) {
            checker.report(
                refs.endpoint_at.clone(),
                Some(host.name.as_str()),
                format!("`{}` and `{}` share the endpoint `{endpoint}`: handshakes for one would land on the other", hosts[first].name, host.name),
                Some("give each host its own address or port (`listen_port` and `endpoint: ADDRESS:PORT`)".into()),
            );
        } else {
            endpoints.insert(endpoint, id);
        }
    }

    check_routes(checker, network, hosts, refs);

    let nat: Vec<HostId> = (0..hosts.len()).filter(|&id| hosts[id].is_nat()).collect();
    let relays: Vec<HostId> = (0..hosts.len())
        .filter(|&id| hosts[id].is_relay())
        .collect();
    if relays.is_empty() && nat.len() >= 2 {
        let names: Vec<&str> = nat.iter().map(|&id| hosts[id].name.as_str()).collect();
        checker.report(
            refs[nat[1]].name_at.clone(),
            Some(&names.join(", ")),
            format!(
                "{} hosts are behind NAT ({}) and there is no relay: hosts behind NAT cannot reach each other directly",
                nat.len(),
                names.join(", ")
            ),
            Some("mark a host with a public endpoint as a relay (`relay: true`), or give these hosts endpoints if they are reachable".into()),
        );
    }
    // A NAT-ed host with its own `keepalive` does not use the network's.
    let nat_default: Vec<HostId> = nat
        .iter()
        .copied()
        .filter(|&id| hosts[id].settings.keepalive.is_none())
        .collect();
    if !nat_default.is_empty() && network.keepalive == 0 {
        let names: Vec<&str> = nat_default
            .iter()
            .take(5)
            .map(|&id| hosts[id].name.as_str())
            .collect();
        checker.report(
            network.keepalive_at.clone(),
            None,
            format!("`network.keepalive` is 0 but hosts are behind NAT ({}): their NAT mappings would expire and nobody could reach them", names.join(", ")),
            Some("use a keepalive of 25 seconds (the default) or less than your NATs' UDP timeout".into()),
        );
    }
    for &id in &nat {
        if hosts[id].home.is_none() && !relays.is_empty() {
            hosts[id].home = Some(default_home(hosts, id, &relays));
        }
    }
}

/// Routes must not overlap the overlay or each other: two owners of one prefix means the last peer
/// silently wins on every host (DESIGN §1.6).
fn check_routes(checker: &mut Checker, network: &NetworkDraft, hosts: &[Host], refs: &[HostRefs]) {
    let mut all: Vec<(IpNet, HostId, usize)> = Vec::new();
    for (id, host) in hosts.iter().enumerate() {
        for (index, route) in host.routes.iter().enumerate() {
            if let Some(range) = network.ranges.iter().find(|range| overlaps(range, route)) {
                checker.report(
                    refs[id].routes_at[index].clone(),
                    Some(host.name.as_str()),
                    format!("route `{route}` overlaps the overlay range `{range}`"),
                    Some("routes are subnets behind a host (e.g. a LAN); the overlay is allocated by wgdeploy".into()),
                );
            }
            all.push((*route, id, index));
        }
    }
    // Sorted by start address (wider first), an overlap always shows against the widest earlier route.
    all.sort_by_key(|(route, _, _)| (route.network(), route.prefix_len()));
    let mut widest: Option<(IpNet, HostId)> = None;
    for &(route, id, index) in &all {
        if let Some((previous, owner)) = widest.filter(|(previous, _)| overlaps(previous, &route)) {
            let whose = if owner == id {
                "its own route".to_owned()
            } else {
                format!("`{}`'s route", hosts[owner].name)
            };
            checker.report(
                refs[id].routes_at[index].clone(),
                Some(hosts[id].name.as_str()),
                format!(
                    "route `{route}` of `{}` overlaps {whose} `{previous}`",
                    hosts[id].name
                ),
                Some("each subnet must have one owner; remove or split one of the routes".into()),
            );
            continue;
        }
        let wider = widest.is_none_or(|(previous, _)| {
            !same_family(&previous, &route) || route.broadcast() > previous.broadcast()
        });
        if wider {
            widest = Some((route, id));
        }
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    same_family(a, b) && (a.contains(&b.network()) || b.contains(&a.network()))
}

/// Rendezvous (highest random weight) hashing: each NAT-ed host picks the relay with the highest
/// hash of (host, relay). Stable across runs and Rust versions (FNV-1a, not std's hasher), spreads
/// hosts evenly, and adding a relay moves only the hosts that now prefer it.
fn default_home(hosts: &[Host], host: HostId, relays: &[HostId]) -> Home {
    if let [only] = relays {
        return Home {
            relay: *only,
            choice: HomeChoice::Only,
        };
    }
    let relay = relays
        .iter()
        .copied()
        .max_by_key(|&relay| {
            (
                fnv1a(&[hosts[host].name.as_str(), hosts[relay].name.as_str()]),
                std::cmp::Reverse(relay),
            )
        })
        .expect("relays is not empty");
    Home {
        relay,
        choice: HomeChoice::Hashed,
    }
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_host_takes_any_ipv6_address_and_refuses_a_port() {
        let inventory = |ssh_host: &str| {
            let source = format!(
                "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  relay1: {{ endpoint: 198.51.100.1, relay: true, ssh: {{ host: \"{ssh_host}\" }} }}\n"
            );
            crate::core::inventory::parse(std::path::Path::new("i.yaml"), &source)
        };
        // An endpoint would refuse it as ambiguous; a host address has no port to confuse.
        let parsed = inventory("fd00::1:2").unwrap();
        assert_eq!(parsed.hosts[0].ssh.host, "fd00::1:2");
        assert!(inventory("[fd00::1]:22").is_err());
        assert!(inventory("gw.example.com:22").is_err());
        assert_eq!(
            inventory("GW.example.com").unwrap().hosts[0].ssh.host,
            "gw.example.com"
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("relay1", "relay1"), 0);
        assert_eq!(edit_distance("rely1", "relay1"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }

    #[test]
    fn fnv1a_is_stable() {
        // Fixed values: a change here would re-home NAT-ed hosts on upgrade.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        // Fixed values (computed independently): home relays must not move between versions.
        assert_eq!(fnv1a(&["a"]), 0x089b_e207_b544_f1e4);
        assert_eq!(fnv1a(&["home", "relay1"]), 0x8a9e_4a08_2629_a4ba);
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
    }

    #[test]
    fn overlap_is_family_aware() {
        let a: IpNet = "198.18.0.0/16".parse().unwrap();
        let b: IpNet = "198.18.5.0/24".parse().unwrap();
        let c: IpNet = "198.19.0.0/24".parse().unwrap();
        let d: IpNet = "fd00::/8".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
        assert!(!overlaps(&a, &d));
    }
}
