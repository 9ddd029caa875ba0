//! A host's SSH settings over `defaults.ssh`.

use super::super::raw::RawSsh;
use super::Checker;
use crate::core::error::At;
use crate::core::model::{Endpoint, HostName, Ssh, printable_excerpt};
use serde_saphyr::Spanned;
use std::net::IpAddr;

/// SSH settings: the host's own fields over `defaults.ssh`, each validated before it could ever
/// reach a command line.
pub(super) fn check_ssh(
    checker: &mut Checker,
    host_name: &HostName,
    own: Option<&RawSsh>,
    defaults: Option<&RawSsh>,
) -> (Ssh, Option<(String, Option<At>)>) {
    let label = Some(host_name.as_str());
    let empty = RawSsh::default();
    let own = own.unwrap_or(&empty);
    let defaults = defaults.unwrap_or(&empty);
    let pick = |field: fn(&RawSsh) -> &Option<Spanned<String>>| {
        field(own).as_ref().or(field(defaults).as_ref())
    };

    let mut ssh = Ssh {
        host: host_name.as_str().to_owned(),
        ..Ssh::default()
    };
    if let Some(host) = pick(|ssh| &ssh.host) {
        // An address or a name, never a port: any IPv6 address is fine here (the endpoint rule
        // against `…:4000` concerns ports).
        let parsed = match host.value.trim().parse::<IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) if host.value.contains(':') => None,
            Err(_) => Endpoint::parse(&host.value, 22)
                .ok()
                .map(|endpoint| match endpoint.host {
                    crate::core::model::EndpointHost::Ip(ip) => ip.to_string(),
                    crate::core::model::EndpointHost::Dns(name) => name,
                }),
        };
        match parsed {
            Some(parsed) => ssh.host = parsed,
            None => {
                let at = checker.at_of(host);
                checker.report(
                    at,
                    label,
                    format!(
                        "`ssh.host` `{}` is neither an IP address nor a DNS name",
                        printable_excerpt(&host.value)
                    ),
                    Some("write an address or name only; put the port in `ssh.port`".into()),
                );
            }
        }
    }
    if let Some(user) = pick(|ssh| &ssh.user) {
        let ok = user
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && user.value.len() <= 32
            && user
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            ssh.user = Some(user.value.clone());
        } else {
            let at = checker.at_of(user);
            checker.report(
                at,
                label,
                format!(
                    "`ssh.user` `{}` is not a valid user name",
                    printable_excerpt(&user.value)
                ),
                Some("use letters, digits, `_`, `-` and `.`".into()),
            );
        }
    }
    if let Some(port) = own.port.as_ref().or(defaults.port.as_ref()) {
        ssh.port = checker.number(port, label, "ssh.port", 1, u16::MAX);
    }
    if let Some(identity) = pick(|ssh| &ssh.identity) {
        if identity.value.is_empty() || identity.value.chars().any(char::is_control) {
            let at = checker.at_of(identity);
            checker.report(
                at,
                label,
                "`ssh.identity` must be a file path without control characters".into(),
                Some("write e.g. `~/.ssh/id_ed25519`".into()),
            );
        } else {
            ssh.identity = Some(identity.value.clone());
        }
    }
    if let Some(become_) = own.become_.as_ref().or(defaults.become_.as_ref()) {
        match become_.value.as_str() {
            "sudo" => ssh.sudo = true,
            "none" => ssh.sudo = false,
            other => {
                let at = checker.at_of(become_);
                checker.report(
                    at,
                    label,
                    format!(
                        "`ssh.become` `{}` is not supported",
                        printable_excerpt(other)
                    ),
                    Some("use `sudo` (runs commands with `sudo -n`) or `none`".into()),
                );
            }
        }
    }
    // `jump` names a host; it is resolved once all hosts are known. A default jump host does not
    // apply to itself.
    let jump = own
        .jump
        .as_ref()
        .or(defaults
            .jump
            .as_ref()
            .filter(|jump| jump.value != host_name.as_str()))
        .map(|jump| (jump.value.clone(), checker.at_of(jump)));
    (ssh, jump)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ssh_host_takes_any_ipv6_address_and_refuses_a_port() {
        let inventory = |ssh_host: &str| {
            let source = format!(
                "network:\n  addresses: [100.64.0.0/24]\nhosts:\n  relay1: {{ endpoint: 198.51.100.1, relay: true, ssh: {{ host: \"{ssh_host}\" }} }}\n"
            );
            crate::core::inventory::parse(std::path::Path::new("i.yaml"), &source)
        };
        // An endpoint would refuse it as ambiguous; a host address has no port to confuse.
        let parsed = inventory("fd00::1:2").unwrap();
        assert_eq!(parsed.hosts[0].ssh.host, "fd00::1:2");
        assert!(inventory("[fd00::1]:22").is_err());
        assert!(inventory("gw.example.com:22").is_err());
        assert_eq!(
            inventory("GW.example.com").unwrap().hosts[0].ssh.host,
            "gw.example.com"
        );
    }
}
