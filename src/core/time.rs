//! UTC times as text, from Unix seconds (no clock is read here): the one place dates and clock
//! times are formatted.

/// `2026-11-25T10:15:00Z` for Unix seconds (journal entries).
pub fn iso_utc(unix: u64) -> String {
    let (date, time) = civil(unix);
    format!("{date}T{time}Z")
}

/// `HH:MM:SS UTC` of a Unix time (a host's clock), for reports.
pub fn utc_time(unix: u64) -> String {
    let (_, time) = civil(unix);
    format!("{time} UTC")
}

/// (`YYYY-MM-DD`, `HH:MM:SS`) in UTC, by the days-from-civil inverse (proleptic Gregorian).
pub fn civil(unix: u64) -> (String, String) {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_gregorian_calendar() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(1_795_601_700), "2026-11-25T10:15:00Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn utc_times_read_like_clocks() {
        assert_eq!(utc_time(1_700_000_000), "22:13:20 UTC");
        assert_eq!(utc_time(0), "00:00:00 UTC");
    }
}
