//! `network:`: the interface, overlay ranges, port, keepalive, MTU and preshared keys.

use super::super::raw::RawNetwork;
use super::Checker;
use super::DEFAULT_KEEPALIVE;
use super::DEFAULT_PORT;
use super::settings::{MTU_MAX, mtu_min};
use crate::core::error::At;
use crate::core::model::{InterfaceName, KeyMode, Network, printable_excerpt};
use ipnet::IpNet;
use serde_saphyr::Spanned;
use std::net::IpAddr;

/// Network settings as checked so far; ranges may be empty when they were invalid.
pub(super) struct NetworkDraft {
    pub(super) interface: InterfaceName,
    pub(super) ranges: Vec<IpNet>,
    pub(super) ranges_ok: bool,
    pub(super) ranges_at: Option<At>,
    pub(super) port: u16,
    pub(super) keepalive: u16,
    pub(super) keepalive_at: Option<At>,
    pub(super) mtu: Option<u16>,
    pub(super) preshared_keys: bool,
    pub(super) keys: KeyMode,
}

impl NetworkDraft {
    pub(super) fn into_network(self) -> Network {
        Network {
            interface: self.interface,
            ranges: self.ranges,
            port: self.port,
            keepalive: self.keepalive,
            mtu: self.mtu,
            preshared_keys: self.preshared_keys,
            keys: self.keys,
            ranges_at: self.ranges_at,
            settings: Default::default(),
        }
    }
}

pub(super) fn check_network(
    checker: &mut Checker,
    raw: Option<&Spanned<RawNetwork>>,
) -> NetworkDraft {
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
        // Written, but not as an address or a list (reported already).
        None if raw.broken => ranges_ok = false,
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
    let mtu = raw
        .mtu
        .as_ref()
        .and_then(|mtu| checker.number(mtu, None, "network.mtu", mtu_min(has_v6), MTU_MAX));
    let preshared_keys = raw.preshared_keys.as_ref().is_some_and(|psk| psk.value);
    let keys = key_mode(checker, raw);
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
        keys,
    }
}

/// `network.keys`: where managed hosts' private keys are made. Preshared keys are not offered
/// with `on-host`: wgdeploy would have to make each pair's key and send it to both hosts, so the
/// operator's side would hold a secret again, which is what `on-host` is chosen to avoid.
fn key_mode(checker: &mut Checker, raw: &RawNetwork) -> KeyMode {
    let Some(keys) = &raw.keys else {
        return KeyMode::Local;
    };
    let mode = match keys.value.trim() {
        "local" => KeyMode::Local,
        "on-host" => KeyMode::OnHost,
        other => {
            let at = checker.at_of(keys);
            checker.report(
                at,
                None,
                format!(
                    "`network.keys` is `{}`, which is not a place keys are made",
                    printable_excerpt(other)
                ),
                Some("write `keys: local` (wgdeploy makes every key and keeps it in the state file) or `keys: on-host` (each host makes its own private key, which never leaves it)".into()),
            );
            return KeyMode::Local;
        }
    };
    if mode == KeyMode::OnHost
        && let Some(psk) = raw.preshared_keys.as_ref().filter(|psk| psk.value)
    {
        let at = checker.at_of(psk);
        checker.report(
            at,
            None,
            "`preshared_keys: true` cannot go with `keys: on-host`: a preshared key is one secret for two hosts, so wgdeploy would have to make it and carry it to both, and the operator's side would hold a secret again".into(),
            Some("remove `preshared_keys: true`, or use `keys: local` to keep preshared keys".into()),
        );
    }
    mode
}

pub(super) fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

/// Parses a CIDR range that must be written as a network address (no host bits set).
pub(super) fn parse_cidr(text: &str, what: &str) -> Result<IpNet, (String, String)> {
    let shown = printable_excerpt(text);
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
