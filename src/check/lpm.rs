//! Longest-prefix match over a host's AllowedIPs, as WireGuard's allowedips trie answers it: which
//! `[Peer]` a destination goes to, and which peer a source address is accepted from.

use crate::check::EntryIndex;
use crate::check::network::Entry;
use ipnet::IpNet;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

/// Longest-prefix-match tables, one per host: what WireGuard's allowedips trie answers.
pub(super) struct Table {
    /// Per prefix length present, longest first.
    v4: Vec<Level>,
    v6: Vec<Level>,
}

/// All prefixes of one length. Keys are the prefix bits as an integer (`100.64.0.7/32` → the
/// address; `100.64.0.0/24` → its top 24 bits), so allocated overlay addresses are consecutive
/// keys and a level of them fits a plain array: one load per lookup instead of a hash probe into a
/// table that does not fit the cache (relays hold thousands of entries).
struct Level {
    length: u8,
    slots: Slots,
}

enum Slots {
    /// `index[key - first]`, `NONE` where no prefix exists.
    Dense {
        first: u128,
        index: Vec<u32>,
    },
    Sparse(FastMap<u128, EntryIndex>),
}

const NONE: u32 = u32::MAX;

pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<MixHasher>>;

/// A small multiplicative hasher: the keys are prefixes, not attacker-chosen strings.
#[derive(Default)]
pub(super) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, value: u128) {
        let folded = (value as u64) ^ ((value >> 64) as u64).rotate_left(32);
        self.0 = (self.0 ^ folded).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 29;
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The top `length` bits of an address `width` bits wide, as an integer.
fn prefix_key(value: u128, length: u8, width: u8) -> u128 {
    if length == 0 {
        0
    } else {
        value >> (width - length)
    }
}

impl Level {
    fn new(length: u8, prefixes: &FastMap<u128, EntryIndex>) -> Level {
        let (Some(&first), Some(&last)) = (prefixes.keys().min(), prefixes.keys().max()) else {
            return Level {
                length,
                slots: Slots::Sparse(FastMap::default()),
            };
        };
        let span = last - first + 1;
        // Dense when the array would be at most ~4 slots per prefix: then it is smaller than the
        // hash map and every lookup is one load.
        let slots = if span <= 4 * prefixes.len() as u128 + 64 {
            let mut index = vec![NONE; span as usize];
            for (&key, &entry) in prefixes {
                index[(key - first) as usize] = entry as u32;
            }
            Slots::Dense { first, index }
        } else {
            Slots::Sparse(prefixes.clone())
        };
        Level { length, slots }
    }

    fn get(&self, key: u128) -> Option<EntryIndex> {
        match &self.slots {
            Slots::Dense { first, index } => key
                .checked_sub(*first)
                .and_then(|offset| index.get(usize::try_from(offset).ok()?))
                .filter(|&&entry| entry != NONE)
                .map(|&entry| entry as EntryIndex),
            Slots::Sparse(map) => map.get(&key).copied(),
        }
    }
}

impl Table {
    /// Builds the table; a prefix on two entries keeps the last one, as the kernel does, and is
    /// reported through `duplicate`.
    pub(super) fn build(
        entries: &[Entry],
        mut duplicate: impl FnMut(IpNet, EntryIndex, EntryIndex),
    ) -> Table {
        let mut v4: Vec<(u8, FastMap<u128, EntryIndex>)> = Vec::new();
        let mut v6: Vec<(u8, FastMap<u128, EntryIndex>)> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            for net in &entry.allowed {
                let (levels, width) = match net {
                    IpNet::V4(_) => (&mut v4, 32),
                    IpNet::V6(_) => (&mut v6, 128),
                };
                let length = net.prefix_len();
                let level = match levels.iter().position(|(len, _)| *len == length) {
                    Some(position) => &mut levels[position].1,
                    None => {
                        levels.push((length, FastMap::default()));
                        &mut levels.last_mut().expect("just pushed").1
                    }
                };
                if let Some(previous) =
                    level.insert(prefix_key(bits(net.network()), length, width), index)
                    && previous != index
                {
                    duplicate(*net, index, previous);
                }
            }
        }
        let finish = |mut levels: Vec<(u8, FastMap<u128, EntryIndex>)>| -> Vec<Level> {
            levels.sort_by_key(|(length, _)| std::cmp::Reverse(*length));
            levels
                .iter()
                .map(|(length, prefixes)| Level::new(*length, prefixes))
                .collect()
        };
        Table {
            v4: finish(v4),
            v6: finish(v6),
        }
    }

    pub(super) fn lookup(&self, ip: IpAddr) -> Option<EntryIndex> {
        let (levels, width) = match ip {
            IpAddr::V4(_) => (&self.v4, 32),
            IpAddr::V6(_) => (&self.v6, 128),
        };
        let value = bits(ip);
        levels
            .iter()
            .find_map(|level| level.get(prefix_key(value, level.length, width)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(allowed: &[&str]) -> Entry {
        Entry {
            target: None,
            label: String::new(),
            allowed: allowed.iter().map(|net| net.parse().unwrap()).collect(),
            endpoint: None,
            keepalive: None,
        }
    }

    #[test]
    fn longest_prefix_wins_in_dense_and_sparse_levels() {
        // Entry 0: the overlay catch-all; 1: a dense run of /32s; 2: a far-away /32 and a route,
        // which make the /32 and /24 levels sparse.
        let dense: Vec<String> = (1..=200)
            .map(|host| format!("100.64.0.{host}/32"))
            .collect();
        let dense: Vec<&str> = dense.iter().map(String::as_str).collect();
        let entries = [
            entry(&["100.64.0.0/16", "fd00::/64"]),
            entry(&dense),
            entry(&["100.64.200.9/32", "198.18.7.0/24", "fd00::9/128"]),
        ];
        let table = Table::build(&entries, |_, _, _| panic!("no duplicates here"));
        let lookup = |ip: &str| table.lookup(ip.parse().unwrap());
        assert_eq!(lookup("100.64.0.7"), Some(1));
        assert_eq!(lookup("100.64.0.201"), Some(0), "falls back to the /16");
        assert_eq!(lookup("100.64.200.9"), Some(2));
        assert_eq!(lookup("198.18.7.77"), Some(2));
        assert_eq!(lookup("198.18.8.1"), None);
        assert_eq!(lookup("fd00::9"), Some(2));
        assert_eq!(lookup("fd00::8"), Some(0));
        assert_eq!(lookup("fd01::1"), None);
        assert!(
            matches!(table.v4[0].slots, Slots::Sparse(_)),
            "the /32 level spans too far to be dense"
        );
        let only_dense = Table::build(&entries[..2], |_, _, _| {});
        assert!(matches!(only_dense.v4[0].slots, Slots::Dense { .. }));
        assert_eq!(only_dense.lookup("100.64.0.200".parse().unwrap()), Some(1));
    }

    #[test]
    fn a_duplicate_prefix_keeps_the_last_entry() {
        let entries = [entry(&["100.64.0.2/32"]), entry(&["100.64.0.2/32"])];
        let mut seen = Vec::new();
        let table = Table::build(&entries, |net, winner, loser| {
            seen.push((net.to_string(), winner, loser))
        });
        assert_eq!(seen, vec![("100.64.0.2/32".to_owned(), 1, 0)]);
        assert_eq!(table.lookup("100.64.0.2".parse().unwrap()), Some(1));
    }
}
