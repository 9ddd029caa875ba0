//! The underlay: the real network under the tunnels, by address family. Which families a host
//! has, which families each of its endpoints stands for, which endpoint a peer dials, and the
//! endpoints that cannot be right.
//!
//! The rules (README "Endpoints per address family"):
//! - an IP-address endpoint stands for its own family;
//! - a DNS-name endpoint stands for the families of the host's underlay that none of its IP
//!   endpoints covers (wgdeploy never resolves names); without `underlay:` a host's DNS name
//!   stands for IPv4;
//! - a host's underlay is its `underlay:`, or else the families its endpoints stand for; a host
//!   without endpoint (behind NAT) has IPv4 unless it says otherwise;
//! - a dialer uses the first endpoint, in the inventory's order, that stands for a family its own
//!   underlay has.

use crate::core::model::{Endpoint, EndpointHost, Host};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// A set of address families (IPv4, IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Families {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    pub const NONE: Families = Families {
        ipv4: false,
        ipv6: false,
    };
    pub const IPV4: Families = Families {
        ipv4: true,
        ipv6: false,
    };
    pub const IPV6: Families = Families {
        ipv4: false,
        ipv6: true,
    };
    pub const BOTH: Families = Families {
        ipv4: true,
        ipv6: true,
    };

    /// The family of one address.
    pub fn of(ip: IpAddr) -> Families {
        if ip.is_ipv4() {
            Families::IPV4
        } else {
            Families::IPV6
        }
    }

    pub fn is_empty(self) -> bool {
        !self.ipv4 && !self.ipv6
    }

    /// Whether the two sets share a family.
    pub fn meets(self, other: Families) -> bool {
        (self.ipv4 && other.ipv4) || (self.ipv6 && other.ipv6)
    }

    pub fn union(self, other: Families) -> Families {
        Families {
            ipv4: self.ipv4 || other.ipv4,
            ipv6: self.ipv6 || other.ipv6,
        }
    }

    /// The families of `self` that `other` lacks.
    pub fn without(self, other: Families) -> Families {
        Families {
            ipv4: self.ipv4 && !other.ipv4,
            ipv6: self.ipv6 && !other.ipv6,
        }
    }

    /// Parses `ipv4`, `ipv6` (any case), one family.
    pub fn parse_one(text: &str) -> Option<Families> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ipv4" | "v4" | "4" => Some(Families::IPV4),
            "ipv6" | "v6" | "6" => Some(Families::IPV6),
            _ => None,
        }
    }

    /// The names as the inventory writes them: `ipv4`, `ipv6`.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.ipv4 {
            names.push("ipv4");
        }
        if self.ipv6 {
            names.push("ipv6");
        }
        names
    }
}

impl fmt::Display for Families {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.ipv4, self.ipv6) {
            (true, true) => "IPv4 and IPv6",
            (true, false) => "IPv4",
            (false, true) => "IPv6",
            (false, false) => "no family",
        })
    }
}

/// The family an endpoint's address has; `None` for a DNS name.
pub fn literal_family(endpoint: &Endpoint) -> Option<Families> {
    match endpoint.host {
        EndpointHost::Ip(ip) => Some(Families::of(ip)),
        EndpointHost::Dns(_) => None,
    }
}

/// The families the IP-address endpoints of a list cover.
pub fn literal_families(endpoints: &[Endpoint]) -> Families {
    endpoints
        .iter()
        .filter_map(literal_family)
        .fold(Families::NONE, Families::union)
}

/// The families one endpoint of a host stands for (see the module's rules).
pub fn serves(endpoint: &Endpoint, host_underlay: Families, endpoints: &[Endpoint]) -> Families {
    literal_family(endpoint).unwrap_or_else(|| host_underlay.without(literal_families(endpoints)))
}

/// The underlay of a host that declares none: what its endpoints stand for, IPv4 for a DNS name
/// (and for a host without endpoint).
pub fn inferred(endpoints: &[Endpoint]) -> Families {
    let literal = literal_families(endpoints);
    let has_name = endpoints
        .iter()
        .any(|endpoint| literal_family(endpoint).is_none());
    if literal.is_empty() || has_name {
        literal.union(Families::IPV4)
    } else {
        literal
    }
}

/// The endpoint of `target` that `dialer` dials: the first, in the inventory's order, that stands
/// for a family `dialer`'s underlay has. `None`: they have no family in common.
pub fn choose<'h>(dialer: &Host, target: &'h Host) -> Option<&'h Endpoint> {
    choice(dialer, target).map(|index| &target.endpoints[index])
}

/// [`choose`] as an index into `target.endpoints`.
pub fn choice(dialer: &Host, target: &Host) -> Option<usize> {
    target.endpoints.iter().position(|endpoint| {
        serves(endpoint, target.underlay, &target.endpoints).meets(dialer.underlay)
    })
}

/// Whether a NAT-ed host and a public non-relay list each other: unless they have no family in
/// common and the NAT-ed host has a home relay to meet it through (the planner's rule).
pub fn nat_meets_directly(nat: &Host, public: &Host) -> bool {
    nat.home.is_none() || choice(nat, public).is_some()
}

/// Why an endpoint cannot be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Doubt {
    /// `0.0.0.0` or `::`: a wildcard for listening, not an address to dial.
    Unspecified,
    /// `127.0.0.0/8` or `::1`: every dialer would dial itself.
    Loopback,
    /// Inside the overlay: the tunnel would have to carry its own handshakes.
    InOverlay(IpNet),
}

impl Doubt {
    /// Why, in words, for an endpoint `shown` of host `host`.
    pub fn explain(self, host: &str, shown: &str) -> String {
        match self {
            Doubt::Unspecified => format!(
                "warning: endpoint `{shown}` of `{host}` is the unspecified address (a wildcard for listening): peers cannot dial it; write `{host}`'s public address"
            ),
            Doubt::Loopback => format!(
                "warning: endpoint `{shown}` of `{host}` is a loopback address: each peer would dial itself; write `{host}`'s public address"
            ),
            Doubt::InOverlay(range) => format!(
                "warning: endpoint `{shown}` of `{host}` is inside the overlay range {range}: the tunnel would have to carry its own handshakes; write `{host}`'s address on the underlay (outside the overlay)"
            ),
        }
    }
}

/// What is wrong with an endpoint's address, if anything. `overlay`: the ranges the tunnels carry.
pub fn doubt(ip: IpAddr, overlay: &[IpNet]) -> Option<Doubt> {
    // `::ffff:a.b.c.d` is the IPv4 address it maps.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_unspecified() {
        return Some(Doubt::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Doubt::Loopback);
    }
    overlay
        .iter()
        .find(|range| range.contains(&ip))
        .map(|range| Doubt::InOverlay(range.trunc()))
}

/// The warnings about a host's endpoints, in its inventory order.
pub fn warnings(host: &Host, overlay: &[IpNet]) -> Vec<String> {
    host.endpoints
        .iter()
        .filter_map(|endpoint| match endpoint.host {
            EndpointHost::Ip(ip) => {
                doubt(ip, overlay).map(|why| why.explain(host.name.as_str(), &endpoint.to_string()))
            }
            EndpointHost::Dns(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(texts: &[&str]) -> Vec<Endpoint> {
        texts
            .iter()
            .map(|text| Endpoint::parse(text, 51820).unwrap())
            .collect()
    }

    #[test]
    fn a_dns_name_stands_for_what_the_addresses_leave() {
        let list = endpoints(&["vpn.example.com", "[2001:db8::1]:51820"]);
        assert_eq!(serves(&list[0], Families::BOTH, &list), Families::IPV4);
        assert_eq!(serves(&list[1], Families::BOTH, &list), Families::IPV6);
        let alone = endpoints(&["vpn.example.com"]);
        assert_eq!(inferred(&alone), Families::IPV4);
        assert_eq!(serves(&alone[0], Families::BOTH, &alone), Families::BOTH);
    }

    #[test]
    fn the_underlay_is_inferred_from_the_addresses() {
        assert_eq!(inferred(&[]), Families::IPV4);
        assert_eq!(inferred(&endpoints(&["2001:db8::1"])), Families::IPV6);
        assert_eq!(
            inferred(&endpoints(&["198.51.100.1", "2001:db8::1"])),
            Families::BOTH
        );
    }

    #[test]
    fn endpoints_that_cannot_be_right_are_named() {
        let overlay: Vec<IpNet> = vec!["100.64.0.0/24".parse().unwrap()];
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(doubt(ip("0.0.0.0"), &overlay), Some(Doubt::Unspecified));
        assert_eq!(doubt(ip("::"), &overlay), Some(Doubt::Unspecified));
        assert_eq!(doubt(ip("127.0.0.2"), &overlay), Some(Doubt::Loopback));
        assert_eq!(doubt(ip("::1"), &overlay), Some(Doubt::Loopback));
        assert_eq!(
            doubt(ip("::ffff:127.0.0.1"), &overlay),
            Some(Doubt::Loopback)
        );
        assert_eq!(
            doubt(ip("100.64.0.7"), &overlay),
            Some(Doubt::InOverlay(overlay[0]))
        );
        assert_eq!(doubt(ip("198.51.100.1"), &overlay), None);
        assert_eq!(doubt(ip("2001:db8::1"), &overlay), None);
    }
}
