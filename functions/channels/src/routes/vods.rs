//! VODs: a channel's recordings; the owner deletes them.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiError, ApiResult,
    auth::AuthUser,
    channels::model::*,
    http::{Json, PageQuery, Paged, Path, Query},
    media_keys::LiveKeys,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Problem, State, internal, parse_id, views::*};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_vods))
        .routes(routes!(delete_vod))
}

/// A channel's past broadcasts that kept a recording, newest first.
#[utoipa::path(get, path = "/api/channels/{id}/vods", tag = "vods", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<LiveView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_vods(
    S(state): S<State>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Paged<LiveView>>> {
    let c = state.channels.channel(&parse_id(&id, "channel")?).await?;
    let page = state
        .channels
        .store
        .vods(&c.id, q.cursor.as_deref(), q.limit()? as i32)
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for l in page.items {
        items.push(live_view(&state, l).await?);
    }
    Ok(Json(Paged {
        items,
        next: page.next,
    }))
}

/// Delete a VOD and its media (owner only).
#[utoipa::path(delete, path = "/api/vods/{id}", tag = "vods", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_vod(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let live = load_live(&state, &id).await?;
    state.channels.owned(&live.channel_id, &user.id).await?;
    if live.status != LiveStatus::Ended || live.vod_key.is_none() {
        return Err(ApiError::not_found("no such VOD"));
    }
    internal::delete_prefix(&state, &LiveKeys::new(live.channel_id, live.id).prefix()).await?;
    state.channels.store.forget_vod(&live.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
