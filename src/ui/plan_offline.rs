//! The offline plan as a person reads it and as a machine reads it: per host, its peers, what each
//! peer's AllowedIPs carry and why, and which hosts must forward. Pure: returns text or JSON.

use crate::core::model::{HomeChoice, Host, HostId, InterfaceSettings, Inventory, Role};
use crate::core::render::Deployment;
use crate::core::topology::{Carries, Link, Peer};
use crate::core::underlay::Families;
use crate::ui::json::{OfflineAllowed, OfflineHost, OfflinePeer, OfflinePlan, OfflineSettings};
use std::fmt::Write;

/// How many names to spell out when a catch-all stands for many hosts.
const NAMES_SHOWN: usize = 6;

/// Fleets larger than this are shown one line per host unless details are asked for: 300 hosts in
/// full are 100,000 lines nobody reads.
pub const SUMMARY_ABOVE: usize = 20;

/// How much of each host the text shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Peers, AllowedIPs and why, forwarding.
    Details,
    /// One line per host: role, address, peer count, endpoint or home relay, forwards.
    Summary,
}

/// The hosts to show: `None` for all of them, else these (inventory order).
pub type Shown<'a> = Option<&'a [HostId]>;

/// The offline plan as text: a header, the `shown` hosts in `form`, and the fleet's totals.
pub fn human(deployment: &Deployment, shown: Shown, form: Form) -> String {
    let inventory = &deployment.inventory;
    let network = &inventory.network;
    let mut out = String::new();
    let ranges: Vec<String> = network.ranges.iter().map(ToString::to_string).collect();
    let _ = writeln!(out, "Offline plan for {}", inventory.path.display());
    let _ = writeln!(
        out,
        "network {}: {}, listen port {}, keepalive {}s from hosts behind NAT{}",
        network.interface,
        ranges.join(", "),
        network.port,
        network.keepalive,
        network
            .mtu
            .map(|mtu| format!(", MTU {mtu}"))
            .unwrap_or_default()
    );
    let mut defaults = describe_settings(&network.settings, None);
    defaults.retain(|part| !part.starts_with("MTU "));
    if !defaults.is_empty() {
        let _ = writeln!(out, "every host: {}", defaults.join(", "));
    }
    let all: Vec<HostId> = (0..inventory.hosts.len()).collect();
    let ids = shown.unwrap_or(&all);
    match form {
        Form::Details => {
            for &id in ids {
                host_details(&mut out, deployment, id);
            }
        }
        Form::Summary => {
            let _ = writeln!(out);
            out.push_str(&summary_table(deployment, ids));
            // One line per host has no room for them, and an endpoint nobody can dial must not
            // go unseen.
            for &id in ids {
                for warning in
                    crate::core::underlay::warnings(&inventory.hosts[id], &network.ranges)
                {
                    let _ = writeln!(out, "{warning}");
                }
            }
            let _ = writeln!(
                out,
                "\nOne line per host; each host's peers and AllowedIPs: `--hosts NAME,...` or `--verbose`."
            );
        }
    }
    let forwarders: Vec<String> = inventory
        .hosts
        .iter()
        .enumerate()
        .filter(|(id, _)| deployment.topology.hosts[*id].forwarding)
        .map(|(_, host)| host.name.to_string())
        .collect();
    let _ = writeln!(out);
    if forwarders.is_empty() {
        let _ = writeln!(out, "No host needs to forward.");
    } else {
        let _ = writeln!(out, "Must forward: {}", forwarders.join(", "));
    }
    let peer_count: usize = deployment
        .topology
        .hosts
        .iter()
        .map(|plan| plan.peers.len())
        .sum();
    if shown.is_some() {
        let _ = writeln!(
            out,
            "Shown: {} of {} hosts (`--hosts`).",
            ids.len(),
            inventory.hosts.len()
        );
    }
    let _ = writeln!(
        out,
        "{} hosts, {peer_count} peer entries.",
        inventory.hosts.len()
    );
    out
}

/// One host in full: its addresses and kind, what it forwards, and each peer with its AllowedIPs.
fn host_details(out: &mut String, deployment: &Deployment, id: HostId) {
    let inventory = &deployment.inventory;
    let host = &inventory.hosts[id];
    let plan = &deployment.topology.hosts[id];
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}  {}  {}",
        host.name,
        addresses(deployment, id),
        describe_host(inventory, host)
    );
    if host.is_device() {
        let _ = writeln!(
            out,
            "  device (not managed over SSH): `wgdeploy export` hands out its config"
        );
    }
    if plan.forwarding {
        let _ = writeln!(out, "  forwards: {}", forwarding_summary(inventory, host));
    }
    for warning in crate::core::underlay::warnings(host, &inventory.network.ranges) {
        let _ = writeln!(out, "  {warning}");
    }
    settings_lines(out, host, &inventory.network.settings);
    if plan.peers.is_empty() {
        let _ = writeln!(out, "  (no peers)");
    }
    let width = plan
        .peers
        .iter()
        .map(|peer| inventory.hosts[peer.host].name.as_str().len())
        .max()
        .unwrap_or(0);
    for peer in &plan.peers {
        let other = &inventory.hosts[peer.host];
        let _ = writeln!(
            out,
            "  {:width$}  {}",
            other.name.as_str(),
            describe_peer(inventory, host, peer)
        );
        for allowed in &peer.allowed {
            let _ = writeln!(
                out,
                "  {:width$}    {:<18} {}",
                "",
                allowed.net.to_string(),
                carries(deployment, id, peer, allowed.carries)
            );
        }
    }
}

/// One line per host, aligned: name, addresses, role, peer count, how it is reached, forwarding.
fn summary_table(deployment: &Deployment, ids: &[HostId]) -> String {
    let inventory = &deployment.inventory;
    let mut rows = vec![
        [
            "HOST",
            "ADDRESSES",
            "ROLE",
            "PEERS",
            "REACHED AT",
            "FORWARDS",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for &id in ids {
        let host = &inventory.hosts[id];
        let plan = &deployment.topology.hosts[id];
        let reached = match (host.endpoints.is_empty(), host.home) {
            (false, _) => endpoints(host),
            (true, Some(home)) => format!("home relay {}", inventory.hosts[home.relay].name),
            (true, None) => "behind NAT, no relay".to_owned(),
        };
        rows.push(vec![
            host.name.to_string(),
            addresses(deployment, id),
            // A device's role says it is never logged into: `nat device`.
            if host.is_device() {
                format!("{} device", host.role.as_str())
            } else {
                host.role.as_str().to_owned()
            },
            plan.peers.len().to_string(),
            reached,
            if plan.forwarding { "yes" } else { "no" }.to_owned(),
        ]);
    }
    crate::ui::table::render(&rows, "")
}

fn addresses(deployment: &Deployment, id: HostId) -> String {
    let list: Vec<String> = deployment.addresses[id]
        .iter()
        .map(ToString::to_string)
        .collect();
    list.join(", ")
}

/// A host's endpoints, comma-separated, in the inventory's order.
fn endpoints(host: &Host) -> String {
    let all: Vec<String> = host.endpoints.iter().map(ToString::to_string).collect();
    all.join(", ")
}

fn describe_host(inventory: &Inventory, host: &Host) -> String {
    let endpoint = match host.endpoints.len() {
        1 => format!("endpoint {}", endpoints(host)),
        _ => format!("endpoints {}", endpoints(host)),
    };
    // The underlay is worth a word when it is not what everyone assumes (IPv4 alone).
    let underlay = if host.underlay_declared || host.underlay != Families::IPV4 {
        format!(", underlay {}", host.underlay)
    } else {
        String::new()
    };
    match host.role {
        Role::Relay => format!("relay, {endpoint}{underlay}"),
        Role::Public => format!("public, {endpoint}{underlay}"),
        Role::Nat if !underlay.is_empty() => match host.home {
            None => format!("behind NAT{underlay}, no relay (reaches public hosts only)"),
            Some(home) => format!(
                "behind NAT{underlay}, home relay {} ({})",
                inventory.hosts[home.relay].name,
                home_choice(home.choice)
            ),
        },
        Role::Nat => match host.home {
            None => "behind NAT, no relay (reaches public hosts only)".into(),
            Some(home) => format!(
                "behind NAT, home relay {} ({})",
                inventory.hosts[home.relay].name,
                home_choice(home.choice)
            ),
        },
    }
}

fn home_choice(choice: HomeChoice) -> &'static str {
    match choice {
        HomeChoice::Via => "via",
        HomeChoice::Only => "the only relay",
        HomeChoice::Hashed => "default: rendezvous hash",
        HomeChoice::Exit => "default: its exit",
        HomeChoice::Family => "the only relay of an address family it has",
    }
}

fn forwarding_summary(inventory: &Inventory, host: &Host) -> String {
    let families = crate::core::forwarding::families(inventory, host);
    let mut parts: Vec<String> = families
        .sysctls()
        .iter()
        .map(|key| format!("{key}=1"))
        .collect();
    if host.is_relay() {
        parts.push(format!(
            "FORWARD {0} → {0} accepted",
            inventory.network.interface
        ));
    }
    for route in &host.routes {
        parts.push(format!(
            "FORWARD {} ↔ {route} accepted",
            inventory.network.interface
        ));
    }
    if host.exit {
        parts.push(format!(
            "exit: FORWARD {0} → uplink accepted (answers back), overlay masqueraded out of every interface but {0}",
            inventory.network.interface
        ));
    }
    parts.join(", ")
}

/// Interface settings in words; with `defaults`, only those that differ from them.
fn describe_settings(
    settings: &InterfaceSettings,
    defaults: Option<&InterfaceSettings>,
) -> Vec<String> {
    let differs = |pick: fn(&InterfaceSettings) -> String| {
        let own = pick(settings);
        (!own.is_empty() && defaults.is_none_or(|defaults| pick(defaults) != own)).then_some(own)
    };
    [
        differs(|s| {
            if s.dns.is_empty() {
                String::new()
            } else {
                format!("DNS {}", s.dns.join(", "))
            }
        }),
        differs(|s| s.mtu.map(|mtu| format!("MTU {mtu}")).unwrap_or_default()),
        differs(|s| {
            s.table
                .map(|table| format!("Table {table}"))
                .unwrap_or_default()
        }),
        differs(|s| {
            s.fwmark
                .map(|mark| format!("FwMark {mark:#x}"))
                .unwrap_or_default()
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What the plan warns about for this host: endpoints that cannot be right, an up-hook nothing
/// takes down, a full tunnel without wg-quick's policy routing.
fn own_warnings(inventory: &Inventory, host: &Host) -> Vec<String> {
    let mut warnings = crate::core::underlay::warnings(host, &inventory.network.ranges);
    warnings.extend(host.settings.interface.unpaired_hooks());
    warnings.extend(host.full_tunnel_warning());
    warnings
}

/// The host's settings that differ from the network's, its hooks, and the warning for an up-hook
/// nothing undoes.
fn settings_lines(out: &mut String, host: &Host, defaults: &InterfaceSettings) {
    let settings = &host.settings.interface;
    let mut parts = describe_settings(settings, Some(defaults));
    if settings.dns.is_empty() && !defaults.dns.is_empty() {
        parts.push("no DNS".to_owned());
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "  settings: {}", parts.join(", "));
    }
    for (name, commands) in [
        ("pre_up", &settings.pre_up),
        ("post_up", &settings.post_up),
        ("pre_down", &settings.pre_down),
        ("post_down", &settings.post_down),
    ] {
        for command in commands {
            let _ = writeln!(out, "  {name}: {}", crate::core::model::printable(command));
        }
    }
    let hooks = host.settings.interface.unpaired_hooks();
    for warning in hooks.into_iter().chain(host.full_tunnel_warning()) {
        let _ = writeln!(out, "  {warning}");
    }
}

fn describe_peer(inventory: &Inventory, me: &Host, peer: &Peer) -> String {
    let other = &inventory.hosts[peer.host];
    let why = match peer.link {
        Link::Direct if other.is_nat() => "direct; it is behind NAT and dials in".to_owned(),
        Link::Direct => "direct".to_owned(),
        Link::HomeRelay => "home relay".to_owned(),
        Link::HomedHere => "homed here; behind NAT, dials in".to_owned(),
        Link::RelayMesh => "relay mesh".to_owned(),
    };
    let mut text = why;
    if peer.dial
        && let Some(endpoint) = crate::core::underlay::choose(me, other)
    {
        let _ = write!(text, ", dials {endpoint}");
    }
    if let Some(seconds) = peer.keepalive {
        let _ = write!(text, ", keepalive {seconds}s");
    }
    text
}

/// Why a prefix is in a peer's AllowedIPs, as a phrase.
fn carries(deployment: &Deployment, me: HostId, peer: &Peer, carries: Carries) -> String {
    let hosts = &deployment.inventory.hosts;
    let name = |id: HostId| hosts[id].name.as_str();
    let path = |id: HostId| match (peer.link, hosts[id].home) {
        (Link::RelayMesh, Some(home)) if id != peer.host => {
            format!(" (homed on {})", name(home.relay))
        }
        (Link::HomeRelay, _) => format!(" (through {})", name(peer.host)),
        // A NAT-ed host with no address family in common with this public host, relayed.
        (Link::Direct, _) if id != peer.host => format!(" (through {})", name(peer.host)),
        _ => String::new(),
    };
    match carries {
        Carries::Address(id) => format!("{}'s address{}", name(id), path(id)),
        Carries::Route(id) => format!("subnet behind {}{}", name(id), path(id)),
        Carries::Extra => "extra, from the inventory's `allowed_ips`".to_owned(),
        Carries::Internet(exit) => format!(
            "internet traffic, out through exit {} (`use_exit`)",
            name(exit)
        ),
        Carries::Overlay => {
            let reached: Vec<&str> = reached_through(deployment, me, peer)
                .into_iter()
                .map(name)
                .collect();
            if reached.is_empty() {
                format!("overlay catch-all: {} itself", name(peer.host))
            } else {
                format!(
                    "overlay catch-all: {} itself, and {} through it",
                    name(peer.host),
                    list(&reached)
                )
            }
        }
    }
}

/// Hosts that `me` reaches through `peer`'s catch-all: everyone it does not list directly.
fn reached_through(deployment: &Deployment, me: HostId, peer: &Peer) -> Vec<HostId> {
    let plan = &deployment.topology.hosts[me];
    let mut direct = vec![false; deployment.inventory.hosts.len()];
    for other in &plan.peers {
        if other.host != peer.host {
            direct[other.host] = true;
        }
    }
    let mut reached: Vec<HostId> = (0..direct.len())
        .filter(|&id| id != me && id != peer.host && !direct[id])
        .collect();
    reached.sort_by(|&a, &b| {
        deployment.inventory.hosts[a]
            .name
            .cmp(&deployment.inventory.hosts[b].name)
    });
    reached
}

fn list(names: &[&str]) -> String {
    if names.len() <= NAMES_SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..NAMES_SHOWN].join(", "),
            names.len() - NAMES_SHOWN
        )
    }
}

/// The offline plan as JSON: every detail of the `shown` hosts; the totals are the fleet's.
pub fn json(deployment: &Deployment, shown: Shown) -> serde_json::Value {
    let inventory = &deployment.inventory;
    let hosts = &inventory.hosts;
    let name = |id: HostId| hosts[id].name.as_str();
    let all: Vec<HostId> = (0..hosts.len()).collect();
    let json_hosts = shown
        .unwrap_or(&all)
        .iter()
        .map(|&id| {
            let host = &hosts[id];
            let plan = &deployment.topology.hosts[id];
            OfflineHost {
                name: host.name.as_str(),
                role: host.role,
                addresses: deployment.addresses[id]
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                endpoint: host.endpoints.first().map(ToString::to_string),
                endpoints: host.endpoints.iter().map(ToString::to_string).collect(),
                underlay: host.underlay.names(),
                home_relay: host.home.map(|home| name(home.relay)),
                home_choice: host.home.map(|home| home.choice),
                managed: !host.is_device(),
                forwarding: plan
                    .forwarding
                    .then(|| crate::core::forwarding::families(inventory, host).sysctls()),
                settings: {
                    let own = &host.settings.interface;
                    OfflineSettings {
                        dns: &own.dns,
                        mtu: own.mtu,
                        table: own.table.map(|table| table.to_string()),
                        fwmark: own.fwmark.map(|mark| format!("{mark:#x}")),
                        keepalive: host.settings.keepalive,
                        pre_up: &own.pre_up,
                        post_up: &own.post_up,
                        pre_down: &own.pre_down,
                        post_down: &own.post_down,
                    }
                },
                warnings: own_warnings(inventory, host),
                peers: plan
                    .peers
                    .iter()
                    .map(|peer| OfflinePeer {
                        name: name(peer.host),
                        link: peer.link,
                        endpoint: peer
                            .dial
                            .then(|| crate::core::underlay::choose(host, &hosts[peer.host]))
                            .flatten()
                            .map(ToString::to_string),
                        keepalive: peer.keepalive,
                        allowed_ips: peer
                            .allowed
                            .iter()
                            .map(|allowed| {
                                let (carries, host, reaches) = match allowed.carries {
                                    Carries::Address(owner) => ("address", Some(name(owner)), None),
                                    Carries::Route(owner) => ("route", Some(name(owner)), None),
                                    Carries::Extra => ("extra", None, None),
                                    Carries::Internet(exit) => ("internet", Some(name(exit)), None),
                                    Carries::Overlay => (
                                        "overlay",
                                        None,
                                        Some(
                                            reached_through(deployment, id, peer)
                                                .into_iter()
                                                .map(name)
                                                .collect(),
                                        ),
                                    ),
                                };
                                OfflineAllowed {
                                    prefix: allowed.net.to_string(),
                                    carries,
                                    host,
                                    reaches,
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let plan = OfflinePlan {
        inventory: inventory.path.display().to_string(),
        interface: inventory.network.interface.as_str(),
        overlay: inventory
            .network
            .ranges
            .iter()
            .map(ToString::to_string)
            .collect(),
        hosts: json_hosts,
        must_forward: (0..hosts.len())
            .filter(|&id| deployment.topology.hosts[id].forwarding)
            .map(name)
            .collect(),
        peer_entries: deployment
            .topology
            .hosts
            .iter()
            .map(|plan| plan.peers.len())
            .sum(),
    };
    crate::ui::json::to_value(plan)
}
