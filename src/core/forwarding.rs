//! What a forwarding host needs so that packets can cross it: the forwarding sysctls of each
//! address family in play, FORWARD accepts for the interface, and on an exit the masquerading of
//! overlay traffic to its uplink. Rendered as wg-quick hooks.
//!
//! Every rule is added with `iptables -C … || iptables -I …` (or `-A` for the masquerade), so
//! re-applying a config or restarting the interface never stacks duplicate rules, and each has its
//! `-D` in PostDown. Prefixes in rules are validated overlay ranges and routes, never free text.

use crate::core::model::{Host, Inventory};
use ipnet::IpNet;

/// Which families a host forwards, and the sysctl keys that switch them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Families {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    pub fn sysctls(self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.ipv4 {
            keys.push("net.ipv4.ip_forward");
        }
        if self.ipv6 {
            keys.push("net.ipv6.conf.all.forwarding");
        }
        keys
    }
}

/// The families a forwarding host must forward: those of the overlay (relays) and of its routes.
pub fn families(inventory: &Inventory, host: &Host) -> Families {
    let mut families = Families::default();
    let mut mark = |net: &IpNet| match net {
        IpNet::V4(_) => families.ipv4 = true,
        IpNet::V6(_) => families.ipv6 = true,
    };
    if host.is_relay() || host.exit {
        inventory.network.ranges.iter().for_each(&mut mark);
    }
    host.routes.iter().for_each(&mut mark);
    families
}

/// One FORWARD rule, as the arguments after `iptables -X FORWARD`.
fn rules(inventory: &Inventory, host: &Host) -> Vec<(&'static str, String)> {
    let mut rules = Vec::new();
    if host.is_relay() {
        let families = families(inventory, host);
        // Relays route overlay ↔ overlay: in and out of the same interface.
        for (enabled, tool) in [(families.ipv4, "iptables"), (families.ipv6, "ip6tables")] {
            if enabled
                && inventory
                    .network
                    .ranges
                    .iter()
                    .any(|range| tool_for(range) == tool)
            {
                rules.push((tool, "-i %i -o %i -j ACCEPT".to_owned()));
            }
        }
    }
    // An exit forwards overlay traffic out of any other interface (its uplink) and lets only the
    // answers back in.
    if host.exit {
        for range in &inventory.network.ranges {
            let tool = tool_for(range);
            rules.push((tool, format!("-i %i ! -o %i -s {range} -j ACCEPT")));
            rules.push((
                tool,
                format!(
                    "! -i %i -o %i -d {range} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
                ),
            ));
        }
    }
    // Hosts with routes forward between the overlay and the subnets behind them, both directions.
    for route in &host.routes {
        let tool = tool_for(route);
        rules.push((tool, format!("-i %i -d {route} -j ACCEPT")));
        rules.push((tool, format!("-o %i -s {route} -j ACCEPT")));
    }
    rules
}

fn tool_for(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "iptables",
        IpNet::V6(_) => "ip6tables",
    }
}

/// PostUp and PostDown commands for a host that forwards (`%i` is wg-quick's interface name).
pub fn hooks(inventory: &Inventory, host: &Host) -> (Vec<String>, Vec<String>) {
    let mut up: Vec<String> = families(inventory, host)
        .sysctls()
        .into_iter()
        .map(|key| format!("sysctl -q -w {key}=1"))
        .collect();
    let mut down = Vec::new();
    for (tool, rule) in rules(inventory, host) {
        up.push(format!(
            "{tool} -C FORWARD {rule} 2>/dev/null || {tool} -I FORWARD {rule}"
        ));
        down.push(format!("{tool} -D FORWARD {rule} 2>/dev/null || true"));
    }
    // An exit's users reach the internet from its own address: their overlay addresses are no
    // one's on the uplink.
    if host.exit {
        for range in &inventory.network.ranges {
            let tool = tool_for(range);
            // The subnets behind the exit itself (`routes`) keep seeing overlay addresses, as
            // they did before it became an exit: exempted ahead of the masquerade.
            for route in host.routes.iter().filter(|route| tool_for(route) == tool) {
                let rule = format!("POSTROUTING -s {range} -d {route} -j RETURN");
                up.push(format!(
                    "{tool} -t nat -C {rule} 2>/dev/null || {tool} -t nat -I {rule}"
                ));
                down.push(format!("{tool} -t nat -D {rule} 2>/dev/null || true"));
            }
            let rule = format!("POSTROUTING -s {range} ! -o %i -j MASQUERADE");
            up.push(format!(
                "{tool} -t nat -C {rule} 2>/dev/null || {tool} -t nat -A {rule}"
            ));
            down.push(format!("{tool} -t nat -D {rule} 2>/dev/null || true"));
        }
    }
    (up, down)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn relays_and_routers_get_idempotent_rules() {
        let inventory = crate::core::inventory::parse(
            Path::new("t.yaml"),
            "network: { addresses: [100.64.0.0/24, 'fd00:64::/64'] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  s: { endpoint: 198.51.100.2, routes: [198.18.50.0/24] }\n  p: { endpoint: 198.51.100.3 }\n",
        )
        .unwrap();
        let (up, down) = hooks(&inventory, &inventory.hosts[0]);
        assert_eq!(
            up,
            vec![
                "sysctl -q -w net.ipv4.ip_forward=1",
                "sysctl -q -w net.ipv6.conf.all.forwarding=1",
                "iptables -C FORWARD -i %i -o %i -j ACCEPT 2>/dev/null || iptables -I FORWARD -i %i -o %i -j ACCEPT",
                "ip6tables -C FORWARD -i %i -o %i -j ACCEPT 2>/dev/null || ip6tables -I FORWARD -i %i -o %i -j ACCEPT",
            ]
        );
        assert_eq!(down.len(), 2);
        let (up, down) = hooks(&inventory, &inventory.hosts[1]);
        assert_eq!(up[0], "sysctl -q -w net.ipv4.ip_forward=1");
        assert_eq!(up.len(), 3);
        assert_eq!(
            down[1],
            "iptables -D FORWARD -o %i -s 198.18.50.0/24 -j ACCEPT 2>/dev/null || true"
        );
        assert_eq!(hooks(&inventory, &inventory.hosts[2]), (vec![], vec![]));
    }

    #[test]
    fn an_exit_masquerades_the_overlay_but_not_towards_its_own_subnets() {
        let inventory = crate::core::inventory::parse(
            Path::new("t.yaml"),
            "network: { addresses: [100.64.0.0/24, 'fd00:64::/64'] }\nhosts:\n  e: { endpoint: 198.51.100.1, exit: true, routes: [198.18.50.0/24] }\n",
        )
        .unwrap();
        let (up, down) = hooks(&inventory, &inventory.hosts[0]);
        let nat: Vec<&str> = up
            .iter()
            .filter(|line| line.contains("-t nat"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            nat,
            [
                "iptables -t nat -C POSTROUTING -s 100.64.0.0/24 -d 198.18.50.0/24 -j RETURN 2>/dev/null || iptables -t nat -I POSTROUTING -s 100.64.0.0/24 -d 198.18.50.0/24 -j RETURN",
                "iptables -t nat -C POSTROUTING -s 100.64.0.0/24 ! -o %i -j MASQUERADE 2>/dev/null || iptables -t nat -A POSTROUTING -s 100.64.0.0/24 ! -o %i -j MASQUERADE",
                "ip6tables -t nat -C POSTROUTING -s fd00:64::/64 ! -o %i -j MASQUERADE 2>/dev/null || ip6tables -t nat -A POSTROUTING -s fd00:64::/64 ! -o %i -j MASQUERADE",
            ]
        );
        assert!(up.contains(&"sysctl -q -w net.ipv6.conf.all.forwarding=1".to_owned()));
        // Every rule added is deleted on down: the same rule text after -C and after -D.
        for line in &up {
            if let Some((check, _)) = line.split_once(" 2>/dev/null || ") {
                let removal = check.replacen(" -C ", " -D ", 1);
                assert!(
                    down.iter().any(|down| down.starts_with(&removal)),
                    "{line} has no -D"
                );
            }
        }
        assert_eq!(
            up.len() - 2,
            down.len(),
            "two sysctls, then one -D per rule"
        );
    }
}
