//! Profiles: your own account (nickname, bio, avatar) and anyone's public profile.

use axum::extract::State as S;
use lait_shared::{
    ApiError, ApiResult,
    accounts::store::UserRecord,
    accounts::user::{Bio, Nickname},
    auth::AuthUser,
    clock::Timestamp,
    domain::ids::{ChannelId, UserId},
    http::{Json, PathId},
    openapi::problem,
    uploads::{ImageSlot, PresignedUpload, UploadConfirm, UploadRequest},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AuthConfig, State};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(get_me, patch_me))
        .routes(routes!(avatar_upload, avatar_confirm))
        .routes(routes!(get_user))
}

// ---- views ----

/// What anyone may see of a user: no email, no credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUser {
    pub id: UserId,
    pub nickname: String,
    pub bio: String,
    pub avatar_url: Option<String>,
    pub channel_id: ChannelId,
    pub created_at: Timestamp,
}

/// The signed-in user's own account: the public profile and the email.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub profile: PublicUser,
    pub email: Option<String>,
}

fn public(config: &AuthConfig, u: UserRecord) -> PublicUser {
    PublicUser {
        avatar_url: (u.avatar_key.as_ref()).map(|k| format!("{}/{k}", config.cdn_base)),
        id: u.id,
        nickname: u.nickname,
        bio: u.bio,
        channel_id: u.channel_id,
        created_at: u.created_at,
    }
}

pub(crate) fn me(config: &AuthConfig, mut u: UserRecord) -> Me {
    Me {
        email: u.email.take(),
        profile: public(config, u),
    }
}

// ---- profile ----

/// The signed-in user's account.
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), problem::Unauthorized))]
async fn get_me(S(state): S<State>, user: AuthUser) -> ApiResult<Json<Me>> {
    Ok(Json(me(
        &state.config,
        state.accounts.user(&user.id).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchMe {
    pub nickname: Option<String>,
    /// At most 300 characters.
    pub bio: Option<String>,
}

/// Change nickname and/or bio.
///
/// Problems: 409 nickname taken.
#[utoipa::path(patch, path = "/api/users/me", tag = "users", security(("bearer" = [])), request_body = PatchMe,
    responses((status = 200, body = Me), problem::BadRequest, problem::Conflict))]
async fn patch_me(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<PatchMe>,
) -> ApiResult<Json<Me>> {
    let nickname = req.nickname.as_deref().map(Nickname::parse).transpose();
    let bio = req.bio.as_deref().map(Bio::parse).transpose();
    let (nickname, bio) = ApiError::both(nickname, bio)?;
    let updated = state
        .accounts
        .update_profile(&user.id, nickname.as_ref(), bio.as_ref())
        .await?;
    Ok(Json(me(&state.config, updated)))
}

/// Get a presigned URL to upload a new avatar (PUT it, then confirm with `PUT /api/users/me/avatar`).
///
/// Problems: 400 type not allowed or too large.
#[utoipa::path(post, path = "/api/users/me/avatar", tag = "users", security(("bearer" = [])), request_body = UploadRequest,
    responses((status = 200, body = PresignedUpload), problem::BadRequest))]
async fn avatar_upload(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<UploadRequest>,
) -> ApiResult<Json<PresignedUpload>> {
    let slot = ImageSlot::avatar(&user.id);
    Ok(Json(slot.presign(&state.deps.media(), &req).await?))
}

/// Point the profile at an uploaded avatar, after checking its type and size.
///
/// Problems: 400 not your upload, missing, or not an allowed image.
#[utoipa::path(put, path = "/api/users/me/avatar", tag = "users", security(("bearer" = [])), request_body = UploadConfirm,
    responses((status = 200, body = Me), problem::BadRequest))]
async fn avatar_confirm(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<UploadConfirm>,
) -> ApiResult<Json<Me>> {
    let slot = ImageSlot::avatar(&user.id);
    slot.confirm(&state.deps.media(), &req.key).await?;
    let updated = state.accounts.set_avatar(&user.id, &req.key).await?;
    Ok(Json(me(&state.config, updated)))
}

/// A user's public profile.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = PublicUser), problem::NotFound))]
async fn get_user(S(state): S<State>, PathId(id): PathId<UserId>) -> ApiResult<Json<PublicUser>> {
    Ok(Json(public(&state.config, state.accounts.user(&id).await?)))
}
