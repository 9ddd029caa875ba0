//! Rendering wg-quick configs with minijinja. Pure: a planned deployment and its keys in, one text
//! per host out. The built-in template is embedded; a user template directory overrides it.
//! Output is deterministic: peers sorted by name, no timestamps, so an unchanged inventory renders
//! byte-identical files.

use crate::addressing::HostAddresses;
use crate::error::{At, Diagnostic, Error, Result};
use crate::model::{HostId, Inventory, Role};
use crate::state::State;
use crate::topology::{Link, Topology};
use minijinja::{Environment, UndefinedBehavior, Value, syntax::SyntaxConfig, value::Serde};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const TEMPLATE_NAME: &str = "wg-quick.conf.j2";
const BUILTIN_TEMPLATE: &str = include_str!("../templates/wg-quick.conf.j2");

/// A planned deployment: everything rendering and checking need, computed once.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub inventory: Inventory,
    pub addresses: HostAddresses,
    pub topology: Topology,
}

/// The configured template environment.
pub struct Renderer {
    env: Environment<'static>,
    /// Where the template came from, for errors: `None` for the built-in one.
    origin: Option<PathBuf>,
}

impl Renderer {
    /// The built-in template, or `DIR/wg-quick.conf.j2` when a template directory is given.
    pub fn new(template_dir: Option<&Path>) -> Result<Renderer> {
        let (source, origin) = match template_dir {
            None => (BUILTIN_TEMPLATE.to_owned(), None),
            Some(dir) => {
                let path = dir.join(TEMPLATE_NAME);
                let source = std::fs::read_to_string(&path).map_err(|err| {
                    let mut error = Error::io("read template", &path, &err);
                    if err.kind() == std::io::ErrorKind::NotFound {
                        error = Diagnostic::new(format!("template directory `{}` has no `{TEMPLATE_NAME}`", dir.display()))
                            .help(format!("copy `templates/{TEMPLATE_NAME}` from the wgdeploy sources into it and edit that"))
                            .into();
                    }
                    error
                })?;
                (source, Some(path))
            }
        };
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("static syntax config"),
        );
        let mut renderer = Renderer { env, origin };
        renderer
            .env
            .add_template_owned(TEMPLATE_NAME, source)
            .map_err(|err| renderer.template_error(&err, None))?;
        Ok(renderer)
    }

    fn template_error(&self, err: &minijinja::Error, host: Option<&str>) -> Error {
        // Only the kind and detail: minijinja's debug info could show context values (keys).
        let message = match err.detail() {
            Some(detail) => format!("template error: {}: {detail}", err.kind()),
            None => format!("template error: {}", err.kind()),
        };
        let mut diagnostic = Diagnostic::new(message);
        diagnostic.host = host.map(str::to_owned);
        match &self.origin {
            Some(path) => {
                let source = std::fs::read_to_string(path).unwrap_or_default();
                diagnostic.at = Some(match err.line() {
                    Some(line) => At::in_source(path, &source, line, 1),
                    None => At::file(path),
                });
                diagnostic.help = Some("fix the template; `templates/wg-quick.conf.j2` in the wgdeploy sources lists every variable".into());
            }
            None => {
                diagnostic.help =
                    Some("this is a bug in wgdeploy's built-in template; please report it".into())
            }
        }
        diagnostic.into()
    }

    /// Renders every host's config, in inventory order, on all cores.
    pub fn render_all(&self, deployment: &Deployment, state: &State) -> Result<Vec<String>> {
        let shared = Shared::new(deployment, state)?;
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .expect("template was added");
        let results = crate::parallel::map(deployment.inventory.hosts.len(), |id| {
            let context = shared.context(deployment, state, id);
            template
                .render(Value::from(Serde(&context)))
                .map_err(|err| {
                    self.template_error(&err, Some(deployment.inventory.hosts[id].name.as_str()))
                })
        });
        results.into_iter().collect()
    }
}

/// Per-host strings every peer entry repeats, computed once instead of once per peer.
struct Shared {
    public_keys: Vec<String>,
    endpoints: Vec<Option<String>>,
}

impl Shared {
    fn new(deployment: &Deployment, state: &State) -> Result<Shared> {
        let hosts = &deployment.inventory.hosts;
        let mut public_keys = Vec::with_capacity(hosts.len());
        for host in hosts {
            let key = state.private_key(host.name.as_str()).ok_or_else(|| {
                Error::from(
                    Diagnostic::new(format!("no key for `{}` in the state", host.name))
                        .host(host.name.as_str()),
                )
            })?;
            public_keys.push(key.public_key().to_base64());
        }
        let endpoints = hosts
            .iter()
            .map(|host| host.endpoint.as_ref().map(ToString::to_string))
            .collect();
        Ok(Shared {
            public_keys,
            endpoints,
        })
    }

    fn context<'a>(
        &'a self,
        deployment: &'a Deployment,
        state: &State,
        id: HostId,
    ) -> HostContext<'a> {
        let inventory = &deployment.inventory;
        let host = &inventory.hosts[id];
        let plan = &deployment.topology.hosts[id];
        let (post_up, post_down) = if plan.forwarding {
            crate::forwarding::hooks(inventory, host)
        } else {
            (Vec::new(), Vec::new())
        };
        let addresses = deployment.addresses[id]
            .iter()
            .zip(&inventory.network.ranges)
            .map(|(ip, range)| format!("{ip}/{}", range.prefix_len()))
            .collect();
        let peers = plan
            .peers
            .iter()
            .map(|peer| {
                let other = &inventory.hosts[peer.host];
                PeerContext {
                    name: other.name.as_str(),
                    public_key: &self.public_keys[peer.host],
                    preshared_key: state
                        .preshared_key(host.name.as_str(), other.name.as_str())
                        .map(|key| key.expose_base64()),
                    allowed_ips: peer
                        .allowed
                        .iter()
                        .map(|allowed| allowed.net.to_string())
                        .collect(),
                    endpoint: if peer.dial {
                        self.endpoints[peer.host].as_deref()
                    } else {
                        None
                    },
                    keepalive: peer.keepalive,
                    link: peer.link,
                }
            })
            .collect();
        HostContext {
            host: host.name.as_str(),
            interface: inventory.network.interface.as_str(),
            role: host.role,
            addresses,
            // NAT-ed hosts let the kernel pick a port: nobody can dial them anyway.
            listen_port: (host.role != Role::Nat).then_some(host.listen_port),
            mtu: inventory.network.mtu,
            private_key: state
                .private_key(host.name.as_str())
                .map(|key| key.expose_base64())
                .unwrap_or_default(),
            forwarding: plan.forwarding,
            post_up,
            post_down,
            peers,
        }
    }
}

/// The variables a template sees. Documented in README.md; keep them stable for user templates.
#[derive(Serialize)]
struct HostContext<'a> {
    host: &'a str,
    interface: &'a str,
    role: Role,
    addresses: Vec<String>,
    listen_port: Option<u16>,
    mtu: Option<u16>,
    private_key: String,
    forwarding: bool,
    post_up: Vec<String>,
    post_down: Vec<String>,
    peers: Vec<PeerContext<'a>>,
}

#[derive(Serialize)]
struct PeerContext<'a> {
    name: &'a str,
    public_key: &'a str,
    preshared_key: Option<String>,
    allowed_ips: Vec<String>,
    endpoint: Option<&'a str>,
    keepalive: Option<u16>,
    link: Link,
}

/// What writing the configs did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub written: usize,
    pub unchanged: usize,
}

/// Writes `DIR/<host>/<interface>.conf` (0600, directories 0700) for every host, atomically, and
/// leaves files whose content is already right untouched.
pub fn write_configs(out: &Path, inventory: &Inventory, rendered: &[String]) -> Result<Written> {
    use std::os::unix::fs::DirBuilderExt;
    let file_name = format!("{}.conf", inventory.network.interface);
    let results = crate::parallel::map(rendered.len(), |id| -> Result<bool> {
        let dir = out.join(inventory.hosts[id].name.as_str());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|err| Error::io("create directory", &dir, &err))?;
        let path = dir.join(&file_name);
        if std::fs::read(&path).is_ok_and(|existing| existing == rendered[id].as_bytes()) {
            return Ok(false);
        }
        crate::state::write_private_file(&path, rendered[id].as_bytes())
            .map_err(|err| Error::io("write config", &path, &err))?;
        Ok(true)
    });
    let mut written = Written::default();
    for result in results {
        if result? {
            written.written += 1;
        } else {
            written.unchanged += 1;
        }
    }
    Ok(written)
}
