//! Following channels.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiError, ApiResult,
    auth::AuthUser,
    channels::LiveSummary,
    domain::ids::ChannelId,
    http::{Json, Path},
    stores::dynamo::StoreError,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Problem, State, parse_id};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(follow, unfollow))
        .routes(routes!(following))
}

/// Follow a channel (idempotent).
#[utoipa::path(put, path = "/api/channels/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn follow(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ChannelId = parse_id(&id, "channel")?;
    match state.channels.store.follow(&user.id, &id).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Conflict) => Err(ApiError::not_found("no such channel")),
        Err(e) => Err(e.into()),
    }
}

/// Unfollow a channel (idempotent).
#[utoipa::path(delete, path = "/api/channels/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204)))]
async fn unfollow(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ChannelId = parse_id(&id, "channel")?;
    state.channels.store.unfollow(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowedChannel {
    pub id: ChannelId,
    pub name: String,
    pub image_url: Option<String>,
    /// The current live, if any.
    pub live: Option<LiveSummary>,
}

/// Channels you follow, live ones first (most viewers first), then by name.
#[utoipa::path(get, path = "/api/users/me/following", tag = "follows", security(("bearer" = [])),
    responses((status = 200, body = Vec<FollowedChannel>), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn following(S(state): S<State>, user: AuthUser) -> ApiResult<Json<Vec<FollowedChannel>>> {
    let ids = state.channels.store.following(&user.id).await?;
    let channels = state.channels.store.channels(&ids).await?;
    let lives = state.channels.lives().await?;
    let mut out: Vec<FollowedChannel> = channels
        .into_iter()
        .map(|c| FollowedChannel {
            live: lives.iter().find(|l| l.channel.id == c.id).cloned(),
            image_url: c.image_key.as_deref().map(|k| state.channels.media_url(k)),
            id: c.id,
            name: c.name,
        })
        .collect();
    out.sort_by(|a, b| {
        let viewers = |f: &FollowedChannel| f.live.as_ref().map(|l| l.viewer_count);
        b.live
            .is_some()
            .cmp(&a.live.is_some())
            .then(viewers(b).cmp(&viewers(a)))
            .then(a.name.cmp(&b.name))
    });
    Ok(Json(out))
}
