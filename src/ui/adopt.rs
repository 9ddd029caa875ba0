//! What `wgdeploy adopt` prints: per host what is kept, what is not and why, unknown peers.

use crate::core::adopt::Adoption;
use crate::core::model::Inventory;
use crate::engine::types::HostError;

/// The human report: per host what is kept, what is not and why, unknown peers; then a summary.
pub fn report(
    adoption: &Adoption,
    absent: &[String],
    failed: &[(String, HostError)],
    inventory: &Inventory,
    state_path: &std::path::Path,
    inventory_path: &std::path::Path,
) -> String {
    let interface = inventory.network.interface.as_str();
    let mut text = String::new();
    let (mut lost, mut unknown) = (0, 0);
    for host in &adoption.hosts {
        text.push_str(&format!("{}: adopted `{interface}`\n", host.name));
        for kept in &host.kept {
            text.push_str(&format!("  kept: {kept}\n"));
        }
        for item in &host.lost {
            lost += 1;
            text.push_str(&format!("  not kept: {}: {}\n", item.what, item.why));
            if let Some(fix) = &item.fix {
                text.push_str(&format!("    {fix}\n"));
            }
        }
        for note in &host.notes {
            text.push_str(&format!("  note: {note}\n"));
        }
        for peer in &host.unknown_peers {
            unknown += 1;
            text.push_str(&format!(
                "  not in the inventory: {peer}: it will be dropped unless the inventory lists it\n"
            ));
        }
    }
    for name in absent {
        text.push_str(&format!(
            "{name}: nothing to adopt (no `{interface}` config and no running `{interface}`); it gets a new key\n"
        ));
    }
    for (name, error) in failed {
        text.push_str(&format!("{name}: not adopted: {}\n", error.message));
    }
    let adopted = adoption
        .hosts
        .iter()
        .filter(|host| host.key.is_some())
        .count();
    text.push_str(&format!(
        "\nAdopted {adopted} host(s), {} without WireGuard, {} failed; {lost} thing(s) cannot be kept, {unknown} peer(s) not in the inventory.\n",
        absent.len(),
        failed.len()
    ));
    let unread: Vec<&str> = inventory
        .hosts
        .iter()
        .map(|host| host.name.as_str())
        .filter(|name| {
            !adoption.hosts.iter().any(|host| host.name == *name)
                && !absent.iter().any(|host| host == name)
        })
        .collect();
    if unknown > 0 && !unread.is_empty() {
        text.push_str(&format!(
            "Not read in this run: {}. Peers are matched to them by the keys the state holds; if they already run WireGuard, adopt them too, then adopt the hosts that list them again.\n",
            unread.join(", ")
        ));
    }
    if adopted > 0 {
        text.push_str(&format!(
            "Saved to {}. Nothing was changed on the hosts; next: `wgdeploy plan {}`.\n",
            state_path.display(),
            inventory_path.display()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::adopt::{HostAdoption, Lost};
    use crate::core::keys::{PresharedKey, PrivateKey};
    use std::path::Path;

    /// Kept, not kept with its fix, unknown peers and who was not read; never a key.
    #[test]
    fn says_what_is_kept_and_what_is_not_and_never_a_key() {
        let yaml = "network: { addresses: [100.64.0.0/24], preshared_keys: true }\nhosts:\n  relay1: { endpoint: 198.51.100.1, relay: true }\n  web1: { endpoint: 198.51.100.2 }\n  home: { via: relay1 }\n";
        let inventory = crate::core::inventory::parse(Path::new("t.yaml"), yaml).unwrap();
        let key = PrivateKey::from_bytes([1; 32]);
        let psk =
            PresharedKey::from_base64(&PrivateKey::from_bytes([2; 32]).expose_base64()).unwrap();
        let adoption = Adoption {
            hosts: vec![HostAdoption {
                name: "relay1".into(),
                key: Some(crate::core::keys::OwnKey::Private(key.clone())),
                addresses: vec!["100.64.0.50".parse().unwrap()],
                kept: vec!["address 100.64.0.50".into()],
                lost: vec![Lost {
                    what: "listen port 51999".into(),
                    why: "the inventory gives `relay1` port 51820".into(),
                    fix: Some(
                        "to keep it, add `listen_port: 51999` under `relay1:` in the inventory"
                            .into(),
                    ),
                }],
                notes: Vec::new(),
                unknown_peers: vec!["peer STRANGER= (AllowedIPs 100.64.0.99/32)".into()],
            }],
            preshared: vec![("relay1".into(), "home".into(), psk.clone())],
        };
        let text = report(
            &adoption,
            &["web1".into()],
            &[],
            &inventory,
            Path::new("s.json"),
            Path::new("i.yaml"),
        );
        assert!(
            text.starts_with("relay1: adopted `wg0`\n  kept: address 100.64.0.50\n  not kept: listen port 51999: the inventory gives `relay1` port 51820\n    to keep it, add `listen_port: 51999` under `relay1:` in the inventory\n  not in the inventory: peer STRANGER= (AllowedIPs 100.64.0.99/32): it will be dropped unless the inventory lists it\nweb1: nothing to adopt"),
            "{text}"
        );
        assert!(
            text.contains("\nAdopted 1 host(s), 1 without WireGuard, 0 failed; 1 thing(s) cannot be kept, 1 peer(s) not in the inventory.\n"),
            "{text}"
        );
        assert!(text.contains("Not read in this run: home."), "{text}");
        assert!(text.contains("Saved to s.json."), "{text}");
        assert!(!text.contains(&key.expose_base64()) && !text.contains(&psk.expose_base64()));
    }
}
