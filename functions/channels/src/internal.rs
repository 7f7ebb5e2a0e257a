//! The media node's hooks: publish, heartbeat, unpublish. Signed with HMAC-SHA256 (method, path,
//! body digest, timestamp; ≤ 30 s old; single use), and served under `/internal/media`, which the
//! public API does not route.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request, State as S},
};
use lait_shared::{
    ApiError, ApiResult,
    channels::{
        HeartbeatRequest, HeartbeatResponse, PublishRequest, PublishResponse, UnpublishRequest,
    },
    clock::Timestamp,
    http::{Json, parse_json},
    signing,
};
use serde::de::DeserializeOwned;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::State;
use lait_shared::openapi::problem;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(publish))
        .routes(routes!(heartbeat))
        .routes(routes!(unpublish))
}

/// A JSON body whose signature checked out.
pub struct Signed<T>(pub T);

impl<T: DeserializeOwned> FromRequest<State> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &State) -> Result<Self, Self::Rejection> {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await?;
        signing::verify(
            &state.deps.redis,
            &state.config.media_secrets,
            Timestamp::now(),
            &headers,
            &method,
            &path,
            &body,
        )
        .await?;
        parse_json(&body).map(Signed)
    }
}

/// nginx-rtmp `on_publish`, through the agent: authorize the stream key and start a live.
///
/// Problems: 403 bad signature or unknown key; 409 the channel is already live.
#[utoipa::path(post, path = "/internal/media/publish", tag = "internal", request_body = PublishRequest,
    responses((status = 200, body = PublishResponse), problem::Forbidden, problem::Conflict))]
async fn publish(
    S(state): S<State>,
    Signed(req): Signed<PublishRequest>,
) -> ApiResult<Json<PublishResponse>> {
    Ok(Json(state.channels.publish(&req).await?))
}

/// Every 10 s while live: stream health in, `continue` or `stop` out.
#[utoipa::path(post, path = "/internal/media/heartbeat", tag = "internal", request_body = HeartbeatRequest,
    responses((status = 200, body = HeartbeatResponse), problem::Forbidden))]
async fn heartbeat(
    S(state): S<State>,
    Signed(req): Signed<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(state.channels.heartbeat(&req).await?))
}

/// The publisher left: end the live and record its VOD.
#[utoipa::path(post, path = "/internal/media/unpublish", tag = "internal", request_body = UnpublishRequest,
    responses((status = 204), problem::Forbidden, problem::NotFound))]
async fn unpublish(
    S(state): S<State>,
    Signed(req): Signed<UnpublishRequest>,
) -> ApiResult<axum::http::StatusCode> {
    state.channels.unpublish(&req).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
