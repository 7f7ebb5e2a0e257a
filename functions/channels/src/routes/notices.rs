//! Channel notices (the seed's board, now actually scoped to its channel): owner writes,
//! anyone reads.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiResult,
    auth::AuthUser,
    channels::{NoticeInput, model::NoticeRecord},
    domain::ids::{ChannelId, NoticeId},
    http::{Json, OwnedChannel, PageQuery, Paged, PathId, Query, Shared},
    openapi::problem,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::State;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

/// A notice as served (the stored record is the view).
pub type NoticeView = NoticeRecord;

/// A channel's notices, newest first.
#[utoipa::path(get, path = "/api/channels/{id}/notices", tag = "notices", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<NoticeView>), problem::NotFound))]
async fn list(
    S(state): S<State>,
    PathId(id): PathId<ChannelId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Shared<Json<Paged<NoticeView>>>> {
    let page = state.channels.notices(&id, &q.paging()?).await?;
    Ok(Shared(Json(page.into())))
}

/// Post a notice (owner only).
#[utoipa::path(post, path = "/api/channels/{id}/notices", tag = "notices", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = NoticeInput,
    responses((status = 201, body = NoticeView), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn create(
    S(state): S<State>,
    owned: OwnedChannel,
    Json(req): Json<NoticeInput>,
) -> ApiResult<(StatusCode, Json<NoticeView>)> {
    let notice = state.channels.post_notice(&owned.item, req).await?;
    Ok((StatusCode::CREATED, Json(notice)))
}

#[utoipa::path(get, path = "/api/channels/{id}/notices/{notice_id}", tag = "notices", params(("id" = String, Path), ("notice_id" = String, Path)),
    responses((status = 200, body = NoticeView), problem::NotFound))]
async fn get_one(
    S(state): S<State>,
    PathId((id, nid)): PathId<(ChannelId, NoticeId)>,
) -> ApiResult<Json<NoticeView>> {
    Ok(Json(state.channels.notice(&id, &nid).await?))
}

/// Edit a notice (owner only).
#[utoipa::path(patch, path = "/api/channels/{id}/notices/{notice_id}", tag = "notices", security(("bearer" = [])),
    params(("id" = String, Path), ("notice_id" = String, Path)), request_body = NoticeInput,
    responses((status = 200, body = NoticeView), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn update(
    S(state): S<State>,
    user: AuthUser,
    PathId((id, nid)): PathId<(ChannelId, NoticeId)>,
    Json(req): Json<NoticeInput>,
) -> ApiResult<Json<NoticeView>> {
    let notice = state.channels.owned_notice(&id, &nid, &user.id).await?;
    Ok(Json(state.channels.edit_notice(notice, req).await?))
}

/// Delete a notice (owner only).
#[utoipa::path(delete, path = "/api/channels/{id}/notices/{notice_id}", tag = "notices", security(("bearer" = [])),
    params(("id" = String, Path), ("notice_id" = String, Path)),
    responses((status = 204), problem::Forbidden, problem::NotFound))]
async fn delete(
    S(state): S<State>,
    user: AuthUser,
    PathId((id, nid)): PathId<(ChannelId, NoticeId)>,
) -> ApiResult<StatusCode> {
    let notice = state.channels.owned_notice(&id, &nid, &user.id).await?;
    state.channels.delete_notice(&notice).await?;
    Ok(StatusCode::NO_CONTENT)
}
