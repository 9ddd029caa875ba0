//! `plan` and `apply` against live hosts: the edge where the pure plan meets SSH.
//!
//! The whole inventory is always planned (so `--hosts` never drops another host's peers); only the
//! selected hosts are contacted.

use crate::core::error::{Diagnostic, Result};
use crate::core::facts::SecretText;
use crate::core::key_guard::KeyContext;
use crate::core::model::{HostId, Inventory};
use crate::core::render::{Deployment, Renderer};
use crate::engine::error::HostFailure;
use crate::engine::types::{Connector, HostError, Job, Limits, Surveyed};
use crate::remote::Become;
use crate::store::state::State;
use crate::transport::ssh::{SshOptions, SshSession, SshTarget};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options shared by every command that connects to hosts.
#[derive(Debug, Clone)]
pub struct Connection {
    pub ssh: SshOptions,
    pub limits: Limits,
    /// Only these hosts (all when empty).
    pub hosts: Vec<String>,
}

/// The SSH connector: one target per inventory host, bastions resolved through `ssh.jump`.
pub struct SshConnector {
    targets: Vec<SshTarget>,
    names: Vec<String>,
    options: SshOptions,
}

impl SshConnector {
    pub fn new(inventory: &Inventory, options: SshOptions) -> SshConnector {
        let base = inventory
            .path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default();
        let targets = (0..inventory.hosts.len())
            .map(|id| target(inventory, id, &base, 0))
            .collect();
        let names = inventory
            .hosts
            .iter()
            .map(|host| host.name.as_str().to_owned())
            .collect();
        SshConnector {
            targets,
            names,
            options,
        }
    }

    /// Also reaches these hosts (by name): hosts removed from the inventory (`removal.rs`).
    pub fn with_targets(mut self, extra: Vec<SshTarget>) -> SshConnector {
        for target in extra {
            self.names.push(target.label.clone());
            self.targets.push(target);
        }
        self
    }

    /// How `name` is reached.
    pub fn target_of(&self, name: &str) -> Option<&SshTarget> {
        let index = self.names.iter().position(|known| known == name)?;
        self.targets.get(index)
    }
}

fn target(inventory: &Inventory, id: HostId, base: &Path, depth: usize) -> SshTarget {
    let host = &inventory.hosts[id];
    let ssh = &host.ssh;
    SshTarget {
        label: host.name.as_str().to_owned(),
        host: ssh.host.clone(),
        port: ssh.port,
        user: ssh.user.clone(),
        identity: ssh.identity.as_deref().map(|path| resolve_path(path, base)),
        // Validation rejects jump cycles; the depth bound is a second line of defence.
        jump: ssh
            .jump
            .filter(|_| depth < 8)
            .map(|jump| Box::new(target(inventory, jump, base, depth + 1))),
    }
}

/// `~/…` is the user's home; a relative path is relative to the inventory's directory.
fn resolve_path(path: &str, base: &Path) -> PathBuf {
    if let (Some(rest), Some(home)) = (path.strip_prefix("~/"), std::env::home_dir()) {
        return home.join(rest);
    }
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

impl Connector for SshConnector {
    type Session = SshSession;

    async fn connect(&self, job: &Job) -> std::result::Result<SshSession, HostError> {
        let Some(index) = self.names.iter().position(|name| *name == job.name) else {
            return Err(HostFailure::NoSshSettings.into());
        };
        SshSession::connect(&self.targets[index], &self.options)
            .await
            .map_err(|err| HostFailure::from(err).into())
    }
}

/// SSH options from the user's environment: ~/.ssh/config, ssh-agent, default keys, $USER.
pub fn ssh_options(known_hosts: Option<PathBuf>, accept_new: bool, timeout: u64) -> SshOptions {
    let home = std::env::home_dir().unwrap_or_default();
    let dot_ssh = home.join(".ssh");
    let config = dot_ssh.join("config");
    SshOptions {
        known_hosts: known_hosts.unwrap_or_else(|| dot_ssh.join("known_hosts")),
        accept_new,
        connect_timeout: std::time::Duration::from_secs(timeout),
        config_file: config.exists().then_some(config),
        agent_socket: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        default_identities: ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|name| dot_ssh.join(name))
            .filter(|path| path.exists())
            .collect(),
        default_user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".to_owned()),
    }
}

/// The jobs of the selected hosts, with every host's config rendered from the whole inventory.
pub fn jobs(
    deployment: &Deployment,
    state: &State,
    renderer: &Renderer,
    selected: &[String],
    keys: Arc<KeyContext>,
) -> Result<Vec<Job>> {
    let inventory = &deployment.inventory;
    for name in selected {
        // A host removed from the inventory that wgdeploy manages is selected for decommissioning.
        if state.managed(name).is_none() {
            known_host(inventory, name, "--hosts")?;
        }
    }
    let rendered = renderer.render_all(deployment, state)?;
    Ok(inventory
        .hosts
        .iter()
        .zip(rendered)
        // Devices are never contacted: plans list them apart (`engine::devices`).
        .filter(|(host, _)| !host.is_device())
        .filter(|(host, _)| selected.is_empty() || selected.iter().any(|s| s == host.name.as_str()))
        .map(|(host, text)| Job {
            name: host.name.as_str().to_owned(),
            interface: inventory.network.interface.clone(),
            desired: SecretText::new(text),
            forwarding: if host.is_relay() || !host.routes.is_empty() {
                crate::core::forwarding::families(inventory, host)
            } else {
                Default::default()
            },
            become_: if host.ssh.sudo {
                Become::Sudo
            } else {
                Become::None
            },
            keys: keys.clone(),
        })
        .collect())
}

/// Refuses to write configs (`render --out`, `export`) while a host that makes its own key has not
/// reported it: its peers' configs would name a stand-in.
pub fn refuse_stand_ins(loaded: &Loaded) -> Result<()> {
    let missing: Vec<&str> = loaded
        .deployment
        .inventory
        .hosts
        .iter()
        .map(|host| host.name.as_str())
        .filter(|name| loaded.state.is_stand_in(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Diagnostic::new(format!(
        "the state holds no public key of {}: with `keys: on-host` each host makes its own key, and configs that list it need its public key",
        missing.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
    ))
    .help("run `wgdeploy apply` first: the hosts make their keys and the state learns their public keys")
    .into())
}

/// Refuses a host name the inventory does not have, naming the option that gave it.
fn known_host(inventory: &Inventory, name: &str, option: &str) -> Result<HostId> {
    inventory
        .host_id(name)
        .ok_or_else(|| crate::core::selection::unknown_host(inventory, name, option).into())
}

/// A planned inventory with the keys it needs.
pub struct Loaded {
    pub deployment: Deployment,
    /// Keys for every host (generated in memory for new and `--rekey` hosts: only a command that
    /// changes hosts saves them, under the state lock, once it goes ahead).
    pub state: State,
    pub renderer: Renderer,
    /// The state differs from the file: new keys, addresses, preshared keys.
    pub state_changed: bool,
    /// Hosts renamed in the inventory (old name, new name), carried over in the state.
    pub renamed: Vec<(String, String)>,
    pub keys: KeyContext,
    /// `wgdeploy rotate`: the hosts rotated and those changed with them.
    pub rotation: Option<crate::core::rotation::Rotation>,
}

/// Plans the inventory against the state, generating keys for hosts that have none and for
/// `rekey` hosts, in memory: reading commands never write the state.
pub fn load(
    inventory: &Path,
    state_path: &Path,
    templates: Option<&Path>,
    rekey: &[String],
) -> Result<Loaded> {
    load_with(inventory, state_path, templates, rekey, None)
}

/// [`load`], and with `rotate` (`wgdeploy rotate`) the rotated hosts rekeyed like `--rekey`
/// hosts (with `--psk`, every preshared key of a pair touching one renewed).
pub fn load_with(
    inventory: &Path,
    state_path: &Path,
    templates: Option<&Path>,
    rekey: &[String],
    rotate: Option<&crate::core::rotation::Ask>,
) -> Result<Loaded> {
    let renderer = Renderer::new(templates)?;
    let mut state = State::load(state_path)?;
    let loaded = crate::core::inventory::load(inventory)?;
    // A host that left the inventory and one that joined it, reached the same way (SSH host,
    // port, jump host), are one machine renamed: it keeps its key and addresses under the new
    // name, so neither it nor its peers see a key change.
    let renamed = crate::store::state::renames(&state, &loaded);
    for (old, new) in &renamed {
        state.rename(old, new);
    }
    let deployment = crate::core::pipeline::plan_loaded(loaded, &state.remembered_addresses())?;
    let rotation = rotate
        .map(|ask| crate::core::rotation::plan(&deployment.inventory, &deployment.topology, ask))
        .transpose()?;
    let mut rekey = rekey.to_vec();
    if let Some(rotation) = &rotation {
        rekey.extend(rotation.rotated.iter().cloned());
    }
    let rekey = rekey.as_slice();
    let hosts = &deployment.inventory.hosts;
    for name in rekey {
        let id = known_host(&deployment.inventory, name, "--rekey")?;
        crate::engine::devices::rekeyable(&hosts[id])?;
    }
    let new: Vec<String> = hosts
        .iter()
        .filter(|host| host.declared_key().is_none())
        // A host that makes its own key is never given one by this run.
        .filter(|host| !deployment.inventory.key_on_host(host))
        .map(|host| host.name.as_str())
        .filter(|name| state.private_key(name).is_none())
        .map(str::to_owned)
        .collect();
    let mut state_changed = !renamed.is_empty();
    state_changed |= state.reconcile(
        &deployment.inventory,
        &deployment.addresses,
        &deployment.topology,
    );
    for name in rekey {
        // A host that makes its own key (`keys: on-host`) is not given one: `--rekey` lets its
        // peers take the key it runs now (a host rebuilt with a new key).
        let on_host = deployment
            .inventory
            .host_id(name)
            .is_some_and(|id| deployment.inventory.key_on_host(&hosts[id]));
        if !on_host {
            state.rekey(name);
            state_changed = true;
        }
    }
    if let Some(rotation) = rotation.as_ref().filter(|rotation| rotation.psk) {
        for name in &rotation.rotated {
            state_changed |= state.renew_preshared(name);
        }
    }
    let mut labels: Vec<(String, String)> = new
        .iter()
        .chain(rekey)
        .filter_map(|name| {
            let key = state.private_key(name)?.public_key().to_base64();
            Some((key, format!("(new key of {name})")))
        })
        .collect();
    // `keys: on-host`: a host whose public key the state does not hold yet is planned with a
    // stand-in (never saved) until the host reports its own (`engine::host_keys`).
    for host in hosts
        .iter()
        .filter(|host| deployment.inventory.key_on_host(host))
    {
        let name = host.name.as_str();
        if let Some(key) = state.stand_in_public_key(name) {
            labels.push((key.to_base64(), format!("(key {name} will make)")));
        }
    }
    let on_host = hosts
        .iter()
        .filter(|host| deployment.inventory.key_on_host(host))
        .map(|host| host.name.as_str().to_owned())
        .collect();
    let keys = KeyContext {
        check: true,
        rekeyed: rekey.to_vec(),
        new,
        on_host,
        labels,
        inventory: inventory.to_owned(),
    };
    Ok(Loaded {
        deployment,
        rotation,
        renamed,
        state,
        renderer,
        state_changed,
        keys,
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Diagnostic::new(format!("cannot start the async runtime: {err}")).into())
}

/// Surveys the selected hosts over SSH.
pub fn survey(
    runtime: &tokio::runtime::Runtime,
    deployment: &Deployment,
    jobs: Vec<Job>,
    connection: &Connection,
    reporter: Arc<dyn crate::engine::types::Reporter>,
    goal: crate::engine::survey::Goal,
) -> Vec<Surveyed<SshSession>> {
    let connector = Arc::new(SshConnector::new(
        &deployment.inventory,
        connection.ssh.clone(),
    ));
    runtime.block_on(crate::engine::survey::survey_for(
        connector,
        jobs,
        connection.limits,
        reporter,
        Arc::new(goal),
    ))
}
