//! Reading what a host runs for adopt: the adopt script's answer ([`crate::remote::adopt_script`])
//! parsed into a [`HostRead`] — the host's key (from the config, else from the running interface;
//! with `keys: on-host` its public half only), addresses, listen port, peers and the preshared
//! keys shared with them.
//!
//! Secrets read here land in [`PrivateKey`], [`PresharedKey`] and framed `SecretText`, which
//! redact themselves; nothing here formats them, and errors never quote the answer.

use crate::core::adopt::{HostRead, ReadPeer};
use crate::core::facts::FileFact;
use crate::core::keys::OwnKey;
use crate::core::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::engine::error::HostFailure;
use crate::remote::facts::FactsError;
use std::collections::HashMap;

/// Parses the adopt script's answer. Errors never quote the answer (it holds keys).
pub fn parse_read(name: &str, output: &[u8]) -> Result<HostRead, HostFailure> {
    let parsed = crate::remote::facts::split(output)?;
    if parsed.section("wgdeploy-adopt").is_none() || !parsed.ended {
        return Err(FactsError::Incomplete { script: "adopt" }.into());
    }
    if !parsed.lines("tools").iter().any(|tool| tool == "wg") {
        return Err(HostFailure::WgMissing);
    }
    let config = parsed.file("config").unwrap_or(FileFact::Absent);
    if config == FileFact::Unreadable
        || parsed
            .lines("dir")
            .first()
            .is_some_and(|d| d == "unreadable")
    {
        let user = parsed.section("user").map(|(user, _)| user).unwrap_or("");
        return Err(HostFailure::UnreadableConfigDir {
            user: user.to_owned(),
        });
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
    // `keys: on-host`: the script sent public halves only (`adopt.sh … public`).
    let public = |section: &str| {
        parsed
            .section(section)
            .and_then(|(key, _)| PublicKey::from_base64(key.trim()))
            .map(OwnKey::Public)
    };
    let live_key = secret("private-key")
        .and_then(|text| PrivateKey::from_base64(&text))
        .map(OwnKey::Private)
        .or_else(|| public("live-public-key"));
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
            HostFailure::AdoptConfigUnreadable { first }
        })?;
        let psks = config_preshared_keys(text);
        read.addresses = parsed_config.addresses.clone();
        read.listen_port = parsed_config.listen_port;
        read.settings = crate::core::adopt::ReadSettings::of(&parsed_config);
        read.key = parsed_config
            .private_key
            .clone()
            .map(OwnKey::Private)
            .or_else(|| public("config-public-key"));
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
    if let (Some(from_config), Some(from_live)) = (&read.key, &live_key) {
        read.live_key_differs = from_config.public_key() != from_live.public_key();
    }
    if read.key.is_none() && live_key.is_some() {
        read.key = live_key;
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
        let dump = crate::remote::facts::parse_dump(parsed.lines("dump"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;

    fn key(n: u8) -> PrivateKey {
        PrivateKey::from_bytes([n; 32])
    }

    fn psk(n: u8) -> PresharedKey {
        PresharedKey::from_base64(&PrivateKey::from_bytes([n; 32]).expose_base64()).unwrap()
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
    fn a_key_set_by_a_hook_comes_from_the_running_interface() {
        let live = key(5);
        let config = "[Interface]\nAddress = 100.64.0.7/24\nPostUp = wg set %i private-key /etc/wireguard/private\n";
        let read = parse_read("h", answer(Some(config), Some((&live, "")), "").as_bytes()).unwrap();
        assert_eq!(read.key, Some(OwnKey::Private(live.clone())));
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

    /// Runs the real adopt script in a real `sh` under `root`, with `wg` (body `wg`) and `ip`
    /// stand-ins on PATH; its answer.
    fn run_adopt(root: &std::path::Path, wg: &str, on_host: bool) -> Vec<u8> {
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let ip = "#!/bin/sh\necho '9: wg0    inet 100.64.0.7/24 scope global wg0'\n";
        for (name, body) in [("wg", wg), ("ip", ip)] {
            let path = bin.join(name);
            std::fs::write(&path, body).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let interface = crate::core::model::InterfaceName::parse("wgadopttest0").unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let script = crate::remote::adopt_script(&interface, on_host);
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.text.as_ref())
            .arg("wgdeploy")
            .args(&script.args)
            .env("PATH", path)
            .env("WGDEPLOY_ROOT", root)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The keys arrive framed (whole, whatever they contain) and the parser takes them.
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
        let stdout = run_adopt(dir.path(), &wg, false);
        let read = parse_read("h", &stdout).unwrap();
        assert_eq!(read.key, Some(OwnKey::Private(live)));
        assert_eq!(read.addresses, ["100.64.0.7/24".parse::<IpNet>().unwrap()]);
        assert_eq!(read.peers.len(), 0, "the stand-in dump lists no peers");
        let parsed = crate::remote::facts::split(&stdout).unwrap();
        let psks = parsed.file("preshared-keys").unwrap();
        assert_eq!(psks.text(), Some(psk_line.as_str()));
    }

    /// `keys: on-host`: the host keeps its key, so adopt reads its public half only. The config's
    /// key line comes back as the marker, the running interface is asked for its public key, no
    /// secret is asked of `wg`, and the answer holds no private key.
    #[test]
    fn a_host_that_keeps_its_key_sends_its_public_half_only() {
        let dir = tempfile::tempdir().unwrap();
        let (own, running, peer) = (key(1), key(2), key(3));
        let config = hand_written(
            &own,
            "100.64.0.7/24",
            Some(51820),
            &[(&peer, None, "100.64.0.8/32")],
        );
        let etc = dir.path().join("etc/wireguard");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("wgadopttest0.conf"), &config).unwrap();
        let log = dir.path().join("wg-calls");
        let wg = format!(
            "#!/bin/sh\necho \"$*\" >> '{log}'\ncase \"$1 $3\" in\n  pubkey*) read -r k; [ \"$k\" = '{own}' ] && echo '{own_public}' ;;\n  'show public-key') echo '{running_public}' ;;\n  'show listen-port') echo 51820 ;;\n  'show dump') printf -- '-\\t{running_public}\\t51820\\toff\\n' ;;\n  'show private-key'|'show preshared-keys') echo '{running}' ;;\nesac\nexit 0\n",
            log = log.display(),
            own = own.expose_base64(),
            own_public = own.public_key(),
            running = running.expose_base64(),
            running_public = running.public_key(),
        );
        let stdout = run_adopt(dir.path(), &wg, true);
        let text = String::from_utf8_lossy(&stdout);
        for secret in [own.expose_base64(), running.expose_base64()] {
            assert!(!text.contains(&secret), "a private key crossed: {text}");
        }
        let calls = std::fs::read_to_string(&log).unwrap();
        assert!(
            !calls.contains("private-key") && !calls.contains("preshared-keys"),
            "{calls}"
        );
        let read = parse_read("h", &stdout).unwrap();
        assert_eq!(read.key, Some(OwnKey::Public(own.public_key())));
        assert!(read.live_key_differs, "the running key is another one");
        assert_eq!(read.listen_port, Some(51820));
        assert_eq!(read.peers.len(), 1);
        assert_eq!(read.peers[0].public_key, peer.public_key());
    }

    /// A hand-written config's peers come with the preshared keys it lists for them.
    #[test]
    fn a_configs_peers_come_with_their_preshared_keys() {
        let (own, peer, other) = (key(1), key(2), key(3));
        let text = hand_written(
            &own,
            "100.64.0.50/24",
            Some(51999),
            &[
                (&peer, Some(&psk(11)), "100.64.0.51/32"),
                (&other, None, "100.64.0.0/24"),
            ],
        );
        let read = parse_read("h", answer(Some(&text), None, "").as_bytes()).unwrap();
        assert!(read.found && !read.managed);
        assert_eq!(read.key, Some(OwnKey::Private(own)));
        assert_eq!(read.key_source, "the config");
        assert_eq!(read.listen_port, Some(51999));
        assert_eq!(read.peers.len(), 2);
        assert_eq!(read.peers[0].public_key, peer.public_key());
        assert_eq!(read.peers[0].preshared_key, Some(psk(11)));
        assert_eq!(read.peers[1].preshared_key, None);
        assert_eq!(
            read.peers[1].allowed_ips,
            ["100.64.0.0/24".parse::<IpNet>().unwrap()]
        );
    }

    /// What stops adopt on a host is named with its fix, and never quotes the answer.
    #[test]
    fn what_stops_adopt_on_a_host_is_named_with_its_fix() {
        use crate::engine::types::HostError;
        let error = |answer: &str| HostError::from(parse_read("h", answer.as_bytes()).unwrap_err());
        let no_wg = error(&answer(None, None, "").replace("@@tools\nwg\n", "@@tools\n"));
        assert_eq!(no_wg.message, "`wg` not found on the host");
        assert!(no_wg.help.unwrap().contains("`wireguard-tools`"));
        let unreadable = answer(None, None, "")
            .replace("@@dir\nok\n", "@@dir\nunreadable\n")
            .replace("@@user root", "@@user deploy");
        let unreadable = error(&unreadable);
        assert_eq!(
            unreadable.message,
            "`deploy` cannot read /etc/wireguard on this host"
        );
        assert!(unreadable.help.unwrap().contains("become: sudo"));
        let secret = key(4).expose_base64();
        let config = format!("[Interface]\nPrivateKey = {secret}\nAddress = nonsense\n");
        let broken = error(&answer(Some(&config), None, ""));
        assert!(
            broken
                .message
                .starts_with("its wg-quick config cannot be read: "),
            "{}",
            broken.message
        );
        assert!(!broken.message.contains(&secret));
        assert!(broken.help.unwrap().ends_with("then run adopt again"));
        assert_eq!(
            error("@@wgdeploy-adopt 1\n@@user root\n").message,
            "the host's answer to the adopt script is incomplete (the script did not run to the end)"
        );
    }
}
