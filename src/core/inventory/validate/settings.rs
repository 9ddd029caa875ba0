//! Per-host interface settings (`dns`, `mtu`, `table`, `fwmark`, `keepalive`, the four hooks and
//! extra `allowed_ips`): the network's defaults, each host's overrides, and every bad value as a
//! located error. Called from `validate/mod.rs`; kept apart so `host` stays about a host's place in
//! the network.
//!
//! A host's value replaces the network's as a whole (a host's `dns` or `post_up` list is not added
//! to the network's): an override is then read in one place, and `dns: []` clears a default.

use super::super::raw::{OneOrMany, PeerPrefixes, RawHost, RawNetwork, Scalar};
use super::Checker;
use crate::core::error::At;
use crate::core::model::{
    Host, HostId, HostSettings, InterfaceSettings, Role, Table, internet_prefixes, printable,
};
use crate::core::underlay::nat_meets_directly;
use ipnet::IpNet;
use serde_saphyr::Spanned;
use std::net::IpAddr;

/// The largest MTU accepted: jumbo frames. Above it no real link carries the packets.
pub const MTU_MAX: u16 = 9000;

/// The smallest MTU: IPv6 needs 1280 on every link; IPv4 alone, 576 (RFC 791's datagram).
pub fn mtu_min(has_v6: bool) -> u16 {
    if has_v6 { 1280 } else { 576 }
}

/// A located problem with its fix.
fn report(checker: &mut Checker, at: Option<At>, host: Option<&str>, message: String, help: &str) {
    checker.report(at, host, message, Some(help.to_owned()));
}

/// Extra prefixes a host wrote for a peer, resolved once every host and home relay is known.
pub(super) struct PendingPeer {
    name: String,
    at: Option<At>,
    prefixes: Vec<(IpNet, Option<At>)>,
}

/// The network-wide defaults. `mtu` is `network.mtu`, already checked by `network`.
pub(super) fn network(
    checker: &mut Checker,
    raw: Option<&RawNetwork>,
    mtu: Option<u16>,
) -> InterfaceSettings {
    let default = RawNetwork::default();
    let raw = raw.unwrap_or(&default);
    let mut settings = InterfaceSettings {
        mtu,
        ..InterfaceSettings::default()
    };
    let fields = Fields {
        dns: raw.dns.as_ref(),
        table: raw.table.as_ref(),
        fwmark: raw.fwmark.as_ref(),
        hooks: [&raw.pre_up, &raw.post_up, &raw.pre_down, &raw.post_down],
    };
    fields.apply(checker, None, "network.", &mut settings);
    settings
}

/// The fields both levels share.
struct Fields<'r> {
    dns: Option<&'r Spanned<OneOrMany>>,
    table: Option<&'r Spanned<Scalar>>,
    fwmark: Option<&'r Spanned<Scalar>>,
    hooks: [&'r Option<Spanned<OneOrMany>>; 4],
}

const HOOK_NAMES: [&str; 4] = ["pre_up", "post_up", "pre_down", "post_down"];

impl Fields<'_> {
    /// Overrides `settings` with every field that is written, checking each.
    fn apply(
        &self,
        checker: &mut Checker,
        host: Option<&str>,
        prefix: &str,
        settings: &mut InterfaceSettings,
    ) {
        if let Some(dns) = self.dns {
            settings.dns = checker
                .items(dns)
                .into_iter()
                .filter_map(|(text, at)| {
                    dns_entry(text)
                        .map_err(|why| {
                            report(checker, at, host, format!("`{prefix}dns` {why}"), "list resolver addresses (`1.1.1.1`, `2606:4700:4700::1111`) and search domains (`corp.example`)")
                        })
                        .ok()
                })
                .collect();
        }
        if let Some(table) = self.table {
            match parse_table(&table.value.0) {
                Ok(parsed) => settings.table = Some(parsed),
                Err(why) => {
                    let at = checker.at_of(table);
                    report(
                        checker,
                        at,
                        host,
                        format!("`{prefix}table` {why}"),
                        "use `auto` (wg-quick's default: routes in the main table), `off` (no routes: you route traffic into the interface yourself) or a table number such as `100`",
                    );
                }
            }
        }
        if let Some(fwmark) = self.fwmark {
            match parse_fwmark(&fwmark.value.0) {
                Ok(parsed) => settings.fwmark = parsed,
                Err(why) => {
                    let at = checker.at_of(fwmark);
                    report(
                        checker,
                        at,
                        host,
                        format!("`{prefix}fwmark` {why}"),
                        "use a number from 1 to 4294967295, in decimal or hex (`0xca6c`), or `off`",
                    );
                }
            }
        }
        let targets = [
            &mut settings.pre_up,
            &mut settings.post_up,
            &mut settings.pre_down,
            &mut settings.post_down,
        ];
        for ((raw, name), target) in self.hooks.iter().zip(HOOK_NAMES).zip(targets) {
            let Some(raw) = raw else { continue };
            *target = checker
                .items(raw)
                .into_iter()
                .filter_map(|(text, at)| {
                    hook(text)
                        .map_err(|(why, help)| {
                            report(checker, at, host, format!("`{prefix}{name}` {why}"), help)
                        })
                        .ok()
                })
                .collect();
        }
    }
}

/// One host's settings over the network's. `role` decides whether `keepalive` makes sense.
pub(super) fn host(
    checker: &mut Checker,
    defaults: &InterfaceSettings,
    keepalive_default: u16,
    has_v6: bool,
    name: &str,
    role: Role,
    raw: &RawHost,
) -> (HostSettings, Vec<PendingPeer>) {
    let label = Some(name);
    let mut interface = defaults.clone();
    if let Some(mtu) = &raw.mtu {
        let min = mtu_min(has_v6);
        match u16::try_from(mtu.value) {
            Ok(value) if (min..=MTU_MAX).contains(&value) => interface.mtu = Some(value),
            _ => {
                let at = checker.at_of(mtu);
                let why = if has_v6 {
                    " (IPv6 needs at least 1280 on every link)"
                } else {
                    ""
                };
                report(
                    checker,
                    at,
                    label,
                    format!("`mtu` is {}, outside {min}-{MTU_MAX}{why}", mtu.value),
                    &format!(
                        "use a whole number from {min} to {MTU_MAX}; 1420 suits most links (1500 minus WireGuard's 80 bytes)"
                    ),
                );
            }
        }
    }
    let fields = Fields {
        dns: raw.dns.as_ref(),
        table: raw.table.as_ref(),
        fwmark: raw.fwmark.as_ref(),
        hooks: [&raw.pre_up, &raw.post_up, &raw.pre_down, &raw.post_down],
    };
    fields.apply(checker, label, "", &mut interface);

    let mut keepalive = None;
    if let Some(value) = &raw.keepalive {
        let at = checker.at_of(value);
        if role != Role::Nat {
            report(
                checker,
                at,
                label,
                format!(
                    "`{name}` has an endpoint, so it sends no keepalive: `keepalive` is for hosts behind NAT"
                ),
                "remove `keepalive` here (hosts behind NAT keep their own mappings open), or remove `endpoint` if the host really is behind NAT",
            );
        } else {
            match u16::try_from(value.value) {
                Ok(seconds) if seconds >= 1 => keepalive = Some(seconds),
                _ => report(
                    checker,
                    at,
                    label,
                    format!(
                        "`keepalive` is {}, outside 1-65535: a host behind NAT needs keepalives, or its NAT mapping expires and nobody can reach it",
                        value.value
                    ),
                    &format!(
                        "use a number of seconds below your NAT's UDP timeout, e.g. {keepalive_default} (the network's)"
                    ),
                ),
            }
        }
    }

    let pending = raw
        .allowed_ips
        .as_ref()
        .map(|peers| pending_peers(checker, label, &peers.value))
        .unwrap_or_default();
    (
        HostSettings {
            interface,
            keepalive,
            extra_allowed: Vec::new(),
        },
        pending,
    )
}

fn pending_peers(
    checker: &mut Checker,
    label: Option<&str>,
    peers: &PeerPrefixes,
) -> Vec<PendingPeer> {
    peers
        .0
        .iter()
        .map(|(peer, prefixes)| {
            let at = checker.at_of(peer);
            let prefixes = checker
                .items(prefixes)
                .into_iter()
                .filter_map(|(text, at)| {
                    let shown = printable(text);
                    match text.trim().parse::<IpNet>() {
                        Ok(net) if net.trunc() == net => Some((net, at)),
                        Ok(net) => {
                            report(
                                checker,
                                at,
                                label,
                                format!("`allowed_ips` prefix `{shown}` has host bits set"),
                                &format!("write the network address: `{}`", net.trunc()),
                            );
                            None
                        }
                        Err(_) => {
                            report(
                                checker,
                                at,
                                label,
                                format!("`allowed_ips` prefix `{shown}` is not a valid CIDR range"),
                                "write it as ADDRESS/PREFIX, e.g. `198.18.60.0/24` or `0.0.0.0/0`",
                            );
                            None
                        }
                    }
                })
                .collect();
            PendingPeer {
                name: peer.value.clone(),
                at,
                prefixes,
            }
        })
        .collect()
}

/// Resolves each host's `allowed_ips` peers once roles and home relays are known: the peer must
/// exist and be one this host lists, and no prefix may take what wgdeploy already routes (a prefix
/// on two peers of one config silently goes to the last one).
pub(super) fn resolve_peers(
    checker: &mut Checker,
    hosts: &mut [Host],
    pending: Vec<Vec<PendingPeer>>,
    ranges: &[IpNet],
) {
    let routes: Vec<(IpNet, HostId)> = hosts
        .iter()
        .enumerate()
        .flat_map(|(id, host)| host.routes.iter().map(move |net| (*net, id)))
        .collect();
    for (me, peers) in pending.into_iter().enumerate() {
        let name = hosts[me].name.to_string();
        let label = Some(name.as_str());
        let mut seen: Vec<IpNet> = Vec::new();
        let mut resolved = Vec::new();
        for peer in peers {
            let Some(other) = hosts
                .iter()
                .position(|host| host.name.as_str() == peer.name)
            else {
                report(
                    checker,
                    peer.at,
                    label,
                    format!(
                        "`allowed_ips` names `{}`, which is not a host in this inventory",
                        printable(&peer.name)
                    ),
                    &format!(
                        "name one of `{name}`'s peers: {}",
                        peers_of(hosts, me).join(", ")
                    ),
                );
                continue;
            };
            if other == me {
                report(
                    checker,
                    peer.at,
                    label,
                    format!("`allowed_ips` of `{name}` names `{name}` itself"),
                    "name a peer: extra prefixes say what this host sends to, and accepts from, another host",
                );
                continue;
            }
            if !lists(hosts, me, other) {
                report(
                    checker,
                    peer.at,
                    label,
                    format!(
                        "`allowed_ips` names `{}`, which is not a peer of `{name}`: {}",
                        hosts[other].name,
                        why_not_listed(hosts, me, other)
                    ),
                    &format!(
                        "name one of `{name}`'s peers: {}",
                        peers_of(hosts, me).join(", ")
                    ),
                );
                continue;
            }
            let mut nets = Vec::new();
            for (net, at) in peer.prefixes {
                if let Some(range) = ranges.iter().find(|range| range.contains(&net)) {
                    report(
                        checker,
                        at,
                        label,
                        format!("`allowed_ips` prefix `{net}` lies inside the overlay `{range}`"),
                        "the overlay's addresses are routed by wgdeploy; extra prefixes are for networks outside it (a LAN, or `0.0.0.0/0` for a default route)",
                    );
                } else if let Some((_, owner)) = routes.iter().find(|(route, _)| *route == net) {
                    report(
                        checker,
                        at,
                        label,
                        format!(
                            "`allowed_ips` prefix `{net}` is already `{}`'s route",
                            hosts[*owner].name
                        ),
                        "remove it: wgdeploy already routes it to its owner (two peers with one prefix means the last one silently wins)",
                    );
                } else if let Some(exit) = hosts[me]
                    .use_exit
                    .filter(|_| internet_prefixes(ranges).contains(&net))
                {
                    report(
                        checker,
                        at,
                        label,
                        format!(
                            "`allowed_ips` prefix `{net}` of `{name}` is already sent to its exit `{}` (`use_exit`)",
                            hosts[exit].name
                        ),
                        "remove it from `allowed_ips`, or remove `use_exit`: two peers with one prefix means the last one silently wins",
                    );
                } else if seen.contains(&net) {
                    report(
                        checker,
                        at,
                        label,
                        format!("`allowed_ips` prefix `{net}` is given twice on `{name}`"),
                        "give each prefix to one peer only: with two, the last one silently wins",
                    );
                } else {
                    seen.push(net);
                    nets.push(net);
                }
            }
            if !nets.is_empty() {
                resolved.push((other, nets));
            }
        }
        hosts[me].settings.extra_allowed = resolved;
    }
}

/// Whether `me`'s config lists `other` (the rule of `core::topology::plan`, decided from roles and
/// home relays alone).
fn lists(hosts: &[Host], me: HostId, other: HostId) -> bool {
    let homed_on =
        |nat: HostId, relay: HostId| hosts[nat].home.is_some_and(|home| home.relay == relay);
    match (hosts[me].role, hosts[other].role) {
        (Role::Nat, Role::Nat) => false,
        (Role::Nat, Role::Relay) => homed_on(me, other),
        (Role::Relay, Role::Nat) => homed_on(other, me),
        (Role::Nat, Role::Public) => nat_meets_directly(&hosts[me], &hosts[other]),
        (Role::Public, Role::Nat) => nat_meets_directly(&hosts[other], &hosts[me]),
        _ => true,
    }
}

fn why_not_listed(hosts: &[Host], me: HostId, other: HostId) -> &'static str {
    match (hosts[me].role, hosts[other].role) {
        (Role::Nat, Role::Nat) => {
            "hosts behind NAT never list each other (their relay carries the traffic)"
        }
        (Role::Nat, Role::Public) | (Role::Public, Role::Nat) => {
            "they have no address family in common, so they meet through the home relay"
        }
        _ => "a host behind NAT lists only its home relay among the relays",
    }
}

fn peers_of(hosts: &[Host], me: HostId) -> Vec<&str> {
    (0..hosts.len())
        .filter(|&other| other != me && lists(hosts, me, other))
        .map(|other| hosts[other].name.as_str())
        .collect()
}

/// A `DNS =` entry: a resolver address, or a search domain.
fn dns_entry(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
        return Ok(name.to_ascii_lowercase());
    }
    Err(format!(
        "entry `{}` is neither an IP address nor a search domain",
        printable(text)
    ))
}

fn parse_table(text: &str) -> Result<Table, String> {
    let trimmed = text.trim();
    match trimmed.to_ascii_lowercase().as_str() {
        "auto" => return Ok(Table::Auto),
        "off" => return Ok(Table::Off),
        "main" => return Ok(Table::Number(254)),
        _ => {}
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) && !trimmed.is_empty() {
        return match trimmed.parse::<u32>() {
            Ok(0) | Err(_) => Err(format!(
                "`{trimmed}` is not a routing table number (1-4294967295)"
            )),
            Ok(number) => Ok(Table::Number(number)),
        };
    }
    Err(format!("`{}` is not a known table", printable(trimmed)))
}

/// `None` for `off` (or 0): no mark.
fn parse_fwmark(text: &str) -> Result<Option<u32>, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let parsed = match trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => trimmed.parse::<u32>(),
    };
    match parsed {
        Ok(0) => Ok(None),
        Ok(mark) => Ok(Some(mark)),
        Err(_) => Err(format!(
            "`{}` is not a mark (a 32-bit number)",
            printable(trimmed)
        )),
    }
}

/// A hook command as wg-quick will read it back: one line, and no `#` (wg-quick drops everything
/// after a `#` on any line of its config, so the command would silently run cut short).
fn hook(text: &str) -> Result<String, (String, &'static str)> {
    let trimmed = text.trim();
    if trimmed.contains(['\n', '\r']) {
        return Err((
            format!(
                "command `{}` has a newline: wg-quick reads one command per line",
                printable(trimmed)
            ),
            "write each command as its own list item, or join them with `;` or `&&` on one line",
        ));
    }
    if trimmed.is_empty() {
        return Err(("has an empty command".into(), "remove the empty item"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err((
            format!("command `{}` has a control character", printable(trimmed)),
            "write the command in plain text",
        ));
    }
    if trimmed.contains('#') {
        return Err((
            format!(
                "command `{}` has a `#`: wg-quick takes everything after `#` for a comment and would run the command cut short",
                printable(trimmed)
            ),
            "remove the `#` (or put the command in a script on the host and call that)",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn tables_fwmarks_and_dns_entries_parse() {
        assert_eq!(parse_table("off"), Ok(Table::Off));
        assert_eq!(parse_table("Auto"), Ok(Table::Auto));
        assert_eq!(parse_table("main"), Ok(Table::Number(254)));
        assert_eq!(parse_table("100"), Ok(Table::Number(100)));
        assert!(parse_table("0").is_err() && parse_table("4294967296").is_err());
        assert!(
            parse_table("mian")
                .unwrap_err()
                .contains("not a known table")
        );
        assert_eq!(parse_fwmark("0xca6c"), Ok(Some(0xca6c)));
        assert_eq!(parse_fwmark("51820"), Ok(Some(51820)));
        assert_eq!(parse_fwmark("off"), Ok(None));
        assert_eq!(parse_fwmark("0"), Ok(None));
        assert!(parse_fwmark("0x1_0000_0000").is_err() && parse_fwmark("-1").is_err());
        assert_eq!(dns_entry("1.1.1.1").unwrap(), "1.1.1.1");
        assert_eq!(dns_entry("Corp.Example.").unwrap(), "corp.example");
        for bad in ["", "a b", "1.1.1.1, 8.8.8.8", "corp#x", "-a.example"] {
            assert!(dns_entry(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn parse(yaml: &str) -> Result<crate::core::model::Inventory, String> {
        crate::core::inventory::parse(Path::new("i.yaml"), yaml).map_err(|err| err.to_string())
    }

    const BASE: &str = "network:\n  addresses: [100.64.0.0/24]\n  dns: [1.1.1.1, corp.example]\n  mtu: 1420\n  table: 'off'\n  post_up: echo up\n  post_down: echo down\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true, routes: [198.18.50.0/24] }\n";

    #[test]
    fn hosts_take_the_network_defaults_and_override_each_as_a_whole() {
        let inventory = parse(&format!(
            "{BASE}  gw: {{ endpoint: 198.51.100.7, mtu: 1380, table: 100, fwmark: 0xca6c, dns: [], post_up: [a, b] }}\n  laptop: {{ keepalive: 10, table: auto }}\n"
        ))
        .unwrap();
        let [relay, gw, laptop] = &inventory.hosts[..] else {
            panic!()
        };
        let relay = &relay.settings.interface;
        assert_eq!(relay.dns, ["1.1.1.1", "corp.example"]);
        assert_eq!((relay.mtu, relay.table), (Some(1420), Some(Table::Off)));
        assert_eq!(
            (&relay.post_up[..], &relay.post_down[..]),
            (&["echo up".to_owned()][..], &["echo down".to_owned()][..])
        );
        let gw = &gw.settings.interface;
        assert!(gw.dns.is_empty(), "`dns: []` clears the default");
        assert_eq!(
            (gw.mtu, gw.table, gw.fwmark),
            (Some(1380), Some(Table::Number(100)), Some(0xca6c))
        );
        assert_eq!(gw.post_up, ["a", "b"]);
        assert_eq!(
            gw.post_down,
            ["echo down"],
            "a host's post_up leaves the network's post_down"
        );
        assert_eq!(laptop.settings.keepalive, Some(10));
        assert_eq!(laptop.settings.interface.table, Some(Table::Auto));
        // YAML 1.1 reads a bare `off` as false: it still means `off`.
        let bare = parse(&BASE.replace("table: 'off'", "table: off")).unwrap();
        assert_eq!(bare.hosts[0].settings.interface.table, Some(Table::Off));
    }

    #[test]
    fn a_host_keepalive_replaces_the_network_one_even_when_that_is_zero() {
        let yaml = "network: { addresses: [100.64.0.0/24], keepalive: 0 }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  phone: { keepalive: 15 }\n";
        assert_eq!(parse(yaml).unwrap().hosts[1].settings.keepalive, Some(15));
        assert!(
            parse(&yaml.replace("keepalive: 15", "mtu: 1400"))
                .unwrap_err()
                .contains("`network.keepalive` is 0")
        );
        assert!(
            parse(&yaml.replace("keepalive: 15", "keepalive: 0"))
                .unwrap_err()
                .contains("`keepalive` is 0, outside 1-65535")
        );
    }

    #[test]
    fn every_bad_value_is_an_error_naming_the_setting() {
        for (host, error) in [
            ("table: mian", "`table` `mian` is not a known table"),
            ("table: 0", "`table` `0` is not a routing table number"),
            ("mtu: 9001", "`mtu` is 9001, outside 576-9000"),
            ("mtu: 500", "`mtu` is 500, outside 576-9000"),
            ("fwmark: banana", "`fwmark` `banana` is not a mark"),
            (
                "dns: [1.1.1.1;reboot]",
                "`dns` entry `1.1.1.1;reboot` is neither",
            ),
            ("pre_up: 'a # b'", "`pre_up` command `a # b` has a `#`"),
            ("post_down: ['']", "`post_down` has an empty command"),
            (
                "allowed_ips: { nobody: [198.18.60.0/24] }",
                "`allowed_ips` names `nobody`, which is not a host",
            ),
            (
                "allowed_ips: { laptop: [198.18.60.0/24] }",
                "names `laptop` itself",
            ),
            (
                "allowed_ips: { relay1: [100.64.0.128/25] }",
                "lies inside the overlay `100.64.0.0/24`",
            ),
            (
                "allowed_ips: { relay1: [198.18.50.0/24] }",
                "is already `relay1`'s route",
            ),
            (
                "allowed_ips: { relay1: [banana] }",
                "`banana` is not a valid CIDR range",
            ),
            (
                "allowed_ips: { relay1: [0.0.0.0/0, 0.0.0.0/0] }",
                "`0.0.0.0/0` is given twice",
            ),
        ] {
            let yaml = format!(
                "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  relay1: {{ endpoint: 198.51.100.1, relay: true, routes: [198.18.50.0/24] }}\n  laptop: {{ {host} }}\n"
            );
            let err = parse(&yaml).unwrap_err();
            assert!(err.contains(error), "{host}: {err}");
            assert!(err.contains("i.yaml:5:"), "{host}: located: {err}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_shape_says_what_is_expected() {
        for (host, error) in [
            (
                "post_up: { a: b }",
                "`post_up` must be a command or a list of commands, but YAML read a mapping",
            ),
            (
                "table: 1.5",
                "`table` must be `auto`, `off` or a table number, but YAML read a decimal number",
            ),
            (
                "allowed_ips: [198.18.60.0/24]",
                "`allowed_ips` must be a mapping of peer names to prefixes, e.g. `{ relay1: [198.18.60.0/24] }`, but YAML read a list",
            ),
            (
                "dns: { a: b }",
                "`dns` must be a resolver address or search domain, or a list of them, but YAML read a mapping",
            ),
        ] {
            let yaml =
                format!("network:\n  addresses: [100.64.0.0/24]\nhosts:\n  laptop:\n    {host}\n");
            let err = parse(&yaml).unwrap_err();
            assert!(
                err.contains(error) && err.contains("i.yaml:5:"),
                "{host}: {err}"
            );
        }
    }

    /// `structure` keeps table and fwmark as written (`no` stays `no`, not YAML's false), reads
    /// a bare `off` as `off`, and says what a peer's prefixes and `manage` take.
    #[test]
    fn values_are_read_as_written_and_wrong_kinds_are_named() {
        let base = "network:\n  addresses: [100.64.0.0/24]\n  fwmark: off\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n";
        let inventory = parse(base).unwrap();
        assert_eq!(inventory.network.settings.fwmark, None);
        for (host, error) in [
            ("table: no", "`table` `no` is not a known table"),
            (
                "allowed_ips: { relay1: { a: b } }",
                "`allowed_ips` must be a prefix or a list of them",
            ),
            (
                "manage: maybe",
                "`manage` must be `true` or `false`, but YAML read the text `maybe`",
            ),
        ] {
            let err = parse(&format!("{base}  laptop: {{ {host} }}\n")).unwrap_err();
            assert!(
                err.contains(error) && err.contains("i.yaml:6:"),
                "{host}: {err}"
            );
        }
    }

    #[test]
    fn extra_allowed_ips_reach_the_named_peer_only() {
        let inventory = parse(
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web: { endpoint: 198.51.100.2 }\n  laptop: { allowed_ips: { relay1: [0.0.0.0/0, 198.18.60.0/24] } }\n",
        )
        .unwrap();
        let addresses = crate::core::addressing::assign(&inventory, &Default::default()).unwrap();
        let topology = crate::core::topology::plan(&inventory, &addresses);
        let laptop = &topology.hosts[2];
        let allowed = |peer: usize| -> Vec<String> {
            laptop.peers[peer]
                .allowed
                .iter()
                .map(|allowed| allowed.net.to_string())
                .collect()
        };
        assert_eq!(allowed(0), ["100.64.0.0/24", "0.0.0.0/0", "198.18.60.0/24"]);
        assert_eq!(allowed(1), ["100.64.0.2/32"]);
        // The relay's entry for the laptop is untouched: the setting is the laptop's own.
        assert_eq!(topology.hosts[0].peers[0].allowed.len(), 1);
    }

    /// `lists` decides from roles and homes what `topology::plan` computes: they must agree on
    /// every ordered pair, or `allowed_ips` would accept a peer the config never lists.
    #[test]
    fn lists_agrees_with_the_topology() {
        let inventory = parse(
            "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r1: { endpoint: [198.51.100.1, '[2001:db8::1]:51820'], relay: true }\n  r2: { endpoint: [198.51.100.2, '[2001:db8::2]:51820'], relay: true }\n  web6: { endpoint: '[2001:db8::6]:51820' }\n  a: { via: r1 }\n  b: { via: r2 }\n  c: {}\n  d: { underlay: [ipv4, ipv6] }\n",
        )
        .unwrap();
        let addresses = crate::core::addressing::assign(&inventory, &Default::default()).unwrap();
        let topology = crate::core::topology::plan(&inventory, &addresses);
        for me in 0..inventory.hosts.len() {
            for other in (0..inventory.hosts.len()).filter(|&other| other != me) {
                let planned = topology.hosts[me]
                    .peers
                    .iter()
                    .any(|peer| peer.host == other);
                assert_eq!(
                    lists(&inventory.hosts, me, other),
                    planned,
                    "{me} → {other}"
                );
            }
        }
    }

    #[test]
    fn an_up_hook_without_any_down_hook_is_warned_about() {
        let settings = |up: &[&str], down: &[&str]| InterfaceSettings {
            post_up: up.iter().map(|c| c.to_string()).collect(),
            post_down: down.iter().map(|c| c.to_string()).collect(),
            ..InterfaceSettings::default()
        };
        let warning = settings(&["iptables -I INPUT -p tcp --dport 22 -j DROP"], &[])
            .unpaired_hooks()
            .unwrap();
        assert!(
            warning.contains("`post_up` has no matching")
                && warning.contains("lock-out protection"),
            "{warning}"
        );
        assert_eq!(settings(&["a"], &["b"]).unpaired_hooks(), None);
        assert_eq!(settings(&[], &["b"]).unpaired_hooks(), None);
        let pre = InterfaceSettings {
            pre_up: vec!["a".into()],
            pre_down: vec!["b".into()],
            ..Default::default()
        };
        assert_eq!(pre.unpaired_hooks(), None);
    }

    #[test]
    fn hooks_are_one_line_without_comments() {
        assert_eq!(
            hook("  ip rule add table 100 ").unwrap(),
            "ip rule add table 100"
        );
        assert!(hook("a\nb").unwrap_err().0.contains("newline"));
        assert!(hook("echo a # b").unwrap_err().0.contains("`#`"));
        assert!(hook("echo \x1b[31m").is_err());
        assert!(hook(" ").is_err());
    }
}
