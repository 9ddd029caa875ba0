//! Validated values: once built, a name, interface or endpoint is safe to put in a file path, a
//! config file or (quoted) a remote command. Construction is the only place that checks them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A host's name from the inventory: `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 63 characters.
///
/// Names become directory names (`out/<host>/wg0.conf`), config comments and shell arguments, so
/// anything that could be a path separator, a comment leader or a shell metacharacter is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    pub fn parse(name: &str) -> Result<HostName, String> {
        if name.is_empty() {
            return Err("a host name must not be empty".into());
        }
        if name.len() > 63 {
            return Err(format!(
                "host name `{}…` is longer than 63 characters",
                truncate(name, 20)
            ));
        }
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !first_ok || !rest_ok {
            return Err(format!(
                "host name `{}` may only contain ASCII letters (a-z, A-Z), digits, `.`, `_` and `-`, and must start with a letter or digit",
                printable_excerpt(name)
            ));
        }
        Ok(HostName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A WireGuard interface name as wg-quick accepts it: `[a-zA-Z0-9_=+.-]{1,15}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InterfaceName(String);

impl InterfaceName {
    pub fn parse(name: &str) -> Result<InterfaceName, String> {
        if name.is_empty() || name.len() > 15 {
            return Err(format!(
                "interface name `{}` must be 1 to 15 characters long (Linux limit)",
                printable_excerpt(name)
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '=' | '+' | '.' | '-'))
        {
            return Err(format!(
                "interface name `{}` may only contain ASCII letters, digits and `_=+.-` (wg-quick's rule)",
                printable_excerpt(name)
            ));
        }
        if name == "." || name == ".." {
            return Err(format!("interface name `{name}` is not a usable file name"));
        }
        // wg-quick's pattern allows it, but `wg`, `ip` and `systemd-escape` would take the name
        // for an option.
        if name.starts_with('-') {
            return Err(format!(
                "interface name `{name}` must not start with `-`: commands such as `wg` and `ip` would read it as an option"
            ));
        }
        Ok(InterfaceName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for InterfaceName {
    fn default() -> Self {
        InterfaceName("wg0".into())
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where peers dial a host: an IP address or a DNS name, and a UDP port.
///
/// DNS names are kept as names (wg-quick resolves them on the peer); wgdeploy never resolves them,
/// so planning needs no network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: EndpointHost,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointHost {
    Ip(IpAddr),
    Dns(String),
}

impl Endpoint {
    /// Parses `host`, `host:port`, `a.b.c.d[:port]`, `v6` or `[v6]:port`; `default_port` fills a
    /// missing port.
    ///
    /// A port after an IPv6 address needs brackets. Unbracketed text with several colons is an
    /// IPv6 address on the default port, and is refused when its last group could just as well be
    /// a port (`2001:db8::1:4000` is an address, but also `2001:db8::1` and port 4000): guessing
    /// either way would send peers to the wrong place, and `2001:db8::1:51820` (not an address,
    /// since 51820 is not a 16-bit group) must not read differently from `…:4000`.
    pub fn parse(text: &str, default_port: u16) -> Result<Endpoint, String> {
        let text = text.trim();
        let bad = |why: &str| format!("endpoint `{}` {why}", printable_excerpt(text));
        if text.is_empty() {
            return Err("endpoint must not be empty".into());
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(&format!(
                "is a URL (`{}://…`): an endpoint is an address or DNS name with an optional UDP port, e.g. `198.51.100.1:51820`, `[2001:db8::1]:51820` or `vpn.example.com:51820`",
                printable_excerpt(scheme)
            )));
        }
        if !text.starts_with('[') && text.matches(':').count() > 1 {
            let as_port = text.rsplit_once(':').filter(|(head, port)| {
                !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && std::net::Ipv6Addr::from_str(head).is_ok()
            });
            return match (std::net::Ipv6Addr::from_str(text), as_port) {
                (Ok(ip), None) => Ok(Endpoint {
                    host: EndpointHost::Ip(IpAddr::V6(ip)),
                    port: default_port,
                }),
                (Ok(ip), Some((head, port))) => Err(bad(&format!(
                    "is ambiguous: it is the IPv6 address {ip}, or {head} with port {port}; write `[{head}]:{port}` for the port, or `[{ip}]` for that address on port {default_port}"
                ))),
                (Err(_), Some((head, port))) => Err(bad(&format!(
                    "needs brackets around the IPv6 address when a port follows: write `[{head}]:{port}`"
                ))),
                (Err(_), None) => Err(bad("is not a valid IPv6 address")),
            };
        }
        if let Ok(ip) = IpAddr::from_str(text) {
            return Ok(Endpoint {
                host: EndpointHost::Ip(ip),
                port: default_port,
            });
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("opens `[` without closing `]`"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("has text after `]` that is not `:PORT`"))?,
                ),
            };
            let ip: std::net::Ipv6Addr = inside
                .parse()
                .map_err(|_| bad("has brackets around something that is not an IPv6 address"))?;
            (EndpointHost::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            };
            let host = match IpAddr::from_str(host) {
                Ok(ip) => EndpointHost::Ip(ip),
                Err(_) if looks_like_ipv4(host) => return Err(bad("is not a valid IPv4 address")),
                Err(_) => EndpointHost::Dns(dns_name(host).map_err(|why| bad(&why))?),
            };
            (host, port)
        };
        let port = match port {
            None => default_port,
            Some(port) => match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad("has a port outside 1-65535")),
                Ok(port) => port,
            },
        };
        Ok(Endpoint { host, port })
    }
}

fn looks_like_ipv4(host: &str) -> bool {
    !host.is_empty() && host.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// A DNS name per RFC 1123: dot-separated labels of letters, digits and inner hyphens.
fn dns_name(host: &str) -> Result<String, String> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err("is neither an IP address nor a valid DNS name".into());
    }
    Ok(host.to_ascii_lowercase())
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            EndpointHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            EndpointHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            EndpointHost::Dns(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// Shows text from a user or a host (an error, a host's config or log) without letting it act on
/// the terminal: control characters (ESC starts terminal sequences, CR and BS overwrite what was
/// printed, BEL, the C1 controls) and the invisible characters that reorder or hide text (bidi
/// overrides, zero-width characters) become escapes such as `\u{1b}`; all other text, other
/// scripts included, is shown as it is. One line: newlines and tabs are escaped too.
pub fn printable(text: &str) -> String {
    escape_for_terminal(text, false)
}

/// [`printable`] for a value echoed in a message: at most [`EXCERPT_CHARS`] characters, then `…`.
/// A 10 MB value must not become 10 MB of error.
pub fn printable_excerpt(text: &str) -> String {
    printable_cut(text, EXCERPT_CHARS)
}

/// [`printable`] of at most `chars` characters, then `…`.
pub fn printable_cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return printable(text);
    }
    let mut shown = printable(&text.chars().take(chars).collect::<String>());
    shown.push('…');
    shown
}

/// Characters of a value shown in a message before it is cut.
pub const EXCERPT_CHARS: usize = 60;

/// [`printable`] for text of several lines (a config diff, a host's log): keeps newlines and tabs.
pub fn printable_lines(text: &str) -> String {
    escape_for_terminal(text, true)
}

fn escape_for_terminal(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let layout = keep_lines && matches!(c, '\n' | '\t');
        let hidden = matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
        if !layout && (c.is_control() || hidden) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate(text: &str, chars: usize) -> String {
    printable(&text.chars().take(chars).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_cannot_act_on_the_terminal() {
        let hostile = "a\x1b[31mb\rc\x07\u{9b}d\u{202e}e\tf\ng é";
        let line = printable(hostile);
        assert_eq!(line, "a\\u{1b}[31mb\\rc\\u{7}\\u{9b}d\\u{202e}e\\tf\\ng é");
        let lines = printable_lines(hostile);
        assert_eq!(lines, "a\\u{1b}[31mb\\rc\\u{7}\\u{9b}d\\u{202e}e\tf\ng é");
        for shown in [line, lines] {
            assert!(
                !shown
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
            );
        }
    }

    #[test]
    fn host_names_refuse_shell_and_path_characters() {
        assert!(HostName::parse("relay-1.eu_west").is_ok());
        for bad in [
            "",
            "-x",
            ".x",
            "a/b",
            "a b",
            "a;rm",
            "$(id)",
            "a`b`",
            "a\nb",
            "é",
            &"a".repeat(64),
        ] {
            assert!(HostName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn interface_names_follow_wg_quick() {
        assert!(InterfaceName::parse("wg0").is_ok());
        assert!(InterfaceName::parse("wg_office.1+=").is_ok());
        for bad in [
            "",
            "wg0123456789abcd",
            "wg 0",
            "wg/0",
            "wg;0",
            "..",
            "-wg0",
            "--help",
        ] {
            assert!(InterfaceName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn endpoints_parse_every_form() {
        let cases = [
            ("198.51.100.1", "198.51.100.1:51820"),
            ("198.51.100.1:4000", "198.51.100.1:4000"),
            ("2001:db8::1", "[2001:db8::1]:51820"),
            ("2001:db8::10", "[2001:db8::10]:51820"),
            ("::ffff:198.51.100.1", "[::ffff:198.51.100.1]:51820"),
            ("2001:db8::1:ab", "[2001:db8::1:ab]:51820"),
            ("[2001:db8::1]:4000", "[2001:db8::1]:4000"),
            ("[2001:db8::1:4000]", "[2001:db8::1:4000]:51820"),
            ("vpn.Example.com", "vpn.example.com:51820"),
            ("vpn.example.com:1", "vpn.example.com:1"),
        ];
        for (input, shown) in cases {
            assert_eq!(Endpoint::parse(input, 51820).unwrap().to_string(), shown);
        }
        for bad in [
            "",
            "1.2.3.4:0",
            "1.2.3.4:70000",
            "1.2.3.999",
            "[::1",
            "[::1]x",
            "a b",
            "a;b:1",
            "-a.com",
            "h:port",
            "2001:db8::1::2",
        ] {
            assert!(Endpoint::parse(bad, 51820).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_ipv6_endpoint_with_a_port_needs_brackets_whatever_the_port() {
        // Not an address (51820 is no 16-bit group) and an address (4000 is): both refused alike,
        // each with the bracketed form to write.
        let not_an_address = Endpoint::parse("2001:db8::1:51820", 51820).unwrap_err();
        assert!(
            not_an_address.contains("write `[2001:db8::1]:51820`"),
            "{not_an_address}"
        );
        let ambiguous = Endpoint::parse("2001:db8::1:4000", 51820).unwrap_err();
        assert!(
            ambiguous.contains("is ambiguous")
                && ambiguous.contains("write `[2001:db8::1]:4000` for the port")
                && ambiguous.contains("`[2001:db8::1:4000]` for that address on port 51820"),
            "{ambiguous}"
        );
    }
}

/// A host's position in [`Inventory::hosts`]; the planner works with indices, not names.
pub type HostId = usize;

/// What a host is to the others, derived from `endpoint` and `relay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Has an endpoint others can dial; does not forward.
    Public,
    /// Has an endpoint and forwards between peers (decrypts, routes, re-encrypts).
    Relay,
    /// No reachable endpoint: must initiate every tunnel and keep its NAT mapping alive.
    Nat,
}

impl Role {
    /// The name used in JSON and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Relay => "relay",
            Role::Nat => "nat",
        }
    }
}

/// How a NAT-ed host's home relay was chosen, shown in plans so nobody wonders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HomeChoice {
    /// Written as `via:` in the inventory.
    Via,
    /// The only relay.
    Only,
    /// Chosen by rendezvous hashing over the relays (stable, spreads hosts evenly).
    Hashed,
    /// No `via`, and the host's `use_exit` is a relay: homed there, so its internet traffic
    /// reaches the exit directly (only its home relay is a peer among the relays).
    Exit,
    /// The only relay with an endpoint of an address family the host has (`core::underlay`).
    Family,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Home {
    pub relay: HostId,
    pub choice: HomeChoice,
}

/// How wgdeploy reaches a host over SSH. Unset fields are left to `~/.ssh/config` and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ssh {
    pub host: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<String>,
    pub jump: Option<HostId>,
    pub sudo: bool,
}

/// A validated host.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: HostName,
    pub role: Role,
    /// Where peers dial it, at most one per address family, in the inventory's order (a dialer
    /// takes the first it can use: `core::underlay::choose`). Empty for a host behind NAT.
    pub endpoints: Vec<Endpoint>,
    /// The address families of its own network (what it can dial and be dialled on): `underlay:`,
    /// or inferred from its endpoints, IPv4 by default (`core::underlay`).
    pub underlay: crate::core::underlay::Families,
    /// Whether `underlay:` was written (plans say when it was inferred).
    pub underlay_declared: bool,
    /// Addresses pinned with `address:`, at most one per family, inside the overlay.
    pub pinned: Vec<IpAddr>,
    /// Home relay of a NAT-ed host; `None` for public hosts, and for a NAT-ed host when the inventory
    /// has no relay at all (it then reaches only public hosts, which is valid for a single one).
    pub home: Option<Home>,
    pub routes: Vec<ipnet::IpNet>,
    pub listen_port: u16,
    pub ssh: Ssh,
    /// Where the host is declared, for errors found after validation (e.g. overlay exhausted).
    pub at: Option<crate::core::error::At>,
    /// Its interface settings (the network's defaults with its own overrides), keepalive and
    /// extra AllowedIPs.
    pub settings: HostSettings,
    /// `manage: false`: a device (phone, laptop, router) wgdeploy plans and renders but never
    /// logs into; `None` for hosts it manages over SSH.
    pub device: Option<Device>,
    /// `exit: true`: a public host that offers its uplink to hosts using it as their exit
    /// (it forwards and masquerades their traffic to the internet).
    pub exit: bool,
    /// `use_exit: HOST`: all of this host's traffic (0.0.0.0/0, and ::/0 with an IPv6 overlay)
    /// goes through that exit host.
    pub use_exit: Option<HostId>,
}

/// A host wgdeploy never contacts: its config is exported (`wgdeploy export`) and installed by hand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// `public_key:` from the inventory, generated on the device: wgdeploy then never holds the
    /// private key. `None`: wgdeploy generates the key and keeps it in the state.
    pub public_key: Option<crate::core::keys::PublicKey>,
}

impl Host {
    /// Whether wgdeploy never logs into this host (`manage: false`).
    pub fn is_device(&self) -> bool {
        self.device.is_some()
    }

    /// The public key written in the inventory, when the device made its own key pair.
    pub fn declared_key(&self) -> Option<&crate::core::keys::PublicKey> {
        self.device.as_ref()?.public_key.as_ref()
    }

    pub fn is_relay(&self) -> bool {
        self.role == Role::Relay
    }

    pub fn is_nat(&self) -> bool {
        self.role == Role::Nat
    }

    /// `use_exit` relies on wg-quick's own policy routing for a /0, which only the automatic
    /// table has: with `table: off` or a table number, nothing reaches the exit unless the user's
    /// hooks route it.
    pub fn full_tunnel_warning(&self) -> Option<String> {
        self.use_exit?;
        match self.settings.interface.table? {
            Table::Auto => None,
            Table::Off => Some("warning: `use_exit` with `table: off`: wg-quick adds no route for the default route it sends to the exit, so nothing goes there unless your hooks route it".into()),
            Table::Number(table) => Some(format!("warning: `use_exit` with `table: {table}`: wg-quick puts the default route into table {table} without its policy rules, so nothing goes to the exit unless your hooks add `ip rule`s for it (that keep WireGuard's own packets out)")),
        }
    }
}

/// Where the private keys of the hosts wgdeploy manages are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMode {
    /// wgdeploy makes them on the operator's machine and keeps them in the state file.
    #[default]
    Local,
    /// Each host makes its own and keeps it (`/etc/wireguard/IFACE.key`); only its public key
    /// comes back, and the configs wgdeploy sends name a placeholder the host fills in.
    OnHost,
}

impl Inventory {
    /// Whether `host`'s private key is made on the host itself (a managed host with
    /// `keys: on-host`; devices keep their own rules).
    pub fn key_on_host(&self, host: &Host) -> bool {
        self.network.keys == KeyMode::OnHost && !host.is_device()
    }
}

/// Network-wide settings.
#[derive(Debug, Clone)]
pub struct Network {
    pub interface: InterfaceName,
    /// Overlay ranges, at most one per family, IPv4 first.
    pub ranges: Vec<ipnet::IpNet>,
    pub port: u16,
    pub keepalive: u16,
    pub mtu: Option<u16>,
    pub preshared_keys: bool,
    /// Where managed hosts' private keys are made (`network.keys`).
    pub keys: KeyMode,
    pub ranges_at: Option<crate::core::error::At>,
    /// Interface settings every host gets unless it sets its own.
    pub settings: InterfaceSettings,
}

/// What `use_exit` sends through the exit: the default route of each family the overlay has
/// (0.0.0.0/0, and ::/0 with an IPv6 overlay). A family without an overlay address has no source
/// address the exit could masquerade, so it keeps its own route.
pub fn internet_prefixes(ranges: &[ipnet::IpNet]) -> Vec<ipnet::IpNet> {
    ranges
        .iter()
        .map(|range| match range {
            ipnet::IpNet::V4(_) => ipnet::IpNet::V4(Default::default()),
            ipnet::IpNet::V6(_) => ipnet::IpNet::V6(Default::default()),
        })
        .collect()
}

/// wg-quick's `Table`: where the routes of the AllowedIPs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// wg-quick's default: the main table (and its policy routing for a /0).
    Auto,
    /// No routes at all: the user routes traffic into the interface.
    Off,
    /// A routing table by number (`main` is 254).
    Number(u32),
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Table::Auto => f.write_str("auto"),
            Table::Off => f.write_str("off"),
            Table::Number(number) => write!(f, "{number}"),
        }
    }
}

/// The `[Interface]` settings wg-quick applies when the interface starts (a change of any of them
/// is a restart). Each is a network-wide default that a host may override as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceSettings {
    /// `DNS =`: resolver addresses and search domains, in the order written.
    pub dns: Vec<String>,
    pub mtu: Option<u16>,
    /// `None`: not written (wg-quick's `auto`).
    pub table: Option<Table>,
    /// `None`: not written (no mark, or wg-quick's own for a /0).
    pub fwmark: Option<u32>,
    /// The user's own hook commands, run by wg-quick exactly as written.
    pub pre_up: Vec<String>,
    pub post_up: Vec<String>,
    pub pre_down: Vec<String>,
    pub post_down: Vec<String>,
}

impl InterfaceSettings {
    /// Hooks that bring something up with no hook at all to take it down again: lock-out
    /// protection puts back a config, never what a hook did, so these deserve a warning.
    pub fn unpaired_hooks(&self) -> Option<String> {
        let ups: Vec<&str> = [("pre_up", &self.pre_up), ("post_up", &self.post_up)]
            .into_iter()
            .filter(|(_, commands)| !commands.is_empty())
            .map(|(name, _)| name)
            .collect();
        (!ups.is_empty() && self.pre_down.is_empty() && self.post_down.is_empty()).then(|| {
            format!(
                "warning: `{}` has no matching `pre_down`/`post_down`: if lock-out protection reverts this apply, it puts back the previous config, not what the hook did (a hook that closes SSH leaves the host unreachable); add a down-hook that undoes it",
                ups.join("` and `")
            )
        })
    }
}

/// A host's own settings beyond its interface's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostSettings {
    pub interface: InterfaceSettings,
    /// PersistentKeepalive of this NAT-ed host, over `network.keepalive`.
    pub keepalive: Option<u16>,
    /// Extra prefixes this host accepts from (and routes to) a given peer, e.g. a LAN or a default
    /// route behind it that the inventory does not describe.
    pub extra_allowed: Vec<(HostId, Vec<ipnet::IpNet>)>,
}

/// A validated inventory: every value checked, every reference resolved to an index.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: std::path::PathBuf,
    pub network: Network,
    pub hosts: Vec<Host>,
}

impl Inventory {
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|host| host.name.as_str() == name)
    }
}
