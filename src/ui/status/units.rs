//! The words and units `status` writes: ages, byte counts, spans of time, counted nouns, and peers
//! by inventory name or shortened key.

use crate::core::model::printable;
use std::collections::HashMap;

/// Seconds as a short age: `12s`, `4m 3s`, `2h 5m`, `3d 4h` (zero parts left out: `5m`).
pub(crate) fn format_age(secs: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let (big, big_unit, small, small_unit) = if secs < MINUTE {
        return format!("{secs}s");
    } else if secs < HOUR {
        (secs / MINUTE, "m", secs % MINUTE, "s")
    } else if secs < DAY {
        (secs / HOUR, "h", secs % HOUR / MINUTE, "m")
    } else {
        (secs / DAY, "d", secs % DAY / HOUR, "h")
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

/// A span in words for sentences: `3 min`, `1 h`, `90 s`.
pub(super) fn span_words(secs: u64) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// How long ago a handshake was, or `never` (0 in the dump).
pub(super) fn handshake_age(latest_handshake: u64, now: u64) -> String {
    if latest_handshake == 0 {
        "never".to_owned()
    } else {
        format!("{} ago", format_age(now.saturating_sub(latest_handshake)))
    }
}

/// Bytes in binary units with one decimal: `512 B`, `1.2 KiB`, `3.0 MiB`.
pub(super) fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.96 KiB would print as `1024.0 KiB`: step up a unit before rounding gets there.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A public key as status shows a peer it cannot name: its first 8 characters.
pub(super) fn short_key(key: &str) -> String {
    printable(&crate::core::keys::short_key(key))
}

/// A peer's inventory name from its public key, else its shortened key.
pub(super) fn peer_label(key: &str, names: &HashMap<String, String>) -> String {
    names.get(key).cloned().unwrap_or_else(|| short_key(key))
}

pub(super) fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::status::fixtures::NOW;

    #[test]
    fn ages_read_like_a_person_says_them() {
        assert_eq!(format_age(0), "0s");
        assert_eq!(format_age(12), "12s");
        assert_eq!(format_age(243), "4m 3s");
        assert_eq!(format_age(300), "5m");
        assert_eq!(format_age(7500), "2h 5m");
        assert_eq!(format_age(3 * 86400 + 4 * 3600 + 59), "3d 4h");
        assert_eq!(format_age(u64::MAX).chars().last(), Some('h'));
        assert_eq!(handshake_age(0, NOW), "never");
        assert_eq!(handshake_age(NOW - 12, NOW), "12s ago");
        // A handshake ahead of the host's clock is not an underflow.
        assert_eq!(handshake_age(NOW + 5, NOW), "0s ago");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1229), "1.2 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(format_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }
}
