//! Exit nodes: `exit: true` on a public host wgdeploy manages (it forwards and masquerades its
//! users' traffic to its uplink), `use_exit: HOST` on a host or device that sends all its traffic
//! there. The planner puts the /0 on the user's entry for its exit, so the exit must be a peer the
//! user lists: a public host, or for a host behind NAT a public non-relay host or its home relay.

use super::super::raw::RawHost;
use super::super::suggest::suggest;
use super::Checker;
use super::host::HostRefs;
use crate::core::model::{Host, HostId, HostName, Role, printable_excerpt};

/// Whether `exit: true` holds, reporting it on a host behind NAT or on a device.
pub(super) fn check_exit_flag(
    checker: &mut Checker,
    host: &HostName,
    raw: &RawHost,
    role: Role,
) -> bool {
    let Some(flag) = raw.exit.as_ref().filter(|flag| flag.value) else {
        return false;
    };
    let label = Some(host.as_str());
    let at = checker.at_of(flag);
    if role == Role::Nat {
        checker.report(
            at,
            label,
            format!("`{host}` has `exit: true` but no `endpoint`: an exit must be reachable by the hosts that send their internet traffic through it, and hosts behind NAT are not"),
            Some(format!("give `{host}` its public `endpoint`, or remove `exit: true` and make a host with an endpoint the exit")),
        );
        return false;
    }
    if raw.manage.as_ref().is_some_and(|manage| !manage.value) {
        checker.report(
            at,
            label,
            format!("`{host}` has `exit: true` and `manage: false`: an exit forwards and masquerades its users' traffic, which wgdeploy sets up over SSH, and it never logs into a device"),
            Some("make a host wgdeploy manages the exit, or remove `manage: false`".into()),
        );
        return false;
    }
    true
}

/// Resolves `use_exit` names, before default home relays are chosen (a host behind NAT without
/// `via` is homed on its exit when that is a relay). Sets `use_exit` only for a valid exit.
pub(super) fn resolve_exits(checker: &mut Checker, hosts: &mut [Host], refs: &[HostRefs]) {
    let exits: Vec<&str> = hosts
        .iter()
        .filter(|host| host.exit)
        .map(|host| host.name.as_str())
        .collect();
    let mut resolved: Vec<Option<HostId>> = vec![None; hosts.len()];
    for (id, (host, refs)) in hosts.iter().zip(refs).enumerate() {
        let Some((name, at)) = &refs.use_exit else {
            continue;
        };
        let label = Some(host.name.as_str());
        let me = &host.name;
        let Some(exit) = hosts.iter().position(|other| other.name.as_str() == name) else {
            checker.report(
                at.clone(),
                label,
                format!(
                    "`use_exit` names `{}`, which is not a host in this inventory",
                    printable_excerpt(name)
                ),
                Some(if exits.is_empty() {
                    "this inventory has no exit yet: add `exit: true` to a public host wgdeploy manages, and name it here".into()
                } else {
                    suggest(name, &exits, "exit")
                }),
            );
            continue;
        };
        let target = &hosts[exit].name;
        if exit == id {
            checker.report(
                at.clone(),
                label,
                format!("`use_exit` of `{me}` names `{me}` itself"),
                Some(format!("remove `use_exit` (`{me}`'s traffic leaves through its own uplink without it), or name another host that has `exit: true`")),
            );
        } else if !hosts[exit].exit {
            checker.report(
                at.clone(),
                label,
                format!("`use_exit` names `{target}`, which is not an exit"),
                Some(if exits.is_empty() {
                    format!("add `exit: true` to `{target}` (it needs an `endpoint`) to offer its uplink")
                } else {
                    format!("add `exit: true` to `{target}`, or name an exit: {}", exits.join(", "))
                }),
            );
        } else if host.exit {
            checker.report(
                at.clone(),
                label,
                format!("`{me}` is an exit (`exit: true`) and also uses the exit `{target}`: the traffic of `{me}`'s users would follow its own into the tunnel to `{target}`, which accepts only `{me}`'s own addresses from it and drops the rest"),
                Some(format!("remove `use_exit` from `{me}` (an exit's traffic leaves through its own uplink), or remove its `exit: true` and point its users at `{target}`")),
            );
        } else {
            resolved[id] = Some(exit);
        }
    }
    for (host, exit) in hosts.iter_mut().zip(resolved) {
        host.use_exit = exit;
    }
}

/// The home relay a host behind NAT gets by default when its exit is a relay: that one, since it
/// lists no other relay (DESIGN.md §2).
pub(super) fn exit_relay(hosts: &[Host], id: HostId) -> Option<HostId> {
    hosts[id]
        .use_exit
        .filter(|&exit| hosts[exit].is_relay() && hosts[id].is_nat())
}

/// After home relays are known: a host behind NAT can send its internet traffic only to an exit it
/// lists, so an exit that is a relay must be its home relay.
pub(super) fn check_exit_paths(checker: &mut Checker, hosts: &[Host], refs: &[HostRefs]) {
    for (id, (host, refs)) in hosts.iter().zip(refs).enumerate() {
        // A public exit that is not a relay must be a peer: a host behind NAT with no address
        // family in common with it meets it only through its home relay, which has no /0 to give.
        if let Some(exit) = host.use_exit
            && host.is_nat()
            && !hosts[exit].is_relay()
            && !crate::core::underlay::nat_meets_directly(host, &hosts[exit])
        {
            let (me, target) = (&host.name, &hosts[exit].name);
            let at = refs.use_exit.as_ref().and_then(|(_, at)| at.clone());
            checker.report(
                at,
                Some(me.as_str()),
                format!("`{me}` uses `{target}` as its exit, but they have no address family in common (see their endpoints and `underlay`), so `{me}` cannot send its internet traffic to `{target}` directly"),
                Some(format!("give `{target}` an endpoint of a family `{me}` has (or declare `{me}`'s `underlay`), or name an exit `{me}` can dial in `use_exit`")),
            );
            continue;
        }
        let (Some(exit), Some(home)) = (exit_relay(hosts, id), host.home) else {
            continue;
        };
        if home.relay == exit {
            continue;
        }
        let (me, relay, target) = (&host.name, &hosts[home.relay].name, &hosts[exit].name);
        let at = refs.use_exit.as_ref().and_then(|(_, at)| at.clone());
        checker.report(
            at,
            Some(me.as_str()),
            format!("`{me}` is behind NAT and homed on `{relay}`, but its exit `{target}` is another relay: a host behind NAT reaches other relays only through its home relay, which would have to pass all of `{me}`'s internet traffic on to `{target}` without sending its own there"),
            Some(format!("write `via: {target}` on `{me}` to home it on its exit, or name `{relay}` or a public host that is not a relay in `use_exit`")),
        );
    }
}
