//! Extractors that turn a route's path into checked domain values, so handlers start from what
//! the request may touch: [`PathId`] (ids parsed, a malformed one the same 404 as an unknown one),
//! [`OwnedChannel`] (the caller's own channel, else 403), [`OwnedLive`] (a live of it, else 403)
//! and [`ChannelModerator`] (owner or a moderator of the channel, else 403).
//!
//! A channel route names its channel in the first path segment (`/api/channels/{id}/…`).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, RawPathParams, rejection::RawPathParamsRejection};
use http::request::Parts;

use crate::{
    ApiError, ApiResult,
    auth::{AuthUser, Authenticator},
    channels::{
        Channels,
        model::{ChannelRecord, LiveRecord},
    },
    chat::{Chat, Moderator},
    domain::ids::{ChannelId, LiveId, NoticeId, UserId},
};

/// An id type a path may name; `NAME` words its 404 ("no such channel").
pub trait Resource: std::str::FromStr {
    const NAME: &'static str;
}

impl Resource for ChannelId {
    const NAME: &'static str = "channel";
}
impl Resource for UserId {
    const NAME: &'static str = "user";
}
impl Resource for LiveId {
    const NAME: &'static str = "live";
}
impl Resource for NoticeId {
    const NAME: &'static str = "notice";
}

/// What [`PathId`] can be: one id, or a pair for nested routes, in path order.
pub trait FromPath: Sized {
    const SEGMENTS: usize;
    fn from_path(values: &[&str]) -> Result<Self, ApiError>;
}

fn parse<T: Resource>(raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no such {}", T::NAME)))
}

impl<T: Resource> FromPath for T {
    const SEGMENTS: usize = 1;
    fn from_path(values: &[&str]) -> Result<Self, ApiError> {
        parse(values[0])
    }
}

impl<A: Resource, B: Resource> FromPath for (A, B) {
    const SEGMENTS: usize = 2;
    fn from_path(values: &[&str]) -> Result<Self, ApiError> {
        Ok((parse(values[0])?, parse(values[1])?))
    }
}

/// The route's path ids, parsed.
#[derive(Debug, Clone, Copy)]
pub struct PathId<T>(pub T);

async fn segments(parts: &mut Parts) -> Result<Vec<String>, ApiError> {
    // Values come percent-decoded. One that decodes to no UTF-8 (`%FF`) names nothing: the same
    // 404 as a malformed id. A route without captures is a wiring bug, not user input.
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|e| match e {
            RawPathParamsRejection::InvalidUtf8InPathParam(_) => {
                ApiError::not_found("no such resource")
            }
            e => ApiError::internal(anyhow::anyhow!("path params: {e}")),
        })?;
    Ok(params.iter().map(|(_, v)| v.to_owned()).collect())
}

impl<S: Send + Sync, T: FromPath> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let values = segments(parts).await?;
        if values.len() < T::SEGMENTS {
            return Err(ApiError::internal(anyhow::anyhow!(
                "route has {} path params, handler wants {}",
                values.len(),
                T::SEGMENTS
            )));
        }
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        T::from_path(&refs).map(Self)
    }
}

/// The signed-in caller and the path's first id. Authentication first: an anonymous caller
/// learns 401, not whether the resource exists.
async fn user_and_first<S, T>(parts: &mut Parts, state: &S) -> Result<(AuthUser, T), ApiError>
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
    T: Resource,
{
    let user = AuthUser::from_request_parts(parts, state).await?;
    let values = segments(parts).await?;
    let first = values
        .first()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("route without an id")))?;
    Ok((user, parse(first)?))
}

/// What a caller may own, named by the path's first id: a channel, or a live of one.
pub trait Ownable: Sized + Send {
    type Id: Resource + Send;
    /// Loads it and checks that `owner` owns it: 404 unknown, 403 someone else's.
    fn load_owned(
        channels: &Channels,
        id: Self::Id,
        owner: &UserId,
    ) -> impl Future<Output = Result<Self, ApiError>> + Send;
}

impl Ownable for ChannelRecord {
    type Id = ChannelId;
    async fn load_owned(channels: &Channels, id: ChannelId, owner: &UserId) -> ApiResult<Self> {
        channels.owned(&id, owner).await
    }
}

impl Ownable for LiveRecord {
    type Id = LiveId;
    async fn load_owned(channels: &Channels, id: LiveId, owner: &UserId) -> ApiResult<Self> {
        let live = channels.live(&id).await?;
        channels.owned(&live.channel_id, owner).await?;
        Ok(live)
    }
}

/// The signed-in caller's own `T`, named by the path: 401 signed out, 404 unknown, 403 someone
/// else's.
#[derive(Debug, Clone)]
pub struct Owned<T> {
    pub item: T,
    pub owner: AuthUser,
}

/// The caller's own channel (`/api/channels/{id}/…`).
pub type OwnedChannel = Owned<ChannelRecord>;
/// A live of the caller's channel (`/api/lives/{id}…`, `/api/vods/{id}`).
pub type OwnedLive = Owned<LiveRecord>;

impl<S, T> FromRequestParts<S> for Owned<T>
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
    Channels: FromRef<S>,
    T: Ownable,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (owner, id) = user_and_first::<S, T::Id>(parts, state).await?;
        let item = T::load_owned(&Channels::from_ref(state), id, &owner.id).await?;
        Ok(Self { item, owner })
    }
}

/// The signed-in caller as the owner or a moderator of the path's channel, checked against the
/// stores now (not as of a ticket): 401 signed out, 404 no such channel, 403 neither.
#[derive(Debug, Clone)]
pub struct ChannelModerator(pub Moderator);

impl<S> FromRequestParts<S> for ChannelModerator
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
    Arc<Chat>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (user, id) = user_and_first::<S, ChannelId>(parts, state).await?;
        let m = Arc::<Chat>::from_ref(state)
            .moderator(&id, Some(&user.id))
            .await?;
        Ok(Self(m))
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a throwaway router, not an API route
mod tests {
    use axum::{Router, body::Body, routing::get};
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/c/{id}",
                get(|PathId(id): PathId<ChannelId>| async move { id.to_string() }),
            )
            .route(
                "/c/{id}/n/{nid}",
                get(|PathId((c, n)): PathId<(ChannelId, NoticeId)>| async move {
                    format!("{c} {n}")
                }),
            )
    }

    async fn call(uri: &str) -> (StatusCode, String) {
        let res = app()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn path_ids_parse_in_order_and_a_malformed_one_is_a_404_naming_it() {
        let (c, n) = (ChannelId::new(), NoticeId::new());
        assert_eq!(
            call(&format!("/c/{c}")).await,
            (StatusCode::OK, c.to_string())
        );
        assert_eq!(
            call(&format!("/c/{c}/n/{n}")).await,
            (StatusCode::OK, format!("{c} {n}"))
        );
        let (status, body) = call("/c/not-an-id").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no such channel"), "{body}");
        let (status, body) = call(&format!("/c/{c}/n/{c}x")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("no such notice"), "{body}");
    }

    /// A segment percent-decoding to no UTF-8 was a 500 (found beside the fuzzing: schemathesis
    /// only sends UTF-8).
    #[tokio::test]
    async fn a_path_that_is_not_utf8_is_a_404() {
        for uri in [
            "/c/%FF".to_owned(),
            format!("/c/{}/n/%C0", ChannelId::new()),
        ] {
            let (status, body) = call(&uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
            assert!(body.contains("no such resource"), "{body}");
        }
    }
}
