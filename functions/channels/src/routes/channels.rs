//! A channel: the owner's own (ingest URL and stream key), its public page, edits and image.

use axum::extract::State as S;
use lait_shared::{
    ApiError, ApiResult, FieldError,
    auth::AuthUser,
    channels::model::*,
    domain::ids::{ChannelId, UserId},
    http::{Json, Owned, OwnedChannel, PathId, Shared},
    openapi::problem,
    uploads::{ImageSlot, PresignedUpload, UploadConfirm, UploadRequest},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{State, views::*};

pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(mine))
        .routes(routes!(rotate_key))
        .routes(routes!(get_channel, patch_channel))
        .routes(routes!(image_upload, image_confirm))
}

/// Your channel, with the ingest URL and stream key.
#[utoipa::path(get, path = "/api/channels/mine", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = MineView), problem::Unauthorized))]
async fn mine(S(state): S<State>, user: AuthUser) -> ApiResult<Json<MineView>> {
    let (channel, key) = state.channels.mine(&user.id).await?;
    mine_view(&state, channel, key.key, &user.id).await
}

async fn mine_view(
    state: &State,
    channel: ChannelRecord,
    stream_key: StreamKey,
    owner: &UserId,
) -> ApiResult<Json<MineView>> {
    let ingest_refusal = state.channels.ingest_refusal(&channel.id).await?;
    Ok(Json(MineView {
        channel: view(state, channel, Some(owner)).await?,
        ingest_url: state.channels.config.ingest_url.clone(),
        stream_key,
        ingest_refusal,
    }))
}

/// Issue a new stream key. The old one stops working at once; a live running on it is ended at
/// its next heartbeat.
#[utoipa::path(post, path = "/api/channels/mine/stream-key", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = MineView), problem::Unauthorized))]
async fn rotate_key(S(state): S<State>, user: AuthUser) -> ApiResult<Json<MineView>> {
    let (channel, key) = state.channels.rotate_key(&user.id).await?;
    mine_view(&state, channel, key.key, &user.id).await
}

/// A channel's public page data. Anonymous: `public, s-maxage=5` (every viewer shares it at the
/// CDN; `following` is null, see `GET /api/channels/{id}/follow`). With a token: `following`
/// too, `no-store`.
#[utoipa::path(get, path = "/api/channels/{id}", tag = "channels", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ChannelView), problem::NotFound))]
async fn get_channel(
    S(state): S<State>,
    user: Option<AuthUser>,
    PathId(id): PathId<ChannelId>,
) -> ApiResult<Shared<Json<ChannelView>>> {
    let c = state.channels.channel(&id).await?;
    Ok(Shared(Json(
        view(&state, c, user.as_ref().map(|u| &u.id)).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelPatchRequest {
    /// 1 to 40 characters, with a letter or digit and no invisible or direction-control
    /// characters; unique by how it looks.
    pub name: Option<String>,
    /// At most 500 characters.
    pub description: Option<String>,
    /// One of the fixed categories; `null` clears it.
    #[serde(default, deserialize_with = "lait_shared::http::nullable")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Title of the next live (at most 100); `null` clears it.
    #[serde(default, deserialize_with = "lait_shared::http::nullable")]
    #[schema(value_type = Option<String>)]
    pub stream_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "lait_shared::http::nullable")]
    #[schema(value_type = Option<String>)]
    pub stream_category: Option<Option<String>>,
    /// Use the low-latency ladder profile from the next live on.
    pub low_latency: Option<bool>,
}

/// The value of a field that parsed; a field that did not goes to `errors` (all are reported at once).
fn keep<T>(errors: &mut Vec<FieldError>, parsed: Result<T, FieldError>) -> Option<T> {
    parsed.map_err(|e| errors.push(e)).ok()
}

/// Change your channel (owner only).
///
/// Problems: 400 invalid field(s); 403 not your channel; 409 the name is taken, or looks like one
/// that is (names are unique by their confusable skeleton).
#[utoipa::path(patch, path = "/api/channels/{id}", tag = "channels", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ChannelPatchRequest,
    responses((status = 200, body = ChannelView), problem::BadRequest, problem::Forbidden, problem::NotFound, problem::Conflict))]
async fn patch_channel(
    S(state): S<State>,
    Owned {
        item: channel,
        owner,
    }: OwnedChannel,
    Json(req): Json<ChannelPatchRequest>,
) -> ApiResult<Json<ChannelView>> {
    let mut errors: Vec<FieldError> = Vec::new();
    let patch = ChannelPatch {
        name: req
            .name
            .as_deref()
            .and_then(|v| keep(&mut errors, name("name", v, 40))),
        description: req
            .description
            .as_deref()
            .and_then(|v| keep(&mut errors, optional_text("description", v, 500, true))),
        category: req.category.as_ref().map(|c| {
            c.as_deref()
                .and_then(|v| keep(&mut errors, category("category", v)))
        }),
        stream_title: req.stream_title.as_ref().map(|c| {
            c.as_deref()
                .and_then(|v| keep(&mut errors, text("stream_title", v, 100, false)))
        }),
        stream_category: req.stream_category.as_ref().map(|c| {
            c.as_deref()
                .and_then(|v| keep(&mut errors, category("stream_category", v)))
        }),
        image_key: None,
        low_latency: req.low_latency,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let updated = state.channels.update(&channel, &patch).await?;
    Ok(Json(view(&state, updated, Some(&owner.id)).await?))
}

/// Presigned upload of a channel image (owner only); confirm with PUT.
#[utoipa::path(post, path = "/api/channels/{id}/image", tag = "channels", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = UploadRequest,
    responses((status = 200, body = PresignedUpload), problem::BadRequest, problem::Forbidden))]
async fn image_upload(
    S(state): S<State>,
    Owned { item: c, .. }: OwnedChannel,
    Json(req): Json<UploadRequest>,
) -> ApiResult<Json<PresignedUpload>> {
    let slot = ImageSlot::channel_image(&c.id);
    Ok(Json(slot.presign(&state.media, &req).await?))
}

/// Point the channel at an uploaded image (owner only).
#[utoipa::path(put, path = "/api/channels/{id}/image", tag = "channels", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = UploadConfirm,
    responses((status = 200, body = ChannelView), problem::BadRequest, problem::Forbidden))]
async fn image_confirm(
    S(state): S<State>,
    Owned { item: c, owner }: OwnedChannel,
    Json(req): Json<UploadConfirm>,
) -> ApiResult<Json<ChannelView>> {
    ImageSlot::channel_image(&c.id)
        .confirm(&state.media, &req.key)
        .await?;
    let patch = ChannelPatch {
        image_key: Some(req.key),
        ..Default::default()
    };
    let updated = state.channels.update(&c, &patch).await?;
    Ok(Json(view(&state, updated, Some(&owner.id)).await?))
}
