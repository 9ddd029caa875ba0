//! Rules across hosts: unique pins and endpoints, routes, a relay for NAT-ed hosts, keepalive.

use super::Checker;
use super::exit::exit_relay;
use super::home::default_home;
use super::host::HostRefs;
use super::network::{NetworkDraft, same_family};
use crate::core::model::{Endpoint, Home, HomeChoice, Host, HostId};
use crate::core::underlay;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// Rules across hosts: unique pins and endpoints, non-overlapping routes, a relay for NAT-ed hosts,
/// and default home relays.
pub(super) fn check_cross_host(
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
        for (endpoint, at) in host.endpoints.iter().zip(&refs.endpoints_at) {
            if let Some(&first) = endpoints.get(endpoint) {
                checker.report(
                    at.clone(),
                    Some(host.name.as_str()),
                    format!("`{}` and `{}` share the endpoint `{endpoint}`: handshakes for one would land on the other", hosts[first].name, host.name),
                    Some("give each host its own address or port (`listen_port` and `endpoint: ADDRESS:PORT`)".into()),
                );
            } else {
                endpoints.insert(endpoint, id);
            }
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
        if hosts[id].home.is_some() || relays.is_empty() {
            continue;
        }
        // A host using a relay as its exit is homed there (validation refuses another `via`).
        if let Some(relay) = exit_relay(hosts, id) {
            hosts[id].home = Some(Home {
                relay,
                choice: HomeChoice::Exit,
            });
            continue;
        }
        // Only the relays it shares an address family with can be its home (`core::underlay`).
        let dialable: Vec<HostId> = relays
            .iter()
            .copied()
            .filter(|&relay| underlay::choose(&hosts[id], &hosts[relay]).is_some())
            .collect();
        if dialable.is_empty() {
            continue; // reported by `families::check_dialling`
        }
        let mut home = default_home(hosts, id, &dialable);
        if dialable.len() == 1 && relays.len() > 1 {
            home.choice = HomeChoice::Family;
        }
        hosts[id].home = Some(home);
    }
    super::families::check_dialling(checker, hosts, refs);
}

/// Routes must not overlap the overlay or each other: two owners of one prefix means the last peer
/// silently wins on every host (DESIGN §1.6).
pub(super) fn check_routes(
    checker: &mut Checker,
    network: &NetworkDraft,
    hosts: &[Host],
    refs: &[HostRefs],
) {
    let mut all: Vec<(IpNet, HostId, usize)> = Vec::new();
    for (id, host) in hosts.iter().enumerate() {
        for (index, route) in host.routes.iter().enumerate() {
            if route.prefix_len() == 0 {
                let name = &host.name;
                checker.report(
                    refs[id].routes_at[index].clone(),
                    Some(name.as_str()),
                    format!("route `{route}` is the whole internet, not a subnet behind `{name}`"),
                    Some(format!("to send hosts' internet traffic through `{name}`, write `exit: true` on `{name}` (it needs an `endpoint`) and `use_exit: {name}` on each host that should use it; `routes` are subnets behind a host (e.g. a LAN)")),
                );
                continue;
            }
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

pub(super) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    same_family(a, b) && (a.contains(&b.network()) || b.contains(&a.network()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
