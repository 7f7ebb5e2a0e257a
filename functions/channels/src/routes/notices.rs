//! Channel notices (the seed's board, now actually scoped to its channel): owner writes,
//! anyone reads.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiError, ApiResult,
    auth::AuthUser,
    channels::model::{CommentPolicy, NoticeRecord, text},
    clock::now_rfc3339,
    domain::ids::{ChannelId, NoticeId},
    http::{Json, PageQuery, Paged, Path, Query},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Problem, State, parse_id};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
}

/// A notice as served (the stored record is the view).
pub type NoticeView = NoticeRecord;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoticeInput {
    /// 1 to 100 characters.
    pub title: Option<String>,
    /// 1 to 5000 characters.
    pub body: Option<String>,
    /// Who may comment: all, followers or none (default all).
    pub comments: Option<CommentPolicy>,
}

/// A channel's notices, newest first.
#[utoipa::path(get, path = "/api/channels/{id}/notices", tag = "notices", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<NoticeView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list(
    S(state): S<State>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Paged<NoticeView>>> {
    let c = state.channels.channel(&parse_id(&id, "channel")?).await?;
    let page = state
        .channels
        .store
        .notices(&c.id, q.cursor.as_deref(), q.limit()? as i32)
        .await?;
    Ok(Json(Paged {
        items: page.items,
        next: page.next,
    }))
}

/// Post a notice (owner only).
#[utoipa::path(post, path = "/api/channels/{id}/notices", tag = "notices", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = NoticeInput,
    responses((status = 201, body = NoticeView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn create(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<NoticeInput>,
) -> ApiResult<(StatusCode, Json<NoticeView>)> {
    let c = state
        .channels
        .owned(&parse_id(&id, "channel")?, &user.id)
        .await?;
    let title = text("title", req.title.as_deref().unwrap_or(""), 100, false);
    let body = text("body", req.body.as_deref().unwrap_or(""), 5000, true);
    let (title, body) = match (title, body) {
        (Ok(t), Ok(b)) => (t, b),
        (t, b) => {
            return Err(ApiError::validation(
                [t.err(), b.err()].into_iter().flatten().collect(),
            ));
        }
    };
    let now = now_rfc3339();
    let notice = NoticeRecord {
        id: NoticeId::new(),
        channel_id: c.id,
        author_id: user.id,
        title,
        body,
        comments: req.comments.unwrap_or(CommentPolicy::All),
        created_at: now.clone(),
        updated_at: now,
    };
    state.channels.store.put_notice(&notice, true).await?;
    Ok((StatusCode::CREATED, Json(notice)))
}

async fn load(state: &State, id: &str, nid: &str) -> ApiResult<NoticeRecord> {
    let channel: ChannelId = parse_id(id, "channel")?;
    let nid: NoticeId = parse_id(nid, "notice")?;
    state
        .channels
        .store
        .notice(&channel, &nid)
        .await?
        .ok_or_else(|| ApiError::not_found("no such notice"))
}

#[utoipa::path(get, path = "/api/channels/{id}/notices/{notice_id}", tag = "notices", params(("id" = String, Path), ("notice_id" = String, Path)),
    responses((status = 200, body = NoticeView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_one(
    S(state): S<State>,
    Path((id, nid)): Path<(String, String)>,
) -> ApiResult<Json<NoticeView>> {
    Ok(Json(load(&state, &id, &nid).await?))
}

/// Edit a notice (owner only).
#[utoipa::path(patch, path = "/api/channels/{id}/notices/{notice_id}", tag = "notices", security(("bearer" = [])),
    params(("id" = String, Path), ("notice_id" = String, Path)), request_body = NoticeInput,
    responses((status = 200, body = NoticeView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn update(
    S(state): S<State>,
    user: AuthUser,
    Path((id, nid)): Path<(String, String)>,
    Json(req): Json<NoticeInput>,
) -> ApiResult<Json<NoticeView>> {
    let mut notice = load(&state, &id, &nid).await?;
    state.channels.owned(&notice.channel_id, &user.id).await?;
    let title = req
        .title
        .as_deref()
        .map(|t| text("title", t, 100, false))
        .transpose();
    let body = req
        .body
        .as_deref()
        .map(|b| text("body", b, 5000, true))
        .transpose();
    let (title, body) = match (title, body) {
        (Ok(t), Ok(b)) => (t, b),
        (t, b) => {
            return Err(ApiError::validation(
                [t.err(), b.err()].into_iter().flatten().collect(),
            ));
        }
    };
    if let Some(t) = title {
        notice.title = t;
    }
    if let Some(b) = body {
        notice.body = b;
    }
    if let Some(c) = req.comments {
        notice.comments = c;
    }
    notice.updated_at = now_rfc3339();
    state.channels.store.put_notice(&notice, false).await?;
    Ok(Json(notice))
}

/// Delete a notice (owner only).
#[utoipa::path(delete, path = "/api/channels/{id}/notices/{notice_id}", tag = "notices", security(("bearer" = [])),
    params(("id" = String, Path), ("notice_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    S(state): S<State>,
    user: AuthUser,
    Path((id, nid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let notice = load(&state, &id, &nid).await?;
    state.channels.owned(&notice.channel_id, &user.id).await?;
    if !state
        .channels
        .store
        .delete_notice(&notice.channel_id, &notice.id)
        .await?
    {
        return Err(ApiError::not_found("no such notice"));
    }
    Ok(StatusCode::NO_CONTENT)
}
