//! Address families under the tunnels: which families each host of a set has (stated by the
//! inventory or `--underlay`, else inferred from the endpoints others list for it, else assumed
//! IPv4), whether a dialer can use an endpoint, and the listed endpoints that cannot be right.

use crate::check::HostIndex;
use crate::check::verdict::Warning;
use crate::core::model::{Endpoint, EndpointHost};
use crate::core::underlay::{Families, doubt};
use ipnet::IpNet;
use std::collections::HashMap;

/// A host's families and where they come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underlay {
    pub families: Families,
    /// Nobody states them and nobody lists an IP endpoint for the host: IPv4 is assumed.
    pub assumed: bool,
}

/// The family of an endpoint as written in a config; `None` for a DNS name or a value that does
/// not parse (which says nothing about families).
pub fn endpoint_family(text: &str) -> Option<Families> {
    match Endpoint::parse(text, 51820).ok()?.host {
        EndpointHost::Ip(ip) => Some(Families::of(ip)),
        EndpointHost::Dns(_) => None,
    }
}

/// Whether a dialer with `dialer` families can send to `endpoint` of a host with `target`
/// families: an address needs its family on the dialer; a DNS name, a family both share.
pub fn usable(dialer: Families, endpoint: &str, target: Families) -> bool {
    match endpoint_family(endpoint) {
        Some(family) => dialer.meets(family),
        None => dialer.meets(target),
    }
}

/// Each host's families: stated (by name), else those of the IP endpoints listed for it (the
/// owners of `endpoint_owner`), else IPv4, assumed.
pub fn of_hosts(
    names: &[&str],
    stated: &[(String, Families)],
    endpoint_owner: &HashMap<String, HostIndex>,
) -> Vec<Underlay> {
    let mut listed = vec![Families::NONE; names.len()];
    for (endpoint, &owner) in endpoint_owner {
        if let Some(family) = endpoint_family(endpoint) {
            listed[owner] = listed[owner].union(family);
        }
    }
    names
        .iter()
        .zip(listed)
        .map(|(name, listed)| {
            let stated = stated
                .iter()
                .filter(|(host, _)| host == name)
                .fold(Families::NONE, |all, (_, families)| all.union(*families));
            match (stated.is_empty(), listed.is_empty()) {
                (false, _) => Underlay {
                    families: stated,
                    assumed: false,
                },
                (true, false) => Underlay {
                    families: listed,
                    assumed: false,
                },
                (true, true) => Underlay {
                    families: Families::IPV4,
                    assumed: true,
                },
            }
        })
        .collect()
}

/// Warnings about the families: the hosts whose IPv4 was assumed, when the set lists an IPv6
/// endpoint (where the assumption can decide a verdict); and every listed endpoint that cannot be
/// right (unspecified, loopback, inside a host's own address range).
pub fn notes(
    underlay: &[Underlay],
    endpoint_owner: &HashMap<String, HostIndex>,
    connected: &[IpNet],
) -> Vec<Warning> {
    let mut notes = Vec::new();
    let any_ipv6 = endpoint_owner
        .keys()
        .any(|endpoint| endpoint_family(endpoint) == Some(Families::IPV6));
    let assumed: Vec<HostIndex> = (0..underlay.len())
        .filter(|&host| underlay[host].assumed)
        .collect();
    if any_ipv6 && !assumed.is_empty() {
        notes.push(Warning::AssumedIpv4 { hosts: assumed });
    }
    for (endpoint, &owner) in endpoint_owner {
        if let Some(EndpointHost::Ip(ip)) = Endpoint::parse(endpoint, 51820)
            .ok()
            .map(|parsed| parsed.host)
            && let Some(why) = doubt(ip, connected)
        {
            notes.push(Warning::DoubtfulEndpoint {
                host: owner,
                endpoint: endpoint.clone(),
                why,
            });
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_needs_its_family_and_a_name_a_shared_one() {
        assert!(usable(Families::IPV4, "198.51.100.1:51820", Families::IPV6));
        assert!(!usable(
            Families::IPV4,
            "[2001:db8::1]:51820",
            Families::BOTH
        ));
        assert!(usable(
            Families::BOTH,
            "[2001:db8::1]:51820",
            Families::IPV6
        ));
        assert!(usable(
            Families::IPV6,
            "vpn.example.com:51820",
            Families::BOTH
        ));
        assert!(!usable(
            Families::IPV6,
            "vpn.example.com:51820",
            Families::IPV4
        ));
    }

    #[test]
    fn families_are_stated_else_listed_else_assumed() {
        let owner: HashMap<String, HostIndex> = [
            ("198.51.100.1:51820".to_owned(), 0),
            ("[2001:db8::1]:51820".to_owned(), 0),
            ("[2001:db8::2]:51820".to_owned(), 1),
            ("vpn.example.com:51820".to_owned(), 2),
        ]
        .into_iter()
        .collect();
        let stated = [
            ("d".to_owned(), Families::IPV6),
            ("b".to_owned(), Families::IPV4),
        ];
        let got = of_hosts(&["a", "b", "c", "d"], &stated, &owner);
        let families: Vec<(Families, bool)> = got
            .iter()
            .map(|host| (host.families, host.assumed))
            .collect();
        assert_eq!(
            families,
            vec![
                (Families::BOTH, false),
                (Families::IPV4, false),
                (Families::IPV4, true),
                (Families::IPV6, false),
            ]
        );
    }
}
