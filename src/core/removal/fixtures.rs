//! Test fixtures of decommissioning, shared by the tests of `core::removal`, `remote` (the scripts
//! run for real) and `engine::removal` (whole runs over a fake transport).

use crate::core::keys::PrivateKey;
use crate::core::model::InterfaceName;

pub fn wg0() -> InterfaceName {
    InterfaceName::parse("wg0").unwrap()
}

/// A forwarding host's config on wg0 that runs `key`, with FORWARD hooks and one peer.
pub fn config(key: &PrivateKey) -> String {
    format!(
        "[Interface]\nPrivateKey = {}\nAddress = 100.64.0.5/24\nListenPort = 51820\nPostUp = sysctl -q -w net.ipv4.ip_forward=1\nPostUp = iptables -C FORWARD -i wg0 -o wg0 -j ACCEPT 2>/dev/null || iptables -I FORWARD -i wg0 -o wg0 -j ACCEPT\nPostDown = iptables -D FORWARD -i wg0 -o wg0 -j ACCEPT 2>/dev/null || true\n\n[Peer]\n# Name = relay1\nPublicKey = {}\nAllowedIPs = 100.64.0.1/32\n",
        key.expose_base64(),
        PrivateKey::from_bytes([9; 32]).public_key().to_base64()
    )
}

/// wgdeploy's sysctl.d file of a forwarding host.
pub const SYSCTL_FILE: &str = "# Written by wgdeploy: wg0 forwards packets between WireGuard peers.\nnet.ipv4.ip_forward = 1\n";

/// The public key of `PrivateKey::from_bytes([byte; 32])`.
pub fn public(byte: u8) -> String {
    PrivateKey::from_bytes([byte; 32]).public_key().to_base64()
}

/// The facts script's answer for a removed host: its config and sysctl.d file (or none), whether
/// its link is up, generation 2 recorded, IPv4 forwarding on.
pub fn facts_output(config: Option<&str>, sysctl_file: Option<&str>, link: bool) -> String {
    let frame = |name: &str, text: Option<&str>| match text {
        Some(text) => format!("@@{name} {}\n{text}\n", text.len()),
        None => format!("@@{name} absent\n"),
    };
    format!(
        "@@wgdeploy-facts 1\n@@user root\n@@os\nDebian\n@@tools\nwg\nwg-quick\nflock\n@@systemd\n@@dir\nok\n@@stamp 1 2 3\n{}{}@@now 100\n@@armed \n@@reverted \n@@generations\ngeneration=2\ndeployment=20261130-220000-aaaa\nkind=apply\n@@sysctl\nnet.ipv4.ip_forward=1\n@@link\n{}@@dump\n@@end\n",
        frame("config", config),
        frame("sysctl-file", sysctl_file),
        if link { "present\n" } else { "" }
    )
}
