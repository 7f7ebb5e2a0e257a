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
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::State;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(follow, unfollow))
        .routes(routes!(following))
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
