//! "did you mean": close matches for a misspelt name.

/// "did you mean" for a misspelt name, or the list of valid names.
pub(super) fn suggest(wrong: &str, names: &[&str], kind: &str) -> String {
    let closest = names
        .iter()
        .map(|name| (edit_distance(wrong, name), *name))
        .filter(|(distance, _)| *distance <= 2)
        .min();
    match closest {
        Some((_, name)) => format!("did you mean `{name}`?"),
        None if names.is_empty() => format!("this inventory has no {kind}"),
        None => {
            let mut sorted = names.to_vec();
            sorted.sort_unstable();
            sorted.truncate(10);
            format!("name a {kind} of this inventory: {}", sorted.join(", "))
        }
    }
}

pub(in crate::core::inventory) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("relay1", "relay1"), 0);
        assert_eq!(edit_distance("rely1", "relay1"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }
}
