//! What `wgdeploy adopt` prints: per host what is kept, what is not and why, unknown peers.

use crate::core::model::Inventory;
use crate::engine::adopt::Adoption;
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
