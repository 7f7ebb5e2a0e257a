//! Following channels.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiResult,
    auth::AuthUser,
    channels::FollowedChannel,
    domain::ids::ChannelId,
    http::{Json, PathId},
    openapi::problem,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::State;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(follow_state, follow, unfollow))
        .routes(routes!(following))
}

/// Whether you follow the channel: the watch page's one personal call (the channel itself comes
/// from the CDN-shared anonymous `GET /api/channels/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowState {
    pub following: bool,
}

#[utoipa::path(get, path = "/api/channels/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = FollowState), problem::Unauthorized, problem::NotFound))]
async fn follow_state(
    S(state): S<State>,
    user: AuthUser,
    PathId(id): PathId<ChannelId>,
) -> ApiResult<Json<FollowState>> {
    state.channels.channel(&id).await?;
    let following = state.channels.is_following(&user.id, &id).await?;
    Ok(Json(FollowState { following }))
}

/// Follow a channel (idempotent).
#[utoipa::path(put, path = "/api/channels/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), problem::NotFound))]
async fn follow(
    S(state): S<State>,
    user: AuthUser,
    PathId(id): PathId<ChannelId>,
) -> ApiResult<StatusCode> {
    state.channels.follow(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unfollow a channel (idempotent).
#[utoipa::path(delete, path = "/api/channels/{id}/follow", tag = "follows", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204)))]
async fn unfollow(
    S(state): S<State>,
    user: AuthUser,
    PathId(id): PathId<ChannelId>,
) -> ApiResult<StatusCode> {
    state.channels.unfollow(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Channels you follow, live ones first (most viewers first), then by name.
#[utoipa::path(get, path = "/api/users/me/following", tag = "follows", security(("bearer" = [])),
    responses((status = 200, body = Vec<FollowedChannel>), problem::Unauthorized))]
async fn following(S(state): S<State>, user: AuthUser) -> ApiResult<Json<Vec<FollowedChannel>>> {
    Ok(Json(state.channels.following(&user.id).await?))
}
