//! The kernel routes of a WireGuard interface against its AllowedIPs. Pure: `ip route` lines in,
//! drift out.
//!
//! `wg-quick up` adds a route per AllowedIPs prefix that no route of the interface covers yet (or
//! every prefix into the config's `Table`); `wg syncconf` adds and removes none (DESIGN.md §1.8).
//! So after a syncconf wgdeploy adds the missing ones itself and removes those no peer needs any
//! more, and the same comparison verifies every apply and feeds `status`.

use crate::core::wgconf::WgConfig;
use ipnet::IpNet;

/// One unicast route through the interface, as `ip route show table all dev IFACE` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub prefix: IpNet,
    /// `main` unless the line names another table.
    pub table: String,
    /// Made by the kernel for the interface's own addresses (`proto kernel`), never ours to remove.
    pub kernel: bool,
}

/// Route types other than unicast: the local table's entries, multicast and the like.
const NOT_UNICAST: [&str; 9] = [
    "local",
    "broadcast",
    "multicast",
    "anycast",
    "unreachable",
    "blackhole",
    "prohibit",
    "throw",
    "nat",
];

/// Parses `ip -4|-6 route show table all dev IFACE` lines; `v6` says which family printed them
/// (`default` does not). Lines that are not unicast routes, or whose table name is not a plain
/// word, are skipped: they are none of wgdeploy's business and never reach a shell.
pub fn parse(lines: &[String], v6: bool) -> Vec<Route> {
    lines
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let mut first = words.next()?;
            if first == "unicast" {
                first = words.next()?;
            }
            if NOT_UNICAST.contains(&first) {
                return None;
            }
            let prefix: IpNet = match first {
                "default" if v6 => "::/0".parse().ok()?,
                "default" => "0.0.0.0/0".parse().ok()?,
                text => text
                    .parse()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                    .ok()?,
            };
            if prefix.addr().is_ipv6() != v6 {
                return None;
            }
            let rest: Vec<&str> = words.collect();
            let value_of = |key: &str| {
                rest.windows(2)
                    .find(|pair| pair[0] == key)
                    .map(|pair| pair[1])
            };
            let table = value_of("table").unwrap_or("main");
            if !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return None;
            }
            Some(Route {
                prefix,
                table: table.to_owned(),
                kernel: value_of("proto") == Some("kernel"),
            })
        })
        .collect()
}

/// Where a config's routes go: `None` for `Table = off` (the config's hooks route by themselves).
/// `auto` and no `Table` mean the main table with wg-quick's "unless covered" rule and its own
/// policy routing for /0.
fn managed_table(config: &WgConfig) -> Option<(String, bool)> {
    match config.table.as_deref().map(str::trim) {
        None | Some("") => Some(("main".to_owned(), true)),
        Some(table) if table.eq_ignore_ascii_case("auto") => Some(("main".to_owned(), true)),
        Some(table) if table.eq_ignore_ascii_case("off") => None,
        Some(table) => Some((table.to_owned(), false)),
    }
}

/// A route through the interface that no peer's AllowedIPs need any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRoute {
    pub prefix: IpNet,
    /// `main`, or the table the config's `Table =` names.
    pub table: String,
}

/// How the routes differ from what `wg-quick up` makes of `config`'s AllowedIPs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteDrift {
    /// AllowedIPs prefixes no route of the interface covers: their traffic is not tunnelled.
    pub missing: Vec<IpNet>,
    /// Routes through the interface for prefixes no peer holds (with the automatic table: nor
    /// any prefix inside them, since such a route carries that prefix's traffic).
    pub stale: Vec<StaleRoute>,
}

impl RouteDrift {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.stale.is_empty()
    }

    /// One line per difference, for plans, verification and status.
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .missing
            .iter()
            .map(|prefix| format!("no route for {prefix} (a peer's AllowedIPs)"))
            .collect();
        lines.extend(self.stale.iter().map(|route| {
            let table = match route.table.as_str() {
                "main" => String::new(),
                table => format!(" in table {table}"),
            };
            format!(
                "stale route {}{table} (no peer's AllowedIPs hold it)",
                route.prefix
            )
        }));
        lines
    }
}

/// Compares `routes` (the interface's, every table) with what `config` needs.
pub fn drift(config: &WgConfig, routes: &[Route]) -> RouteDrift {
    let Some((table, auto)) = managed_table(config) else {
        return RouteDrift::default();
    };
    let in_table: Vec<&Route> = routes.iter().filter(|route| route.table == table).collect();
    let mut allowed: Vec<IpNet> = config
        .peers
        .iter()
        .flat_map(|peer| peer.allowed_ips.iter().map(|allowed| allowed.net))
        // wg-quick routes a /0 with an automatic table through its own fwmark table and rules.
        .filter(|net| !(auto && net.prefix_len() == 0))
        .collect();
    allowed.sort();
    allowed.dedup();
    // wg-quick's automatic table adds a route only where none of the interface covers the
    // prefix; into a named table it adds every prefix as it is.
    let carries = |route: &IpNet, net: &IpNet| {
        if auto {
            route.contains(net)
        } else {
            route == net
        }
    };
    let missing = allowed
        .iter()
        .filter(|net| !in_table.iter().any(|route| carries(&route.prefix, net)))
        .copied()
        .collect();
    let stale = in_table
        .iter()
        .filter(|route| !route.kernel)
        .filter(|route| !(auto && route.prefix.prefix_len() == 0))
        .filter(|route| !allowed.iter().any(|net| carries(&route.prefix, net)))
        .map(|route| StaleRoute {
            prefix: route.prefix,
            table: route.table.clone(),
        })
        .collect();
    RouteDrift { missing, stale }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    /// Captured on this kernel: `ip -4 route show table all dev v0` with an address, a host
    /// route, a subnet and a second table.
    const V4: &str = "default table 100 scope link \n198.18.78.0/24 table 100 scope link \n100.64.9.0/24 proto kernel scope link src 100.64.9.1 \n100.64.9.7 scope link \n198.18.77.0/24 scope link \nlocal 100.64.9.1 table local proto kernel scope host src 100.64.9.1 \nbroadcast 100.64.9.255 table local proto kernel scope link src 100.64.9.1 \n";
    const V6: &str = "fd00:9::/64 proto kernel metric 256 pref medium\nfe80::/64 proto kernel metric 256 pref medium\nmulticast ff00::/8 table local proto kernel metric 256 pref medium\n";

    fn config(text: &str) -> WgConfig {
        crate::core::wgconf::parse(std::path::Path::new("wg0"), text).unwrap()
    }

    const KEY: &str = "YJ1rYkmXU2Ka1Cu4rvmBoT9BaWu1OfH7nPydVIbgBXs=";

    fn with_peers(interface_extra: &str, allowed: &[&str]) -> WgConfig {
        let mut text =
            format!("[Interface]\nAddress = 100.64.9.1/24, fd00:9::1/64\n{interface_extra}\n");
        for (n, prefixes) in allowed.iter().enumerate() {
            // Distinct valid public keys: vary one base64 digit.
            let key = KEY.replacen('Y', &((b'A' + n as u8) as char).to_string(), 1);
            text.push_str(&format!(
                "[Peer]\nPublicKey = {key}\nAllowedIPs = {prefixes}\n"
            ));
        }
        config(&text)
    }

    #[test]
    fn parses_unicast_routes_of_every_table_and_skips_the_rest() {
        let routes = parse(&lines(V4), false);
        let shown: Vec<(String, &str, bool)> = routes
            .iter()
            .map(|r| (r.prefix.to_string(), r.table.as_str(), r.kernel))
            .collect();
        assert_eq!(
            shown,
            [
                ("0.0.0.0/0".to_owned(), "100", false),
                ("198.18.78.0/24".to_owned(), "100", false),
                ("100.64.9.0/24".to_owned(), "main", true),
                ("100.64.9.7/32".to_owned(), "main", false),
                ("198.18.77.0/24".to_owned(), "main", false),
            ]
        );
        let v6 = parse(&lines(V6), true);
        assert_eq!(v6.len(), 2);
        assert!(v6.iter().all(|r| r.kernel && r.table == "main"));
        assert!(parse(&lines("1.2.3.0/24 table $(reboot) scope link"), false).is_empty());
    }

    #[test]
    fn covered_prefixes_need_no_route_and_subnets_do() {
        let routes = [parse(&lines(V4), false), parse(&lines(V6), true)].concat();
        // The overlay /32s are covered by the address's route; 198.18.77.0/24 has its route;
        // 198.18.90.0/24 has none.
        let wanted = with_peers(
            "",
            &[
                "100.64.9.2/32, 198.18.77.0/24",
                "100.64.9.7/32, 198.18.90.0/24, fd00:9::2/128",
            ],
        );
        let drift = drift(&wanted, &routes);
        assert_eq!(drift.missing, ["198.18.90.0/24".parse::<IpNet>().unwrap()]);
        assert!(drift.stale.is_empty(), "{drift:?}");
    }

    #[test]
    fn routes_no_peer_needs_are_stale_but_kernel_and_covering_routes_are_not() {
        let routes = parse(&lines(V4), false);
        let wanted = with_peers("", &["100.64.9.2/32"]);
        let drift = drift(&wanted, &routes);
        let stale: Vec<String> = drift.stale.iter().map(|r| r.prefix.to_string()).collect();
        assert_eq!(stale, ["100.64.9.7/32", "198.18.77.0/24"]);
        assert!(drift.describe()[0].starts_with("stale route 100.64.9.7/32"));
        // A route covering a peer's prefix carries its traffic: not stale.
        let wider = with_peers("", &["198.18.77.128/25"]);
        assert!(
            !super::drift(&wider, &routes)
                .stale
                .iter()
                .any(|r| r.prefix.to_string() == "198.18.77.0/24")
        );
    }

    #[test]
    fn table_off_is_left_alone_and_a_named_table_is_checked_there() {
        let routes = parse(&lines(V4), false);
        let off = with_peers("Table = off", &["198.18.90.0/24"]);
        assert!(drift(&off, &routes).is_empty());
        let named = with_peers("Table = 100", &["198.18.78.0/24", "198.18.79.0/24"]);
        let drift = drift(&named, &routes);
        assert_eq!(drift.missing, ["198.18.79.0/24".parse::<IpNet>().unwrap()]);
        // In a named table wg-quick routes a /0 like any prefix: the default there is stale.
        let stale: Vec<String> = drift.stale.iter().map(|r| r.prefix.to_string()).collect();
        assert_eq!(stale, ["0.0.0.0/0"]);
    }

    #[test]
    fn a_default_route_with_an_automatic_table_is_wg_quicks_own() {
        let wanted = with_peers("", &["0.0.0.0/0"]);
        assert!(drift(&wanted, &[]).is_empty());
    }
}
