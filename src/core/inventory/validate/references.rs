//! Names that point at other hosts: `via` and `ssh.jump`, and jump loops.

use super::super::suggest::suggest;
use super::Checker;
use super::host::HostRefs;
use crate::core::model::{Home, HomeChoice, Host, HostId, printable_excerpt};
use std::collections::HashMap;

/// Resolves `via` and `ssh.jump` names to host indices.
pub(super) fn resolve_references(checker: &mut Checker, hosts: &mut [Host], refs: &[HostRefs]) {
    let by_name: HashMap<&str, HostId> = hosts
        .iter()
        .enumerate()
        .map(|(id, host)| (host.name.as_str(), id))
        .collect();
    let relays: Vec<&str> = hosts
        .iter()
        .filter(|host| host.is_relay())
        .map(|host| host.name.as_str())
        .collect();
    let mut homes = vec![None; hosts.len()];
    let mut jumps = vec![None; hosts.len()];
    for (id, (host, refs)) in hosts.iter().zip(refs).enumerate() {
        let label = Some(host.name.as_str());
        if let Some((via, at)) = &refs.via {
            match by_name.get(via.as_str()) {
                None => checker.report(
                    at.clone(),
                    label,
                    format!("`via` names `{}`, which is not a host in this inventory", printable_excerpt(via)),
                    Some(suggest(via, &relays, "relay")),
                ),
                Some(&relay) if !hosts[relay].is_relay() => checker.report(
                    at.clone(),
                    label,
                    format!("`via` names `{via}`, which is not a relay"),
                    Some(if relays.is_empty() {
                        format!("make `{via}` a relay (`relay: true` with an `endpoint`); this inventory has no relay yet")
                    } else {
                        format!("point `via` at a relay ({}), or set `relay: true` on `{via}`", relays.join(", "))
                    }),
                ),
                Some(&relay) => {
                    homes[id] = Some(Home {
                        relay,
                        choice: HomeChoice::Via,
                    })
                }
            }
        }
        if let Some((jump, at)) = &refs.jump {
            match by_name.get(jump.as_str()) {
                Some(&target) if target != id => jumps[id] = Some(target),
                Some(_) => checker.report(
                    at.clone(),
                    label,
                    format!("`{jump}` cannot be its own `ssh.jump` host"),
                    Some("remove `jump`, or name another host".into()),
                ),
                None => {
                    let names: Vec<&str> = by_name.keys().copied().collect();
                    checker.report(
                        at.clone(),
                        label,
                        format!(
                            "`ssh.jump` names `{}`, which is not a host in this inventory",
                            printable_excerpt(jump)
                        ),
                        Some(suggest(jump, &names, "host")),
                    )
                }
            }
        }
    }
    // A jump chain that loops would make connecting recurse forever.
    for start in 0..hosts.len() {
        let mut current = start;
        for _ in 0..=hosts.len() {
            match jumps[current] {
                Some(next) => current = next,
                None => break,
            }
            if current == start {
                let at = refs[start].jump.as_ref().and_then(|(_, at)| at.clone());
                checker.report(
                    at,
                    Some(hosts[start].name.as_str()),
                    format!("`ssh.jump` of `{}` leads back to itself", hosts[start].name),
                    Some("break the loop of `jump` settings".into()),
                );
                break;
            }
        }
    }
    for (host, (home, jump)) in hosts.iter_mut().zip(homes.into_iter().zip(jumps)) {
        host.home = home;
        host.ssh.jump = jump;
    }
}
