//! Fixed-window rate limits in Redis, shared by every instance of every function.

use std::{fmt, str::FromStr, time::Duration};

use crate::{error::ApiError, stores::redis::Redis};

/// `max` events per `window`; written `max/seconds` in configuration (e.g. `10/900`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window: Duration,
}

impl Limit {
    pub const fn new(max: u64, window_secs: u64) -> Self {
        Self {
            max,
            window: Duration::from_secs(window_secs),
        }
    }
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (max, secs) = s
            .split_once('/')
            .ok_or("expected <max>/<seconds>, e.g. 10/900")?;
        let max: u64 = max.trim().parse().map_err(|e| format!("max: {e}"))?;
        let secs: u64 = secs.trim().parse().map_err(|e| format!("seconds: {e}"))?;
        if max == 0 || secs == 0 {
            return Err("max and seconds must be positive".into());
        }
        Ok(Self::new(max, secs))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.max, self.window.as_secs())
    }
}

/// Counts one event; `Err(429)` with `Retry-After` once `limit.max` is exceeded in the window.
pub async fn hit(redis: &Redis, key: &str, limit: Limit) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    let (count, ttl): (u64, i64) = redis::pipe()
        .atomic()
        .incr(key, 1)
        .cmd("EXPIRE")
        .arg(key)
        .arg(limit.window.as_secs())
        .arg("NX")
        .ignore()
        .ttl(key)
        .query_async(&mut conn)
        .await?;
    if count > limit.max {
        return Err(ApiError::rate_limited(ttl.max(1) as u64));
    }
    Ok(())
}

/// `Err(429)` if `key` has already reached `limit.max` in its window (without counting).
pub async fn check(redis: &Redis, key: &str, limit: Limit) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    let (count, ttl): (Option<u64>, i64) = redis::pipe()
        .get(key)
        .ttl(key)
        .query_async(&mut conn)
        .await?;
    if count.unwrap_or(0) >= limit.max {
        return Err(ApiError::rate_limited(ttl.max(1) as u64));
    }
    Ok(())
}

/// Counts one event without judging it (e.g. a failed login).
pub async fn record(redis: &Redis, key: &str, limit: Limit) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    redis::pipe()
        .atomic()
        .incr(key, 1)
        .ignore()
        .cmd("EXPIRE")
        .arg(key)
        .arg(limit.window.as_secs())
        .arg("NX")
        .ignore()
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// Forgets the events of `key`.
pub async fn clear(redis: &Redis, key: &str) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    redis::cmd("DEL")
        .arg(key)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!("10/900".parse::<Limit>().unwrap(), Limit::new(10, 900));
        assert!("10".parse::<Limit>().is_err());
        assert!("0/5".parse::<Limit>().is_err());
        assert!("a/5".parse::<Limit>().is_err());
        assert_eq!(Limit::new(3, 60).to_string(), "3/60");
    }
}
