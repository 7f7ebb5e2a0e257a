//! HMAC-SHA256 request signatures between the media node and the channels function's internal
//! routes. The signature covers method, path, body digest and a timestamp; the verifier refuses
//! timestamps more than 30 s away and signatures it has seen before (Redis, single use).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{auth::secret, error::ApiError, stores::redis::Redis};

pub const TIMESTAMP_HEADER: &str = "x-lait-timestamp";
pub const SIGNATURE_HEADER: &str = "x-lait-signature";
pub const MAX_SKEW_SECS: i64 = 30;

fn canonical(ts: i64, method: &str, path: &str, body: &[u8]) -> String {
    let digest: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    format!("v1\n{ts}\n{}\n{path}\n{digest}", method.to_ascii_uppercase())
}

/// `v1=<hex>` for a request.
pub fn sign(secret: &[u8], ts: i64, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(canonical(ts, method, path, body).as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Checks a signed request; `Err(403)` for a missing, wrong, stale or replayed signature.
pub async fn verify(
    redis: &Redis,
    secret: &[u8],
    now: i64,
    timestamp: Option<&str>,
    signature: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        tracing::warn!(reason = why, path, "refused an internal request");
        ApiError::forbidden("invalid request signature")
    };
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(refuse("unsigned"));
    };
    let ts: i64 = ts.parse().map_err(|_| refuse("bad timestamp"))?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(refuse("stale timestamp"));
    }
    if !secret::same(&sign(secret, ts, method, path, body), sig) {
        return Err(refuse("bad signature"));
    }
    // Single use: a captured request cannot be sent again within the skew window.
    let mut conn = redis.conn().await?;
    let fresh: Option<String> = redis::cmd("SET")
        .arg(format!("sig:seen:{}", secret::sha256_hex(sig)))
        .arg(1)
        .arg("NX")
        .arg("EX")
        .arg(2 * MAX_SKEW_SECS + 5)
        .query_async(&mut conn)
        .await?;
    if fresh.is_none() {
        return Err(refuse("replayed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_every_part() {
        let s = sign(b"k", 100, "POST", "/internal/media/publish", b"{}");
        assert!(s.starts_with("v1=") && s.len() == 67);
        assert_ne!(s, sign(b"k", 101, "POST", "/internal/media/publish", b"{}"));
        assert_ne!(s, sign(b"k", 100, "GET", "/internal/media/publish", b"{}"));
        assert_ne!(s, sign(b"k", 100, "POST", "/internal/media/heartbeat", b"{}"));
        assert_ne!(s, sign(b"k", 100, "POST", "/internal/media/publish", b"{ }"));
        assert_ne!(s, sign(b"j", 100, "POST", "/internal/media/publish", b"{}"));
        assert_eq!(s, sign(b"k", 100, "post", "/internal/media/publish", b"{}"));
    }
}
