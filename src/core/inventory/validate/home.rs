//! The default home relay of a NAT-ed host.

use crate::core::model::{Home, HomeChoice, Host, HostId};

/// Rendezvous (highest random weight) hashing: each NAT-ed host picks the relay with the highest
/// hash of (host, relay). Stable across runs and Rust versions (FNV-1a, not std's hasher), spreads
/// hosts evenly, and adding a relay moves only the hosts that now prefer it.
pub(super) fn default_home(hosts: &[Host], host: HostId, relays: &[HostId]) -> Home {
    if let [only] = relays {
        return Home {
            relay: *only,
            choice: HomeChoice::Only,
        };
    }
    let relay = relays
        .iter()
        .copied()
        .max_by_key(|&relay| {
            (
                fnv1a(&[hosts[host].name.as_str(), hosts[relay].name.as_str()]),
                std::cmp::Reverse(relay),
            )
        })
        .expect("relays is not empty");
    Home {
        relay,
        choice: HomeChoice::Hashed,
    }
}

pub(super) fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_stable() {
        // Fixed values: a change here would re-home NAT-ed hosts on upgrade.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        // Fixed values (computed independently): home relays must not move between versions.
        assert_eq!(fnv1a(&["a"]), 0x089b_e207_b544_f1e4);
        assert_eq!(fnv1a(&["home", "relay1"]), 0x8a9e_4a08_2629_a4ba);
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
    }
}
