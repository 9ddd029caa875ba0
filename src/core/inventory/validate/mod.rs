//! Raw inventory → validated [`Inventory`]. Collects every problem instead of stopping at the first,
//! and attaches to each the file, line, column, host and the fix.

mod cross_host;
mod device;
mod exit;
mod families;
mod home;
mod host;
mod network;
mod references;
pub(super) mod settings;
mod ssh;

pub(super) use super::checker::Checker;
use super::raw::RawInventory;
use crate::core::error::{At, Error};
use crate::core::model::{Inventory, Role, printable};
use ipnet::IpNet;
use std::path::Path;

pub const DEFAULT_PORT: u16 = 51820;
pub const DEFAULT_KEEPALIVE: u16 = 25;

/// Validates the settings read by `structure`, whose problems `checker` already holds: every
/// problem of the file is reported in one run.
pub(super) fn validate(mut checker: Checker, raw: RawInventory) -> Result<Inventory, Error> {
    let file = checker.file;
    // Problems of structure (unknown keys, values of the wrong kind) were reported already; rules
    // across hosts still run after them unless a value they depend on is missing.
    let structural = checker.problems.len();
    let broken = raw.broken;
    let network = network::check_network(&mut checker, raw.network.as_ref());
    let defaults = settings::network(
        &mut checker,
        raw.network.as_ref().map(|raw| &raw.value),
        network.mtu,
    );
    let defaults_ssh = raw
        .defaults
        .and_then(|defaults| defaults.value.ssh)
        .map(|ssh| ssh.value);

    let Some(raw_hosts) = raw
        .hosts
        .map(|hosts| hosts.value.0)
        .filter(|hosts| !hosts.is_empty())
    else {
        if broken {
            return Err(Error::from_all(checker.problems).expect("a problem was reported"));
        }
        let at = raw_hosts_location(&checker, file);
        checker.report(
            at,
            None,
            "the inventory has no hosts".into(),
            Some("add a `hosts:` mapping, e.g. `hosts: { relay1: { endpoint: 198.51.100.1, relay: true } }`".into()),
        );
        return Err(Error::from_all(checker.problems).expect("a problem was just reported"));
    };

    let mut hosts = Vec::with_capacity(raw_hosts.len());
    let mut pending = Vec::with_capacity(raw_hosts.len());
    let mut extra_peers = Vec::with_capacity(raw_hosts.len());
    let mut complete = !broken;
    let has_v6 = network.ranges.iter().any(|net| matches!(net, IpNet::V6(_)));
    for (name, body) in &raw_hosts {
        complete &= !body.broken;
        let role = if body.endpoint.is_some() {
            Role::Public
        } else {
            Role::Nat
        };
        let (own, peers) = settings::host(
            &mut checker,
            &defaults,
            network.keepalive,
            has_v6,
            &printable(&name.value),
            role,
            body,
        );
        if let Some((mut host, refs)) =
            host::check_host(&mut checker, &network, name, body, defaults_ssh.as_ref())
        {
            host.settings = own;
            hosts.push(host);
            pending.push(refs);
            extra_peers.push(peers);
        }
    }
    // Cross-host rules only make sense once every host parsed; otherwise they would cascade.
    let sound = |checker: &Checker| complete && checker.problems.len() == structural;
    if sound(&checker) {
        references::resolve_references(&mut checker, &mut hosts, &pending);
        device::check_jumps(&mut checker, &hosts, |id| {
            pending[id].jump.as_ref().and_then(|(_, at)| at.clone())
        });
        exit::resolve_exits(&mut checker, &mut hosts, &pending);
    }
    if sound(&checker) {
        cross_host::check_cross_host(&mut checker, &network, &mut hosts, &pending);
    }
    if sound(&checker) {
        exit::check_exit_paths(&mut checker, &hosts, &pending);
    }
    if sound(&checker) {
        settings::resolve_peers(&mut checker, &mut hosts, extra_peers, &network.ranges);
    }
    // In file order: problems of structure and of meaning were found in two passes.
    let mut problems = checker.problems;
    problems.sort_by_key(|problem| match &problem.at {
        Some(at) if at.line > 0 => (at.line, at.column),
        _ => (usize::MAX, 0),
    });
    if let Some(error) = Error::from_all(problems) {
        return Err(error);
    }
    let mut network = network.into_network();
    network.settings = defaults;
    Ok(Inventory {
        path: file.to_owned(),
        network,
        hosts,
    })
}

fn raw_hosts_location(checker: &Checker, file: &Path) -> Option<At> {
    // Point at a `hosts:` line when there is one, else at the file.
    checker
        .source
        .lines()
        .position(|line| line.trim_start().starts_with("hosts:"))
        .map(|index| At::in_source(file, checker.source, index + 1, 1))
}
