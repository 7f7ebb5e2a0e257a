//! The media node's hooks: publish, heartbeat, unpublish. Signed with HMAC-SHA256 (method, path,
//! body digest, timestamp; ≤ 30 s old; single use), and served under `/internal/media`, which the
//! public API does not route.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    body::Bytes,
    extract::{FromRequest, Request, State as S},
};
use lait_shared::{
    ApiError, ApiResult,
    channels::{
        HeartbeatRequest, HeartbeatResponse, Ladder, PublishRequest, PublishResponse,
        UnpublishRequest, model::LiveRecord,
    },
    clock::now_secs,
    domain::ids::LiveId,
    hls,
    http::{Json, parse_json},
    media_keys::{self, LiveKeys},
    signing,
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

/// Ends lives whose heartbeat stopped, closing each recording from the segments that reached
/// S3: the media node died (perhaps with its spool), but what it uploaded is the VOD.
pub async fn reap(state: &State) -> ApiResult<Vec<LiveId>> {
    let mut ended = Vec::new();
    for live in state.channels.stale_lives().await? {
        let (vod, duration) = match close_recording(state, &live).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(live_id = %live.id, error = %e, "could not close the recording; ending without a VOD");
                (None, None)
            }
        };
        state.channels.end_stale(&live.id, vod, duration).await?;
        ended.push(live.id);
    }
    Ok(ended)
}

/// Writes the VOD playlists of a live from a listing of its objects (segment names carry their
/// duration and discontinuity; see `lait_shared::hls`). Returns the VOD master's key and the
/// duration, or nothing when no segment reached S3.
async fn close_recording(
    state: &State,
    live: &LiveRecord,
) -> ApiResult<(Option<String>, Option<f64>)> {
    let s3 = &state.deps.s3;
    let bucket = &state.deps.stores.media_bucket;
    let keys = LiveKeys::new(live.channel_id, live.id);
    let prefix = keys.prefix();
    let mut by_rendition: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(ApiError::internal)?;
        for k in page.contents().iter().filter_map(|o| o.key()) {
            if let Some((rendition, file)) = k[prefix.len()..].split_once('/') {
                by_rendition
                    .entry(rendition.to_owned())
                    .or_default()
                    .push(file.to_owned());
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let ladder = Ladder::for_channel(live.low_latency);
    let mut variants = Vec::new();
    let mut duration = None;
    for r in &ladder.renditions {
        let segments = hls::recording_from_names(
            by_rendition
                .get(&r.name)
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        if segments.is_empty() {
            continue;
        }
        duration.get_or_insert(segments.iter().map(hls::Segment::duration).sum::<f64>());
        put_playlist(
            state,
            keys.rendition_vod(&r.name),
            hls::vod(&segments, ladder.segment_seconds),
        )
        .await?;
        // The node's probe (audio, aspect) died with it: 16:9 and no CODECS claim.
        let width = r.height * 16 / 9;
        variants.push(hls::Variant {
            uri: format!("{}/{}", r.name, media_keys::VOD),
            bandwidth: u64::from(r.video_kbps + r.audio_kbps) * 1000,
            width: width + width % 2,
            height: r.height,
            has_audio: None,
        });
    }
    if variants.is_empty() {
        return Ok((None, None));
    }
    let key = keys.vod();
    put_playlist(state, key.clone(), hls::master(&variants)).await?;
    tracing::info!(live_id = %live.id, renditions = variants.len(), "recording closed by the reaper");
    Ok((Some(key), duration))
}

async fn put_playlist(state: &State, key: String, text: String) -> ApiResult<()> {
    state
        .deps
        .s3
        .put_object()
        .bucket(&state.deps.stores.media_bucket)
        .key(key)
        .body(text.into_bytes().into())
        .content_type("application/vnd.apple.mpegurl")
        .cache_control("public, max-age=60")
        .send()
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// Ends lives whose heartbeat stopped, every `every` (lait-local; on AWS a schedule runs the
/// `channels-reaper` function instead).
pub async fn reaper_loop(state: State, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match reap(&state).await {
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
