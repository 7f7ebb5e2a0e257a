//! HMAC-SHA256 request signatures between the media node and the channels function's internal
//! routes. The signature covers method, path, body digest, a timestamp and a random nonce; the
//! verifier refuses timestamps more than 30 s away and signatures it has seen before (Redis,
//! single use). The nonce lets two identical requests in one second both be legitimate.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{auth::secret, clock::Timestamp, error::ApiError, stores::redis::Redis};

pub const TIMESTAMP_HEADER: &str = "x-lait-timestamp";
pub const SIGNATURE_HEADER: &str = "x-lait-signature";
pub const NONCE_HEADER: &str = "x-lait-nonce";
pub const MAX_SKEW_SECS: i64 = 30;

fn canonical(ts: i64, nonce: &str, method: &str, path: &str, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!(
        "v1\n{ts}\n{nonce}\n{}\n{path}\n{digest}",
        method.to_ascii_uppercase()
    )
}

/// `v1=<hex>` for a request.
pub fn sign(secret: &[u8], ts: i64, nonce: &str, method: &str, path: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(canonical(ts, nonce, method, path, body).as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The three headers of a signed request, for the caller (media node, tests).
pub fn headers(
    secret: &[u8],
    now: Timestamp,
    method: &str,
    path: &str,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let (nonce, ts) = (secret::random(16), now.unix_secs());
    [
        (TIMESTAMP_HEADER, ts.to_string()),
        (
            SIGNATURE_HEADER,
            sign(secret, ts, &nonce, method, path, body),
        ),
        (NONCE_HEADER, nonce),
    ]
}

/// Checks a signed request against `secrets` (the current key, then during a rotation the one it
/// replaces); `Err(403)` for a missing, wrong, stale or replayed signature.
pub async fn verify(
    redis: &Redis,
    secrets: &[Vec<u8>],
    now: Timestamp,
    headers: &http::HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        tracing::warn!(reason = why, path, "refused an internal request");
        ApiError::forbidden("invalid request signature")
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(nonce), Some(sig)) = (
        header(TIMESTAMP_HEADER),
        header(NONCE_HEADER),
        header(SIGNATURE_HEADER),
    ) else {
        return Err(refuse("unsigned"));
    };
    if nonce.len() < 16 {
        return Err(refuse("short nonce"));
    }
    let ts: i64 = ts.parse().map_err(|_| refuse("bad timestamp"))?;
    if (now.unix_secs() - ts).abs() > MAX_SKEW_SECS {
        return Err(refuse("stale timestamp"));
    }
    let signed_by = |key: &Vec<u8>| secret::same(&sign(key, ts, nonce, method, path, body), sig);
    if !secrets.iter().any(signed_by) {
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
        let p = "/internal/media/publish";
        let s = sign(b"k", 100, "n", "POST", p, b"{}");
        assert!(s.starts_with("v1=") && s.len() == 67);
        assert_ne!(s, sign(b"k", 101, "n", "POST", p, b"{}"));
        assert_ne!(s, sign(b"k", 100, "m", "POST", p, b"{}"));
        assert_ne!(s, sign(b"k", 100, "n", "GET", p, b"{}"));
        assert_ne!(
            s,
            sign(b"k", 100, "n", "POST", "/internal/media/heartbeat", b"{}")
        );
        assert_ne!(s, sign(b"k", 100, "n", "POST", p, b"{ }"));
        assert_ne!(s, sign(b"j", 100, "n", "POST", p, b"{}"));
        assert_eq!(s, sign(b"k", 100, "n", "post", p, b"{}"));
    }
}
