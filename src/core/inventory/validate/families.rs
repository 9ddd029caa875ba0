//! Address families across hosts: every host that must dial another (the planner's rules,
//! `core::topology`) has an endpoint of a family it has (`core::underlay::choose`).
//!
//! Who must dial: public hosts and relays dial each other, both ways; a NAT-ed host dials its home
//! relay. A NAT-ed host and a public non-relay with no family in common do not dial at all: they
//! reach each other through the NAT-ed host's home relay, so only a NAT-ed host without a relay
//! must dial them.

use super::Checker;
use super::host::HostRefs;
use crate::core::model::{HomeChoice, Host, HostId, Role};
use crate::core::underlay::{self, Families};

pub(super) fn check_dialling(checker: &mut Checker, hosts: &[Host], refs: &[HostRefs]) {
    let public: Vec<HostId> = (0..hosts.len())
        .filter(|&id| hosts[id].role != Role::Nat)
        .collect();
    for (index, &a) in public.iter().enumerate() {
        for &b in &public[..index] {
            for (dialer, target) in [(a, b), (b, a)] {
                if underlay::choose(&hosts[dialer], &hosts[target]).is_none() {
                    report(checker, hosts, refs, dialer, target, None);
                    break; // one error per pair
                }
            }
        }
    }
    let relays: Vec<&str> = hosts
        .iter()
        .filter(|host| host.is_relay())
        .map(|host| host.name.as_str())
        .collect();
    for (id, host) in hosts.iter().enumerate().filter(|(_, host)| host.is_nat()) {
        match host.home {
            Some(home) if underlay::choose(host, &hosts[home.relay]).is_none() => {
                let via = (home.choice == HomeChoice::Via)
                    .then(|| refs[id].via.as_ref().and_then(|(_, at)| at.clone()))
                    .flatten();
                report(checker, hosts, refs, id, home.relay, via);
                if home.choice == HomeChoice::Via {
                    let usable: Vec<&str> = hosts
                        .iter()
                        .filter(|relay| relay.is_relay() && underlay::choose(host, relay).is_some())
                        .map(|relay| relay.name.as_str())
                        .collect();
                    if let (Some(last), false) = (checker.problems.last_mut(), usable.is_empty())
                        && let Some(help) = &mut last.help
                    {
                        help.push_str(&format!(
                            "; or point `via` at a relay `{}` can dial ({})",
                            host.name,
                            usable.join(", ")
                        ));
                    }
                }
            }
            Some(_) => {}
            None if !relays.is_empty() => {
                checker.report(
                    refs[id].name_at.clone(),
                    Some(host.name.as_str()),
                    format!(
                        "`{}` has only {} ({}) and can dial none of the relays ({}): none has an endpoint of that family",
                        host.name,
                        host.underlay,
                        whence(host),
                        relays.join(", ")
                    ),
                    Some(format!(
                        "give a relay an endpoint of {} too (one per family, e.g. `endpoint: [IPV4_ADDRESS, \"[IPV6_ADDRESS]:PORT\"]`), or declare the families `{}`'s network has (`underlay: [ipv4, ipv6]`)",
                        host.underlay, host.name
                    )),
                );
            }
            None => {
                for &other in &public {
                    if underlay::choose(host, &hosts[other]).is_none() {
                        report(checker, hosts, refs, id, other, None);
                    }
                }
            }
        }
    }
}

/// The families a host's endpoints stand for: what a dialer needs one of.
fn dialable(host: &Host) -> Families {
    host.endpoints
        .iter()
        .map(|endpoint| underlay::serves(endpoint, host.underlay, &host.endpoints))
        .fold(Families::NONE, Families::union)
}

/// `endpoint: [...]` of `host` with a placeholder for an endpoint of `missing` families.
fn with_family(host: &Host, missing: Families) -> String {
    let mut items: Vec<String> = host
        .endpoints
        .iter()
        .map(|endpoint| match endpoint.host {
            crate::core::model::EndpointHost::Ip(std::net::IpAddr::V6(_)) => {
                format!("\"{endpoint}\"")
            }
            _ => endpoint.to_string(),
        })
        .collect();
    if missing.ipv4 {
        items.insert(0, "IPV4_ADDRESS".to_owned());
    }
    if missing.ipv6 {
        items.push("\"[IPV6_ADDRESS]:PORT\"".to_owned());
    }
    format!("`endpoint: [{}]`", items.join(", "))
}

/// Where a host's families come from, in words.
fn whence(host: &Host) -> &'static str {
    match (host.underlay_declared, host.endpoints.is_empty()) {
        (true, _) => "its `underlay`",
        (false, false) => "the families of its endpoints",
        (false, true) => "the default for a host behind NAT",
    }
}

/// `dialer` must dial `target` and has no family of its endpoints.
fn report(
    checker: &mut Checker,
    hosts: &[Host],
    refs: &[HostRefs],
    dialer: HostId,
    target: HostId,
    at: Option<crate::core::error::At>,
) {
    let (from, to) = (&hosts[dialer], &hosts[target]);
    let endpoints: Vec<String> = to.endpoints.iter().map(ToString::to_string).collect();
    let missing = from.underlay;
    checker.report(
        at.or_else(|| refs[dialer].name_at.clone()),
        Some(&format!("{}, {}", from.name, to.name)),
        format!(
            "`{}` must dial `{}`, but they have no address family in common: `{}` has only {} ({}), and `{}`'s endpoints ({}) are {} only",
            from.name,
            to.name,
            from.name,
            from.underlay,
            whence(from),
            to.name,
            endpoints.join(", "),
            dialable(to),
        ),
        Some(format!(
            "add an endpoint of {missing} to `{}` (one per family: {}), or, if `{}`'s network has {} too, declare it: `underlay: [ipv4, ipv6]`",
            to.name,
            with_family(to, missing),
            from.name,
            dialable(to),
        )),
    );
}

#[cfg(test)]
mod tests {
    use crate::core::model::HomeChoice;
    use std::path::Path;

    fn home_of(yaml: &str, host: &str) -> (String, HomeChoice) {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        let id = inventory.host_id(host).unwrap();
        let home = inventory.hosts[id].home.expect("homed");
        (inventory.hosts[home.relay].name.to_string(), home.choice)
    }

    #[test]
    fn a_default_home_is_a_relay_of_a_family_the_host_has() {
        // Whatever the hash prefers, each host is homed on a relay it can dial.
        for host in ["a", "b", "c", "d", "e", "f"] {
            let yaml = format!(
                "network: {{ addresses: [100.64.0.0/24] }}
hosts:
  r4: {{ endpoint: [198.51.100.1, '[2001:db8::4]:51820'], relay: true }}
  r6: {{ endpoint: '[2001:db8::6]:51820', relay: true }}
  {host}: {{}}
  {host}6: {{ underlay: ipv6 }}
"
            );
            assert_eq!(
                home_of(&yaml, host),
                ("r4".to_owned(), HomeChoice::Family),
                "{host}"
            );
            let (relay, choice) = home_of(&yaml, &format!("{host}6"));
            assert!(["r4", "r6"].contains(&relay.as_str()) && choice == HomeChoice::Hashed);
        }
    }
}
