//! Raw inventory → validated [`Inventory`]. Collects every problem instead of stopping at the first,
//! and attaches to each the file, line, column, host and the fix.

mod cross_host;
mod home;
mod host;
mod network;
mod references;
mod ssh;
pub(super) mod suggest;

use super::raw::{OneOrMany, RawHost, RawInventory};
use crate::core::error::{At, Diagnostic, Error};
use crate::core::model::Inventory;
use serde_saphyr::{Location, Spanned};
use std::path::Path;

pub const DEFAULT_PORT: u16 = 51820;
pub const DEFAULT_KEEPALIVE: u16 = 25;

/// Collects diagnostics and turns saphyr locations into [`At`]s with the source line attached.
pub(super) struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
    /// The source split once: every value gets a location, and rescanning per value is quadratic.
    lines: Vec<&'a str>,
    pub(super) problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(super) fn at(&self, location: &Location) -> Option<At> {
        if *location == Location::UNKNOWN || location.line() == 0 {
            return None;
        }
        Some(At::in_lines(
            self.file,
            &self.lines,
            location.line() as usize,
            location.column() as usize,
        ))
    }

    pub(super) fn at_of<T>(&self, spanned: &Spanned<T>) -> Option<At> {
        self.at(&spanned.referenced)
    }

    /// Records a problem. `at` falls back to the whole file so every error names the file.
    pub(super) fn report(
        &mut self,
        at: Option<At>,
        host: Option<&str>,
        message: String,
        help: Option<String>,
    ) {
        let mut diagnostic = Diagnostic::new(message);
        diagnostic.at = Some(at.unwrap_or_else(|| At::file(self.file)));
        diagnostic.host = host.map(str::to_owned);
        diagnostic.help = help;
        self.problems.push(diagnostic);
    }

    /// An integer setting within `min..=max`.
    pub(super) fn number(
        &mut self,
        value: &Spanned<i64>,
        host: Option<&str>,
        what: &str,
        min: u16,
        max: u16,
    ) -> Option<u16> {
        match u16::try_from(value.value) {
            Ok(number) if (min..=max).contains(&number) => Some(number),
            _ => {
                let at = self.at_of(value);
                self.report(
                    at,
                    host,
                    format!("`{what}` is {}, outside {min}-{max}", value.value),
                    Some(format!("use a whole number from {min} to {max}")),
                );
                None
            }
        }
    }

    /// Items of a scalar-or-list value, each with the best location known for it.
    pub(super) fn items<'v>(&self, value: &'v Spanned<OneOrMany>) -> Vec<(&'v str, Option<At>)> {
        let outer = self.at_of(value);
        value
            .value
            .0
            .iter()
            .map(|item| {
                (
                    item.value.as_str(),
                    self.at_of(item).or_else(|| outer.clone()),
                )
            })
            .collect()
    }
}

/// Validates a parsed inventory. `source` is the file's text, used for error snippets.
pub fn validate(file: &Path, source: &str, raw: RawInventory) -> Result<Inventory, Error> {
    let mut checker = Checker {
        file,
        source,
        lines: source.lines().collect(),
        problems: Vec::new(),
    };
    let network = network::check_network(&mut checker, raw.network.as_ref());
    let defaults_ssh = raw
        .defaults
        .and_then(|defaults| defaults.value.ssh)
        .map(|ssh| ssh.value);

    let Some(raw_hosts) = raw
        .hosts
        .map(|hosts| hosts.value.0)
        .filter(|hosts| !hosts.is_empty())
    else {
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
    for (name, body) in &raw_hosts {
        let body_default = RawHost::default();
        let body = body.as_ref().map_or(&body_default, |body| &body.value);
        if let Some((host, refs)) =
            host::check_host(&mut checker, &network, name, body, defaults_ssh.as_ref())
        {
            hosts.push(host);
            pending.push(refs);
        }
    }
    // Cross-host rules only make sense once every host parsed; otherwise they would cascade.
    if checker.problems.is_empty() {
        references::resolve_references(&mut checker, &mut hosts, &pending);
    }
    if checker.problems.is_empty() {
        cross_host::check_cross_host(&mut checker, &network, &mut hosts, &pending);
    }
    if let Some(error) = Error::from_all(checker.problems) {
        return Err(error);
    }
    Ok(Inventory {
        path: file.to_owned(),
        network: network.into_network(),
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
