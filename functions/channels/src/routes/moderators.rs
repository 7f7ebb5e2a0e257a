//! A channel's moderators: the owner appoints and removes them.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiResult,
    auth::AuthUser,
    channels::ModeratorView,
    domain::ids::{ChannelId, UserId},
    http::{Json, Owned, OwnedChannel, PathId},
    openapi::problem,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::State;

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_moderators))
        .routes(routes!(add_moderator, remove_moderator))
}

/// A channel's moderators (owner and moderators only).
#[utoipa::path(get, path = "/api/channels/{id}/moderators", tag = "moderators", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<ModeratorView>), problem::Forbidden, problem::NotFound))]
async fn list_moderators(
    S(state): S<State>,
    user: AuthUser,
    PathId(id): PathId<ChannelId>,
) -> ApiResult<Json<Vec<ModeratorView>>> {
    let c = state.channels.channel(&id).await?;
    Ok(Json(state.channels.moderators(&c, &user.id).await?))
}

/// Make a user a moderator (owner only).
///
/// Problems: 400 the user is the owner.
#[utoipa::path(put, path = "/api/channels/{id}/moderators/{user_id}", tag = "moderators", security(("bearer" = [])),
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn add_moderator(
    S(state): S<State>,
    Owned { item: channel, .. }: OwnedChannel,
    PathId((_channel, target)): PathId<(ChannelId, UserId)>,
) -> ApiResult<StatusCode> {
    state.channels.add_moderator(&channel, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a moderator (owner only).
#[utoipa::path(delete, path = "/api/channels/{id}/moderators/{user_id}", tag = "moderators", security(("bearer" = [])),
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), problem::Forbidden, problem::NotFound))]
async fn remove_moderator(
    S(state): S<State>,
    Owned { item: channel, .. }: OwnedChannel,
    PathId((_channel, target)): PathId<(ChannelId, UserId)>,
) -> ApiResult<StatusCode> {
    state.channels.remove_moderator(&channel, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}
