//! Rendering wg-quick configs with minijinja. Pure: a planned deployment and its keys in, one text
//! per host out. The built-in template is embedded; a user template directory overrides it.
//! Output is deterministic: peers sorted by name, no timestamps, so an unchanged inventory renders
//! byte-identical files.

use crate::core::addressing::HostAddresses;
use crate::core::error::{At, Diagnostic, Error, Result};
use crate::core::keys::KeySource;
use crate::core::model::{HostId, Inventory, Role};
use crate::core::topology::{Carries, Link, Topology};
use ipnet::IpNet;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, UndefinedBehavior, Value, syntax::SyntaxConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TEMPLATE_NAME: &str = "wg-quick.conf.j2";
const BUILTIN_TEMPLATE: &str = include_str!("../../templates/wg-quick.conf.j2");

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

    /// `SaveConfig = true` makes wg-quick write the running state over the file on `down`,
    /// undoing what wgdeploy wrote and fighting every later plan: a template that writes it is
    /// refused rather than silently stripped, so the template says what is deployed.
    fn refuse_save_config(&self, text: &str, host: &str) -> Result<()> {
        let saves = text.lines().any(|line| {
            let line = line.split('#').next().unwrap_or("");
            line.split_once('=').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("SaveConfig")
                    && value.trim().eq_ignore_ascii_case("true")
            })
        });
        if !saves {
            return Ok(());
        }
        let mut diagnostic = Diagnostic::new(
            "the template writes `SaveConfig = true`: wg-quick would save the running interface over the file on every `down`, fighting wgdeploy's config",
        )
        .host(host)
        .help("remove `SaveConfig` from the template; wgdeploy keeps the config from the inventory");
        if let Some(path) = &self.origin {
            diagnostic = diagnostic.at(At::file(path));
        }
        Err(diagnostic.into())
    }

    /// Renders every host's config, in inventory order, on all cores.
    pub fn render_all(&self, deployment: &Deployment, keys: &dyn KeySource) -> Result<Vec<String>> {
        self.render_each(deployment, keys, |_, text| Ok(text))
    }

    /// Renders every host and hands each text to `sink` on the worker thread that rendered it, so
    /// rendering and writing overlap and no more than one config per thread is held in memory.
    pub fn render_each<R: Send>(
        &self,
        deployment: &Deployment,
        keys: &dyn KeySource,
        sink: impl Fn(HostId, String) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let shared = Shared::new(deployment, keys)?;
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .expect("template was added");
        let results = crate::core::parallel::map(deployment.inventory.hosts.len(), |id| {
            let context = shared.context(deployment, keys, id);
            let host = deployment.inventory.hosts[id].name.as_str();
            let text = template
                .render(context)
                .map_err(|err| self.template_error(&err, Some(host)))?;
            self.refuse_save_config(&text, host)?;
            sink(id, text)
        });
        results.into_iter().collect()
    }
}

impl Renderer {
    /// Renders only the hosts `ids`, in that order: the devices a plan lists, the one exported.
    pub fn render_hosts(
        &self,
        deployment: &Deployment,
        keys: &dyn KeySource,
        ids: &[HostId],
    ) -> Result<Vec<String>> {
        let shared = Shared::new(deployment, keys)?;
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .expect("template was added");
        ids.iter()
            .map(|&id| {
                template
                    .render(shared.context(deployment, keys, id))
                    .map_err(|err| {
                        self.template_error(
                            &err,
                            Some(deployment.inventory.hosts[id].name.as_str()),
                        )
                    })
            })
            .collect()
    }
}

/// Per-host template values every peer entry repeats, computed once (in parallel) and shared:
/// minijinja values are reference-counted, so each peer entry only bumps counters.
struct Shared {
    hosts: Vec<HostValues>,
    links: [Value; 4],
}

struct HostValues {
    name: Value,
    public_key: Value,
    /// Each endpoint as text, in the inventory's order; a dialer gets the one
    /// `core::underlay::choice` picks.
    endpoints: Vec<Value>,
    /// The host's own prefixes (address and routes), which is what most entries for it carry.
    own_allowed: Value,
    own_count: usize,
}

impl Shared {
    fn new(deployment: &Deployment, keys: &dyn KeySource) -> Result<Shared> {
        let hosts = &deployment.inventory.hosts;
        let values = crate::core::parallel::map(hosts.len(), |id| -> Result<HostValues> {
            let host = &hosts[id];
            let key = crate::core::device::public_key(host, keys).ok_or_else(|| {
                let mut diagnostic =
                    Diagnostic::new(format!("no key for `{}` in the state", host.name))
                        .host(host.name.as_str());
                if deployment.inventory.key_on_host(host) {
                    diagnostic = diagnostic.help(format!(
                        "with `keys: on-host`, `{}` makes its own key and the state learns its public key from it: run `wgdeploy apply` first",
                        host.name
                    ));
                }
                Error::from(diagnostic)
            })?;
            let own: Vec<IpNet> = deployment.addresses[id]
                .iter()
                .map(|ip| crate::core::topology::host_prefix(*ip))
                .chain(host.routes.iter().copied())
                .collect();
            Ok(HostValues {
                name: Value::from(host.name.as_str()),
                public_key: Value::from(key.to_base64()),
                endpoints: host
                    .endpoints
                    .iter()
                    .map(|endpoint| Value::from(endpoint.to_string()))
                    .collect(),
                own_count: own.len(),
                own_allowed: AllowedIps::value(own.iter()),
            })
        });
        let hosts = values.into_iter().collect::<Result<Vec<_>>>()?;
        let links = [
            Link::Direct,
            Link::HomeRelay,
            Link::HomedHere,
            Link::RelayMesh,
        ]
        .map(|link| Value::from(link.as_str()));
        Ok(Shared { hosts, links })
    }

    fn link(&self, link: Link) -> Value {
        let index = match link {
            Link::Direct => 0,
            Link::HomeRelay => 1,
            Link::HomedHere => 2,
            Link::RelayMesh => 3,
        };
        self.links[index].clone()
    }

    fn context(&self, deployment: &Deployment, keys: &dyn KeySource, id: HostId) -> Value {
        let inventory = &deployment.inventory;
        let host = &inventory.hosts[id];
        let plan = &deployment.topology.hosts[id];
        let (mut post_up, forwarding_down) = if plan.forwarding {
            crate::core::forwarding::hooks(inventory, host)
        } else {
            (Vec::new(), Vec::new())
        };
        // The user's hooks run after forwarding is set up, and are undone before it is taken down.
        let settings = &host.settings.interface;
        post_up.extend(settings.post_up.iter().cloned());
        let post_down: Vec<String> = settings
            .post_down
            .iter()
            .cloned()
            .chain(forwarding_down)
            .collect();
        let addresses: Vec<String> = deployment.addresses[id]
            .iter()
            .zip(&inventory.network.ranges)
            .map(|(ip, range)| format!("{ip}/{}", range.prefix_len()))
            .collect();
        let with_psk = inventory.network.preshared_keys;
        let peers: Vec<Value> = plan
            .peers
            .iter()
            .map(|peer| {
                let other = &self.hosts[peer.host];
                let owned_by_peer = |allowed: &crate::core::topology::Allowed| {
                    matches!(allowed.carries, Carries::Address(owner) | Carries::Route(owner) if owner == peer.host)
                };
                let allowed_ips = if peer.allowed.len() == other.own_count && peer.allowed.iter().all(owned_by_peer) {
                    other.own_allowed.clone()
                } else {
                    AllowedIps::value(peer.allowed.iter().map(|allowed| &allowed.net))
                };
                let preshared_key = with_psk
                    .then(|| keys.preshared_key(host.name.as_str(), inventory.hosts[peer.host].name.as_str()))
                    .flatten()
                    .map_or(Value::from(()), |key| Value::from(key.expose_base64()));
                Value::from_object(PeerObject {
                    name: other.name.clone(),
                    public_key: other.public_key.clone(),
                    preshared_key,
                    allowed_ips,
                    endpoint: peer
                        .dial
                        .then(|| crate::core::underlay::choice(host, &inventory.hosts[peer.host]))
                        .flatten()
                        .map_or(Value::from(()), |index| other.endpoints[index].clone()),
                    keepalive: peer.keepalive.map_or(Value::from(()), Value::from),
                    link: self.link(peer.link),
                })
            })
            .collect();
        minijinja::context! {
            host => self.hosts[id].name.clone(),
            interface => inventory.network.interface.as_str(),
            role => host.role.as_str(),
            addresses => addresses,
            // NAT-ed hosts let the kernel pick a port: nobody can dial them anyway.
            listen_port => (host.role != Role::Nat).then_some(host.listen_port),
            mtu => settings.mtu,
            dns => &settings.dns,
            table => settings.table.map(|table| table.to_string()),
            fwmark => settings.fwmark.map(|mark| format!("{mark:#x}")),
            pre_up => &settings.pre_up,
            pre_down => &settings.pre_down,
            private_key => crate::core::device::private_key_text(host, keys, inventory.key_on_host(host)),
            // `keys: on-host`: the host's public key, and the file on the host its private key
            // is merged in from when the config is written there.
            host_key_file => inventory.key_on_host(host).then(|| crate::core::paths::Paths::new(&inventory.network.interface).key_file),
            public_key => self.hosts[id].public_key.clone(),
            // A device (`manage: false`) is configured by hand: the template says so, and names
            // its own public key when wgdeploy never held the private one.
            device => host.is_device(),
            declared_public_key => host.declared_key().map(|key| key.to_base64()),
            forwarding => plan.forwarding,
            post_up => post_up,
            post_down => post_down,
            peers => peers,
        }
    }
}

/// A peer entry as templates see it: `name`, `public_key`, `preshared_key`, `allowed_ips`,
/// `endpoint`, `keepalive`, `link`. Looked up lazily, so unused fields cost nothing.
struct PeerObject {
    name: Value,
    public_key: Value,
    preshared_key: Value,
    allowed_ips: Value,
    endpoint: Value,
    keepalive: Value,
    link: Value,
}

const PEER_FIELDS: &[&str] = &[
    "name",
    "public_key",
    "preshared_key",
    "allowed_ips",
    "endpoint",
    "keepalive",
    "link",
];

impl std::fmt::Debug for PeerObject {
    // Hand-written so a `{{ peer | pprint }}` or an error can never show the preshared key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("allowed_ips", &self.allowed_ips)
            .finish_non_exhaustive()
    }
}

impl Object for PeerObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let value = match key.as_str()? {
            "name" => &self.name,
            "public_key" => &self.public_key,
            "preshared_key" => &self.preshared_key,
            "allowed_ips" => &self.allowed_ips,
            "endpoint" => &self.endpoint,
            "keepalive" => &self.keepalive,
            "link" => &self.link,
            _ => return None,
        };
        Some(value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(PEER_FIELDS)
    }
}

/// AllowedIPs: a list to templates (`for`, `join`, `length` work), printed directly in the form
/// wg-quick expects (`a, b`), which spares the built-in template a `join` per peer.
#[derive(Debug)]
struct AllowedIps {
    items: Vec<Value>,
    text: String,
}

impl AllowedIps {
    fn value<'a>(nets: impl Iterator<Item = &'a IpNet>) -> Value {
        let items: Vec<Value> = nets.map(|net| Value::from(net.to_string())).collect();
        let text = items
            .iter()
            .map(|item| item.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ");
        Value::from_object(AllowedIps { items, text })
    }
}

impl Object for AllowedIps {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.items.get(key.as_usize()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
