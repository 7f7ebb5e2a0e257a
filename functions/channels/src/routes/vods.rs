//! VODs: a channel's recordings; the owner deletes them.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiError, ApiResult,
    channels::model::*,
    domain::ids::ChannelId,
    http::{Json, Owned, OwnedLive, PageQuery, Paged, PathId, Query, Shared},
    media_keys::LiveKeys,
    openapi::problem,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{State, views::*};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_vods))
        .routes(routes!(delete_vod))
}

/// A channel's past broadcasts that kept a recording, newest first.
#[utoipa::path(get, path = "/api/channels/{id}/vods", tag = "vods", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<LiveView>), problem::NotFound))]
async fn list_vods(
    S(state): S<State>,
    PathId(id): PathId<ChannelId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Shared<Json<Paged<LiveView>>>> {
    let page = state.channels.vods(&id, &q.paging()?).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for l in page.items {
        items.push(live_view(&state, l).await?);
    }
    Ok(Shared(Json(Paged {
        items,
        next: page.next,
    })))
}

/// Delete a VOD and its media (owner only).
#[utoipa::path(delete, path = "/api/vods/{id}", tag = "vods", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), problem::Forbidden, problem::NotFound))]
async fn delete_vod(
    S(state): S<State>,
    Owned { item: live, .. }: OwnedLive,
) -> ApiResult<StatusCode> {
    if live.status != LiveStatus::Ended || live.vod_key.is_none() {
        return Err(ApiError::not_found("no such VOD"));
    }
    state
        .media
        .delete_prefix(&LiveKeys::new(live.channel_id, live.id).prefix())
        .await?;
    state.channels.forget_vod(&live).await?;
    Ok(StatusCode::NO_CONTENT)
}
