//! Wall-clock time, one type for it: [`Timestamp`], a UTC instant to the millisecond. Records, views
//! and chat write it as RFC 3339 with exactly three fraction digits, so its text sorts as the time
//! does (DynamoDB sort keys are built from it). Where a store or a standard wants a number — a
//! DynamoDB TTL or a compared attribute, a JWT's `exp`, a signature's timestamp — it is converted
//! at that edge ([`unix_secs`] for serde).

use std::{
    fmt,
    ops::{Add, Sub},
    str::FromStr,
    time::Duration,
};

use serde::{Deserialize, Deserializer, Serializer};
use serde_with::{DeserializeFromStr, SerializeDisplay};
use time::{
    OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339, macros::format_description,
};
use utoipa::ToSchema;

/// A UTC instant to the millisecond, in the years 0–9999, written as RFC 3339 with three
/// fraction digits.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    SerializeDisplay,
    DeserializeFromStr,
    ToSchema,
)]
#[schema(value_type = String, format = DateTime, example = "2026-12-06T12:42:20.123Z")]
pub struct Timestamp(i64);

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in Unix milliseconds.
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

impl Timestamp {
    pub fn now() -> Self {
        Self::from_unix_ms(
            OffsetDateTime::now_utc()
                .unix_timestamp_nanos()
                .div_euclid(1_000_000) as i64,
        )
    }

    /// Clamped to the years 0–9999.
    pub fn from_unix_ms(ms: i64) -> Self {
        Self(ms.clamp(MIN_MS, MAX_MS))
    }

    pub fn from_unix_secs(secs: i64) -> Self {
        Self::from_unix_ms(secs.saturating_mul(1000))
    }

    pub fn unix_ms(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded down.
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// How long after `earlier` this is (zero when it is not after).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    fn datetime(self) -> OffsetDateTime {
        // In range by construction.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Self::from_unix_ms(self.0.saturating_add(millis(d)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Self::from_unix_ms(self.0.saturating_sub(millis(d)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let text = self.datetime().format(&format).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.to_string()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// RFC 3339 at any precision and offset; finer than a millisecond is dropped.
impl FromStr for Timestamp {
    type Err = time::error::Parse;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = OffsetDateTime::parse(s, &Rfc3339)?.to_offset(UtcOffset::UTC);
        Ok(Self::from_unix_ms(
            t.unix_timestamp_nanos().div_euclid(1_000_000) as i64,
        ))
    }
}

/// Serde for a [`Timestamp`] stored as Unix seconds (a DynamoDB TTL, or a number a condition
/// compares): `#[serde(with = "crate::clock::unix_secs")]`.
pub mod unix_secs {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.unix_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_unix_secs)
    }

    /// The same for an optional one (absent stays absent).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&t.unix_secs()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            Option::<i64>::deserialize(d).map(|o| o.map(Timestamp::from_unix_secs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_three_fraction_digits_and_sorts_as_time() {
        let t = Timestamp::from_unix_ms(1_765_024_940_120);
        assert_eq!(t.to_string(), "2025-12-06T12:42:20.120Z");
        assert_eq!(
            Timestamp::from_unix_secs(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        // Same second, different fractions, and across a second: text order is time order.
        let times = [0, 5, 120, 999, 1000, 1001, 61_000].map(|ms| t + Duration::from_millis(ms));
        let texts: Vec<String> = times.iter().map(Timestamp::to_string).collect();
        assert!(texts.is_sorted(), "{texts:?}");
    }

    #[test]
    fn parses_any_rfc3339_and_round_trips() {
        let t: Timestamp = "2026-12-06T21:42:20.123456789+09:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-06T12:42:20.123Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        // Before 1970 too, the fraction is dropped downwards.
        let early: Timestamp = "1969-12-31T23:59:59.9999Z".parse().unwrap();
        assert_eq!(early.unix_ms(), -1);
        assert_eq!(
            "2026-12-06T12:42:20Z"
                .parse::<Timestamp>()
                .unwrap()
                .unix_ms()
                % 1000,
            0
        );
        for bad in ["", "2026-12-06", "1732590000", "2026-13-01T00:00:00Z"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn representations_agree() {
        let t = Timestamp::now();
        assert_eq!(t.unix_secs(), t.unix_ms().div_euclid(1000));
        let wall = OffsetDateTime::now_utc().unix_timestamp();
        assert!((t.unix_secs() - wall).abs() <= 1);
        assert_eq!(Timestamp::from_unix_ms(-1).unix_secs(), -1);
        assert_eq!(
            (t + Duration::from_secs(90)).since(t),
            Duration::from_secs(90)
        );
        assert_eq!(t.since(t + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(
            Timestamp::from_unix_ms(i64::MAX).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn unix_seconds_for_stores() {
        #[derive(serde::Serialize, Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(with = "unix_secs")]
            exp: Timestamp,
            #[serde(
                with = "unix_secs::option",
                default,
                skip_serializing_if = "Option::is_none"
            )]
            used: Option<Timestamp>,
        }
        let row = Row {
            exp: Timestamp::from_unix_secs(1_765_024_940),
            used: None,
        };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"exp":1765024940}"#);
        assert_eq!(serde_json::from_str::<Row>(&json).unwrap(), row);
        let used: Row = serde_json::from_str(r#"{"exp":1,"used":2}"#).unwrap();
        assert_eq!(used.used, Some(Timestamp::from_unix_secs(2)));
    }
}
