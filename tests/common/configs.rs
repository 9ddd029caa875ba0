//! Hand-written config sets for `check`'s tests: a few hosts, each with an overlay address, a
//! public endpoint or none, PostUp commands and its peers, written out as wg-quick configs.

use wgdeploy::check::ConfigSet;
use wgdeploy::core::keys::PrivateKey;

/// One host of a set. An endpoint makes it public (it listens on 51820).
pub struct Host {
    pub name: &'static str,
    pub address: &'static str,
    pub endpoint: Option<&'static str>,
    pub post_up: Vec<&'static str>,
    pub peers: Vec<Peer>,
}

/// One `[Peer]` entry: whom, its AllowedIPs, whether this host dials it (`Endpoint`) and keeps
/// the tunnel alive (`PersistentKeepalive`).
pub struct Peer {
    pub name: &'static str,
    pub allowed: &'static str,
    pub endpoint: bool,
    pub keepalive: bool,
}

pub fn peer(name: &'static str, allowed: &'static str, endpoint: bool, keepalive: bool) -> Peer {
    Peer {
        name,
        allowed,
        endpoint,
        keepalive,
    }
}

fn public_key(name: &str) -> String {
    PrivateKey::from_base64(&super::fixed_key(name))
        .unwrap()
        .public_key()
        .to_base64()
}

/// `host`'s wg-quick config; `hosts` gives the endpoints of the peers it dials.
pub fn config(host: &Host, hosts: &[Host]) -> String {
    let mut text = format!(
        "[Interface]\nAddress = {}/24\nPrivateKey = {}\n",
        host.address,
        super::fixed_key(host.name)
    );
    if host.endpoint.is_some() {
        text.push_str("ListenPort = 51820\n");
    }
    for command in &host.post_up {
        text.push_str(&format!("PostUp = {command}\n"));
    }
    for peer in &host.peers {
        text.push_str(&format!(
            "\n[Peer]\nPublicKey = {}\nAllowedIPs = {}\n",
            public_key(peer.name),
            peer.allowed
        ));
        if peer.endpoint {
            let target = hosts.iter().find(|other| other.name == peer.name).unwrap();
            text.push_str(&format!(
                "Endpoint = {}\n",
                target.endpoint.expect("a dialled host has an endpoint")
            ));
        }
        if peer.keepalive {
            text.push_str("PersistentKeepalive = 25\n");
        }
    }
    text
}

/// Every host's config, parsed as `check` reads a directory of them.
pub fn sets(hosts: &[Host]) -> Vec<ConfigSet> {
    hosts
        .iter()
        .map(|host| ConfigSet {
            name: host.name.into(),
            config: wgdeploy::core::wgconf::parse(
                std::path::Path::new(host.name),
                &config(host, hosts),
            )
            .unwrap(),
        })
        .collect()
}
