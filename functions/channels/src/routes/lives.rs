//! Lives: the directory, one live, its title and its health for the studio.

use axum::{
    extract::State as S,
    response::{IntoResponse, Response},
};
use lait_shared::{
    ApiError, ApiResult,
    channels::{LiveSummary, model::*},
    domain::ids::LiveId,
    http::{Json, Owned, OwnedLive, PageQuery, Paged, PathId, Query, Shared},
    openapi::problem,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{State, views::*};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_lives))
        .routes(routes!(get_live, patch_live))
        .routes(routes!(live_health))
}

fn offset_cursor(c: Option<&str>) -> ApiResult<usize> {
    use base64::Engine;
    let Some(c) = c else { return Ok(0) };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:")?.parse().ok())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor of this list"))
}

fn next_offset(n: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{n}"))
}

/// Channels live now: most viewers first, then newest.
#[utoipa::path(get, path = "/api/lives", tag = "lives", params(PageQuery),
    responses((status = 200, body = Paged<LiveSummary>), problem::BadRequest))]
async fn list_lives(
    S(state): S<State>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Shared<Json<Paged<LiveSummary>>, 2>> {
    let limit = q.limit()?;
    let offset = offset_cursor(q.cursor.as_deref())?;
    let all = state.channels.lives().await?;
    let items: Vec<LiveSummary> = all.iter().skip(offset).take(limit).cloned().collect();
    let next = (offset + limit < all.len()).then(|| next_offset(offset + limit));
    Ok(Shared(Json(Paged { items, next })))
}

#[utoipa::path(get, path = "/api/lives/{id}", tag = "lives", params(("id" = String, Path)),
    responses((status = 200, body = LiveView), problem::NotFound))]
async fn get_live(
    S(state): S<State>,
    PathId(id): PathId<LiveId>,
) -> ApiResult<Shared<Json<LiveView>>> {
    let l = state.channels.live(&id).await?;
    Ok(Shared(Json(live_view(&state, l).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LivePatch {
    /// 1 to 100 characters.
    pub title: Option<String>,
    pub category: Option<String>,
}

/// Change a live's title or category (owner only).
#[utoipa::path(patch, path = "/api/lives/{id}", tag = "lives", security(("bearer" = [])), params(("id" = String, Path)), request_body = LivePatch,
    responses((status = 200, body = LiveView), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn patch_live(
    S(state): S<State>,
    Owned { item: live, .. }: OwnedLive,
    Json(req): Json<LivePatch>,
) -> ApiResult<Json<LiveView>> {
    let title = req
        .title
        .as_deref()
        .map(|t| text("title", t, 100, false))
        .transpose();
    let cat = req
        .category
        .as_deref()
        .map(|c| category("category", c))
        .transpose();
    let (title, cat) = ApiError::both(title, cat)?;
    let updated = state
        .channels
        .update_live(&live, title.as_deref(), cat)
        .await?;
    Ok(Json(live_view(&state, updated).await?))
}

/// The stream health the media node last reported (owner only): the studio's live status.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveHealthView {
    pub live_id: LiveId,
    pub status: LiveStatus,
    /// Playable: the master playlist and every rendition are in place.
    pub ready: bool,
    /// Unix seconds of the last heartbeat.
    pub last_heartbeat: i64,
    /// Absent until the first heartbeat.
    pub health: Option<Health>,
}

#[utoipa::path(get, path = "/api/lives/{id}/health", tag = "lives", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = LiveHealthView), problem::Unauthorized, problem::Forbidden, problem::NotFound))]
async fn live_health(Owned { item: live, .. }: OwnedLive) -> ApiResult<Response> {
    let mut res = Json(LiveHealthView {
        live_id: live.id,
        status: live.status,
        ready: live.ready,
        last_heartbeat: live.last_heartbeat.unix_secs(),
        health: live.health,
    })
    .into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}
