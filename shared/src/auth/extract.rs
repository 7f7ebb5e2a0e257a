//! The "authenticated user" extractor, shared by every function.
//!
//! 401 (with `WWW-Authenticate: Bearer …`) when the token is missing, malformed, expired, signed
//! with another key or belongs to a revoked session; handlers answer 403 themselves when an
//! authenticated user may not do something. Revocation (logout, logout-all, refresh-token reuse)
//! takes effect at once: revoked sessions and users are kept in Redis for one access-token
//! lifetime and checked here.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};

use super::tokens::{AccessClaims, TokenError, TokenService};
use crate::{
    domain::ids::{FamilyId, UserId},
    error::ApiError,
    stores::redis::Redis,
};

/// Verifies access tokens and knows about revocations. Part of every function's state.
#[derive(Clone)]
pub struct Authenticator {
    pub tokens: Arc<TokenService>,
    pub redis: Redis,
}

fn family_key(f: &FamilyId) -> String {
    format!("auth:revoked:family:{f}")
}

fn user_key(u: &UserId) -> String {
    format!("auth:revoked:user:{u}")
}

impl Authenticator {
    pub fn new(tokens: TokenService, redis: Redis) -> Self {
        Self {
            tokens: Arc::new(tokens),
            redis,
        }
    }

    fn ttl(&self) -> u64 {
        // Past one access-token lifetime no token of the revoked session can still be valid.
        self.tokens.config().access_ttl.as_secs() + 60
    }

    /// Access tokens of this session stop working now.
    pub async fn revoke_family(&self, family: &FamilyId) -> redis::RedisResult<()> {
        let mut conn = self.redis.conn().await?;
        redis::cmd("SET")
            .arg(family_key(family))
            .arg(1)
            .arg("EX")
            .arg(self.ttl())
            .query_async::<()>(&mut conn)
            .await
    }

    /// Access tokens of this user issued up to now stop working.
    pub async fn revoke_user(&self, user: &UserId) -> redis::RedisResult<()> {
        let mut conn = self.redis.conn().await?;
        let now = crate::clock::Timestamp::now().unix_secs();
        redis::cmd("SET")
            .arg(user_key(user))
            .arg(now)
            .arg("EX")
            .arg(self.ttl())
            .query_async::<()>(&mut conn)
            .await
    }

    /// Verifies a bearer token, including revocation.
    pub async fn authenticate(&self, token: &str) -> Result<AccessClaims, ApiError> {
        let claims = self.tokens.verify(token).map_err(|e| match e {
            TokenError::Expired => invalid_token("the access token has expired"),
            TokenError::Invalid => invalid_token("the access token is invalid"),
        })?;
        let mut conn = self.redis.conn().await.map_err(unavailable)?;
        let (family_revoked, user_revoked_at): (Option<i64>, Option<i64>) = redis::cmd("MGET")
            .arg(family_key(&claims.sid))
            .arg(user_key(&claims.sub))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if family_revoked.is_some() || user_revoked_at.is_some_and(|at| claims.iat <= at) {
            return Err(invalid_token("the session has ended"));
        }
        Ok(claims)
    }
}

fn unavailable(e: redis::RedisError) -> ApiError {
    tracing::error!(error = %e, "revocation check failed");
    ApiError::unavailable("authentication is temporarily unavailable")
}

fn invalid_token(description: &str) -> ApiError {
    let mut e = ApiError::unauthorized(description);
    e.challenge = Some(format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\""
    ));
    e
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    pub family: FamilyId,
    pub claims: AccessClaims,
}

/// The bearer token of a request, if any.
pub fn bearer_from_headers(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer_from_headers(&parts.headers) else {
            return Err(ApiError::unauthorized("a bearer access token is required"));
        };
        let claims = Authenticator::from_ref(state).authenticate(token).await?;
        Ok(Self {
            id: claims.sub,
            family: claims.sid,
            claims,
        })
    }
}

/// `Option<AuthUser>`: `None` for anonymous requests; a present but bad token is still a 401 (a
/// client should learn its token is broken).
impl<S> OptionalFromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if bearer_from_headers(&parts.headers).is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}
