//! Unknown keys: a typo of a key that exists, a setting wgdeploy does not have (yet), or neither.

use super::Section;
use super::values::report;
use crate::core::inventory::checker::Checker;
use crate::core::inventory::suggest::closest;
use crate::core::model::printable_excerpt;
use serde_saphyr::Location;

/// An unknown key: a typo of a key that exists, a setting wgdeploy does not have (yet), or just
/// unknown. Never a guess that is not close: `dns` is not a typo of `ssh`. True when the key was
/// most likely meant as an existing one (`endpiont`): that setting's absence would only cascade.
#[must_use]
pub(super) fn unknown_key(
    checker: &mut Checker,
    section: &Section,
    key: &str,
    at: Location,
) -> bool {
    let shown = printable_excerpt(key);
    let keys = section.keys.join(", ");
    let meant = closest(key, section.keys);
    let (message, help) = match (meant, missing_setting(key, section.is_host)) {
        (Some(name), _) => (
            format!(
                "unknown key `{shown}` {}; the keys there are {keys}",
                section.place
            ),
            format!("did you mean `{name}`?"),
        ),
        (None, Some(Missing::Elsewhere(help))) => (
            format!(
                "unknown key `{shown}` {}; the keys there are {keys}",
                section.place
            ),
            help.to_owned(),
        ),
        (None, Some(Missing::NotYet(why))) => {
            let scope = if section.is_host { "per-host " } else { "" };
            (
                format!(
                    "unknown key `{shown}` {}: wgdeploy has no {scope}`{shown}` setting yet",
                    section.place
                ),
                format!("{why}; remove the key"),
            )
        }
        (None, None) => (
            format!(
                "unknown key `{shown}` {}; the keys there are {keys}",
                section.place
            ),
            "remove the key, or correct its spelling (see the inventory format in README.md)"
                .into(),
        ),
    };
    report(checker, &at, section.host, message, &help);
    meant.is_some()
}

enum Missing {
    /// The setting exists, in another place.
    Elsewhere(&'static str),
    /// wgdeploy has no such setting; why, and what to do instead.
    NotYet(&'static str),
}

/// Settings people expect from wg-quick or other tools, which wgdeploy does not have where they
/// were written.
fn missing_setting(key: &str, in_host: bool) -> Option<Missing> {
    let plain: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    let hooks = "wgdeploy does not write wg-quick's `Table`, `FwMark`, `PreUp`, `PostUp`, `PreDown`, `PostDown` or `SaveConfig` lines; a template of your own (`--templates DIR`) can add them";
    Some(match plain.as_str() {
        "mtu" if in_host => Missing::NotYet("`network.mtu` sets the MTU of every host's interface"),
        "keepalive" | "persistentkeepalive" if in_host => {
            Missing::NotYet("`network.keepalive` sets the keepalive that hosts behind NAT send")
        }
        "interface" if in_host => {
            Missing::NotYet("`network.interface` names the interface on every host")
        }
        "port" if in_host => Missing::Elsewhere(
            "a host's own port is `listen_port` (`network.port` is the default for every host)",
        ),
        "dns" => Missing::NotYet(
            "wgdeploy does not configure DNS servers for the tunnel; set DNS on the host, or add a `DNS =` line with a template of your own (`--templates DIR`)",
        ),
        "table" | "fwmark" | "postup" | "postdown" | "preup" | "predown" | "saveconfig" => {
            Missing::NotYet(hooks)
        }
        "allowedips" => Missing::NotYet(
            "wgdeploy computes every peer's AllowedIPs from the inventory; list subnets behind a host in its `routes`",
        ),
        "publickey" | "privatekey" | "presharedkey" => Missing::NotYet(
            "wgdeploy generates keys and keeps them in the state file; `wgdeploy adopt` keeps the keys of hosts that already run WireGuard",
        ),
        "peers" => Missing::NotYet(
            "wgdeploy computes each host's peers from the inventory (relays, `via`, endpoints)",
        ),
        _ => return None,
    })
}
