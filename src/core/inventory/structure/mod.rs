//! The YAML tree → the inventory's settings ([`RawInventory`]). Every unknown key and every value of
//! the wrong kind is reported, each with the host it belongs to, and reading goes on: the values
//! that are right still reach validation, so one run shows every problem of the file.

mod unknown;
mod values;

use super::checker::Checker;
use super::raw::{RawDefaults, RawHost, RawHosts, RawInventory, RawNetwork, RawSsh};
use super::tree::Node;
use crate::core::model::printable_excerpt;
use serde_saphyr::{Location, Spanned};
use unknown::unknown_key;
use values::{Reader, described, report, scalar_text};

const TOP_KEYS: &[&str] = &["network", "defaults", "hosts"];
const NETWORK_KEYS: &[&str] = &[
    "interface",
    "addresses",
    "port",
    "keepalive",
    "mtu",
    "preshared_keys",
    "keys",
    "dns",
    "table",
    "fwmark",
    "pre_up",
    "post_up",
    "pre_down",
    "post_down",
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
    "dns",
    "mtu",
    "table",
    "fwmark",
    "keepalive",
    "pre_up",
    "post_up",
    "pre_down",
    "post_down",
    "allowed_ips",
    "manage",
    "public_key",
    "exit",
    "use_exit",
    "underlay",
];

// What the interface settings take, in words for a value of the wrong kind.
const DNS: (&str, &str) = (
    "a resolver address or search domain, or a list of them",
    "a list of resolver addresses or search domains, one per item",
);
const HOOK: (&str, &str) = (
    "a command or a list of commands",
    "a list of commands, one per item",
);
const ENDPOINT: (&str, &str) = (
    "an endpoint or a list of them (at most one per address family)",
    "a list of endpoints, one per item",
);
const UNDERLAY: (&str, &str) = (
    "`ipv4`, `ipv6` or a list of them",
    "a list of address families, one per item (`ipv4`, `ipv6`)",
);
const TABLE: &str = "`auto`, `off` or a table number";
const FWMARK: &str = "a number, hex such as `0xca6c`, or `off`";

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
            "keys" => raw.keys = read.text(value),
            "dns" => raw.dns = read.one_or_many_of(value, DNS.0, DNS.1),
            "table" => raw.table = read.scalar(value, TABLE),
            "fwmark" => raw.fwmark = read.scalar(value, FWMARK),
            "pre_up" => raw.pre_up = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "post_up" => raw.post_up = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "pre_down" => raw.pre_down = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "post_down" => raw.post_down = read.one_or_many_of(value, HOOK.0, HOOK.1),
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
            // `endpoint:` with nothing after it is no endpoint, as it always was.
            "endpoint" if matches!(value.value, Node::Null) => {}
            "endpoint" => raw.endpoint = read.one_or_many_of(value, ENDPOINT.0, ENDPOINT.1),
            "underlay" => raw.underlay = read.one_or_many_of(value, UNDERLAY.0, UNDERLAY.1),
            "relay" => raw.relay = read.boolean(value),
            "address" => raw.address = read.one_or_many(value),
            "via" => raw.via = read.text(value),
            "routes" => raw.routes = read.one_or_many(value),
            "listen_port" => raw.listen_port = read.integer(value),
            "dns" => raw.dns = read.one_or_many_of(value, DNS.0, DNS.1),
            "mtu" => raw.mtu = read.integer(value),
            "table" => raw.table = read.scalar(value, TABLE),
            "fwmark" => raw.fwmark = read.scalar(value, FWMARK),
            "keepalive" => raw.keepalive = read.integer(value),
            "pre_up" => raw.pre_up = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "post_up" => raw.post_up = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "pre_down" => raw.pre_down = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "post_down" => raw.post_down = read.one_or_many_of(value, HOOK.0, HOOK.1),
            "allowed_ips" => raw.allowed_ips = read.peer_prefixes(value),
            "manage" => raw.manage = read.boolean(value),
            "public_key" => raw.public_key = read.text(value),
            "exit" => raw.exit = read.boolean(value),
            "use_exit" => raw.use_exit = read.text(value),
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
