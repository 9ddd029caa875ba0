//! Hosts named on the command line (`--hosts A,B`), checked against the inventory: a name it does
//! not have is an error with the closest names, never silently nothing.

use crate::core::error::{Diagnostic, Error, Result};
use crate::core::model::{HostId, Inventory, printable};

/// How many close names a "did you mean" offers.
const CLOSE_SHOWN: usize = 3;
/// How many names to list when none is close.
const LISTED: usize = 10;

/// The hosts `names` gives through `option`, in inventory order, each once. Every unknown name is
/// reported at once, each with the inventory's closest names.
pub fn select(inventory: &Inventory, names: &[String], option: &str) -> Result<Vec<HostId>> {
    let mut ids = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for name in names {
        match inventory.host_id(name) {
            Some(id) => ids.push(id),
            None => unknown.push(unknown_host(inventory, name, option)),
        }
    }
    if let Some(error) = Error::from_all(unknown) {
        return Err(error);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// "`--hosts` names `x`, which is not in the inventory", with the closest names as help.
pub fn unknown_host(inventory: &Inventory, name: &str, option: &str) -> Diagnostic {
    let names: Vec<&str> = inventory.hosts.iter().map(|h| h.name.as_str()).collect();
    Diagnostic::new(format!(
        "`{option}` names `{}`, which is not in the inventory",
        printable(name)
    ))
    .help(close_names(name, &names))
}

/// "did you mean `a` or `b`?" when some names are a typo away; else the first names, sorted.
fn close_names(wrong: &str, names: &[&str]) -> String {
    // A typo is an edit or two, fewer in short names: `a` is not a typo of `b`.
    let limit = (wrong.chars().count() / 3).clamp(1, 2);
    let mut close: Vec<(usize, &str)> = names
        .iter()
        .map(|name| (crate::core::inventory::edit_distance(wrong, name), *name))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    close.sort_unstable();
    // Only the nearest: `nat0005` means `nat005`, not also `nat001` two edits away.
    let nearest = close.first().map_or(0, |(distance, _)| *distance);
    close.retain(|(distance, _)| *distance == nearest);
    close.truncate(CLOSE_SHOWN);
    let quoted = |list: &[&str]| -> Vec<String> { list.iter().map(|n| format!("`{n}`")).collect() };
    if !close.is_empty() {
        let names: Vec<&str> = close.iter().map(|(_, name)| *name).collect();
        return format!("did you mean {}?", quoted(&names).join(" or "));
    }
    if names.is_empty() {
        return "the inventory has no hosts".into();
    }
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let more = sorted.len().saturating_sub(LISTED);
    sorted.truncate(LISTED);
    let listed = quoted(&sorted).join(", ");
    if more > 0 {
        format!(
            "hosts are: {listed} and {more} more (`wgdeploy plan --offline --summary INVENTORY` lists them)"
        )
    } else {
        format!("hosts are: {listed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_closest_names_only() {
        let names = ["nat005", "nat006", "relay1", "web"];
        assert_eq!(close_names("nat0005", &names), "did you mean `nat005`?");
        assert_eq!(
            close_names("nat00", &names),
            "did you mean `nat005` or `nat006`?"
        );
        // One letter is not a typo of another one-letter-away name of a different host.
        assert_eq!(
            close_names("db", &["dns", "web"]),
            "hosts are: `dns`, `web`"
        );
    }

    #[test]
    fn without_a_close_name_a_large_fleet_is_cut() {
        let owned: Vec<String> = (0..30).map(|i| format!("host{i:02}")).collect();
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let help = close_names("zzzzzzzz", &names);
        assert!(help.starts_with("hosts are: `host00`, `host01`"), "{help}");
        assert!(help.contains("and 20 more"), "{help}");
        assert!(!help.contains("host29"), "{help}");
    }
}
