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

/// `a/b` of two whole numbers, named in errors as `names`; `form` shows the expected shape.
fn number_pair(s: &str, names: [&str; 2], form: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| format!("expected {form}"))?;
    let num = |v: &str, name: &str| v.trim().parse::<u64>().map_err(|e| format!("{name}: {e}"));
    Ok((num(a, names[0])?, num(b, names[1])?))
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (max, secs) = number_pair(s, ["max", "seconds"], "<max>/<seconds>, e.g. 10/900")?;
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

/// Exponential backoff after failures: the first `free` failures cost nothing, then each one
/// makes the key wait 1, 2, 4, … seconds, at most `cap`; written `free/cap-seconds` (`5/900`).
/// Failures are remembered for [`Backoff::MEMORY`] after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free: u64,
    pub cap: Duration,
}

impl Backoff {
    pub const MEMORY: Duration = Duration::from_secs(3600);

    pub const fn new(free: u64, cap_secs: u64) -> Self {
        Self {
            free,
            cap: Duration::from_secs(cap_secs),
        }
    }

    /// How long the `failures`-th failure makes the key wait.
    pub fn wait(&self, failures: u64) -> Option<Duration> {
        let over = failures.checked_sub(self.free)?.checked_sub(1)?;
        let secs = 1u64.checked_shl(over.min(63) as u32).unwrap_or(u64::MAX);
        Some(Duration::from_secs(secs).min(self.cap))
    }
}

impl FromStr for Backoff {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = "<free failures>/<longest wait seconds>, e.g. 5/900";
        let (free, cap) = number_pair(s, ["free", "seconds"], form)?;
        if cap == 0 {
            return Err("the longest wait must be positive".into());
        }
        Ok(Self::new(free, cap))
    }
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.free, self.cap.as_secs())
    }
}

fn wait_key(key: &str) -> String {
    format!("{key}:wait")
}

/// `Err(429)` with `Retry-After` while `key` waits out its backoff.
pub async fn backoff_check(redis: &Redis, key: &str) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    let ms: i64 = redis::cmd("PTTL")
        .arg(wait_key(key))
        .query_async(&mut conn)
        .await?;
    if ms > 0 {
        return Err(ApiError::rate_limited((ms as u64).div_ceil(1000)));
    }
    Ok(())
}

/// Counts one failure of `key` and starts its wait once past the free ones.
pub async fn backoff_fail(redis: &Redis, key: &str, backoff: Backoff) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    let (failures,): (u64,) = redis::pipe()
        .atomic()
        .incr(key, 1)
        .expire(key, Backoff::MEMORY.as_secs() as i64)
        .ignore()
        .query_async(&mut conn)
        .await?;
    if let Some(wait) = backoff.wait(failures) {
        redis::cmd("SET")
            .arg(wait_key(key))
            .arg(1)
            .arg("PX")
            .arg(wait.as_millis() as u64)
            .query_async::<()>(&mut conn)
            .await?;
    }
    Ok(())
}

/// Forgets `key`'s failures and its wait.
pub async fn backoff_clear(redis: &Redis, key: &str) -> Result<(), ApiError> {
    let mut conn = redis.conn().await?;
    redis::cmd("DEL")
        .arg(key)
        .arg(wait_key(key))
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_up_to_its_cap() {
        let b: Backoff = "3/10".parse().unwrap();
        let waits: Vec<Option<u64>> = (1..=9).map(|n| b.wait(n).map(|d| d.as_secs())).collect();
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(10),
                Some(10)
            ]
        );
        assert_eq!(b.wait(u64::MAX), Some(Duration::from_secs(10)));
        assert_eq!(Backoff::new(0, 5).wait(1), Some(Duration::from_secs(1)));
        assert!("3".parse::<Backoff>().is_err() && "3/0".parse::<Backoff>().is_err());
        assert_eq!(b.to_string(), "3/10");
    }

    #[test]
    fn parses_limits() {
        assert_eq!("10/900".parse::<Limit>().unwrap(), Limit::new(10, 900));
        assert!("10".parse::<Limit>().is_err());
        assert!("0/5".parse::<Limit>().is_err());
        assert!("a/5".parse::<Limit>().is_err());
        assert_eq!(Limit::new(3, 60).to_string(), "3/60");
    }
}
