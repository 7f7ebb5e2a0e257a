//! Wall-clock time as the stores and the protocol write it: one place for every representation
//! (Unix seconds for TTLs and heartbeats, Unix milliseconds for caches, RFC 3339 for records and
//! chat timestamps).

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Unix seconds now.
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 now, at full precision.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// RFC 3339 now, to the millisecond (chat timestamps).
pub fn now_rfc3339_ms() -> String {
    let now = OffsetDateTime::now_utc();
    rfc3339(
        now.replace_nanosecond(u32::from(now.millisecond()) * 1_000_000)
            .unwrap_or(now),
    )
}

fn rfc3339(t: OffsetDateTime) -> String {
    // RFC 3339 formatting fails only for years outside 0..=9999.
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representations_agree() {
        let (s, ms) = (now_secs(), now_ms());
        assert!((ms / 1000 - s).abs() <= 1);
        let t = OffsetDateTime::parse(&now_rfc3339_ms(), &Rfc3339).unwrap();
        assert_eq!(t.nanosecond() % 1_000_000, 0);
        assert!((t.unix_timestamp() - s).abs() <= 1);
        assert!(OffsetDateTime::parse(&now_rfc3339(), &Rfc3339).is_ok());
    }
}
