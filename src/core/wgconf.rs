//! Parsing wg-quick configuration files, for `check --configs` (and later, facts from live hosts).
//! Pure: text in, structure out. Errors name the file and line but never quote a key.

use crate::core::error::{At, Diagnostic, Error, Result};
use crate::core::keys::{PrivateKey, PublicKey};
use ipnet::IpNet;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct WgConfig {
    pub addresses: Vec<IpNet>,
    pub listen_port: Option<u16>,
    pub private_key: Option<PrivateKey>,
    /// The interface's own public key from wgdeploy's `# PublicKey = …` comment, written for a
    /// device whose private key wgdeploy never held (its `PrivateKey` is a placeholder).
    pub public_key: Option<PublicKey>,
    /// wg-quick's `Table` (`off`, `auto`, a number or name), as written.
    pub table: Option<String>,
    /// PreUp, PostUp, PreDown and PostDown commands, in file order.
    pub hooks: Vec<(String, String)>,
    pub mtu: Option<u16>,
    /// `DNS =` entries (resolvers and search domains): wg-quick hands them to `resolvconf`.
    pub dns: Vec<String>,
    /// `FwMark`, as written.
    pub fwmark: Option<String>,
    pub peers: Vec<WgPeer>,
}

#[derive(Debug, Clone)]
pub struct WgPeer {
    /// 1-based line of the `[Peer]` header, for diagnostics.
    pub line: usize,
    /// From a `# Name = x` comment, as wgdeploy writes them.
    pub name: Option<String>,
    pub public_key: PublicKey,
    pub has_preshared_key: bool,
    pub allowed_ips: Vec<AllowedIp>,
    pub endpoint: Option<String>,
    pub keepalive: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedIp {
    /// The prefix as the kernel uses it (host bits cleared).
    pub net: IpNet,
    /// The file wrote host bits (e.g. `100.64.0.5/24`); `wg` silently clears them.
    pub host_bits_set: bool,
}

impl WgConfig {
    /// Whether the hooks show that this host forwards (a forwarding sysctl switched on in PostUp).
    pub fn forwarding_evidence(&self) -> Option<&str> {
        self.hooks
            .iter()
            .filter(|(kind, _)| kind == "PostUp" || kind == "PreUp")
            .map(|(_, command)| command.as_str())
            .find(|command| {
                let compact: String = command.split_whitespace().collect::<Vec<_>>().join(" ");
                [
                    "net.ipv4.ip_forward=1",
                    "net.ipv4.conf.all.forwarding=1",
                    "net.ipv6.conf.all.forwarding=1",
                ]
                .iter()
                .any(|setting| compact.contains(setting))
            })
    }
}

/// Parses one wg-quick file; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<WgConfig> {
    let mut config = WgConfig::default();
    let mut section = Section::None;
    let mut peer: Option<PeerDraft> = None;
    let mut problems = Vec::new();
    let error = |line: usize, message: String, help: &str| {
        let mut at = At::in_source(path, text, line, 1);
        // The snippet shows the source line: never when it may carry a secret.
        at.text = at.text.map(|shown| match shown.split_once('=') {
            Some((key, _)) if may_be_secret(key) => format!("{} = (redacted)", key.trim()),
            None if may_be_secret(&shown) => "(redacted)".to_owned(),
            _ => shown,
        });
        Diagnostic::new(message).at(at).help(help.to_owned())
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let (Some(draft), Some((key, value))) = (peer.as_mut(), comment.split_once('='))
                && key.trim() == "Name"
            {
                let name = value.trim();
                draft.name = Some(name.split(" (").next().unwrap_or(name).trim().to_owned());
            }
            if let (Section::Interface, Some((key, value))) = (section, comment.split_once('='))
                && key.trim() == "PublicKey"
            {
                let value = value.trim();
                config.public_key =
                    PublicKey::from_base64(value.split(" (").next().unwrap_or(value));
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('[') {
            close_peer(&mut peer, &mut config.peers, &mut problems, &error);
            section = match trimmed.to_ascii_lowercase().as_str() {
                "[interface]" => Section::Interface,
                "[peer]" => {
                    peer = Some(PeerDraft::new(line));
                    Section::Peer
                }
                _ => {
                    problems.push(error(
                        line,
                        format!(
                            "unknown section `{}`",
                            crate::core::model::printable(trimmed)
                        ),
                        "wg-quick files have `[Interface]` and `[Peer]` sections",
                    ));
                    Section::None
                }
            };
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            problems.push(error(
                line,
                "expected `Key = Value`".into(),
                "each setting is one `Key = Value` line",
            ));
            continue;
        };
        let (key, value) = (canonical_key(key.trim()), value.trim());
        // Never echo key material in errors.
        let shown = |value: &str| {
            if may_be_secret(key) {
                "(redacted)".to_owned()
            } else {
                crate::core::model::printable(value)
            }
        };
        let bad = |what: &str| {
            format!(
                "`{key}` has an invalid value `{}`: expected {what}",
                shown(value)
            )
        };
        match (section, key) {
            (Section::None, _) => problems.push(error(
                line,
                format!("`{key}` outside a section"),
                "put it under `[Interface]` or `[Peer]`",
            )),
            (Section::Interface, "Address") => {
                for item in value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                {
                    match item
                        .parse::<IpNet>()
                        .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                    {
                        Ok(net) => config.addresses.push(net),
                        Err(_) => problems.push(error(
                            line,
                            bad("addresses such as `100.64.0.1/24`"),
                            "fix the address",
                        )),
                    }
                }
            }
            (Section::Interface, "ListenPort") => match value.parse() {
                Ok(port) => config.listen_port = Some(port),
                Err(_) => problems.push(error(line, bad("a port number"), "use 1-65535")),
            },
            // A device's exported config before its owner pasted the key in.
            (Section::Interface, "PrivateKey")
                if value == crate::core::keys::PRIVATE_KEY_PLACEHOLDER
                    || value == crate::core::keys::ON_HOST_KEY_MARKER => {}
            (Section::Interface, "PrivateKey") => match PrivateKey::from_base64(value) {
                Some(key) => config.private_key = Some(key),
                None => problems.push(error(
                    line,
                    "`PrivateKey` is not a base64 32-byte key".into(),
                    "generate one with `wg genkey`",
                )),
            },
            (Section::Interface, "PreUp" | "PostUp" | "PreDown" | "PostDown") => {
                config.hooks.push((key.to_owned(), value.to_owned()))
            }
            (Section::Interface, "Table") => config.table = Some(value.to_owned()),
            (Section::Interface, "MTU") => match value.parse() {
                Ok(mtu) => config.mtu = Some(mtu),
                Err(_) => problems.push(error(line, bad("a number of bytes"), "use e.g. 1420")),
            },
            (Section::Interface, "DNS") => config.dns.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned),
            ),
            (Section::Interface, "FwMark") => config.fwmark = Some(value.to_owned()),
            (Section::Interface, "SaveConfig") => {}
            (Section::Peer, _) => {
                let draft = peer.as_mut().expect("a [Peer] section has a draft");
                match key {
                    "PublicKey" => match PublicKey::from_base64(value) {
                        Some(public) => draft.public_key = Some(public),
                        None => problems.push(error(line, "`PublicKey` is not a base64 32-byte key".into(), "copy it from `wg pubkey`")),
                    },
                    "PresharedKey" => draft.has_preshared_key = true,
                    "AllowedIPs" => {
                        for item in value.split(',').map(str::trim).filter(|item| !item.is_empty()) {
                            match item.parse::<IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from)) {
                                Ok(net) => draft.allowed_ips.push(AllowedIp {
                                    net: net.trunc(),
                                    host_bits_set: net.trunc() != net,
                                }),
                                Err(_) => problems.push(error(line, bad("prefixes such as `100.64.0.0/24`"), "fix the prefix")),
                            }
                        }
                    }
                    "Endpoint" => draft.endpoint = Some(value.to_owned()),
                    "PersistentKeepalive" => match value {
                        "off" | "0" => draft.keepalive = None,
                        _ => match value.parse() {
                            Ok(seconds) => draft.keepalive = Some(seconds),
                            Err(_) => problems.push(error(line, bad("seconds or `off`"), "use e.g. 25")),
                        },
                    },
                    _ => problems.push(error(line, format!("unknown [Peer] key `{key}`"), "wg-quick peers take PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive")),
                }
            }
            (Section::Interface, _) => problems.push(error(
                line,
                format!("unknown [Interface] key `{key}`"),
                "check the spelling against `man wg-quick`",
            )),
        }
    }
    close_peer(&mut peer, &mut config.peers, &mut problems, &error);
    if let Some(error) = Error::from_all(problems) {
        return Err(error);
    }
    Ok(config)
}

/// The keys `wg` itself reads (wg-quick hands them on to `wg setconf`), spelled as wgdeploy writes
/// them. `wg` compares key names case-insensitively, so `privatekey=` is a working private key; the
/// keys wg-quick handles itself (`Address`, `PostUp`, …) match only as written, as in wg-quick.
const WG_KEYS: [&str; 8] = [
    "PrivateKey",
    "ListenPort",
    "FwMark",
    "PublicKey",
    "PresharedKey",
    "AllowedIPs",
    "Endpoint",
    "PersistentKeepalive",
];

/// `key` as wgdeploy spells it when `wg` would read it as that key, else `key` unchanged.
fn canonical_key(key: &str) -> &str {
    WG_KEYS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(key))
        .copied()
        .unwrap_or(key)
}

/// Whether a key name (or a line that is not `Key = Value`) might hold key material: anything
/// mentioning a key, in any case, except the public key. Errs on the side of hiding.
pub fn may_be_secret(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    (key.contains("key")
        || key.contains("private")
        || key.contains("preshared")
        || key.contains("psk"))
        && key != "publickey"
}

/// Ends the `[Peer]` being read, if any: keeps it, or reports what it lacks.
fn close_peer(
    peer: &mut Option<PeerDraft>,
    peers: &mut Vec<WgPeer>,
    problems: &mut Vec<Diagnostic>,
    error: &impl Fn(usize, String, &str) -> Diagnostic,
) {
    if let Some(draft) = peer.take() {
        match draft.finish() {
            Ok(done) => peers.push(done),
            Err((line, message)) => problems.push(error(
                line,
                message,
                "every [Peer] needs `PublicKey = <base64 key>`",
            )),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Interface,
    Peer,
}

struct PeerDraft {
    line: usize,
    name: Option<String>,
    public_key: Option<PublicKey>,
    has_preshared_key: bool,
    allowed_ips: Vec<AllowedIp>,
    endpoint: Option<String>,
    keepalive: Option<u16>,
}

impl PeerDraft {
    fn new(line: usize) -> PeerDraft {
        PeerDraft {
            line,
            name: None,
            public_key: None,
            has_preshared_key: false,
            allowed_ips: Vec::new(),
            endpoint: None,
            keepalive: None,
        }
    }

    fn finish(self) -> std::result::Result<WgPeer, (usize, String)> {
        let public_key = self
            .public_key
            .ok_or((self.line, "this [Peer] has no `PublicKey`".to_owned()))?;
        Ok(WgPeer {
            line: self.line,
            name: self.name,
            public_key,
            has_preshared_key: self.has_preshared_key,
            allowed_ips: self.allowed_ips,
            endpoint: self.endpoint,
            keepalive: self.keepalive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_wgdeploy_renders_and_hand_written_variants() {
        let text = "[Interface]\nAddress = 100.64.0.3/24, fd00::3/64\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nPostUp = sysctl -q -w net.ipv4.ip_forward=1\n\n[Peer]\n# Name = relay1\nPublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\nAllowedIPs = 100.64.0.0/24\nAllowedIPs = 100.64.0.9/24\nEndpoint = 198.51.100.1:51820\nPersistentKeepalive = 25\n";
        let config = parse(Path::new("a.conf"), text).unwrap();
        assert_eq!(config.addresses.len(), 2);
        assert!(config.forwarding_evidence().is_some());
        let peer = &config.peers[0];
        assert_eq!(peer.name.as_deref(), Some("relay1"));
        assert_eq!(peer.allowed_ips.len(), 2);
        assert!(!peer.allowed_ips[0].host_bits_set && peer.allowed_ips[1].host_bits_set);
        assert_eq!(peer.allowed_ips[1].net.to_string(), "100.64.0.0/24");
        assert_eq!(peer.keepalive, Some(25));
    }

    #[test]
    fn errors_name_the_line_and_never_the_key() {
        let text = "[Interface]\nPrivateKey = c2VjcmV0LXRoYXQtaXMtbm90LTMyLWJ5dGVz\n[Peer]\nAllowedIPs = nonsense\n";
        let err = parse(Path::new("b.conf"), text).unwrap_err().to_string();
        assert!(
            err.contains("b.conf:2:1") && err.contains("b.conf:4:1") && err.contains("b.conf:3:1"),
            "{err}"
        );
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn a_device_config_with_the_placeholder_names_its_own_public_key() {
        let text = format!(
            "[Interface]\nAddress = 100.64.0.5/24\n# PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw= (the device's own key)\nPrivateKey = {}\n",
            crate::core::keys::PRIVATE_KEY_PLACEHOLDER
        );
        let config = parse(Path::new("phone.conf"), &text).unwrap();
        assert!(config.private_key.is_none());
        assert_eq!(
            config.public_key.unwrap().to_base64(),
            "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
        );
        // Anything else that is not a key is still refused.
        assert!(
            parse(
                Path::new("x.conf"),
                "[Interface]\nPrivateKey = <paste it>\n"
            )
            .is_err()
        );
    }
}
