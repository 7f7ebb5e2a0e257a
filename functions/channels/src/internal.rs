//! The media node's hooks: publish, heartbeat, unpublish. Signed with HMAC-SHA256 (method, path,
//! body digest, timestamp; ≤ 30 s old; single use), and served under `/internal/media`, which the
//! public API does not route.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request, State as S},
};
use lait_shared::{
    ApiError, ApiResult,
    channels::{
        HeartbeatRequest, HeartbeatResponse, PublishRequest, PublishResponse, UnpublishRequest,
    },
    http::{Json, parse_json},
    signing,
    stores::dynamo::now_secs,
};
use serde::de::DeserializeOwned;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Problem, State};

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
            &state.config.media_secret,
            now_secs(),
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
#[utoipa::path(post, path = "/internal/media/publish", tag = "internal", request_body = PublishRequest,
    responses(
        (status = 200, body = PublishResponse),
        (status = 403, description = "bad signature or unknown key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the channel is already live", body = Problem, content_type = "application/problem+json"),
    ))]
async fn publish(
    S(state): S<State>,
    Signed(req): Signed<PublishRequest>,
) -> ApiResult<Json<PublishResponse>> {
    Ok(Json(state.channels.publish(&req).await?))
}

/// Every 10 s while live: stream health in, `continue` or `stop` out.
#[utoipa::path(post, path = "/internal/media/heartbeat", tag = "internal", request_body = HeartbeatRequest,
    responses((status = 200, body = HeartbeatResponse), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn heartbeat(
    S(state): S<State>,
    Signed(req): Signed<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(state.channels.heartbeat(&req).await?))
}

/// The publisher left: end the live and record its VOD.
#[utoipa::path(post, path = "/internal/media/unpublish", tag = "internal", request_body = UnpublishRequest,
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn unpublish(
    S(state): S<State>,
    Signed(req): Signed<UnpublishRequest>,
) -> ApiResult<axum::http::StatusCode> {
    state.channels.unpublish(&req).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Ends lives whose heartbeat stopped, every `every` (lait-local; on AWS a schedule runs the
/// `channels-reaper` function instead).
pub async fn reaper_loop(state: State, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match state.channels.reap().await {
            Ok(ended) if !ended.is_empty() => {
                tracing::info!(count = ended.len(), "reaper ended stale lives")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reaper run failed"),
        }
    }
}

/// Deletes every object under `prefix` in the media bucket.
pub async fn delete_prefix(state: &State, prefix: &str) -> ApiResult<()> {
    let s3 = &state.deps.s3;
    let bucket = &state.deps.stores.media_bucket;
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(ApiError::internal)?;
        let ids: Vec<_> = page
            .contents()
            .iter()
            .filter_map(|o| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(o.key()?)
                    .build()
                    .ok()
            })
            .collect();
        if !ids.is_empty() {
            let delete = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(ApiError::internal)?;
            s3.delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(ApiError::internal)?;
        }
        token = page.next_continuation_token;
        if token.is_none() {
            return Ok(());
        }
    }
}
