//! argon2id password hashing with OWASP's recommended parameters (19 MiB, 2 iterations, 1 lane).
//!
//! Hashing is CPU-bound, so it runs on the blocking pool. Verifying against an unknown email
//! hashes against a fixed dummy hash, so the answer takes as long whether the account exists or not.

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a password nobody knows (32 random bytes, thrown away), with the same parameters
/// as real ones. A constant: computing one at start-up cost every cold start ~35 ms of argon2.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$4+FrY4hDQSGrXJYlnuQuEQ$A1WWYJZt3PnDCGZNOQpmXY4SNWy6LdCklujYLqHeHP4";

/// Hashes a password (PHC string format).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Verifies `password` against `hash`; with `None` (unknown account) verifies against the dummy
/// hash and returns false, taking the same time.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(h.clone())).await);
        assert!(!verify("lait-dummy-password-for-timing".into(), None).await);
        // The dummy hash is a real one of the same cost.
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(dummy.params, PasswordHash::new(&h).unwrap().params);
        assert_eq!(dummy.algorithm, PasswordHash::new(&h).unwrap().algorithm);
    }

    /// An unknown account costs a full argon2 verification too (no early return an attacker could
    /// time). Ratio with generous bounds, best of three, so a busy machine does not matter.
    #[tokio::test]
    async fn unknown_accounts_take_as_long_as_known_ones() {
        let h = hash("correct horse battery".into()).await.unwrap();
        let best = |runs: Vec<std::time::Duration>| runs.into_iter().min().unwrap();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            verify("wrong horse battery".into(), Some(h.clone())).await;
            known.push(t.elapsed());
            let t = std::time::Instant::now();
            verify("wrong horse battery".into(), None).await;
            unknown.push(t.elapsed());
        }
        let (known, unknown) = (best(known), best(unknown));
        assert!(
            unknown * 2 > known,
            "unknown {unknown:?} vs known {known:?}"
        );
    }
}
