//! Access tokens: short-lived HS256 JWTs. The algorithm is pinned (no `none`, no RS/HS confusion),
//! and issuer, audience, expiry and the required claims are all checked on verify.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{
    config::Env,
    domain::ids::{FamilyId, UserId},
};

pub const MAX_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
pub struct TokenConfig {
    secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("secret", &"***")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish()
    }
}

impl TokenConfig {
    pub fn read(env: &mut Env) -> Self {
        let secret: String = env.required("LAIT_JWT_SECRET");
        if !secret.is_empty() && secret.len() < 32 {
            env.problem("LAIT_JWT_SECRET", "must be at least 32 bytes");
        }
        let access_ttl = env.secs_or("LAIT_ACCESS_TOKEN_TTL_SECS", MAX_ACCESS_TTL);
        if access_ttl > MAX_ACCESS_TTL || access_ttl.is_zero() {
            env.problem(
                "LAIT_ACCESS_TOKEN_TTL_SECS",
                "must be between 1 and 900 seconds",
            );
        }
        Self {
            secret: secret.into_bytes(),
            issuer: env.or("LAIT_JWT_ISSUER", "lait".to_owned()),
            audience: env.or("LAIT_JWT_AUDIENCE", "lait-api".to_owned()),
            access_ttl,
            refresh_ttl: env.secs_or(
                "LAIT_REFRESH_TOKEN_TTL_SECS",
                Duration::from_secs(30 * 24 * 3600),
            ),
        }
    }

    /// For tests.
    pub fn with_secret(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
            issuer: "lait".into(),
            audience: "lait-api".into(),
            access_ttl: MAX_ACCESS_TTL,
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: UserId,
    /// The refresh-token family (login session) this token belongs to.
    pub sid: FamilyId,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

pub struct TokenService {
    config: TokenConfig,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenService {
    pub fn new(config: TokenConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(&config.secret),
            decoding: DecodingKey::from_secret(&config.secret),
            validation,
            config,
        }
    }

    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// Issues an access token; returns it with its lifetime in seconds.
    pub fn issue(&self, user: UserId, family: FamilyId) -> anyhow::Result<(String, u64)> {
        let now = crate::clock::Timestamp::now().unix_secs();
        let ttl = self.config.access_ttl.as_secs();
        let claims = AccessClaims {
            sub: user,
            sid: family,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            iat: now,
            exp: now + ttl as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, ttl))
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        match jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    fn service(secret: &[u8]) -> TokenService {
        TokenService::new(TokenConfig::with_secret(secret))
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issue_and_verify() {
        let s = service(KEY);
        let (user, fam) = (UserId::new(), FamilyId::new());
        let (token, ttl) = s.issue(user, fam).unwrap();
        assert_eq!(ttl, 900);
        let claims = s.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, fam));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn rejects_other_key_none_and_tampering() {
        let s = service(KEY);
        let (token, _) = s.issue(UserId::new(), FamilyId::new()).unwrap();
        let other = service(b"another-secret-another-secret-xx");
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));

        let parts: Vec<&str> = token.split('.').collect();
        // alg: none with no signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            s.verify(&format!("{none_header}.{}.", parts[1])),
            Err(TokenError::Invalid)
        );
        // Payload changed, signature kept.
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = serde_json::json!(UserId::new());
        let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert_eq!(
            s.verify(&format!("{}.{forged}.{}", parts[0], parts[2])),
            Err(TokenError::Invalid)
        );
        // HS512 with the same key: algorithm pinned.
        let claims = s.verify(&token).unwrap();
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert_eq!(s.verify(&hs512), Err(TokenError::Invalid));
    }

    #[test]
    fn rejects_expired_and_wrong_audience() {
        let s = service(KEY);
        let now = crate::clock::Timestamp::now().unix_secs();
        let mut claims = AccessClaims {
            sub: UserId::new(),
            sid: FamilyId::new(),
            iss: "lait".into(),
            aud: "lait-api".into(),
            iat: now - 2000,
            exp: now - 1000,
            jti: "x".into(),
        };
        let enc = |c: &AccessClaims| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                c,
                &EncodingKey::from_secret(KEY),
            )
            .unwrap()
        };
        assert_eq!(s.verify(&enc(&claims)), Err(TokenError::Expired));
        claims.exp = now + 100;
        claims.aud = "someone-else".into();
        assert_eq!(s.verify(&enc(&claims)), Err(TokenError::Invalid));
        claims.aud = "lait-api".into();
        claims.iss = "evil".into();
        assert_eq!(s.verify(&enc(&claims)), Err(TokenError::Invalid));
    }
}
