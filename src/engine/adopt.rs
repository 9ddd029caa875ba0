//! `wgdeploy adopt INVENTORY`: taking over hosts that already run WireGuard, and the guard that
//! keeps `apply` from replacing such a host's config without a word.
//!
//! adopt reads each selected host's interface in one round trip ([`crate::remote::adopt_script`]):
//! the private key (from the config, else from the running interface), the addresses, the listen
//! port and the preshared keys shared with peers that are also in the inventory (matched by public
//! key). What the inventory allows is written into the state file, so the first apply keeps those
//! keys and addresses; what it does not allow is reported with the reason and, where there is one,
//! the inventory line that would keep it. adopt changes nothing on the hosts.
//!
//! Secrets read here live in [`PrivateKey`], [`PresharedKey`] and [`SecretText`], which redact
//! themselves; nothing in this module formats them.

use crate::core::facts::FileFact;
use crate::core::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::core::model::{HostId, Inventory, Role};
use crate::core::topology::Topology;
use crate::engine::types::{HostError, Surveyed};
use crate::store::state::State;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// After a survey: every host whose plan replaces an unmanaged config gets a second reason line
/// saying what apply will do; with `refuse` (apply), a host that was not adopted becomes a per-host
/// error unless `replace` (`--replace-unmanaged`) is given. The other hosts go on.
pub fn guard<S>(hosts: &mut [Surveyed<S>], state: &State, replace: bool, refuse: bool) {
    for host in hosts.iter_mut() {
        let name = host.job.name.clone();
        let Ok((_, _, change)) = &mut host.outcome else {
            continue;
        };
        if !change.replaces_unmanaged {
            continue;
        }
        let adopted = state.is_adopted(&name);
        if !adopted && !replace && refuse {
            host.outcome = Err(HostError::new(format!(
                "refusing to replace `{}` on {name}: wgdeploy did not write it and it was not adopted (nothing was changed)",
                host.job.interface.as_str()
            ))
            .help(format!(
                "run `wgdeploy adopt INVENTORY --hosts {name}` to keep its keys and addresses, or apply with `--replace-unmanaged` to replace it (new keys); either way the original is kept on the host as generation 0 for `wgdeploy rollback`"
            )));
            continue;
        }
        change.reasons.push(if adopted {
            "adopted (`wgdeploy adopt`): its keys and addresses are kept; the original stays on the host as generation 0".to_owned()
        } else if replace {
            "--replace-unmanaged: replaced with wgdeploy's keys; the original stays on the host as generation 0".to_owned()
        } else {
            "apply refuses this host unless it is adopted first (`wgdeploy adopt`, keeps its keys) or given `--replace-unmanaged`".to_owned()
        });
    }
}

/// One peer as a host lists it (config and running interface together).
#[derive(Debug, Clone)]
pub struct ReadPeer {
    pub public_key: PublicKey,
    pub preshared_key: Option<PresharedKey>,
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<String>,
}

/// What a host runs now, as adopt read it. Debug never shows a secret (the key types redact).
#[derive(Debug, Clone, Default)]
pub struct HostRead {
    /// There is a config file (or a running interface) to adopt at all.
    pub found: bool,
    /// The config carries wgdeploy's header, or wgdeploy recorded generations there.
    pub managed: bool,
    pub private_key: Option<PrivateKey>,
    /// Where the key came from: `the config` or `the running interface`.
    pub key_source: &'static str,
    /// The running interface uses another key than the config (the config's is taken).
    pub live_key_differs: bool,
    pub addresses: Vec<IpNet>,
    pub listen_port: Option<u16>,
    pub peers: Vec<ReadPeer>,
}

/// Parses the adopt script's answer. Errors never quote the answer (it holds keys).
pub fn parse_read(name: &str, output: &[u8]) -> std::result::Result<HostRead, HostError> {
    let parsed = crate::remote::facts::split(output).map_err(HostError::from)?;
    if parsed.section("wgdeploy-adopt").is_none() || !parsed.ended {
        return Err(HostError::new(
            "the host's answer to the adopt script is incomplete (the script did not run to the end)",
        ));
    }
    if !parsed.lines("tools").iter().any(|tool| tool == "wg") {
        return Err(HostError::new("`wg` not found on the host").help(
            "install the `wireguard-tools` package (e.g. `apt-get install wireguard-tools`)",
        ));
    }
    let config = parsed.file("config").unwrap_or(FileFact::Absent);
    if config == FileFact::Unreadable
        || parsed
            .lines("dir")
            .first()
            .is_some_and(|d| d == "unreadable")
    {
        let user = parsed.section("user").map(|(user, _)| user).unwrap_or("");
        return Err(
            HostError::new(format!("`{user}` cannot read /etc/wireguard on this host")).help(
                "set `ssh: {become: sudo}` for this host in the inventory, or connect as root",
            ),
        );
    }
    let generations = crate::remote::facts::parse_generations(parsed.lines("generations"));
    let live = parsed.section("live").is_some();
    let mut read = HostRead {
        found: config != FileFact::Absent || live,
        ..HostRead::default()
    };
    let secret = |name: &str| {
        parsed
            .file(name)
            .and_then(|fact| fact.text().map(str::to_owned))
    };
    let live_key = secret("private-key").and_then(|text| PrivateKey::from_base64(&text));
    let live_psks: HashMap<String, PresharedKey> = secret("preshared-keys")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (peer, psk) = line.split_once('\t')?;
            Some((peer.trim().to_owned(), PresharedKey::from_base64(psk)?))
        })
        .collect();
    if let Some(text) = config.text() {
        read.managed = crate::core::facts::written_by_wgdeploy(text)
            || generations
                .iter()
                .any(|generation| generation.kind != crate::core::facts::ORIGINAL_KIND);
        let path = std::path::Path::new(name);
        let parsed_config = crate::core::wgconf::parse(path, text).map_err(|err| {
            // wgconf's errors name lines but never quote keys.
            let first = err
                .diagnostics()
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_default();
            HostError::new(format!(
                "its wg-quick config cannot be read: {first}"
            ))
            .help("fix the config on the host (or move it away to start afresh), then run adopt again")
        })?;
        let psks = config_preshared_keys(text);
        read.addresses = parsed_config.addresses.clone();
        read.listen_port = parsed_config.listen_port;
        read.private_key = parsed_config.private_key.clone();
        read.key_source = "the config";
        for peer in &parsed_config.peers {
            let key = peer.public_key.to_base64();
            read.peers.push(ReadPeer {
                public_key: peer.public_key,
                preshared_key: psks
                    .get(&key)
                    .cloned()
                    .or_else(|| live_psks.get(&key).cloned()),
                allowed_ips: peer.allowed_ips.iter().map(|a| a.net).collect(),
                endpoint: peer.endpoint.clone(),
            });
        }
    }
    if let (Some(from_config), Some(from_live)) = (&read.private_key, &live_key) {
        read.live_key_differs = from_config.public_key() != from_live.public_key();
    }
    if read.private_key.is_none() && live_key.is_some() {
        read.private_key = live_key;
        read.key_source = "the running interface";
    }
    if live {
        if read.addresses.is_empty() {
            read.addresses = parsed
                .lines("addresses")
                .iter()
                .filter_map(|line| line.trim().parse().ok())
                .collect();
        }
        if read.listen_port.is_none() && config.text().is_none() {
            read.listen_port = parsed
                .lines("listen-port")
                .first()
                .and_then(|port| port.trim().parse().ok())
                .filter(|&port| port != 0);
        }
        let dump =
            crate::remote::facts::parse_dump(parsed.lines("dump")).map_err(HostError::from)?;
        for peer in dump.map(|live| live.peers).unwrap_or_default() {
            let Some(public_key) = PublicKey::from_base64(&peer.public_key) else {
                continue;
            };
            if read
                .peers
                .iter()
                .any(|known| known.public_key == public_key)
            {
                continue;
            }
            read.peers.push(ReadPeer {
                public_key,
                preshared_key: live_psks.get(&peer.public_key).cloned(),
                allowed_ips: peer.allowed_ips,
                endpoint: peer.endpoint,
            });
        }
    }
    Ok(read)
}

/// `PresharedKey` of each `[Peer]` in a wg-quick file, by the peer's public key (base64).
fn config_preshared_keys(text: &str) -> HashMap<String, PresharedKey> {
    let mut out = HashMap::new();
    let (mut key, mut psk): (Option<String>, Option<PresharedKey>) = (None, None);
    let mut flush = |key: &mut Option<String>, psk: &mut Option<PresharedKey>| {
        if let (Some(key), Some(psk)) = (key.take(), psk.take()) {
            out.insert(key, psk);
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            flush(&mut key, &mut psk);
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "publickey" => key = Some(value.trim().to_owned()),
            "presharedkey" => psk = PresharedKey::from_base64(value.trim()),
            _ => {}
        }
    }
    flush(&mut key, &mut psk);
    out
}

/// One thing adopt could not keep, why, and what in the inventory would keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub what: String,
    pub why: String,
    pub fix: Option<String>,
}

/// What adopt takes from one host.
#[derive(Debug, Clone, Default)]
pub struct HostAdoption {
    pub name: String,
    /// The key to keep (`None`: the host had none; a new one is generated).
    pub key: Option<PrivateKey>,
    /// Addresses kept, one per overlay range at most.
    pub addresses: Vec<IpAddr>,
    /// What is kept, in words (no secrets).
    pub kept: Vec<String>,
    pub lost: Vec<Lost>,
    /// Notes that are neither kept nor lost (e.g. the running key differs from the config's).
    pub notes: Vec<String>,
    /// Peers whose key belongs to no inventory host, in words.
    pub unknown_peers: Vec<String>,
}

/// What adopt writes into the state.
#[derive(Debug, Clone, Default)]
pub struct Adoption {
    pub hosts: Vec<HostAdoption>,
    /// Preshared keys to keep, by the two host names.
    pub preshared: Vec<(String, String, PresharedKey)>,
}

/// Decides what can be kept. Pure: the inventory, its topology (who peers directly), the current
/// state (keys of hosts not read now) and what was read from each host, in inventory order.
pub fn decide(
    inventory: &Inventory,
    topology: &Topology,
    state: &State,
    reads: &[(HostId, HostRead)],
) -> Adoption {
    let name_of = |id: HostId| inventory.hosts[id].name.as_str().to_owned();
    // Who is who: the public key each inventory host will have.
    let mut owner: HashMap<PublicKey, HostId> = HashMap::new();
    for (id, host) in inventory.hosts.iter().enumerate() {
        if let Some(key) = state.private_key(host.name.as_str()) {
            owner.insert(key.public_key(), id);
        }
    }
    for (id, read) in reads {
        if let Some(key) = &read.private_key {
            owner.retain(|_, owner| owner != id);
            owner.insert(key.public_key(), *id);
        }
    }
    // Addresses: pins are never given away; then each claimed address to the first claimant.
    let mut taken: HashMap<IpAddr, String> = HashMap::new();
    for host in &inventory.hosts {
        for pin in &host.pinned {
            taken.insert(
                *pin,
                format!("pinned to `{}` in the inventory", host.name.as_str()),
            );
        }
    }
    let mut adoption = Adoption::default();
    let mut pairs: BTreeMap<(HostId, HostId), Vec<PresharedKey>> = BTreeMap::new();
    for (id, read) in reads {
        let host = &inventory.hosts[*id];
        let name = name_of(*id);
        let mut out = HostAdoption {
            name: name.clone(),
            key: read.private_key.clone(),
            ..HostAdoption::default()
        };
        match &read.private_key {
            Some(key) => out.kept.push(format!(
                "private key from {} (public key {})",
                read.key_source,
                key.public_key()
            )),
            None => out.lost.push(Lost {
                what: "private key".into(),
                why: "neither the config nor the running interface has one; a new key is generated"
                    .into(),
                fix: None,
            }),
        }
        if read.managed {
            out.notes.push(
                "wgdeploy already manages this host; the state now holds the key it runs".into(),
            );
        }
        if read.live_key_differs {
            out.notes.push(
                "the running interface uses another private key than the config; the config's is kept (it is what comes back after a restart)".into(),
            );
        }
        // Addresses, one per overlay range.
        let mut kept_ranges: Vec<IpNet> = Vec::new();
        for net in &read.addresses {
            let ip = net.addr();
            let what = format!("address {ip}");
            let Some(range) = inventory
                .network
                .ranges
                .iter()
                .find(|range| range.contains(&ip))
            else {
                let ranges: Vec<String> = inventory
                    .network
                    .ranges
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                out.lost.push(Lost {
                    what,
                    why: format!(
                        "it is outside the overlay ({}); the host gets a new address from it",
                        ranges.join(", ")
                    ),
                    fix: Some("to keep it, `network.addresses` must contain it".into()),
                });
                continue;
            };
            if kept_ranges.contains(range) {
                out.lost.push(Lost {
                    what,
                    why: format!("the host has another address in {range} already; wgdeploy gives a host one per range"),
                    fix: None,
                });
                continue;
            }
            if let Some(pin) = host.pinned.iter().find(|pin| range.contains(*pin)) {
                if *pin != ip {
                    out.lost.push(Lost {
                        what,
                        why: format!("the inventory pins `address: {pin}` for `{name}`; the host moves to {pin}"),
                        fix: Some(format!("to keep it, set `address: {ip}` under `{name}:` in the inventory")),
                    });
                    kept_ranges.push(*range);
                    continue;
                }
            } else if !crate::core::addressing::is_usable(range, &ip) {
                out.lost.push(Lost {
                    what,
                    why: format!("it is the network or broadcast address of {range}; the host gets a new address"),
                    fix: None,
                });
                continue;
            } else if let Some(holder) = taken.get(&ip) {
                out.lost.push(Lost {
                    what,
                    why: format!("it is {holder}; `{name}` gets a new address"),
                    fix: Some(format!(
                        "give one of the two another address on its host, or pin another with `address:` under `{name}:`"
                    )),
                });
                continue;
            } else {
                taken.insert(
                    ip,
                    format!(
                        "claimed by `{name}` too (it comes first in the inventory and keeps it)"
                    ),
                );
            }
            kept_ranges.push(*range);
            out.addresses.push(ip);
            out.kept.push(format!("address {ip}"));
        }
        // Listen port: what the inventory renders for this host.
        let wanted = (host.role != Role::Nat).then_some(host.listen_port);
        match (read.listen_port, wanted) {
            (Some(port), Some(want)) if port == want => out.kept.push(format!("listen port {port}")),
            (Some(port), Some(want)) => out.lost.push(Lost {
                what: format!("listen port {port}"),
                why: format!("the inventory gives `{name}` port {want}"),
                fix: Some(format!("to keep it, add `listen_port: {port}` under `{name}:` in the inventory")),
            }),
            (Some(port), None) => out.lost.push(Lost {
                what: format!("listen port {port}"),
                why: format!("`{name}` has no `endpoint:`, and wgdeploy gives such hosts no fixed port (WireGuard picks one)"),
                fix: Some(format!("to keep it, give `{name}` an `endpoint:` (its public address) and `listen_port: {port}`")),
            }),
            (None, _) => {}
        }
        // Peers: inventory hosts by public key, and the preshared keys shared with them.
        for peer in &read.peers {
            match owner
                .get(&peer.public_key)
                .copied()
                .filter(|other| other != id)
            {
                Some(other) => {
                    let direct = topology.hosts[*id].peers.iter().any(|p| p.host == other);
                    let other_name = name_of(other);
                    if !direct {
                        out.notes.push(format!(
                            "it lists `{other_name}` directly, which the inventory does not (their traffic goes through a relay); that entry is dropped"
                        ));
                    }
                    if let Some(psk) = &peer.preshared_key {
                        if !inventory.network.preshared_keys {
                            out.lost.push(Lost {
                                what: format!("preshared key with `{other_name}`"),
                                why: "the inventory does not use preshared keys".into(),
                                fix: Some("to keep it, set `preshared_keys: true` under `network:` in the inventory".into()),
                            });
                        } else if direct {
                            let pair = if *id < other {
                                (*id, other)
                            } else {
                                (other, *id)
                            };
                            pairs.entry(pair).or_default().push(psk.clone());
                        }
                    }
                }
                None => {
                    let ips: Vec<String> =
                        peer.allowed_ips.iter().map(ToString::to_string).collect();
                    let endpoint = peer
                        .endpoint
                        .as_deref()
                        .map(|endpoint| format!(", endpoint {endpoint}"))
                        .unwrap_or_default();
                    out.unknown_peers.push(format!(
                        "peer {} (AllowedIPs {}{endpoint})",
                        peer.public_key,
                        if ips.is_empty() {
                            "none".to_owned()
                        } else {
                            ips.join(", ")
                        }
                    ));
                }
            }
        }
        adoption.hosts.push(out);
    }
    for ((a, b), keys) in pairs {
        let (a_name, b_name) = (name_of(a), name_of(b));
        if keys.windows(2).all(|two| two[0] == two[1]) {
            for host in adoption
                .hosts
                .iter_mut()
                .filter(|h| h.name == a_name || h.name == b_name)
            {
                let other = if host.name == a_name {
                    &b_name
                } else {
                    &a_name
                };
                host.kept.push(format!("preshared key with `{other}`"));
            }
            adoption.preshared.push((a_name, b_name, keys[0].clone()));
        } else if let Some(host) = adoption.hosts.iter_mut().find(|h| h.name == a_name) {
            host.lost.push(Lost {
                what: format!("preshared key with `{b_name}`"),
                why: format!("`{a_name}` and `{b_name}` hold different preshared keys for each other (their tunnel cannot work); a new one is generated"),
                fix: None,
            });
        }
    }
    adoption
}

impl Adoption {
    /// Writes what was decided into the state. Hosts with nothing to keep are left as they were.
    pub fn record(&self, state: &mut State) {
        for host in &self.hosts {
            if let Some(key) = &host.key {
                state.adopt(&host.name, key.clone(), host.addresses.clone());
            }
        }
        for (a, b, key) in &self.preshared {
            state.adopt_preshared(a, b, key.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::facts::SecretText;
    use crate::engine::types::Job;
    use crate::transport::fake::{FakeTransport, ok};
    use std::path::Path;
    use std::sync::Arc;

    const YAML: &str = "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web1: { endpoint: 198.51.100.2 }\n  home: { via: relay1 }\n  office: { via: relay1, address: 100.64.0.40 }\n";

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_bytes([n; 32])
    }

    fn psk(n: u8) -> PresharedKey {
        PresharedKey::from_base64(&PrivateKey::from_bytes([n; 32]).expose_base64()).unwrap()
    }

    fn planned(yaml: &str) -> crate::core::render::Deployment {
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        crate::core::pipeline::plan_loaded(inventory, &Default::default()).unwrap()
    }

    /// The adopt script's answer for a host with `config` (and a running interface when `live`).
    fn answer(
        config: Option<&str>,
        live: Option<(&PrivateKey, &str)>,
        generations: &str,
    ) -> String {
        let config = match config {
            Some(text) => format!("@@config {}\n{text}\n", text.len()),
            None => "@@config absent\n".to_owned(),
        };
        let live = match live {
            Some((key, psks)) => {
                let private = key.expose_base64();
                format!(
                    "@@live yes\n@@private-key {}\n{private}\n@@preshared-keys {}\n{psks}\n@@listen-port\n51820\n@@dump\n-\t{}\t51820\toff\n@@addresses\n100.64.0.7/24\n",
                    private.len(),
                    psks.len(),
                    key.public_key()
                )
            }
            None => String::new(),
        };
        format!(
            "banner\n@@wgdeploy-adopt 1\n@@user root\n@@tools\nwg\nip\n@@dir\nok\n{config}@@generations\n{generations}{live}@@end\n"
        )
    }

    fn hand_written(
        own: &PrivateKey,
        address: &str,
        port: Option<u16>,
        peers: &[(&PrivateKey, Option<&PresharedKey>, &str)],
    ) -> String {
        let mut text = format!(
            "[Interface]\nAddress = {address}\nPrivateKey = {}\n",
            own.expose_base64()
        );
        if let Some(port) = port {
            text.push_str(&format!("ListenPort = {port}\n"));
        }
        for (peer, psk, ips) in peers {
            text.push_str(&format!("\n[Peer]\nPublicKey = {}\n", peer.public_key()));
            if let Some(psk) = psk {
                text.push_str(&format!("PresharedKey = {}\n", psk.expose_base64()));
            }
            text.push_str(&format!("AllowedIPs = {ips}\n"));
        }
        text
    }

    #[test]
    fn a_config_without_our_header_or_generations_is_unmanaged() {
        let facts = |config: &str, generations: &str| {
            let output = format!(
                "@@wgdeploy-facts 1\n@@tools\nwg\nwg-quick\nflock\n@@config {}\n{config}\n@@generations\n{generations}@@end\n",
                config.len()
            );
            crate::remote::facts::parse(output.as_bytes()).unwrap()
        };
        let ours = "# wg0 on relay1: generated by wgdeploy; local edits are overwritten on the next apply.\n[Interface]\n";
        assert!(crate::core::facts::written_by_wgdeploy(ours));
        assert!(!crate::core::facts::unmanaged(&facts(ours, "")));
        assert!(crate::core::facts::unmanaged(&facts("[Interface]\n", "")));
        // Only the original kept by a reverted first apply: still unmanaged.
        assert!(crate::core::facts::unmanaged(&facts(
            "[Interface]\n",
            "generation=0\nkind=original\n"
        )));
        // wgdeploy has deployed here (e.g. with a template without our header, or rolled back to
        // the original): managed.
        assert!(!crate::core::facts::unmanaged(&facts(
            "[Interface]\n",
            "generation=0\nkind=original\ngeneration=1\nkind=apply\n"
        )));
        let mut absent = facts("", "");
        absent.config = FileFact::Absent;
        assert!(!crate::core::facts::unmanaged(&absent));
    }

    #[test]
    fn keeps_keys_addresses_and_preshared_keys_and_says_what_it_cannot_keep() {
        let deployment = planned(YAML);
        let inventory = &deployment.inventory;
        let (relay, web, home, office, stranger) = (key(1), key(2), key(3), key(4), key(9));
        let (rh, rw, wh) = (psk(11), psk(12), psk(13));
        let reads = [
            // relay1: its port, an address the allocator would not pick, an unknown peer.
            hand_written(
                &relay,
                "100.64.0.50/24",
                Some(51820),
                &[
                    (&home, Some(&rh), "100.64.0.60/32"),
                    (&web, Some(&rw), "100.64.0.51/32"),
                    (&stranger, None, "100.64.0.99/32"),
                ],
            ),
            // web1: another port, and a different preshared key with home than home has.
            hand_written(
                &web,
                "100.64.0.51/24",
                Some(51999),
                &[
                    (&relay, Some(&rw), "100.64.0.50/32"),
                    (&home, Some(&psk(99)), "100.64.0.60/32"),
                ],
            ),
            // home: an address outside the overlay; lists office directly.
            hand_written(
                &home,
                "100.65.0.60/24",
                None,
                &[
                    (&relay, Some(&rh), "100.64.0.0/24"),
                    (&web, Some(&wh), "100.64.0.51/32"),
                    (&office, None, "100.64.0.61/32"),
                ],
            ),
            // office: pinned elsewhere; claims relay1's address too.
            hand_written(
                &office,
                "100.64.0.50/24",
                None,
                &[(&relay, None, "100.64.0.0/24")],
            ),
        ];
        let reads: Vec<(HostId, HostRead)> = reads
            .iter()
            .enumerate()
            .map(|(id, text)| {
                (
                    id,
                    parse_read("h", answer(Some(text), None, "").as_bytes()).unwrap(),
                )
            })
            .collect();
        let adoption = decide(inventory, &deployment.topology, &State::default(), &reads);
        let by = |name: &str| adoption.hosts.iter().find(|h| h.name == name).unwrap();
        let lost = |name: &str| -> String {
            by(name)
                .lost
                .iter()
                .map(|l| {
                    format!(
                        "{} | {} | {}",
                        l.what,
                        l.why,
                        l.fix.clone().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(by("relay1").key, Some(relay.clone()));
        assert_eq!(
            by("relay1").addresses,
            ["100.64.0.50".parse::<IpAddr>().unwrap()]
        );
        assert!(by("relay1").lost.is_empty(), "{}", lost("relay1"));
        assert_eq!(by("relay1").unknown_peers.len(), 1);
        assert!(by("relay1").unknown_peers[0].contains(&stranger.public_key().to_base64()));
        assert!(
            lost("web1").contains("listen port 51999")
                && lost("web1").contains("add `listen_port: 51999` under `web1:`"),
            "{}",
            lost("web1")
        );
        assert!(
            lost("home").contains("outside the overlay"),
            "{}",
            lost("home")
        );
        assert!(
            by("home")
                .notes
                .iter()
                .any(|n| n.contains("lists `office` directly"))
        );
        assert!(
            lost("office").contains("pins `address: 100.64.0.40`")
                && lost("office").contains("set `address: 100.64.0.50` under `office:`"),
            "{}",
            lost("office")
        );
        // Preshared keys: relay1/home and relay1/web1 agree and are kept; web1/home disagree.
        let kept: Vec<(&str, &str)> = adoption
            .preshared
            .iter()
            .map(|(a, b, _)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(kept, [("relay1", "web1"), ("relay1", "home")]);
        assert!(
            lost("web1").contains("different preshared keys"),
            "{}",
            lost("web1")
        );

        let mut state = State::default();
        adoption.record(&mut state);
        assert!(state.is_adopted("relay1") && state.is_adopted("office"));
        assert_eq!(state.preshared_key("home", "relay1"), Some(&rh));
        let replanned =
            crate::core::pipeline::plan_loaded(inventory.clone(), &state.remembered_addresses())
                .unwrap();
        assert_eq!(
            replanned.addresses[0],
            ["100.64.0.50".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            replanned.addresses[3],
            ["100.64.0.40".parse::<IpAddr>().unwrap()]
        );

        // No secret anywhere in what is printed or debugged.
        let text = crate::ui::adopt::report(
            &adoption,
            &[],
            &[],
            inventory,
            Path::new("s.json"),
            Path::new("i.yaml"),
        ) + &format!("{adoption:?}{reads:?}");
        for secret in [&relay, &web, &home, &office] {
            assert!(!text.contains(&secret.expose_base64()), "{text}");
        }
        for secret in [&rh, &rw, &wh] {
            assert!(!text.contains(&secret.expose_base64()), "{text}");
        }
        assert!(text.contains("not kept: listen port 51999"), "{text}");
        assert!(!text.contains("Not read in this run"), "{text}");
        // Only relay1 read (`--hosts relay1`): its peers home and web1 cannot be matched yet.
        let partial = decide(
            inventory,
            &deployment.topology,
            &State::default(),
            &reads[..1],
        );
        let text = crate::ui::adopt::report(
            &partial,
            &[],
            &[],
            inventory,
            Path::new("s.json"),
            Path::new("i.yaml"),
        );
        assert_eq!(partial.hosts[0].unknown_peers.len(), 3, "{text}");
        assert!(
            text.contains("Not read in this run: web1, home, office."),
            "{text}"
        );
    }

    #[test]
    fn a_key_set_by_a_hook_comes_from_the_running_interface() {
        let live = key(5);
        let config = "[Interface]\nAddress = 100.64.0.7/24\nPostUp = wg set %i private-key /etc/wireguard/private\n";
        let read = parse_read("h", answer(Some(config), Some((&live, "")), "").as_bytes()).unwrap();
        assert_eq!(read.private_key, Some(live.clone()));
        assert_eq!(read.key_source, "the running interface");
        // No config at all: everything from the running interface.
        let psk_line = format!("{}\t{}", key(6).public_key(), psk(7).expose_base64());
        let read = parse_read("h", answer(None, Some((&live, &psk_line)), "").as_bytes()).unwrap();
        assert!(read.found);
        assert_eq!(read.addresses, ["100.64.0.7/24".parse::<IpNet>().unwrap()]);
        assert_eq!(read.listen_port, Some(51820));
        assert!(!format!("{read:?}").contains(&live.expose_base64()));
        // Nothing there: nothing to adopt.
        let read = parse_read("h", answer(None, None, "").as_bytes()).unwrap();
        assert!(!read.found);
        // A cut answer is an error, not a guess.
        assert!(parse_read("h", b"@@wgdeploy-adopt 1\n@@config 500\n[Interface]\n").is_err());
    }

    /// The real script in a real `sh`, with `wg` and `ip` stand-ins on PATH: the keys arrive framed
    /// (whole, whatever they contain) and the parser takes them.
    #[test]
    fn the_adopt_script_runs_in_sh_and_frames_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let live = key(8);
        let psk_line = format!("{}\t{}", key(6).public_key(), psk(7).expose_base64());
        let wg = format!(
            "#!/bin/sh\ncase \"$3\" in\n  private-key) echo '{}' ;;\n  preshared-keys) printf '%s\\n' '{psk_line}' ;;\n  listen-port) echo 51820 ;;\n  dump) printf -- '-\\t{}\\t51820\\toff\\n' ;;\nesac\nexit 0\n",
            live.expose_base64(),
            live.public_key()
        );
        let ip = "#!/bin/sh\necho '9: wg0    inet 100.64.0.7/24 scope global wg0'\n";
        for (name, body) in [("wg", wg.as_str()), ("ip", ip)] {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let interface = crate::core::model::InterfaceName::parse("wgadopttest0").unwrap();
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let script = crate::remote::adopt_script(&interface);
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.text.as_ref())
            .arg("wgdeploy")
            .args(&script.args)
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read = parse_read("h", &output.stdout).unwrap();
        assert_eq!(read.private_key, Some(live));
        assert_eq!(read.addresses, ["100.64.0.7/24".parse::<IpNet>().unwrap()]);
        assert_eq!(read.peers.len(), 0, "the stand-in dump lists no peers");
        let parsed = crate::remote::facts::split(&output.stdout).unwrap();
        let psks = parsed.file("preshared-keys").unwrap();
        assert_eq!(psks.text(), Some(psk_line.as_str()));
    }

    struct Quiet;
    impl crate::engine::types::Reporter for Quiet {
        fn update(&self, _: &str, _: &str) {}
        fn finish(&self, _: &str, _: bool, _: &str) {}
    }

    struct One(FakeTransport);
    impl crate::engine::types::Connector for One {
        type Session = FakeTransport;
        async fn connect(&self, _: &Job) -> std::result::Result<FakeTransport, HostError> {
            Ok(self.0.clone())
        }
    }

    /// `rollback` right after the first deployment goes to generation 0, the original; `--to` that
    /// deployment goes to its own generation.
    #[tokio::test]
    async fn rollback_after_the_first_deployment_reaches_generation_0() {
        let d1 = "20261125-101500-abcd";
        let ours = "# wg0 on relay1: generated by wgdeploy; local edits are overwritten on the next apply.\n[Interface]\n";
        let original = "[Interface]\n# hand-written\n";
        let facts = format!(
            "@@wgdeploy-facts 1\n@@user root\n@@tools\nwg\nwg-quick\nflock\n@@dir\nok\n@@stamp 1 2 3\n@@config {}\n{ours}\n@@generations\ngeneration=1\ndeployment={d1}\nkind=apply\ngeneration=0\ndeployment={d1}\nkind=original\n@@end\n",
            ours.len()
        );
        let transport = FakeTransport::new(move |command, _| {
            if command.contains("wgdeploy-facts") {
                ok(&facts)
            } else if command.contains("# read-generation.sh") && command.ends_with(" wg0 0") {
                ok(&format!(
                    "@@generation-config {}\n{original}\n@@end\n",
                    original.len()
                ))
            } else if command.contains("# read-generation.sh") && command.ends_with(" wg0 1") {
                ok(&format!(
                    "@@generation-config {}\n{ours}\n@@end\n",
                    ours.len()
                ))
            } else {
                ok("")
            }
        });
        let entry = crate::store::journal::Entry {
            id: d1.into(),
            time: String::new(),
            command: "apply".into(),
            target: None,
            inventory: String::new(),
            version: String::new(),
            outcome: "ok".into(),
            hosts: [(
                "relay1".to_owned(),
                crate::store::journal::CHANGED.to_owned(),
            )]
            .into(),
        };
        let job = Job {
            name: "relay1".into(),
            interface: crate::core::model::InterfaceName::parse("wg0").unwrap(),
            desired: SecretText::new(ours.into()),
            forwarding: Default::default(),
            become_: crate::remote::Become::None,
            keys: Default::default(),
        };
        let limits = crate::engine::types::Limits {
            parallel: 1,
            connect: std::time::Duration::from_secs(5),
            apply: std::time::Duration::from_secs(5),
        };
        for (target, want) in [(crate::store::journal::ORIGINAL, original), (d1, ours)] {
            let goal = crate::engine::survey::Goal::AsOf {
                target: target.into(),
                journal: vec![entry.clone()],
            };
            let surveyed = crate::engine::survey::survey_for(
                Arc::new(One(transport.clone())),
                vec![job.clone()],
                limits,
                Arc::new(Quiet),
                Arc::new(goal),
            )
            .await;
            assert!(surveyed[0].outcome.is_ok(), "{target}");
            assert_eq!(surveyed[0].job.desired.expose(), want, "{target}");
        }
    }

    /// apply's guard: a host replacing an unmanaged config is refused unless adopted or
    /// `--replace-unmanaged`; plan only explains.
    #[tokio::test]
    async fn apply_refuses_unmanaged_hosts_that_were_not_adopted() {
        let deployment = planned(YAML);
        let mut state = State::default();
        state.reconcile(
            &deployment.inventory,
            &deployment.addresses,
            &deployment.topology,
        );
        let hand = hand_written(&key(1), "100.64.0.1/24", Some(51820), &[]);
        let facts = format!(
            "@@wgdeploy-facts 1\n@@user root\n@@tools\nwg\nwg-quick\nflock\n@@dir\nok\n@@stamp 1 2 3\n@@config {}\n{hand}\n@@dump\n-\tPUB=\t51820\toff\n@@end\n",
            hand.len()
        );
        let survey = |state: &State| {
            let jobs = crate::engine::deploy::jobs(
                &deployment,
                state,
                &crate::core::render::Renderer::new(None).unwrap(),
                &["relay1".into()],
                Default::default(),
            )
            .unwrap();
            let transport = FakeTransport::new({
                let facts = facts.clone();
                move |_, _| ok(&facts)
            });
            let job = jobs.into_iter().next().unwrap();
            async move {
                let facts = crate::engine::exec::gather(&transport, &job).await.unwrap();
                let change = crate::core::change::classify(
                    &job.name,
                    &job.interface,
                    job.desired.expose(),
                    job.forwarding,
                    &facts,
                );
                vec![Surveyed {
                    job: Arc::new(job),
                    outcome: Ok((Arc::new(transport), facts, change)),
                }]
            }
        };
        let mut hosts = survey(&state).await;
        {
            let (_, _, change) = hosts[0].outcome.as_ref().unwrap();
            assert!(change.replaces_unmanaged && change.step.keep_original);
            assert!(
                change
                    .reasons
                    .iter()
                    .any(|r| r == crate::core::change::REPLACES_UNMANAGED)
            );
        }
        guard(&mut hosts, &state, false, false);
        assert!(hosts[0].outcome.is_ok(), "plan only explains");
        guard(&mut hosts, &state, false, true);
        let error = hosts[0].outcome.as_ref().err().unwrap();
        assert!(
            error.message.contains("refusing to replace"),
            "{}",
            error.message
        );
        assert!(error.help.as_deref().unwrap().contains("wgdeploy adopt"));

        let mut hosts = survey(&state).await;
        guard(&mut hosts, &state, true, true);
        assert!(hosts[0].outcome.is_ok(), "--replace-unmanaged");

        state.adopt("relay1", key(1), vec!["100.64.0.1".parse().unwrap()]);
        let mut hosts = survey(&state).await;
        guard(&mut hosts, &state, false, true);
        let (_, _, change) = hosts[0].outcome.as_ref().unwrap();
        assert!(
            change.reasons.iter().any(|r| r.starts_with("adopted")),
            "{:?}",
            change.reasons
        );
        // The apply step keeps the original as generation 0 before it writes, under the lock.
        let mut step = change.step.clone();
        step.arm = Some(crate::core::change::Arm {
            token: "20261125-101500-abcd".into(),
            seconds: 30,
            step_seconds: 120,
        });
        let script = crate::remote::apply_script(&step);
        assert_eq!(
            script.args[11], "yes",
            "keep the original: {:?}",
            script.args
        );
        let text = &script.text;
        let keep = text.find("generations/0.conf.tmp").unwrap_or(usize::MAX);
        let keep = keep.min(text.find("\"$gens/0.conf.tmp\"").unwrap());
        assert!(
            text.find("@@armed").unwrap() < keep
                && keep < text.find("mktemp \"$temp_prefix").unwrap()
        );
    }
}
