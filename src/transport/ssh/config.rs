//! From an inventory target to the concrete hops to connect through: ssh_config (`HostName`,
//! `User`, `Port`, `IdentityFile`, `ProxyJump`) applied the way ssh(1) applies it, explicit values
//! winning over the file as ssh's command line does.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ssh2_config::{HostParams, ParseRule, SshConfig};

use super::{SshError, SshOptions, SshTarget};

/// Bastions plus the target: more than this is a ProxyJump loop in the config.
const MAX_HOPS: usize = 8;

/// One SSH connection to make, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    /// How messages name this hop: "web1", or "jump host bastion (for web1)".
    pub name: String,
    /// The address connected to (ssh_config HostName applied); known_hosts is checked for it.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files to offer before the agent: the explicit one first, then ssh_config's.
    pub identity: Option<PathBuf>,
    pub config_identities: Vec<PathBuf>,
}

impl Hop {
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The hops to `target` in connection order: outermost bastion first, the target last.
pub(crate) fn resolve(target: &SshTarget, options: &SshOptions) -> Result<Vec<Hop>, SshError> {
    let config = load(options)?;
    let mut hops = Vec::new();
    let mut walk = Walk {
        for_label: &target.label,
        options,
        config: config.as_ref(),
        hops: &mut hops,
    };
    walk.push_hops(target, 0)?;
    Ok(hops)
}

fn load(options: &SshOptions) -> Result<Option<SshConfig>, SshError> {
    let Some(path) = &options.config_file else {
        return Ok(None);
    };
    let error = |reason: String| SshError::Config {
        path: path.clone(),
        reason,
    };
    let file = File::open(path).map_err(|e| error(e.to_string()))?;
    SshConfig::default()
        .home_dir(config_home(path))
        .parse(
            &mut BufReader::new(file),
            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .map(Some)
        .map_err(|e| error(e.to_string()))
}

/// The directory `~` stands for in the config. The transport reads no environment, so it is taken
/// from the file's place: `<home>/.ssh/config` gives `<home>`; a config elsewhere gives its own
/// directory, so that `~` never silently means the real home in tests.
fn config_home(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("/"));
    match dir.file_name() {
        Some(name) if name == ".ssh" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// The state of one resolution: where it is going and the hops found so far.
struct Walk<'a> {
    /// The inventory host the whole chain serves, for naming bastions in messages.
    for_label: &'a str,
    options: &'a SshOptions,
    config: Option<&'a SshConfig>,
    hops: &'a mut Vec<Hop>,
}

impl Walk<'_> {
    /// Appends the hops leading to `target`, then `target` itself. `depth` counts the bastions
    /// being resolved, so that a ProxyJump cycle in the config ends in an error.
    fn push_hops(&mut self, target: &SshTarget, depth: usize) -> Result<(), SshError> {
        let name = hop_name(target, self.for_label);
        if depth >= MAX_HOPS {
            return Err(SshError::ProxyJump {
                hop: name,
                spec: target.host.clone(),
                reason: format!(
                    "more than {MAX_HOPS} hops: is there a ProxyJump loop in the ssh config?"
                ),
            });
        }
        let params = self.config.map(|c| c.query(&target.host));
        // An explicit jump replaces ssh_config's ProxyJump for this host, as `ssh -J` does.
        if let Some(jump) = &target.jump {
            self.push_hops(jump, depth + 1)?;
        } else if let Some(specs) = params.as_ref().and_then(|p| p.proxy_jump.clone()) {
            self.push_proxy_jumps(target, &specs, depth)?;
        }
        let hop = hop(target, name, params.as_ref(), self.options);
        self.hops.push(hop);
        Ok(())
    }

    /// ProxyJump `a,b` means: reach `b` through `a`, then the target through `b`. Each bastion is
    /// resolved through the config too, except that the chain decides the jumps after the first.
    fn push_proxy_jumps(
        &mut self,
        target: &SshTarget,
        specs: &[String],
        depth: usize,
    ) -> Result<(), SshError> {
        let specs: Vec<&str> = specs
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if specs.len() == 1 && specs[0].eq_ignore_ascii_case("none") {
            return Ok(());
        }
        let mut chain: Option<SshTarget> = None;
        for spec in specs {
            let mut bastion = parse_jump(spec).map_err(|reason| SshError::ProxyJump {
                hop: hop_name(target, self.for_label),
                spec: spec.to_string(),
                reason,
            })?;
            // A bastion matched by its own `Host *` ProxyJump would jump through itself: that
            // ProxyJump is ignored, which keeps `Host *` + ProxyJump configs usable.
            if chain.is_none() && same_host(&bastion, target) {
                return Ok(());
            }
            bastion.jump = chain.take().map(Box::new);
            chain = Some(bastion);
        }
        match chain {
            Some(last) => self.push_hops(&last, depth + 1),
            None => Ok(()),
        }
    }
}

fn hop_name(target: &SshTarget, for_label: &str) -> String {
    if target.label == for_label {
        target.label.clone()
    } else {
        format!("jump host {} (for {for_label})", target.label)
    }
}

fn same_host(a: &SshTarget, b: &SshTarget) -> bool {
    a.host.eq_ignore_ascii_case(&b.host) && a.port == b.port
}

/// `[user@]host[:port]`, `[user@][v6addr]:port`, or `ssh://[user@]host[:port]`.
fn parse_jump(spec: &str) -> Result<SshTarget, String> {
    let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
        Some(_) => return Err("empty user name".to_string()),
        None => (None, rest),
    };
    let (host, port) = split_host_port(rest)?;
    if host.is_empty() {
        return Err("no host name".to_string());
    }
    Ok(SshTarget {
        label: spec.to_string(),
        host: host.to_string(),
        port,
        user,
        identity: None,
        jump: None,
    })
}

fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let parse_port = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("invalid port `{}`", port.escape_debug()))
    };
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "unclosed '['".to_string())?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(parse_port(port)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected `{}` after `]`", after.escape_debug())),
        };
    }
    match text.split_once(':') {
        // More than one colon without brackets is a bare IPv6 address.
        Some((host, port)) if !port.contains(':') => Ok((host, Some(parse_port(port)?))),
        _ => Ok((text, None)),
    }
}

fn hop(target: &SshTarget, name: String, params: Option<&HostParams>, options: &SshOptions) -> Hop {
    let host_name = params
        .and_then(|p| p.host_name.as_deref())
        .map(|h| h.replace("%h", &target.host).replace("%%", "%"))
        .unwrap_or_else(|| target.host.clone());
    let port = target
        .port
        .or_else(|| params.and_then(|p| p.port))
        .unwrap_or(22);
    let user = target
        .user
        .clone()
        .or_else(|| params.and_then(|p| p.user.clone()))
        .unwrap_or_else(|| options.default_user.clone());
    let config_identities = params
        .and_then(|p| p.identity_file.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|path| expand_tokens(&path, &host_name, port, &user, options))
        .collect();
    Hop {
        name,
        host: host_name,
        port,
        user,
        identity: target.identity.clone(),
        config_identities,
    }
}

/// The IdentityFile tokens that make sense without a local environment: %h, %p, %r, %d, %%.
fn expand_tokens(path: &Path, host: &str, port: u16, user: &str, options: &SshOptions) -> PathBuf {
    let text = path.to_string_lossy();
    if !text.contains('%') {
        return path.to_path_buf();
    }
    let home = options
        .config_file
        .as_deref()
        .map(config_home)
        .unwrap_or_default();
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(user),
            Some('d') => out.push_str(&home.to_string_lossy()),
            Some(other) => {
                out.push('%');
                if other != '%' {
                    out.push(other);
                }
            }
            None => out.push('%'),
        }
    }
    PathBuf::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn options(config: Option<PathBuf>) -> SshOptions {
        SshOptions {
            known_hosts: PathBuf::from("/nonexistent/known_hosts"),
            accept_new: false,
            connect_timeout: Duration::from_secs(1),
            config_file: config,
            agent_socket: None,
            default_identities: Vec::new(),
            default_user: "me".to_string(),
        }
    }

    fn target(host: &str) -> SshTarget {
        SshTarget {
            label: host.to_string(),
            host: host.to_string(),
            ..SshTarget::default()
        }
    }

    fn with_config(text: &str, check: impl FnOnce(SshOptions)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config");
        std::fs::write(&path, text).expect("write");
        check(options(Some(path)));
    }

    #[test]
    fn defaults_without_config() {
        let hops = resolve(&target("10.0.0.1"), &options(None)).unwrap();
        assert_eq!(hops.len(), 1);
        assert_eq!((hops[0].host.as_str(), hops[0].port), ("10.0.0.1", 22));
        assert_eq!(hops[0].user, "me");
        assert_eq!(hops[0].name, "10.0.0.1");
    }

    #[test]
    fn config_applies_and_explicit_values_win() {
        let text =
            "Host web\n  HostName 10.0.0.5\n  Port 2200\n  User admin\n  IdentityFile ~/k/%h\n";
        with_config(text, |options| {
            let home = config_home(options.config_file.as_deref().unwrap());
            let hop = &resolve(&target("web"), &options).unwrap()[0];
            assert_eq!(hop.addr(), "10.0.0.5:2200");
            assert_eq!(hop.user, "admin");
            assert_eq!(hop.config_identities, vec![home.join("k/10.0.0.5")]);
            let explicit = SshTarget {
                port: Some(22),
                user: Some("root".into()),
                ..target("web")
            };
            let hop = &resolve(&explicit, &options).unwrap()[0];
            assert_eq!((hop.port, hop.user.as_str()), (22, "root"));
        });
    }

    #[test]
    fn proxy_jump_chain() {
        let text = "Host web\n  ProxyJump a,ops@b:2222\nHost b\n  HostName 10.0.0.2\nHost a\n  ProxyJump none\n";
        with_config(text, |options| {
            let hops = resolve(&target("web"), &options).unwrap();
            let summary: Vec<(String, String, String)> = hops
                .iter()
                .map(|h| (h.name.clone(), h.addr(), h.user.clone()))
                .collect();
            assert_eq!(
                summary,
                vec![
                    ("jump host a (for web)".into(), "a:22".into(), "me".into()),
                    (
                        "jump host ops@b:2222 (for web)".into(),
                        "10.0.0.2:2222".into(),
                        "ops".into()
                    ),
                    ("web".into(), "web:22".into(), "me".into()),
                ]
            );
        });
    }

    #[test]
    fn explicit_jump_replaces_proxy_jump() {
        with_config("Host web\n  ProxyJump a\n", |options| {
            let t = SshTarget {
                jump: Some(Box::new(target("z"))),
                ..target("web")
            };
            let hops = resolve(&t, &options).unwrap();
            assert_eq!(hops[0].host, "z");
            assert_eq!(hops.len(), 2);
        });
    }

    #[test]
    fn proxy_jump_to_itself_is_ignored_and_loops_are_errors() {
        with_config("Host *\n  ProxyJump a\n", |options| {
            let hops = resolve(&target("web"), &options).unwrap();
            let hosts: Vec<&str> = hops.iter().map(|h| h.host.as_str()).collect();
            assert_eq!(hosts, vec!["a", "web"]);
        });
        with_config(
            "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n",
            |options| {
                let error = resolve(&target("a"), &options).unwrap_err();
                assert!(matches!(error, SshError::ProxyJump { .. }), "{error}");
            },
        );
    }

    #[test]
    fn jump_specs() {
        let t = parse_jump("ssh://u@[::1]:2022").unwrap();
        assert_eq!(
            (t.user.as_deref(), t.host.as_str(), t.port),
            (Some("u"), "::1", Some(2022))
        );
        let t = parse_jump("fe80::1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fe80::1", None));
        assert!(parse_jump("h:0").is_err());
        assert!(parse_jump("@h").is_err());
    }
}
