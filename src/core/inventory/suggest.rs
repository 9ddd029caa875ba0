//! "did you mean": close matches for a misspelt name, and nothing for a name that is merely
//! different (`dns` is not a typo of `ssh`).

/// The name in `names` closest to `wrong`, if it is close enough to be a typo of it: one edit
/// (a changed, missing, extra or swapped character) for names of up to four characters, two for
/// longer ones.
pub(super) fn closest<'n>(wrong: &str, names: &[&'n str]) -> Option<&'n str> {
    let length = wrong.chars().count();
    let allowed = if length <= 4 { 1 } else { 2 };
    names
        .iter()
        .map(|name| (edit_distance(wrong, name), *name))
        .filter(|(distance, name)| *distance <= allowed && *distance < name.chars().count())
        .min()
        .map(|(_, name)| name)
}

/// "did you mean" for a misspelt name, or the list of valid names.
pub(super) fn suggest(wrong: &str, names: &[&str], kind: &str) -> String {
    match closest(wrong, names) {
        Some(name) => format!("did you mean `{name}`?"),
        None if names.is_empty() => format!("this inventory has no {kind}"),
        None => {
            let mut sorted = names.to_vec();
            sorted.sort_unstable();
            sorted.truncate(10);
            format!("name a {kind} of this inventory: {}", sorted.join(", "))
        }
    }
}

/// Edits between two names, a swap of neighbouring characters counting as one (optimal string
/// alignment): `endpiont` is one edit from `endpoint`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: the one before the previous is needed for swaps.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (previous[j - 1] + cost)
                .min(previous[j] + 1)
                .min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut row);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("relay1", "relay1"), 0);
        assert_eq!(edit_distance("rely1", "relay1"), 1);
        assert_eq!(edit_distance("endpiont", "endpoint"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("abc", "xyz"), 3);
        assert_eq!(edit_distance("dns", "ssh"), 3);
    }

    #[test]
    fn only_close_names_are_suggested() {
        let network = [
            "interface",
            "addresses",
            "port",
            "keepalive",
            "mtu",
            "preshared_keys",
        ];
        assert_eq!(closest("dns", &network), None);
        assert_eq!(closest("prot", &network), Some("port"));
        assert_eq!(closest("adresses", &network), Some("addresses"));
        assert_eq!(closest("keepalve", &network), Some("keepalive"));
        let host = [
            "endpoint",
            "relay",
            "address",
            "via",
            "routes",
            "listen_port",
            "ssh",
        ];
        assert_eq!(closest("dns", &host), None);
        assert_eq!(closest("mtu", &host), None);
        assert_eq!(closest("endpiont", &host), Some("endpoint"));
        assert_eq!(closest("rely1", &["relay1", "web"]), Some("relay1"));
        assert_eq!(closest("x", &["y"]), None);
    }
}
