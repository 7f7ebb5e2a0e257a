//! A channel's moderators: the owner appoints and removes them.

use axum::{extract::State as S, http::StatusCode};
use lait_shared::{
    ApiError, ApiResult,
    auth::AuthUser,
    domain::ids::UserId,
    http::{Json, Path},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Problem, State, parse_id};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(list_moderators))
        .routes(routes!(add_moderator, remove_moderator))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModeratorView {
    pub id: UserId,
    pub nickname: String,
}

/// A channel's moderators (owner and moderators only).
#[utoipa::path(get, path = "/api/channels/{id}/moderators", tag = "moderators", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Vec<ModeratorView>), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_moderators(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ModeratorView>>> {
    let c = state.channels.channel(&parse_id(&id, "channel")?).await?;
    if !state.channels.can_moderate(&c, &user.id).await? {
        return Err(ApiError::forbidden(
            "only the owner and moderators see the moderator list",
        ));
    }
    let mut out = Vec::new();
    for m in state.channels.store.moderators(&c.id).await? {
        if let Some(u) = state.users.get(&m).await? {
            out.push(ModeratorView {
                id: u.id,
                nickname: u.nickname,
            });
        }
    }
    Ok(Json(out))
}

/// Make a user a moderator (owner only).
#[utoipa::path(put, path = "/api/channels/{id}/moderators/{user_id}", tag = "moderators", security(("bearer" = [])),
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn add_moderator(
    S(state): S<State>,
    user: AuthUser,
    Path((id, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = state
        .channels
        .owned(&parse_id(&id, "channel")?, &user.id)
        .await?;
    let target: UserId = parse_id(&uid, "user")?;
    if state.users.get(&target).await?.is_none() {
        return Err(ApiError::not_found("no such user"));
    }
    if target == c.owner_id {
        return Err(ApiError::field(
            "user_id",
            "the owner already has every right",
        ));
    }
    state
        .channels
        .store
        .add_moderator(&c.id, &target, &user.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a moderator (owner only).
#[utoipa::path(delete, path = "/api/channels/{id}/moderators/{user_id}", tag = "moderators", security(("bearer" = [])),
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_moderator(
    S(state): S<State>,
    user: AuthUser,
    Path((id, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = state
        .channels
        .owned(&parse_id(&id, "channel")?, &user.id)
        .await?;
    let target: UserId = parse_id(&uid, "user")?;
    state
        .channels
        .store
        .remove_moderator(&c.id, &target)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
