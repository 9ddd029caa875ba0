//! The YAML tree → the inventory's settings ([`RawInventory`]). Every unknown key and every value of
//! the wrong kind is reported, each with the host it belongs to, and reading goes on: the values
//! that are right still reach validation, so one run shows every problem of the file.

use super::checker::Checker;
use super::raw::{OneOrMany, RawDefaults, RawHost, RawHosts, RawInventory, RawNetwork, RawSsh};
use super::suggest::closest;
use super::tree::Node;
use crate::core::model::printable_excerpt;
use serde_saphyr::{Location, Spanned};

const TOP_KEYS: &[&str] = &["network", "defaults", "hosts"];
const NETWORK_KEYS: &[&str] = &[
    "interface",
    "addresses",
    "port",
    "keepalive",
    "mtu",
    "preshared_keys",
];
const DEFAULTS_KEYS: &[&str] = &["ssh"];
const SSH_KEYS: &[&str] = &["host", "user", "port", "identity", "jump", "become"];
const HOST_KEYS: &[&str] = &[
    "endpoint",
    "relay",
    "address",
    "via",
    "routes",
    "listen_port",
    "ssh",
];

/// A mapping being read: where it is, for messages, and which keys it takes.
struct Section<'s> {
    /// "in `network`", "in host `laptop`".
    place: String,
    /// Put before a key to name it in messages: `network.` + `port`.
    prefix: &'static str,
    host: Option<&'s str>,
    keys: &'static [&'static str],
    is_host: bool,
}

impl Section<'_> {
    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

type Entries = Vec<(String, Location, Spanned<Node>)>;

/// Reads the whole document. Problems go to `checker`; the settings that were right are returned.
pub(super) fn read(checker: &mut Checker, root: Spanned<Node>) -> RawInventory {
    let mut raw = RawInventory::default();
    let top = Section {
        place: "at the top level".into(),
        prefix: "",
        host: None,
        keys: TOP_KEYS,
        is_host: false,
    };
    let Some(entries) = mapping(checker, root, &top, "the inventory") else {
        raw.broken = true;
        return raw;
    };
    for (key, key_at, value) in entries {
        match key.as_str() {
            "network" => raw.network = network(checker, value, &mut raw.broken),
            "defaults" => raw.defaults = defaults(checker, value, &mut raw.broken),
            "hosts" => raw.hosts = hosts(checker, value, &mut raw.broken),
            _ => raw.broken |= unknown_key(checker, &top, &key, key_at),
        }
    }
    raw
}

fn network(
    checker: &mut Checker,
    node: Spanned<Node>,
    broken: &mut bool,
) -> Option<Spanned<RawNetwork>> {
    let at = node.referenced;
    let section = Section {
        place: "in `network`".into(),
        prefix: "network.",
        host: None,
        keys: NETWORK_KEYS,
        is_host: false,
    };
    let Some(entries) = mapping(checker, node, &section, "`network`") else {
        *broken = true;
        return None;
    };
    let mut raw = RawNetwork::default();
    let mut bad = false;
    for (key, key_at, value) in entries {
        let mut read = Reader {
            checker: &mut *checker,
            section: &section,
            key: &key,
            broken: &mut bad,
        };
        match key.as_str() {
            "interface" => raw.interface = read.text(value),
            "addresses" => raw.addresses = read.one_or_many(value),
            "port" => raw.port = read.integer(value),
            "keepalive" => raw.keepalive = read.integer(value),
            "mtu" => raw.mtu = read.integer(value),
            "preshared_keys" => raw.preshared_keys = read.boolean(value),
            _ => bad |= unknown_key(checker, &section, &key, key_at),
        }
    }
    raw.broken = bad;
    *broken |= bad;
    Some(Spanned::new(raw, at, at))
}

fn defaults(
    checker: &mut Checker,
    node: Spanned<Node>,
    broken: &mut bool,
) -> Option<Spanned<RawDefaults>> {
    let at = node.referenced;
    let section = Section {
        place: "in `defaults`".into(),
        prefix: "defaults.",
        host: None,
        keys: DEFAULTS_KEYS,
        is_host: false,
    };
    let Some(entries) = mapping(checker, node, &section, "`defaults`") else {
        *broken = true;
        return None;
    };
    let mut raw = RawDefaults::default();
    for (key, key_at, value) in entries {
        match key.as_str() {
            "ssh" => {
                let ssh = Section {
                    place: "in `defaults.ssh`".into(),
                    prefix: "defaults.ssh.",
                    host: None,
                    keys: SSH_KEYS,
                    is_host: false,
                };
                raw.ssh = ssh_settings(checker, value, &ssh, broken);
            }
            _ => *broken |= unknown_key(checker, &section, &key, key_at),
        }
    }
    Some(Spanned::new(raw, at, at))
}

fn ssh_settings(
    checker: &mut Checker,
    node: Spanned<Node>,
    section: &Section,
    broken: &mut bool,
) -> Option<Spanned<RawSsh>> {
    let at = node.referenced;
    let what = format!("`{}`", section.prefix.trim_end_matches('.'));
    let Some(entries) = mapping(checker, node, section, &what) else {
        *broken = true;
        return None;
    };
    let mut raw = RawSsh::default();
    for (key, key_at, value) in entries {
        let mut read = Reader {
            checker: &mut *checker,
            section,
            key: &key,
            broken: &mut *broken,
        };
        match key.as_str() {
            "host" => raw.host = read.text(value),
            "user" => raw.user = read.text(value),
            "port" => raw.port = read.integer(value),
            "identity" => raw.identity = read.text(value),
            "jump" => raw.jump = read.text(value),
            "become" => raw.become_ = read.text(value),
            _ => *broken |= unknown_key(checker, section, &key, key_at),
        }
    }
    Some(Spanned::new(raw, at, at))
}

fn hosts(
    checker: &mut Checker,
    node: Spanned<Node>,
    broken: &mut bool,
) -> Option<Spanned<RawHosts>> {
    let at = node.referenced;
    let entries = match node.value {
        Node::Null => Vec::new(),
        Node::Map(entries) => entries,
        other => {
            let shown = described(checker, &other, &at);
            report(
                checker,
                &at,
                None,
                format!(
                    "`hosts` must be a mapping of host names to their settings, but YAML read {shown}"
                ),
                "write one host per line under `hosts:`, e.g. `  relay1: { endpoint: 198.51.100.1, relay: true }`",
            );
            *broken = true;
            return None;
        }
    };
    let mut hosts = Vec::with_capacity(entries.len());
    for (key, body) in entries {
        let Some(name) = key_text(checker, &key, "host name") else {
            continue;
        };
        let name_at = key.referenced;
        let host = host(checker, &name, body);
        hosts.push((Spanned::new(name, name_at, name_at), host));
    }
    Some(Spanned::new(RawHosts(hosts), at, at))
}

fn host(checker: &mut Checker, name: &str, node: Spanned<Node>) -> RawHost {
    let shown = printable_excerpt(name);
    let section = Section {
        place: format!("in host `{shown}`"),
        prefix: "",
        host: Some(&shown),
        keys: HOST_KEYS,
        is_host: true,
    };
    let what = format!("host `{shown}`");
    let mut raw = RawHost::default();
    let Some(entries) = mapping(checker, node, &section, &what) else {
        raw.broken = true;
        return raw;
    };
    let mut bad = false;
    for (key, key_at, value) in entries {
        let mut read = Reader {
            checker: &mut *checker,
            section: &section,
            key: &key,
            broken: &mut bad,
        };
        match key.as_str() {
            "endpoint" => raw.endpoint = read.text(value),
            "relay" => raw.relay = read.boolean(value),
            "address" => raw.address = read.one_or_many(value),
            "via" => raw.via = read.text(value),
            "routes" => raw.routes = read.one_or_many(value),
            "listen_port" => raw.listen_port = read.integer(value),
            "ssh" => {
                let ssh = Section {
                    place: format!("in `ssh` of host `{shown}`"),
                    prefix: "ssh.",
                    host: Some(&shown),
                    keys: SSH_KEYS,
                    is_host: false,
                };
                raw.ssh = ssh_settings(checker, value, &ssh, &mut bad);
            }
            _ => bad |= unknown_key(checker, &section, &key, key_at),
        }
    }
    raw.broken = bad;
    raw
}

/// The entries of a mapping with their keys as text; an empty value is a mapping without entries.
/// `None` (reported) when the node is something else.
fn mapping(
    checker: &mut Checker,
    node: Spanned<Node>,
    section: &Section,
    what: &str,
) -> Option<Entries> {
    let at = node.referenced;
    match node.value {
        Node::Null => Some(Vec::new()),
        Node::Map(entries) => Some(
            entries
                .into_iter()
                .filter_map(|(key, value)| {
                    let text = key_text(checker, &key, "key")?;
                    Some((text, key.referenced, value))
                })
                .collect(),
        ),
        other => {
            let shown = described(checker, &other, &at);
            report(
                checker,
                &at,
                section.host,
                format!(
                    "{what} must be a mapping of settings (`key: value`), but YAML read {shown}"
                ),
                &format!("the keys there are {}", section.keys.join(", ")),
            );
            None
        }
    }
}

/// A key as text: a name written as `yes:` or `10:` is still that name. `None` (reported) for an
/// empty key or a list or mapping used as a key.
fn key_text(checker: &mut Checker, key: &Spanned<Node>, kind: &str) -> Option<String> {
    let at = key.referenced;
    match &key.value {
        Node::Null => {
            report(
                checker,
                &at,
                None,
                format!(
                    "a {kind} is missing: YAML reads `~`, `null` or nothing before `:` as no value"
                ),
                &format!(
                    "write the {kind} before `:`; quote it (`\"~\":`) if it really is `~` or `null`"
                ),
            );
            None
        }
        Node::List(_) | Node::Map(_) => {
            let shown = described(checker, &key.value, &at);
            report(
                checker,
                &at,
                None,
                format!("a {kind} must be a plain name, but YAML read {shown}"),
                "a key that starts with `[` or `{` is a list or mapping in YAML; quote it",
            );
            None
        }
        scalar => Some(scalar_text(checker, scalar, &at)),
    }
}

/// The text of a scalar as written: `yes` stays `yes` (YAML would read true), `0x10` stays `0x10`.
fn scalar_text(checker: &Checker, node: &Node, at: &Location) -> String {
    match node {
        Node::Text(text) => text.clone(),
        other => checker
            .written(at)
            .map(str::to_owned)
            .unwrap_or_else(|| match other {
                Node::Bool(value) => value.to_string(),
                Node::Int(value) => value.to_string(),
                Node::Float(value) => value.to_string(),
                _ => String::new(),
            }),
    }
}

/// What YAML read, for a message: "a list (`[2001:db8::1]`)", "the text `abc`".
fn described(checker: &Checker, node: &Node, at: &Location) -> String {
    let written = checker
        .written(at)
        .map(|text| text.lines().next().unwrap_or("").trim())
        .filter(|text| !text.is_empty());
    match (node, written) {
        (Node::Null, _) => "nothing".into(),
        (Node::Text(text), _) => format!("the text `{}`", printable_excerpt(text)),
        (Node::List(_) | Node::Map(_), Some(written)) => {
            format!("{} (`{}`)", node.kind(), printable_excerpt(written))
        }
        (_, Some(written)) => format!("{} (`{}`)", node.kind(), printable_excerpt(written)),
        (other, None) => other.kind().into(),
    }
}

const TEXT: &str = "a single value";

/// Reads one setting's value, reporting a value of the wrong kind and marking the mapping broken.
struct Reader<'r, 'c, 's> {
    checker: &'r mut Checker<'c>,
    section: &'r Section<'s>,
    key: &'r str,
    broken: &'r mut bool,
}

impl Reader<'_, '_, '_> {
    fn wrong(&mut self, node: &Node, at: &Location, expected: &str) {
        *self.broken = true;
        let shown = described(self.checker, node, at);
        let path = self.section.path(self.key);
        // Quoting helps only where text is wanted: `endpoint: [2001:db8::1]` was meant as text.
        let help = match node {
            Node::List(_) | Node::Map(_) if expected == TEXT => {
                let opener = if matches!(node, Node::List(_)) {
                    '['
                } else {
                    '{'
                };
                let written = self
                    .checker
                    .written(at)
                    .and_then(|text| text.lines().next())
                    .map(|text| printable_excerpt(text.trim()))
                    .unwrap_or_default();
                format!(
                    "a value that starts with `{opener}` is a {} in YAML; quote it: `{}: \"{written}\"`",
                    if opener == '[' { "list" } else { "mapping" },
                    self.key
                )
            }
            _ => format!("write {expected} (see the inventory format in README.md)"),
        };
        report(
            self.checker,
            at,
            self.section.host,
            format!("`{path}` must be {expected}, but YAML read {shown}"),
            &help,
        );
    }

    fn text(&mut self, node: Spanned<Node>) -> Option<Spanned<String>> {
        let at = node.referenced;
        match &node.value {
            Node::Null => None,
            Node::List(_) | Node::Map(_) => {
                self.wrong(&node.value, &at, TEXT);
                None
            }
            scalar => Some(Spanned::new(scalar_text(self.checker, scalar, &at), at, at)),
        }
    }

    fn integer(&mut self, node: Spanned<Node>) -> Option<Spanned<i64>> {
        let at = node.referenced;
        let number = match &node.value {
            Node::Null => return None,
            Node::Int(value) => Some(i64::try_from(*value).unwrap_or(i64::MAX)),
            // A quoted number (`port: "51820"`) is meant as the number.
            Node::Text(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        match number {
            Some(number) => Some(Spanned::new(number, at, at)),
            None => {
                self.wrong(&node.value, &at, "a whole number");
                None
            }
        }
    }

    fn boolean(&mut self, node: Spanned<Node>) -> Option<Spanned<bool>> {
        let at = node.referenced;
        match node.value {
            Node::Null => None,
            Node::Bool(value) => Some(Spanned::new(value, at, at)),
            other => {
                self.wrong(&other, &at, "`true` or `false`");
                None
            }
        }
    }

    fn one_or_many(&mut self, node: Spanned<Node>) -> Option<Spanned<OneOrMany>> {
        let at = node.referenced;
        let items = match node.value {
            Node::Null => Vec::new(),
            Node::List(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    let item_at = item.referenced;
                    match &item.value {
                        Node::Null => {}
                        Node::List(_) | Node::Map(_) => {
                            self.wrong(&item.value, &item_at, "a list of addresses, one per item")
                        }
                        scalar => texts.push(Spanned::new(
                            scalar_text(self.checker, scalar, &item_at),
                            item_at,
                            item_at,
                        )),
                    }
                }
                texts
            }
            Node::Map(_) => {
                self.wrong(&node.value, &at, "an address or a list of them");
                return None;
            }
            scalar => vec![Spanned::new(
                scalar_text(self.checker, &scalar, &at),
                at,
                at,
            )],
        };
        Some(Spanned::new(OneOrMany(items), at, at))
    }
}

fn report(checker: &mut Checker, at: &Location, host: Option<&str>, message: String, help: &str) {
    let at = checker.at(at);
    checker.report(at, host, message, Some(help.to_owned()));
}

/// An unknown key: a typo of a key that exists, a setting wgdeploy does not have (yet), or just
/// unknown. Never a guess that is not close: `dns` is not a typo of `ssh`. True when the key was
/// most likely meant as an existing one (`endpiont`): that setting's absence would only cascade.
#[must_use]
fn unknown_key(checker: &mut Checker, section: &Section, key: &str, at: Location) -> bool {
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
