//! Pagination cursors: a listing's resume key (DynamoDB's `LastEvaluatedKey`) sealed with
//! AES-256-GCM under a random nonce, bound to its listing as associated data. A client can
//! neither read the table's key layout from one nor forge one: a cursor that does not open is
//! a 400 before any store call.

use std::{fmt, sync::Arc};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key cursors are sealed with. Every instance of every function derives the same one from
/// the token secret they share, so a cursor from one instance opens on any other.
#[derive(Clone)]
pub struct Cursors(Arc<RandomizedNonceKey>);

impl Cursors {
    /// Derived from a shared secret (domain-separated: the cursor key is not the token key).
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"lait pagination cursors v1");
        Self::from_key(&mac.finalize().into_bytes())
    }

    /// A key of this process alone, for jobs that never hand out cursors (and tests).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system's random source");
        Self::from_key(&key)
    }

    fn from_key(key: &[u8]) -> Self {
        Self(Arc::new(
            RandomizedNonceKey::new(&AES_256_GCM, key).expect("a 256-bit key"),
        ))
    }

    /// `plain` sealed for `listing`.
    pub fn seal(&self, listing: &str, plain: &[u8]) -> String {
        let mut sealed = plain.to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(listing.as_bytes()), &mut sealed)
            .expect("sealing in memory does not fail");
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// What `cursor` holds, if this key sealed it for `listing`.
    pub fn open(&self, listing: &str, cursor: &str) -> Option<Vec<u8>> {
        // Cursors are short; a long one is not ours and is not worth decoding.
        if cursor.len() > 1024 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(listing.as_bytes()), &mut sealed)
            .ok()?;
        Some(plain.to_vec())
    }
}

impl fmt::Debug for Cursors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cursors(<key>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_for_its_listing_and_key() {
        let c = Cursors::from_secret(b"a shared secret of thirty-two bytes!");
        let plain = br#"{"pk":"CHANNEL#1","sk":"NOTICE#2"}"#;
        let cursor = c.seal("CHANNEL#1", plain);
        assert_eq!(c.open("CHANNEL#1", &cursor).as_deref(), Some(&plain[..]));
        // Another instance with the same secret opens it too.
        let same = Cursors::from_secret(b"a shared secret of thirty-two bytes!");
        assert_eq!(same.open("CHANNEL#1", &cursor).as_deref(), Some(&plain[..]));
        // Another listing, another key, a changed byte, garbage: nothing.
        assert_eq!(c.open("CHANNEL#2", &cursor), None);
        assert_eq!(Cursors::random().open("CHANNEL#1", &cursor), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(c.open("CHANNEL#1", &URL_SAFE_NO_PAD.encode(bytes)), None);
        for junk in ["", "x", "!!!", &"A".repeat(2000)] {
            assert_eq!(c.open("CHANNEL#1", junk), None, "{junk:?}");
        }
        // The old, readable format is refused.
        let readable = URL_SAFE_NO_PAD.encode(br#"{"pk":"CHANNEL#1"}"#);
        assert_eq!(c.open("CHANNEL#1", &readable), None);
    }

    #[test]
    fn cursors_hide_the_key_layout_and_never_repeat() {
        let c = Cursors::random();
        let a = c.seal("CHANNEL#1", br#"{"pk":"CHANNEL#1"}"#);
        let b = c.seal("CHANNEL#1", br#"{"pk":"CHANNEL#1"}"#);
        assert_ne!(a, b, "random nonces");
        let raw = URL_SAFE_NO_PAD.decode(&a).unwrap();
        assert!(
            !raw.windows(7).any(|w| w == b"CHANNEL"),
            "the key is readable"
        );
    }
}
