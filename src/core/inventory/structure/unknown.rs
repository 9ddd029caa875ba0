//! Unknown keys: a typo of a key that exists, a setting wgdeploy does not have (yet, or by design),
//! or neither.

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
    let meant = closest(key, section.keys).or_else(|| wg_quick_name(key, section.keys));
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
        (None, Some(missing @ (Missing::NotYet(why) | Missing::ByDesign(why)))) => {
            let scope = if section.is_host { "per-host " } else { "" };
            let yet = if matches!(missing, Missing::NotYet(_)) {
                " yet"
            } else {
                ""
            };
            (
                format!(
                    "unknown key `{shown}` {}: wgdeploy has no {scope}`{shown}` setting{yet}",
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
    /// wgdeploy has no such setting (yet); why, and what to do instead.
    NotYet(&'static str),
    /// wgdeploy has no such setting on purpose (it computes or refuses it); why.
    ByDesign(&'static str),
}

/// A wg-quick name (`PostUp`, `PersistentKeepalive`, `AllowedIPs`) of a key that exists here.
fn wg_quick_name<'k>(key: &str, keys: &[&'k str]) -> Option<&'k str> {
    let wanted = match plain(key).as_str() {
        "dns" => "dns",
        "mtu" => "mtu",
        "table" => "table",
        "fwmark" => "fwmark",
        "preup" => "pre_up",
        "postup" => "post_up",
        "predown" => "pre_down",
        "postdown" => "post_down",
        "persistentkeepalive" => "keepalive",
        "allowedips" => "allowed_ips",
        "listenport" => "listen_port",
        "publickey" => "public_key",
        _ => return None,
    };
    keys.iter().copied().find(|name| *name == wanted)
}

/// A key without case, `_` or `-`: `Post-Up`, `post_up` and `PostUp` are one name.
fn plain(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Settings people expect from wg-quick or other tools, which wgdeploy does not have where they
/// were written. (Those it has, such as `dns` or `post_up`, were matched by `wg_quick_name`.)
fn missing_setting(key: &str, in_host: bool) -> Option<Missing> {
    Some(match plain(key).as_str() {
        "interface" if in_host => {
            Missing::NotYet("`network.interface` names the interface on every host")
        }
        "port" if in_host => Missing::Elsewhere(
            "a host's own port is `listen_port` (`network.port` is the default for every host)",
        ),
        "allowedips" if !in_host => Missing::Elsewhere(
            "`allowed_ips` is a per-host setting (extra prefixes a host sends to one of its peers, e.g. `allowed_ips: { relay1: [0.0.0.0/0] }` on that host); wgdeploy computes every peer's own AllowedIPs from the inventory",
        ),
        "saveconfig" => Missing::ByDesign(
            "wgdeploy never writes `SaveConfig = true`: wg-quick would save the running interface over the deployed config on every `down`",
        ),
        "publickey" | "privatekey" | "presharedkey" => Missing::ByDesign(
            "wgdeploy generates keys and keeps them in the state file; `wgdeploy adopt` keeps the keys of hosts that already run WireGuard, and a device (`manage: false`) may carry its own `public_key`",
        ),
        "peers" => Missing::ByDesign(
            "wgdeploy computes each host's peers from the inventory (relays, `via`, endpoints)",
        ),
        _ => return None,
    })
}
