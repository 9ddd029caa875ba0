//! `check`'s verdicts for people and machines: the matrix, each failure's path, the rule that breaks
//! it and the fix, conditions, warnings. Pure: returns text or JSON.

use crate::check::{
    Condition, Forwarding, HostIndex, PlaceIndex, PlaceKind, Problem, Report, Simulation, Verdict,
    Warning,
};
use serde_json::Value;
use std::fmt::Write;

/// Above this many hosts the grid is not drawn (counts and failures still are).
const GRID_MAX_HOSTS: usize = 40;
/// Failures explained in full before the rest are summarised.
const FAILURES_SHOWN: usize = 50;
/// Above this many hosts, JSON lists only the pairs that are not plainly reachable.
const JSON_ALL_PAIRS_MAX_HOSTS: usize = 200;

/// A failing or conditional pair, explained.
pub struct Explained {
    pub from: PlaceIndex,
    pub to: PlaceIndex,
    pub verdict: Verdict,
    /// `request` or `reply`: which leg breaks (for unreachable pairs).
    pub leg: Option<&'static str>,
    pub path: Vec<HostIndex>,
    /// `path` as names, with the subnet or internet at either end.
    pub path_shown: Vec<String>,
    pub rule: String,
    pub fix: String,
}

/// A place's name: a host's name, a subnet's prefix, `internet via EXIT`.
fn name<'a>(simulation: &'a Simulation<'a>, place: PlaceIndex) -> &'a str {
    &simulation.network.places[place].name
}

/// The hosts a packet visited, with the subnet or internet it came from and went to at the ends.
fn path_names(simulation: &Simulation, item: &Explained, leg_reversed: bool) -> Vec<String> {
    let hosts = simulation.network.nodes.len();
    let (start, end) = if leg_reversed {
        (item.to, item.from)
    } else {
        (item.from, item.to)
    };
    let mut names = Vec::with_capacity(item.path.len() + 2);
    if start >= hosts {
        names.push(name(simulation, start).to_owned());
    }
    names.extend(
        item.path
            .iter()
            .map(|&host| name(simulation, host).to_owned()),
    );
    let delivered = item.path.last() == Some(&simulation.owner(end)) && item.leg.is_none();
    if end >= hosts && delivered {
        names.push(name(simulation, end).to_owned());
    }
    names
}

/// Every pair that is not plainly reachable, explained, in matrix order.
pub fn explain_all(simulation: &Simulation, report: &Report) -> Vec<Explained> {
    let mut explained = Vec::new();
    for from in 0..report.places {
        for to in 0..report.places {
            if !report.tested(from, to) {
                continue;
            }
            if report.plainly_reachable(from, to) {
                continue;
            }
            let verdict = report.pair(from, to);
            explained.push(explain(simulation, report, from, to, verdict));
        }
    }
    explained
}

fn explain(
    simulation: &Simulation,
    report: &Report,
    from: PlaceIndex,
    to: PlaceIndex,
    verdict: Verdict,
) -> Explained {
    let request_fails = matches!(report.direction(from, to), Verdict::Unreachable(_));
    let reversed = !request_fails && matches!(verdict, Verdict::Unreachable(_));
    let (leg_from, leg_to) = if reversed { (to, from) } else { (from, to) };
    let mut path = Vec::new();
    let _ = simulation.direction_traced(leg_from, leg_to, &mut path);
    let (rule, fix, leg) = match &verdict {
        Verdict::Unreachable(problem) => {
            let (rule, fix) = describe_problem(simulation, problem, leg_from, leg_to);
            (
                rule,
                fix,
                Some(if request_fails { "request" } else { "reply" }),
            )
        }
        Verdict::Conditional(conditions) => {
            let texts: Vec<String> = conditions
                .iter()
                .map(|condition| describe_condition(simulation, condition))
                .collect();
            (
                texts.join("; "),
                condition_fix(simulation, conditions),
                None,
            )
        }
        Verdict::Reachable => (String::new(), String::new(), None),
    };
    let mut item = Explained {
        from,
        to,
        verdict,
        leg,
        path,
        path_shown: Vec::new(),
        rule,
        fix,
    };
    item.path_shown = path_names(simulation, &item, reversed);
    item
}

fn prefixes(simulation: &Simulation, host: HostIndex, entry: usize) -> String {
    let allowed: Vec<String> = simulation.network.nodes[host].entries[entry]
        .allowed
        .iter()
        .map(ToString::to_string)
        .collect();
    allowed.join(", ")
}

/// The prefix a fix adds to AllowedIPs for `ip`, the address of `place`: a subnet's prefix, the
/// default route for the internet, a host's address or its overlay range.
fn what_to_add(simulation: &Simulation, place: PlaceIndex, ip: std::net::IpAddr) -> String {
    match &simulation.network.places[place].kind {
        PlaceKind::Subnet(prefix) => prefix.to_string(),
        PlaceKind::Internet { .. } if ip.is_ipv6() => "::/0".into(),
        PlaceKind::Internet { .. } => "0.0.0.0/0".into(),
        PlaceKind::Host => format!("{ip} (or the overlay range)"),
    }
}

/// The rule that breaks, and the fix, naming hosts, peers and prefixes.
pub fn describe_problem(
    simulation: &Simulation,
    problem: &Problem,
    from: PlaceIndex,
    to: PlaceIndex,
) -> (String, String) {
    let nodes = &simulation.network.nodes;
    let n = |host: HostIndex| name(simulation, host);
    let through = |at: HostIndex, entry: usize, dst| match simulation.instead(at, entry, dst) {
        Some(relay) => format!("; traffic then goes through {}", n(relay)),
        None => String::new(),
    };
    match problem {
        Problem::NoCommonFamily => (
            format!("{} and {} have no address family in common", n(from), n(to)),
            "give both hosts an address of the same family".into(),
        ),
        Problem::NoRoute { at, dst } => (
            format!("{} has no AllowedIPs covering {dst}: the packet matches no peer and is dropped", n(*at)),
            format!("add {} to the AllowedIPs of the peer that leads to {} on {}", what_to_add(simulation, to, *dst), n(to), n(*at)),
        ),
        Problem::External { at, entry } => (
            format!("{} sends it to peer `{}`, whose key matches no host in this set", n(*at), nodes[*at].entries[*entry].label),
            format!("add that host's config to the set, or remove the peer from {}", n(*at)),
        ),
        Problem::NotListed { at, to: peer } => (
            format!("{} lists {}, but {} does not list {}: it rejects {}'s handshake (a peer listed on one side only)", n(*at), n(*peer), n(*peer), n(*at), n(*at)),
            format!("add {} as a peer on {}, or remove {} from {}'s peers", n(*at), n(*peer), n(*peer), n(*at)),
        ),
        Problem::NoEndpoint { at, entry, dst } => {
            let target = nodes[*at].entries[*entry].target.expect("a session problem has a target");
            let rule = format!(
                "{} lists {} ({}) with no endpoint and {} never initiates to {}: nobody can start the tunnel",
                n(*at),
                n(target),
                prefixes(simulation, *at, *entry),
                n(target),
                n(*at)
            );
            let fix = match simulation.instead(*at, *entry, *dst) {
                Some(_) => format!("remove {} from {}'s peers{}", n(target), n(*at), through(*at, *entry, *dst)),
                None if nodes[target].reachable => format!("add {}'s endpoint to its entry on {}", n(target), n(*at)),
                None => format!(
                    "{} and {} are both unreachable from outside: route them through a relay (give {} the relay's catch-all) and remove {} from {}'s peers",
                    n(*at),
                    n(target),
                    n(*at),
                    n(target),
                    n(*at)
                ),
            };
            (rule, fix)
        }
        Problem::EndpointFamily { at, entry, dst } => {
            let item = &nodes[*at].entries[*entry];
            let target = item.target.expect("a session problem has a target");
            let endpoint = item.endpoint.as_deref().unwrap_or_default();
            let family = crate::check::underlay::endpoint_family(endpoint).map_or_else(
                || format!("a DNS name, taken as {}, the families of {}'s network", nodes[target].underlay.families, n(target)),
                |family| format!("{family}"),
            );
            let underlay = &nodes[*at].underlay;
            let whence = if underlay.assumed {
                format!(" (assumed: nobody lists an IP endpoint for {}; `--underlay {}=ipv4,ipv6` states its families)", n(*at), n(*at))
            } else {
                String::new()
            };
            let rule = format!(
                "{} lists {} at Endpoint {endpoint} ({family}), but {} has only {}{whence}: it cannot send the handshake, and {} never initiates to {}",
                n(*at),
                n(target),
                n(*at),
                underlay.families,
                n(target),
                n(*at)
            );
            let fix = match simulation.instead(*at, *entry, *dst) {
                Some(_) => format!("remove {} from {}'s peers{}", n(target), n(*at), through(*at, *entry, *dst)),
                None => format!(
                    "give {} an endpoint of {} for {} to dial (in an inventory: `endpoint: [IPv4, \"[IPv6]:PORT\"]`, one per family), or route {} through a relay both can reach",
                    n(target),
                    underlay.families,
                    n(*at),
                    n(*at)
                ),
            };
            (rule, fix)
        }
        Problem::WrongEndpoint { at, entry, owner, dst } => {
            let item = &nodes[*at].entries[*entry];
            let target = item.target.expect("a session problem has a target");
            (
                format!(
                    "{} lists {} with Endpoint {}, which is {}'s endpoint: the handshake for {}'s key lands on {}, which drops it",
                    n(*at),
                    n(target),
                    item.endpoint.as_deref().unwrap_or_default(),
                    n(*owner),
                    n(target),
                    n(*owner)
                ),
                match simulation.instead(*at, *entry, *dst) {
                    Some(_) => format!("remove {} from {}'s peers{}", n(target), n(*at), through(*at, *entry, *dst)),
                    None => format!("use {}'s own endpoint, or route through a relay", n(target)),
                },
            )
        }
        Problem::SourceFilter { at, from: sender, src, attributed } => match attributed.map(|entry| &nodes[*at].entries[entry]) {
            Some(other) => (
                format!(
                    "{} drops the packet arriving from {}: its source {src} falls under peer {} ({}) in {}'s AllowedIPs, not under {} (inbound source filter)",
                    n(*at),
                    n(*sender),
                    other.label,
                    other.allowed.iter().filter(|net| net.contains(src)).map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    n(*at),
                    n(*sender)
                ),
                format!("remove {} from {}'s peers (or its prefix covering {src}), so {src} falls under {}'s entry", other.label, n(*at), n(*sender)),
            ),
            None => (
                format!("{} drops the packet arriving from {}: its source {src} is in none of {}'s AllowedIPs (inbound source filter)", n(*at), n(*sender), n(*at)),
                format!("add {} to {}'s AllowedIPs for {}", what_to_add(simulation, from, *src), n(*at), n(*sender)),
            ),
        },
        Problem::NoForwarding { at } => match [from, to]
            .into_iter()
            .find(|&place| place >= nodes.len() && simulation.owner(place) == *at)
        {
            Some(place) => (
                format!("{} would have to forward the packet between the tunnel and {}, but it does not forward", n(*at), n(place)),
                format!("enable forwarding on {} (net.ipv4.ip_forward=1 and a FORWARD accept), or give it `routes` in the inventory", n(*at)),
            ),
            None => (
                format!("{} would have to forward the packet, but it does not forward", n(*at)),
                format!("make {} a relay (`relay: true` with an endpoint), or route the traffic another way", n(*at)),
            ),
        },
        Problem::ExitMissed { at, exit } => (
            format!(
                "{} has no AllowedIPs covering the internet: the packet leaves through {}'s own uplink instead of the exit {}",
                n(*at),
                n(*at),
                n(*exit)
            ),
            format!(
                "on {}, put 0.0.0.0/0 (and ::/0) on the peer that leads to {}",
                n(*at),
                n(*exit)
            ),
        ),
        Problem::WrongHost { at } => (
            format!("the packet reaches {}, which has the same address as {}", n(*at), n(to)),
            "give every host its own address".into(),
        ),
        Problem::Loop => (
            format!("the packet from {} to {} loops between hosts", n(from), n(to)),
            "check the AllowedIPs of the relays on the path: each must send the destination towards its owner".into(),
        ),
    }
}

pub fn describe_condition(simulation: &Simulation, condition: &Condition) -> String {
    let n = |host: HostIndex| name(simulation, host);
    match condition {
        Condition::FirstContact { talker, peer } => format!(
            "{} can send to {} only after {} has sent first (no endpoint for it)",
            n(*talker),
            n(*peer),
            n(*peer)
        ),
        Condition::NatMapping { initiator, peer } => format!(
            "{} is behind NAT and sends no keepalive to {}: works only while the NAT mapping lasts",
            n(*initiator),
            n(*peer)
        ),
        Condition::MustForward { host } => format!(
            "{} must forward (nothing in its config shows it does)",
            n(*host)
        ),
        Condition::OwnRouting { host } => {
            let table = simulation.network.nodes[*host]
                .own_routing
                .as_deref()
                .unwrap_or("off");
            let routes = if table.eq_ignore_ascii_case("off") {
                "wg-quick adds no routes for its peers".to_owned()
            } else {
                format!(
                    "wg-quick puts its peers' routes in table {table}, which only your own `ip rule`s consult"
                )
            };
            format!(
                "{} has `Table = {table}`: {routes}, so traffic reaches the tunnel only through your own routing",
                n(*host)
            )
        }
        Condition::MustMasquerade { host } => format!(
            "{} must masquerade what it sends to the internet (nothing in its config shows it does)",
            n(*host)
        ),
    }
}

fn condition_fix(simulation: &Simulation, conditions: &[Condition]) -> String {
    let n = |host: HostIndex| name(simulation, host);
    let fixes: Vec<String> = conditions
        .iter()
        .map(|condition| match condition {
            Condition::FirstContact { talker, peer } => format!(
                "add {}'s endpoint on {}, or PersistentKeepalive on {}'s entry for {}",
                n(*peer),
                n(*talker),
                n(*peer),
                n(*talker)
            ),
            Condition::NatMapping { initiator, peer } => format!(
                "add `PersistentKeepalive = 25` to {}'s entry for {}",
                n(*initiator),
                n(*peer)
            ),
            Condition::MustForward { host } => format!(
                "enable forwarding on {} (net.ipv4.ip_forward=1 and a FORWARD accept)",
                n(*host)
            ),
            Condition::OwnRouting { host } => format!(
                "route the peers' prefixes into the interface on {} (e.g. in its PostUp), or drop `table`",
                n(*host)
            ),
            Condition::MustMasquerade { host } => format!(
                "masquerade on {}'s uplink (`PostUp = iptables -t nat -A POSTROUTING -o UPLINK -j MASQUERADE`)",
                n(*host)
            ),
        })
        .collect();
    fixes.join("; ")
}

pub fn describe_warning(simulation: &Simulation, warning: &Warning) -> String {
    let n = |host: &HostIndex| name(simulation, *host);
    match warning {
        Warning::NoKeepalive { host, peer } => format!(
            "{} is behind NAT but sends no PersistentKeepalive to {}: it works only while the NAT mapping lasts; add `PersistentKeepalive = 25` on {}'s entry for {}",
            n(host),
            n(peer),
            n(host),
            n(peer)
        ),
        Warning::KeepaliveWrongSide { host, peer } => format!(
            "{} sends PersistentKeepalive to {}, which is behind NAT and dials in: keepalive belongs on {}'s entry for {}, where it holds the NAT mapping open",
            n(host),
            n(peer),
            n(peer),
            n(host)
        ),
        Warning::HostBits { host, prefix } => format!(
            "{} has AllowedIPs with host bits set; `wg` uses {prefix}",
            n(host)
        ),
        Warning::OneSided { host, peer } => format!(
            "{} lists {}, but {} does not list {}",
            n(host),
            n(peer),
            n(peer),
            n(host)
        ),
        Warning::DuplicatePrefix {
            host,
            prefix,
            winner,
            loser,
        } => format!(
            "{} has {prefix} on two peers ({loser} and {winner}): only one wins (the kernel keeps {winner})",
            n(host)
        ),
        Warning::External { host, label } => format!(
            "{} lists peer `{label}`, whose key matches no host in this set (external)",
            n(host)
        ),
        Warning::MustForward { host } => {
            let how = match &simulation.network.nodes[*host].forwarding {
                Forwarding::Yes(evidence) => format!("it does: {evidence}"),
                Forwarding::Unknown => "nothing in its config shows it does".into(),
                Forwarding::No => "it does not".into(),
            };
            format!("{} must forward ({how})", n(host))
        }
        Warning::AssumedIpv4 { hosts } => {
            let names: Vec<&str> = hosts
                .iter()
                .take(6)
                .map(|host| name(simulation, *host))
                .collect();
            let more = hosts.len().saturating_sub(names.len());
            format!(
                "{}{}: nobody lists an IP endpoint for them, so their own networks are assumed to have IPv4 only; if one has IPv6, say so with `--underlay HOST=ipv6` (or `=ipv4,ipv6`)",
                names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        }
        Warning::DoubtfulEndpoint {
            host,
            endpoint,
            why,
        } => why
            .explain(n(host), endpoint)
            .trim_start_matches("warning: ")
            .to_owned(),
        Warning::OwnRouting { host, prefixes } => {
            let table = simulation.network.nodes[*host]
                .own_routing
                .as_deref()
                .unwrap_or("off");
            let shown: Vec<String> = prefixes.iter().take(4).map(ToString::to_string).collect();
            let more = prefixes.len().saturating_sub(shown.len());
            format!(
                "{} has `Table = {table}`: its peers' prefixes outside its own address range ({}{}) reach the tunnel only through your own routes",
                n(host),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        }
        Warning::UnownedSubnet { prefix } => format!(
            "{prefix} is in AllowedIPs but no host of the set owns it (every host it is listed for sends it on into the tunnel, or is outside the set): it is not checked"
        ),
        Warning::AmbiguousSubnet { prefix, owners } => format!(
            "{prefix} is in AllowedIPs for several hosts that could each own it ({}): it is not checked; list it for one host only",
            owners.iter().map(n).collect::<Vec<_>>().join(", ")
        ),
        Warning::NoExit { host } => format!(
            "{} sends all its traffic into the tunnel (a default route in AllowedIPs), but its way to the internet leads outside the set or loops: no exit found, not checked",
            n(host)
        ),
    }
}

fn symbol(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Reachable => "✓",
        Verdict::Conditional(_) => "⚠",
        Verdict::Unreachable(_) => "✗",
    }
}

/// How many places are subnets, and how many the internet via an exit.
fn place_kinds(simulation: &Simulation) -> (usize, usize) {
    let places = &simulation.network.places;
    let subnets = places
        .iter()
        .filter(|place| matches!(place.kind, PlaceKind::Subnet(_)))
        .count();
    let internets = places
        .iter()
        .filter(|place| matches!(place.kind, PlaceKind::Internet { .. }))
        .count();
    (subnets, internets)
}

/// "7 hosts, 3 subnets, 1 exit's internet": what the pairs are between.
fn inventory_line(simulation: &Simulation, report: &Report) -> String {
    let (subnets, internets) = place_kinds(simulation);
    let mut parts = vec![format!("{} hosts", report.hosts)];
    if subnets > 0 {
        parts.push(format!(
            "{subnets} subnet{}",
            if subnets == 1 { "" } else { "s" }
        ));
    }
    if internets > 0 {
        parts.push(format!(
            "the internet via {internets} exit{}",
            if internets == 1 { "" } else { "s" }
        ));
    }
    parts.join(", ")
}

/// The grid of `shown` places (`·`: the diagonal, or a pair not tested).
fn grid(simulation: &Simulation, report: &Report, shown: usize) -> String {
    let mut header = vec!["from \\ to".to_owned()];
    header.extend((0..shown).map(|to| name(simulation, to).to_owned()));
    let mut rows = vec![header];
    for from in 0..shown {
        let mut row = vec![name(simulation, from).to_owned()];
        row.extend((0..shown).map(|to| {
            if report.tested(from, to) {
                crate::ui::colour::verdict(symbol(&report.pair(from, to)))
            } else {
                "·".to_owned()
            }
        }));
        rows.push(row);
    }
    crate::ui::table::render(&rows, "  ")
}

/// One line for a subnet or internet the grid does not draw.
fn place_line(simulation: &Simulation, report: &Report, place: PlaceIndex) -> String {
    let item = &simulation.network.places[place];
    let counts = report.counts_of(place);
    let what = match &item.kind {
        PlaceKind::Subnet(_) => format!(
            "subnet {} behind {}",
            item.name,
            name(simulation, item.owner)
        ),
        PlaceKind::Internet { users } => format!("{} ({} users)", item.name, users.len()),
        PlaceKind::Host => item.name.clone(),
    };
    format!(
        "  {what}: {} ordered pairs: {} reachable, {} conditional, {} unreachable",
        counts.pairs(),
        counts.reachable,
        counts.conditional,
        counts.unreachable
    )
}

/// The report as a person reads it.
pub fn human(simulation: &Simulation, report: &Report) -> String {
    let mut out = String::new();
    let hosts = report.hosts;
    let places = report.places;
    let counts = report.counts();
    let pairs = counts.pairs();
    let (subnets, internets) = place_kinds(simulation);
    let split = if places > hosts {
        let with = match (subnets > 0, internets > 0) {
            (true, true) => "a subnet or the internet",
            (true, false) => "a subnet",
            _ => "the internet",
        };
        format!(
            " ({} between hosts, {} with {with})",
            counts.host_pairs,
            pairs - counts.host_pairs
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "check: {}, {pairs} ordered pairs{split}: {} reachable, {} conditional, {} unreachable",
        inventory_line(simulation, report),
        counts.reachable,
        counts.conditional,
        counts.unreachable
    );
    let shown = if places <= GRID_MAX_HOSTS {
        places
    } else if hosts <= GRID_MAX_HOSTS {
        hosts
    } else {
        0
    };
    if shown > 0 {
        let _ = writeln!(out);
        out.push_str(&grid(simulation, report, shown));
        if places > hosts && shown == places {
            let mut untested = Vec::new();
            if subnets > 0 {
                untested.push("a subnet with its own host and the subnets behind it");
            }
            if internets > 0 {
                untested.push("the internet with hosts not using its exit");
            }
            let _ = writeln!(out, "(·: not tested: {})", untested.join(", "));
        }
    }
    if places > shown.max(hosts) {
        let _ = writeln!(out);
        let extra = places - shown.max(hosts);
        for place in shown.max(hosts)..places.min(shown.max(hosts) + FAILURES_SHOWN) {
            let _ = writeln!(out, "{}", place_line(simulation, report, place));
        }
        if extra > FAILURES_SHOWN {
            let _ = writeln!(
                out,
                "  … and {} more subnets (`--json` lists them all)",
                extra - FAILURES_SHOWN
            );
        }
    }
    let explained = explain_all(simulation, report);
    for item in explained.iter().take(FAILURES_SHOWN) {
        let path = &item.path_shown;
        let _ = writeln!(out);
        let leg = item
            .leg
            .map(|leg| format!(" ({leg} fails)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {} → {}{leg}",
            crate::ui::colour::verdict(symbol(&item.verdict)),
            name(simulation, item.from),
            name(simulation, item.to)
        );
        match (item.leg, item.path.last()) {
            (Some(_), Some(&stop)) => {
                let _ = writeln!(
                    out,
                    "    path tried: {} (stops at {})",
                    path.join(" → "),
                    name(simulation, stop)
                );
            }
            _ if path.len() > 1 => {
                let _ = writeln!(out, "    path: {}", path.join(" → "));
            }
            _ => {}
        }
        let label = if matches!(item.verdict, Verdict::Unreachable(_)) {
            "rule"
        } else {
            "only if"
        };
        let _ = writeln!(out, "    {label}: {}", item.rule);
        let _ = writeln!(out, "    fix:  {}", item.fix);
    }
    if explained.len() > FAILURES_SHOWN {
        let _ = writeln!(
            out,
            "\n… and {} more pairs not plainly reachable (`--json` lists them all)",
            explained.len() - FAILURES_SHOWN
        );
    }
    let warnings = simulation.warnings(&report.forwarders);
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for warning in &warnings {
            let _ = writeln!(out, "  - {}", describe_warning(simulation, warning));
        }
    }
    let _ = writeln!(out);
    if counts.unreachable == 0 && counts.conditional == 0 {
        let _ = writeln!(out, "every host reaches every other host, both ways.");
        if subnets > 0 {
            let _ = writeln!(
                out,
                "every subnet reaches every host and every other subnet of its family, both ways."
            );
        }
        if internets > 0 {
            let _ = writeln!(
                out,
                "every host using an exit reaches the internet through it, both ways."
            );
        }
    } else {
        let _ = writeln!(
            out,
            "{} ordered pairs are not reachable unconditionally.",
            counts.unreachable + counts.conditional
        );
    }
    out
}

/// The same content for machines.
pub fn json(simulation: &Simulation, report: &Report) -> Value {
    use crate::ui::json::{CheckInternet, CheckPair, CheckReport, CheckSubnet, CheckSummary};
    let hosts = report.hosts;
    let places = report.places;
    let counts = report.counts();
    let n = |place: PlaceIndex| name(simulation, place).to_owned();
    let verdict_name = |verdict: &Verdict| match verdict {
        Verdict::Reachable => "reachable",
        Verdict::Conditional(_) => "conditional",
        Verdict::Unreachable(_) => "unreachable",
    };
    let explained = explain_all(simulation, report);
    let detail = |item: &Explained| CheckPair::Explained {
        from: n(item.from),
        to: n(item.to),
        verdict: verdict_name(&item.verdict),
        leg: item.leg,
        path: item.path_shown.clone(),
        rule: item.rule.clone(),
        fix: item.fix.clone(),
    };
    let all_pairs = places <= JSON_ALL_PAIRS_MAX_HOSTS;
    let pairs: Vec<CheckPair> = if all_pairs {
        let mut by_pair: std::collections::HashMap<(PlaceIndex, PlaceIndex), &Explained> =
            std::collections::HashMap::new();
        for item in &explained {
            by_pair.insert((item.from, item.to), item);
        }
        let mut pairs = Vec::with_capacity(counts.pairs());
        for from in 0..places {
            for to in 0..places {
                if !report.tested(from, to) {
                    continue;
                }
                pairs.push(match by_pair.get(&(from, to)) {
                    Some(item) => detail(item),
                    None => CheckPair::Reachable {
                        from: n(from),
                        to: n(to),
                        verdict: "reachable",
                    },
                });
            }
        }
        pairs
    } else {
        explained.iter().map(detail).collect()
    };
    let warnings = simulation.warnings(&report.forwarders);
    let mut subnets = Vec::new();
    let mut internet = Vec::new();
    for place in &simulation.network.places[hosts..] {
        let addresses: Vec<String> = place
            .addresses
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        match &place.kind {
            PlaceKind::Subnet(prefix) => subnets.push(CheckSubnet {
                prefix: prefix.to_string(),
                owner: n(place.owner),
                address: addresses.into_iter().next().unwrap_or_default(),
            }),
            PlaceKind::Internet { users } => internet.push(CheckInternet {
                name: place.name.clone(),
                exit: n(place.owner),
                users: users.iter().map(|&user| n(user)).collect(),
                addresses,
            }),
            PlaceKind::Host => {}
        }
    }
    crate::ui::json::to_value(CheckReport {
        hosts: (0..hosts).map(n).collect(),
        subnets,
        internet,
        summary: CheckSummary {
            pairs: counts.pairs(),
            host_pairs: counts.host_pairs,
            place_pairs: counts.pairs() - counts.host_pairs,
            reachable: counts.reachable,
            conditional: counts.conditional,
            unreachable: counts.unreachable,
        },
        all_reachable: counts.unreachable == 0 && counts.conditional == 0,
        pairs_listed: if all_pairs {
            "all"
        } else {
            "not-reachable-only"
        },
        pairs,
        warnings: warnings
            .iter()
            .map(|warning| describe_warning(simulation, warning))
            .collect(),
        must_forward: report.forwarders.iter().map(|&host| n(host)).collect(),
    })
}
