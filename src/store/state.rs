//! The state file beside the inventory: every host's private key and addresses, and the preshared
//! key of every directly connected pair. Reused on every run so configs are stable.
//!
//! It holds secrets, so it is created 0600, replaced atomically, and refused when group or others
//! can read it. Its errors never quote its content.

use crate::core::addressing::HostAddresses;
use crate::core::device::Exported;
use crate::core::error::{Diagnostic, Error, Result};
use crate::core::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::core::model::Inventory;
use crate::core::topology::Topology;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// `inventory.yaml` → `inventory.wgdeploy-state.json` in the same directory.
pub fn default_path(inventory: &Path) -> PathBuf {
    let stem = inventory.file_stem().map_or_else(
        || "inventory".into(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    inventory.with_file_name(format!("{stem}.wgdeploy-state.json"))
}

#[derive(Clone)]
pub struct HostSecrets {
    /// `None` for a device whose key pair was made on the device (its `public_key` is in the
    /// inventory): wgdeploy never holds that private key.
    pub private_key: Option<PrivateKey>,
    /// The public key a managed host that makes its own key reported (`keys: on-host`): the
    /// state then holds no private key for it.
    pub public_key: Option<PublicKey>,
    /// `public_key` stands in for a key the host has not made or reported yet (plans and checks
    /// only): never saved.
    pub stand_in: bool,
    pub addresses: Vec<IpAddr>,
    /// Its key and addresses were read from the host by `wgdeploy adopt`: apply may replace a
    /// config wgdeploy did not write there without `--replace-unmanaged`.
    pub adopted: bool,
    /// How wgdeploy last reached the host, once an apply (or rollback) did: what it needs to
    /// decommission the host after it leaves the inventory (see `removal.rs`).
    pub managed: Option<Managed>,
    /// A device's config as last exported (`wgdeploy export`), secrets redacted.
    pub exported: Option<Exported>,
}

/// A host wgdeploy manages: the interface it configured there and the SSH settings it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Managed {
    pub interface: String,
    pub ssh: RememberedSsh,
}

/// SSH settings as a run resolved them (the identity as an absolute path; the jump host by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RememberedSsh {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
    /// `sudo` when commands run through `sudo -n`.
    #[serde(rename = "become", default, skip_serializing_if = "Option::is_none")]
    pub become_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump: Option<String>,
}

/// Loaded state. Debug shows host names only.
#[derive(Clone, Default)]
pub struct State {
    hosts: BTreeMap<String, HostSecrets>,
    /// Keyed by the two host names in sorted order.
    preshared: BTreeMap<(String, String), PresharedKey>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .field("preshared_pairs", &self.preshared.len())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    hosts: BTreeMap<String, HostFile>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    preshared_keys: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    /// Absent for a device that made its own key pair (see [`HostSecrets::private_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    /// A host that makes its own key (`keys: on-host`): its public key, as it reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(default)]
    addresses: Vec<IpAddr>,
    /// Written only when true, so state files without adopted hosts stay as they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    adopted: bool,
    /// The interface wgdeploy configured on the host (with `ssh`: a host it manages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<String>,
    /// How it reached the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ssh: Option<RememberedSsh>,
    /// A device's last export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exported: Option<Exported>,
}

fn pair_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl State {
    /// Reads the state file; a missing file is an empty state (first run).
    pub fn load(path: &Path) -> Result<State> {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(err) => return Err(Error::io("read state file", path, &err)),
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Diagnostic::new(format!(
                "state file `{}` holds private keys but is accessible by group or others (mode {mode:04o})",
                path.display()
            ))
            .help(format!("run `chmod 600 {}`; if others could read it, rotate the keys by deleting the file", path.display()))
            .into());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|err| Error::io("read state file", path, &err))?;
        // serde_json's messages can quote values; report only the category and position.
        let file: StateFile = serde_json::from_str(&text).map_err(|err| {
            Error::from(
                Diagnostic::new(format!(
                    "state file `{}` {}",
                    path.display(),
                    crate::store::files::json_problem(&err)
                ))
                .help("restore it from a backup; deleting it generates new keys for every host"),
            )
        })?;
        if file.version != VERSION {
            return Err(Diagnostic::new(format!(
                "state file `{}` has version {}, this wgdeploy reads version {VERSION}",
                path.display(),
                file.version
            ))
            .help("use the wgdeploy version that wrote it")
            .into());
        }
        let bad_key = |what: String| -> Error {
            Diagnostic::new(format!(
                "state file `{}`: {what} is not a base64 32-byte key",
                path.display()
            ))
            .help("restore the file from a backup, or remove that entry to generate a new key")
            .into()
        };
        let mut state = State::default();
        for (name, host) in file.hosts {
            let private_key = match &host.private_key {
                None => None,
                Some(text) => Some(
                    PrivateKey::from_base64(text)
                        .ok_or_else(|| bad_key(format!("the private key of `{name}`")))?,
                ),
            };
            let public_key = match &host.public_key {
                None => None,
                Some(text) => Some(
                    PublicKey::from_base64(text)
                        .ok_or_else(|| bad_key(format!("the public key of `{name}`")))?,
                ),
            };
            state.hosts.insert(
                name,
                HostSecrets {
                    private_key,
                    public_key,
                    stand_in: false,
                    addresses: host.addresses,
                    adopted: host.adopted,
                    managed: host
                        .interface
                        .zip(host.ssh)
                        .map(|(interface, ssh)| Managed { interface, ssh }),
                    exported: host.exported,
                },
            );
        }
        for (pair, key) in file.preshared_keys {
            let (a, b) = pair
                .split_once(',')
                .ok_or_else(|| bad_key(format!("the preshared key entry `{pair}`")))?;
            let key = PresharedKey::from_base64(&key)
                .ok_or_else(|| bad_key(format!("the preshared key of `{pair}`")))?;
            state.preshared.insert(pair_key(a, b), key);
        }
        Ok(state)
    }

    /// The addresses each host had, for [`crate::core::addressing::assign`].
    pub fn remembered_addresses(&self) -> HashMap<String, Vec<IpAddr>> {
        self.hosts
            .iter()
            .map(|(name, host)| (name.clone(), host.addresses.clone()))
            .collect()
    }

    /// Brings the state in line with a plan: keys for new hosts, a PSK for each new directly
    /// connected pair (when enabled), current addresses; entries of removed hosts are dropped.
    /// Returns whether anything changed, so an unchanged state is not rewritten.
    pub fn reconcile(
        &mut self,
        inventory: &Inventory,
        addresses: &HostAddresses,
        topology: &Topology,
    ) -> bool {
        let before_hosts = self.hosts.len();
        let before_preshared = self.preshared.len();
        let mut changed = false;
        let mut hosts = BTreeMap::new();
        for (host, ips) in inventory.hosts.iter().zip(addresses) {
            let name = host.name.as_str();
            // A device with its own key pair, or a host that makes its own (`keys: on-host`):
            // wgdeploy holds no private key for it (and drops one it held before).
            let own_key = host.declared_key().is_none() && !inventory.key_on_host(host);
            let entry = match self.hosts.remove(name) {
                Some(mut entry) => {
                    if entry.addresses != *ips {
                        entry.addresses = ips.clone();
                        changed = true;
                    }
                    if own_key != entry.private_key.is_some() {
                        entry.private_key = own_key.then(PrivateKey::generate);
                        changed = true;
                    }
                    // Only a host that makes its own key has a reported public key.
                    if !inventory.key_on_host(host) && entry.public_key.take().is_some() {
                        changed = true;
                    }
                    entry
                }
                None => {
                    changed = true;
                    HostSecrets {
                        private_key: own_key.then(PrivateKey::generate),
                        public_key: None,
                        stand_in: false,
                        addresses: ips.clone(),
                        adopted: false,
                        managed: None,
                        exported: None,
                    }
                }
            };
            hosts.insert(name.to_owned(), entry);
        }
        // A host that left the inventory stays while wgdeploy manages it, until it is decommissioned
        // (`removal.rs`, which then calls `forget`); others (never applied) are dropped.
        for (name, entry) in std::mem::take(&mut self.hosts) {
            if entry.managed.is_some() {
                hosts.insert(name, entry);
            }
        }
        changed |= hosts.len() != before_hosts;
        self.hosts = hosts;

        let mut preshared = BTreeMap::new();
        if inventory.network.preshared_keys {
            for (me, plan) in topology.hosts.iter().enumerate() {
                for peer in plan.peers.iter().filter(|peer| peer.host > me) {
                    let pair = pair_key(
                        inventory.hosts[me].name.as_str(),
                        inventory.hosts[peer.host].name.as_str(),
                    );
                    let key = self.preshared.remove(&pair).unwrap_or_else(|| {
                        changed = true;
                        PresharedKey::generate()
                    });
                    preshared.insert(pair, key);
                }
            }
        }
        changed |= !self.preshared.is_empty() || preshared.len() != before_preshared;
        self.preshared = preshared;
        changed
    }

    /// Gives `host` a new private key (`--rekey`); its other entries stay.
    pub fn rekey(&mut self, host: &str) {
        if let Some(entry) = self.hosts.get_mut(host) {
            entry.private_key = Some(PrivateKey::generate());
        }
    }

    /// Takes back the key a rollback put back on `host` (`keys: local`; read from the host's own
    /// generation, where the state's key was before). Returns whether it changed.
    pub fn restore_private_key(&mut self, host: &str, key: PrivateKey) -> bool {
        match self.hosts.get_mut(host) {
            Some(entry) if entry.private_key.as_ref() != Some(&key) => {
                entry.private_key = Some(key);
                true
            }
            _ => false,
        }
    }

    /// New preshared keys for every pair `host` is in (`wgdeploy rotate --psk`). Returns whether
    /// any pair was renewed.
    pub fn renew_preshared(&mut self, host: &str) -> bool {
        let mut renewed = false;
        for ((a, b), key) in self.preshared.iter_mut() {
            if a == host || b == host {
                *key = PresharedKey::generate();
                renewed = true;
            }
        }
        renewed
    }

    /// Records how `host` was reached and which interface wgdeploy manages there. Returns whether
    /// anything changed (an unknown host is ignored: only `reconcile` adds hosts).
    pub fn remember(&mut self, host: &str, managed: Managed) -> bool {
        match self.hosts.get_mut(host) {
            Some(entry) if entry.managed.as_ref() != Some(&managed) => {
                entry.managed = Some(managed);
                true
            }
            _ => false,
        }
    }

    /// Moves everything the state holds for `old` (key, addresses, SSH settings, preshared keys)
    /// to `new`: the same machine under a new name in the inventory keeps its identity.
    pub fn rename(&mut self, old: &str, new: &str) {
        let Some(entry) = self.hosts.remove(old) else {
            return;
        };
        self.hosts.insert(new.to_owned(), entry);
        let pairs: Vec<(String, String)> = self
            .preshared
            .keys()
            .filter(|(a, b)| a == old || b == old)
            .cloned()
            .collect();
        for (a, b) in pairs {
            if let Some(key) = self.preshared.remove(&(a.clone(), b.clone())) {
                let other = if a == old { b } else { a };
                self.preshared.insert(pair_key(new, &other), key);
            }
        }
    }

    /// Forgets a decommissioned host: its key, addresses, SSH settings and preshared keys.
    pub fn forget(&mut self, host: &str) -> bool {
        let before = self.preshared.len();
        self.preshared.retain(|(a, b), _| a != host && b != host);
        self.hosts.remove(host).is_some() || self.preshared.len() != before
    }

    /// Every host wgdeploy manages, with how it reached it.
    pub fn managed_hosts(&self) -> impl Iterator<Item = (&str, &Managed)> {
        self.hosts
            .iter()
            .filter_map(|(name, entry)| Some((name.as_str(), entry.managed.as_ref()?)))
    }

    /// How wgdeploy last reached `host`, if it manages it.
    pub fn managed(&self, host: &str) -> Option<&Managed> {
        self.hosts.get(host)?.managed.as_ref()
    }

    /// Hosts wgdeploy manages that are not in `inventory`: the ones to decommission.
    pub fn removed<'a>(&'a self, inventory: &Inventory) -> Vec<(&'a str, &'a Managed)> {
        self.hosts
            .iter()
            .filter(|(name, _)| inventory.host_id(name).is_none())
            .filter_map(|(name, entry)| Some((name.as_str(), entry.managed.as_ref()?)))
            .collect()
    }

    pub fn private_key(&self, host: &str) -> Option<&PrivateKey> {
        self.hosts.get(host)?.private_key.as_ref()
    }

    /// The public key a host that makes its own key reported (`keys: on-host`).
    pub fn public_key(&self, host: &str) -> Option<PublicKey> {
        self.hosts.get(host)?.public_key
    }

    /// Keeps what the hosts that make their own key reported in `from` (`keys: on-host`): their
    /// public keys, and their whole entries when this state has none (a lost state file, read
    /// back from the hosts). Returns whether anything changed.
    pub fn keep_reported(&mut self, from: &State, inventory: &Inventory) -> bool {
        let mut changed = false;
        for host in inventory
            .hosts
            .iter()
            .filter(|host| inventory.key_on_host(host))
        {
            let name = host.name.as_str();
            let Some(entry) = from.hosts.get(name) else {
                continue;
            };
            let Some(key) = entry.public_key.filter(|_| !entry.stand_in) else {
                continue;
            };
            match self.hosts.get_mut(name) {
                Some(mine) if mine.public_key == Some(key) => {}
                Some(mine) => {
                    mine.public_key = Some(key);
                    changed = true;
                }
                None => {
                    self.hosts.insert(
                        name.to_owned(),
                        HostSecrets {
                            private_key: None,
                            public_key: Some(key),
                            stand_in: false,
                            addresses: entry.addresses.clone(),
                            adopted: false,
                            managed: None,
                            exported: None,
                        },
                    );
                    changed = true;
                }
            }
        }
        changed
    }

    /// Records the public key a host that makes its own key reported. Returns whether anything
    /// changed (an unknown host is ignored: only `reconcile` adds hosts).
    pub fn record_public_key(&mut self, host: &str, key: PublicKey) -> bool {
        match self.hosts.get_mut(host) {
            Some(entry) if entry.public_key != Some(key) || entry.stand_in => {
                entry.public_key = Some(key);
                entry.stand_in = false;
                true
            }
            _ => false,
        }
    }

    /// Gives a host that has reported no key a stand-in public key for this run only (it is never
    /// saved). Returns the stand-in, or `None` when the host has a key or is unknown.
    pub fn stand_in_public_key(&mut self, host: &str) -> Option<PublicKey> {
        let entry = self.hosts.get_mut(host)?;
        if entry.public_key.is_some() {
            return None;
        }
        let key = PrivateKey::generate().public_key();
        entry.public_key = Some(key);
        entry.stand_in = true;
        Some(key)
    }

    /// Whether `host`'s public key is a stand-in (see [`State::stand_in_public_key`]).
    pub fn is_stand_in(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|entry| entry.stand_in)
    }

    /// A device's last export, if any.
    pub fn exported(&self, host: &str) -> Option<&Exported> {
        self.hosts.get(host)?.exported.as_ref()
    }

    /// Records a device's export. Returns whether anything changed (an unknown host is ignored:
    /// only `reconcile` adds hosts).
    pub fn record_export(&mut self, host: &str, exported: Exported) -> bool {
        match self.hosts.get_mut(host) {
            Some(entry) if entry.exported.as_ref() != Some(&exported) => {
                entry.exported = Some(exported);
                true
            }
            _ => false,
        }
    }

    pub fn preshared_key(&self, a: &str, b: &str) -> Option<&PresharedKey> {
        self.preshared.get(&pair_key(a, b))
    }

    /// Records what `wgdeploy adopt` read from a host: its key, the addresses it may keep (the
    /// allocator takes remembered addresses after pins), and that it was adopted.
    pub fn adopt(&mut self, host: &str, private_key: PrivateKey, addresses: Vec<IpAddr>) {
        self.hosts.insert(
            host.to_owned(),
            HostSecrets {
                private_key: Some(private_key),
                public_key: None,
                stand_in: false,
                addresses,
                adopted: true,
                managed: None,
                exported: None,
            },
        );
    }

    /// [`State::adopt`] for a host that makes its own key (`keys: on-host`): its public key only.
    pub fn adopt_public(&mut self, host: &str, public_key: PublicKey, addresses: Vec<IpAddr>) {
        self.hosts.insert(
            host.to_owned(),
            HostSecrets {
                private_key: None,
                public_key: Some(public_key),
                stand_in: false,
                addresses,
                adopted: true,
                managed: None,
                exported: None,
            },
        );
    }

    /// Records the preshared key two hosts already share (read by `wgdeploy adopt`).
    pub fn adopt_preshared(&mut self, a: &str, b: &str, key: PresharedKey) {
        self.preshared.insert(pair_key(a, b), key);
    }

    /// Whether `wgdeploy adopt` read this host's key and addresses into the state.
    pub fn is_adopted(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|host| host.adopted)
    }

    /// Writes the state atomically: a 0600 temporary file in the same directory, fsynced, renamed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = StateFile {
            version: VERSION,
            hosts: self
                .hosts
                .iter()
                .map(|(name, host)| {
                    let entry = HostFile {
                        private_key: host.private_key.as_ref().map(PrivateKey::expose_base64),
                        public_key: host
                            .public_key
                            .filter(|_| !host.stand_in)
                            .map(|key| key.to_base64()),
                        addresses: host.addresses.clone(),
                        adopted: host.adopted,
                        interface: host.managed.as_ref().map(|m| m.interface.clone()),
                        ssh: host.managed.as_ref().map(|m| m.ssh.clone()),
                        exported: host.exported.clone(),
                    };
                    (name.clone(), entry)
                })
                .collect(),
            preshared_keys: self
                .preshared
                .iter()
                .map(|((a, b), key)| (format!("{a},{b}"), key.expose_base64()))
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("state serializes");
        text.push('\n');
        crate::store::files::write_private_file(path, text.as_bytes())
            .map_err(|err| Error::io("write state file", path, &err))
    }
}

/// An exclusive lock on a state file, held by every command that may write it (apply, rollback,
/// adopt, render) for its whole run, so two runs never generate different keys for one host or
/// change the same hosts at once. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// `STATE.lock` beside the state file (the state itself is replaced by rename, so it cannot
    /// carry the lock). Fails at once when another run holds it.
    pub fn acquire(state: &Path) -> Result<StateLock> {
        let mut name = state.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = state.with_file_name(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|err| Error::io("open the state lock", &path, &err))?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Diagnostic::new(format!(
                "another wgdeploy run holds `{}`: it is changing the hosts of this state file",
                path.display()
            ))
            .help("wait for it to finish, then run this command again")
            .into()),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(Error::io("lock the state lock file", &path, &err))
            }
        }
    }
}

/// The inventory host reached like `ssh` (same SSH host, port and jump host), if any.
pub fn alias_of(inventory: &Inventory, ssh: &RememberedSsh) -> Option<String> {
    inventory
        .hosts
        .iter()
        // A device is never logged into: no SSH settings of a managed host name it.
        .filter(|host| !host.is_device())
        .find(|host| {
            let jump = host
                .ssh
                .jump
                .map(|id| inventory.hosts[id].name.as_str().to_owned());
            host.ssh.host == ssh.host
                && host.ssh.port.unwrap_or(22) == ssh.port.unwrap_or(22)
                && jump == ssh.jump
        })
        .map(|host| host.name.as_str().to_owned())
}

/// Managed hosts that left the inventory and reappear in it under a new name (reached the same
/// way, and the new name has no key of its own yet): (old name, new name).
pub fn renames(state: &State, inventory: &Inventory) -> Vec<(String, String)> {
    let mut renames: Vec<(String, String)> = Vec::new();
    for (old, managed) in state.removed(inventory) {
        let Some(new) = alias_of(inventory, &managed.ssh) else {
            continue;
        };
        if state.private_key(&new).is_none() && !renames.iter().any(|(_, n)| *n == new) {
            renames.push((old.to_owned(), new));
        }
    }
    renames
}

impl crate::core::keys::KeySource for State {
    fn private_key(&self, host: &str) -> Option<&PrivateKey> {
        State::private_key(self, host)
    }
    fn preshared_key(&self, a: &str, b: &str) -> Option<&PresharedKey> {
        State::preshared_key(self, a, b)
    }
    fn public_key(&self, host: &str) -> Option<PublicKey> {
        State::public_key(self, host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(yaml: &str) -> (Inventory, HostAddresses, Topology) {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        let addresses = crate::core::addressing::assign(&inventory, &HashMap::new()).unwrap();
        let topology = crate::core::topology::plan(&inventory, &addresses);
        (inventory, addresses, topology)
    }

    const YAML: &str = "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  a: {}\n  b: {}\n";

    /// `keys: on-host`: managed hosts get no private key (one held from `keys: local` is dropped),
    /// the public keys they report are kept across a save, and their configs carry the marker
    /// and name their public key; a device still gets its key from the state.
    #[test]
    fn hosts_that_make_their_own_key_are_kept_by_their_public_key() {
        let dir = tempdir();
        let path = dir.join("s.json");
        let local = "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  a: {}\n  phone: { manage: false }\n";
        let on_host = local.replace(
            "addresses: [100.64.0.0/24]",
            "addresses: [100.64.0.0/24], keys: on-host",
        );
        let (inventory, addresses, topology) = planned(local);
        let mut state = State::default();
        state.reconcile(&inventory, &addresses, &topology);
        assert!(state.private_key("r").is_some());
        let (inventory, addresses, topology) = planned(&on_host);
        assert!(state.reconcile(&inventory, &addresses, &topology));
        assert!(state.private_key("r").is_none() && state.private_key("a").is_none());
        let phone = state
            .private_key("phone")
            .expect("a device keeps its key")
            .clone();
        let (r, a) = (PrivateKey::generate(), PrivateKey::generate());
        assert!(state.record_public_key("r", r.public_key()));
        assert!(!state.record_public_key("r", r.public_key()));
        state.record_public_key("a", a.public_key());
        state.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&r.public_key().to_base64()));
        assert!(!text.contains(&r.expose_base64()) && !text.contains(&a.expose_base64()));
        let again = State::load(&path).unwrap();
        assert_eq!(again.public_key("a"), Some(a.public_key()));

        let deployment = crate::core::render::Deployment {
            inventory,
            addresses,
            topology,
        };
        let renderer = crate::core::render::Renderer::new(None).unwrap();
        let configs = renderer.render_all(&deployment, &again).unwrap();
        let marker = format!("PrivateKey = {}\n", crate::core::keys::ON_HOST_KEY_MARKER);
        for (config, key) in configs.iter().zip([&r, &a]) {
            assert!(config.contains(&marker), "{config}");
            let parsed = crate::core::wgconf::parse(Path::new("x"), config).unwrap();
            assert_eq!(parsed.public_key, Some(key.public_key()));
            assert!(config.contains("/etc/wireguard/wg0.key"), "{config}");
        }
        assert!(configs[1].contains(&format!("PublicKey = {}\n", r.public_key())));
        assert!(configs[2].contains(&phone.expose_base64()));
        // The device is homed on r: it lists r by the key r reported.
        assert!(configs[2].contains(&format!("PublicKey = {}\n", r.public_key())));
        // A stand-in (a host that has reported no key yet) is never saved nor kept as reported.
        let mut planned_only = State::default();
        planned_only.reconcile(
            &deployment.inventory,
            &deployment.addresses,
            &deployment.topology,
        );
        let stand_in = planned_only.stand_in_public_key("r").unwrap();
        assert!(planned_only.is_stand_in("r") && planned_only.stand_in_public_key("r").is_none());
        planned_only.save(&path).unwrap();
        assert!(
            !std::fs::read_to_string(&path)
                .unwrap()
                .contains(&stand_in.to_base64())
        );
        assert!(!State::default().keep_reported(&planned_only, &deployment.inventory));
        assert!(planned_only.record_public_key("r", stand_in) && !planned_only.is_stand_in("r"));
        // A lost state is written again from what the hosts reported.
        let mut lost = State::default();
        assert!(lost.keep_reported(&again, &deployment.inventory));
        assert_eq!(lost.public_key("r"), Some(r.public_key()));
        assert!(
            lost.private_key("phone").is_none(),
            "only hosts that make their own key"
        );
    }

    #[test]
    fn round_trips_with_0600_and_is_stable() {
        let dir = tempdir();
        let path = dir.join("s.json");
        let (inventory, addresses, topology) = planned(YAML);
        let mut state = State::default();
        assert!(state.reconcile(&inventory, &addresses, &topology));
        // Pairs: r-a, r-b; a and b never peer, so they share no PSK.
        assert_eq!(state.preshared.len(), 2);
        assert!(state.preshared_key("a", "b").is_none());
        state.save(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut again = State::load(&path).unwrap();
        assert!(
            !again.reconcile(&inventory, &addresses, &topology),
            "an unchanged plan changes nothing"
        );
        assert_eq!(again.private_key("a"), state.private_key("a"));
        assert_eq!(again.preshared_key("r", "b"), state.preshared_key("b", "r"));
        assert!(!format!("{again:?}").contains(&state.private_key("a").unwrap().expose_base64()));
    }

    #[test]
    fn refuses_loose_permissions_and_never_quotes_content() {
        let dir = tempdir();
        let path = dir.join("s.json");
        std::fs::write(
            &path,
            "{\"version\": 1, \"hosts\": {\"a\": {\"private_key\": 5}}}",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = State::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(
            &path,
            "{\"version\": 1, \"hosts\": {\"a\": {\"private_key\": \"c2VjcmV0\"}}}",
        )
        .unwrap();
        let err = State::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("private key of `a`") && !err.contains("c2VjcmV0"),
            "{err}"
        );
        // A broken file is described in words, never quoted (it holds keys).
        for (text, words) in [
            (
                "{\"version\": 1, \"hosts\": {\"a\": {\"private_key\": 5}}}",
                "holds a value wgdeploy does not expect at line 1",
            ),
            (
                "{\"version\": 1, \"hosts\": {\"a\": {\"private_key\": \"c2Vj",
                "ends early",
            ),
            ("{\"version\" 1}", "is not valid JSON at line 1 column 12"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = State::load(&path).unwrap_err().to_string();
            assert!(err.contains(words) && !err.contains("c2Vj"), "{err}");
            assert!(
                !err.contains("invalid type") && !err.contains("Syntax") && !err.contains("Data"),
                "{err}"
            );
        }
    }

    #[test]
    fn adopted_hosts_round_trip_and_older_files_still_read() {
        let dir = tempdir();
        let path = dir.join("s.json");
        // A version 1 file written before adopt existed: no `adopted` anywhere.
        let key = PrivateKey::from_bytes([7; 32]);
        std::fs::write(
            &path,
            format!(
                "{{\"version\": 1, \"hosts\": {{\"a\": {{\"private_key\": \"{}\", \"addresses\": [\"100.64.0.9\"]}}}}}}",
                key.expose_base64()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut state = State::load(&path).unwrap();
        assert!(!state.is_adopted("a"));
        state.save(&path).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("adopted"));
        let adopted = PrivateKey::from_bytes([8; 32]);
        state.adopt("b", adopted.clone(), vec!["100.64.0.20".parse().unwrap()]);
        let psk = PresharedKey::from_base64(&adopted.expose_base64()).unwrap();
        state.adopt_preshared("b", "a", psk.clone());
        state.save(&path).unwrap();
        let again = State::load(&path).unwrap();
        assert!(again.is_adopted("b") && !again.is_adopted("a"));
        assert_eq!(again.private_key("b"), Some(&adopted));
        assert_eq!(again.preshared_key("a", "b"), Some(&psk));
        assert_eq!(
            again.remembered_addresses()["b"],
            ["100.64.0.20".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn a_rename_carries_the_key_addresses_and_preshared_keys_over() {
        let (inventory, addresses, topology) = planned(YAML);
        let mut state = State::default();
        state.reconcile(&inventory, &addresses, &topology);
        let key = state.private_key("a").unwrap().expose_base64();
        let psk = state.preshared_key("r", "a").unwrap().expose_base64();
        state.rename("a", "z");
        assert!(state.private_key("a").is_none() && state.preshared_key("r", "a").is_none());
        assert_eq!(state.private_key("z").unwrap().expose_base64(), key);
        assert_eq!(state.preshared_key("z", "r").unwrap().expose_base64(), psk);
        assert_eq!(state.remembered_addresses()["z"], addresses[1]);
    }

    #[test]
    fn rotate_psk_renews_every_pair_of_the_host_and_no_other_and_restore_takes_a_key_back() {
        let (inventory, addresses, topology) = planned(YAML);
        let mut state = State::default();
        state.reconcile(&inventory, &addresses, &topology);
        let psk =
            |state: &State, a: &str, b: &str| state.preshared_key(a, b).unwrap().expose_base64();
        let (ra, rb) = (psk(&state, "r", "a"), psk(&state, "r", "b"));
        assert!(state.renew_preshared("a"));
        assert_ne!(psk(&state, "r", "a"), ra);
        assert_eq!(psk(&state, "r", "b"), rb);
        assert!(!state.renew_preshared("nobody"));
        // A rollback's key: taken back once, then nothing changes.
        let old = state.private_key("a").unwrap().clone();
        state.rekey("a");
        assert!(state.restore_private_key("a", old.clone()));
        assert_eq!(state.private_key("a"), Some(&old));
        assert!(!state.restore_private_key("a", old.clone()));
        assert!(!state.restore_private_key("nobody", old));
    }

    #[test]
    fn removed_hosts_are_dropped() {
        let (inventory, addresses, topology) = planned(YAML);
        let mut state = State::default();
        state.reconcile(&inventory, &addresses, &topology);
        let (smaller, addresses, topology) = planned(
            "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  a: {}\n",
        );
        assert!(state.reconcile(&smaller, &addresses, &topology));
        assert!(state.private_key("b").is_none() && state.preshared_key("r", "b").is_none());
    }

    fn managed() -> Managed {
        Managed {
            interface: "wg0".into(),
            ssh: RememberedSsh {
                host: "198.18.0.4".into(),
                port: None,
                user: Some("root".into()),
                identity: Some("/home/op/.ssh/id_ed25519".into()),
                become_: Some("sudo".into()),
                jump: Some("r".into()),
            },
        }
    }

    #[test]
    fn managed_hosts_are_remembered_and_stay_until_forgotten() {
        let dir = tempdir();
        let path = dir.join("s.json");
        let (inventory, addresses, topology) = planned(YAML);
        let mut state = State::default();
        state.reconcile(&inventory, &addresses, &topology);
        assert!(state.remember("b", managed()));
        assert!(
            !state.remember("b", managed()),
            "the same settings change nothing"
        );
        assert!(
            !state.remember("unknown", managed()),
            "only hosts of the state"
        );
        state.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"interface\": \"wg0\"") && text.contains("\"become\": \"sudo\""),
            "{text}"
        );
        assert!(!text.contains("\"port\""), "unset settings are not written");
        let mut state = State::load(&path).unwrap();
        assert_eq!(state.managed("b"), Some(&managed()));
        let (smaller, addresses, topology) = planned(
            "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n",
        );
        assert!(state.reconcile(&smaller, &addresses, &topology));
        assert!(
            state.private_key("a").is_none(),
            "a was never applied: dropped"
        );
        let removed: Vec<&str> = state
            .removed(&smaller)
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(removed, ["b"], "b is managed: kept until decommissioned");
        assert!(
            !state.reconcile(&smaller, &addresses, &topology),
            "a kept removed host is no change"
        );
        assert!(state.forget("b") && state.private_key("b").is_none());
        assert!(state.removed(&smaller).is_empty());
    }

    #[test]
    fn a_state_file_without_ssh_settings_still_loads() {
        let dir = tempdir();
        let path = dir.join("s.json");
        let key = PrivateKey::generate().expose_base64();
        crate::store::files::write_private_file(
            &path,
            format!("{{\"version\": 1, \"hosts\": {{\"a\": {{\"private_key\": \"{key}\", \"addresses\": [\"100.64.0.2\"]}}}}}}").as_bytes(),
        )
        .unwrap();
        let state = State::load(&path).unwrap();
        assert!(state.private_key("a").is_some() && state.managed("a").is_none());
    }

    #[test]
    fn a_device_with_its_own_key_pair_has_no_private_key_in_the_state() {
        let dir = tempdir();
        let path = dir.join("s.json");
        let own = "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  phone: { manage: false, public_key: HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw= }\n";
        let generated = "network: { addresses: [100.64.0.0/24] }\nhosts:\n  r: { endpoint: 198.51.100.1, relay: true }\n  phone: { manage: false }\n";
        let (inventory, addresses, topology) = planned(generated);
        let mut state = State::default();
        state.reconcile(&inventory, &addresses, &topology);
        let generated_key = state.private_key("phone").unwrap().expose_base64();
        // The inventory now names the device's own key: the generated one is dropped.
        let (inventory, addresses, topology) = planned(own);
        assert!(state.reconcile(&inventory, &addresses, &topology));
        assert!(state.private_key("phone").is_none());
        assert!(state.record_export(
            "phone",
            Exported::of("[Interface]\n", "2026-12-01T03:00:00Z".into())
        ));
        state.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&generated_key), "{text}");
        let mut again = State::load(&path).unwrap();
        assert!(again.private_key("phone").is_none() && again.exported("phone").is_some());
        assert!(!again.reconcile(&inventory, &addresses, &topology));
        // Back to a generated key: a new one, never the old one brought back.
        let (inventory, addresses, topology) = planned(generated);
        assert!(again.reconcile(&inventory, &addresses, &topology));
        let new_key = again.private_key("phone").unwrap().expose_base64();
        assert_ne!(new_key, generated_key);
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wgdeploy-state-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
