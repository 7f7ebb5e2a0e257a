//! channels: channels, stream keys, lives, VODs, follows, moderators, notices, search (public,
//! under `/api`), and the media node's signed hooks (under `/internal/media`, not routed by the
//! public API).

mod internal;
mod notices;

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRef, State as S},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use lait_shared::{
    ApiError, ApiResult, FieldError,
    auth::{AuthUser, Authenticator, extract::MaybeAuthUser},
    channels::{Channels, ChannelsConfig, LiveSummary, model::*, store::ChannelsStore},
    config::Env,
    domain::ids::{ChannelId, LiveId, UserId},
    http::{ClientIp, Json, PageQuery, Paged, Path, Query},
    media_keys::{self, LiveKeys},
    ratelimit::{self, Limit},
    runtime::Deps,
    search::Hit,
    stores::{dynamo::StoreError, users::UsersStore},
    uploads::{self, PresignedUpload},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use internal::{reap, reaper_loop};

#[derive(Clone)]
pub struct State {
    pub deps: Deps,
    pub channels: Channels,
    pub users: UsersStore,
    pub config: Arc<FnConfig>,
}

#[derive(Debug, Clone)]
pub struct FnConfig {
    /// Shared secret of the media nodes' request signatures.
    pub media_secret: Vec<u8>,
    pub search_limit: Limit,
}

impl State {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        let secret: String = env.required("LAIT_MEDIA_SECRET");
        if !secret.is_empty() && secret.len() < 32 {
            env.problem("LAIT_MEDIA_SECRET", "must be at least 32 bytes");
        }
        let channels = Channels::new(
            ChannelsStore::new(deps.dynamodb.clone(), &deps.stores),
            deps.redis.clone(),
            ChannelsConfig::read(env),
        );
        let config = FnConfig {
            media_secret: secret.into_bytes(),
            search_limit: env.or("LAIT_SEARCH_LIMIT", Limit::new(30, 60)),
        };
        Self {
            users: UsersStore::new(deps.dynamodb.clone(), &deps.stores),
            deps,
            channels,
            config: Arc::new(config),
        }
    }
}

impl FromRef<State> for Authenticator {
    fn from_ref(s: &State) -> Self {
        s.deps.auth.clone()
    }
}

/// Public routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(mine))
        .routes(routes!(rotate_key))
        .routes(routes!(get_channel, patch_channel))
        .routes(routes!(image_upload, image_confirm))
        .routes(routes!(follow, unfollow))
        .routes(routes!(following))
        .routes(routes!(list_moderators))
        .routes(routes!(add_moderator, remove_moderator))
        .routes(routes!(list_lives))
        .routes(routes!(get_live, patch_live))
        .routes(routes!(live_health))
        .routes(routes!(list_vods))
        .routes(routes!(delete_vod))
        .routes(routes!(search))
        .merge(notices::routes())
}

pub fn router(state: State) -> Router {
    routes()
        .split_for_parts()
        .0
        .merge(internal::routes().split_for_parts().0)
        .with_state(state)
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

pub fn app(state: State) -> Router {
    let http = state.deps.http.clone();
    lait_shared::http::finish(router(state), &http)
}

pub(crate) type Problem = lait_shared::openapi::Problem;

fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> ApiResult<T> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no such {what}")))
}

// ---- views ----

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    pub id: UserId,
    pub nickname: String,
    pub avatar_url: Option<String>,
}

/// A channel as anyone sees it. Never carries the stream key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: ChannelId,
    pub name: String,
    pub description: String,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub owner: OwnerView,
    pub live: bool,
    pub live_id: Option<LiveId>,
    pub follower_count: i64,
    pub stream_title: Option<String>,
    pub stream_category: Option<String>,
    pub low_latency: bool,
    pub created_at: String,
    /// Whether the caller follows it (absent for anonymous callers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub following: Option<bool>,
}

/// The owner's view: adds where and with what key to stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct MineView {
    #[serde(flatten)]
    pub channel: ChannelView,
    /// OBS "Server".
    pub ingest_url: String,
    /// OBS "Stream Key". Secret: shown to the owner only.
    pub stream_key: String,
}

async fn view(state: &State, c: ChannelRecord, viewer: Option<&UserId>) -> ApiResult<ChannelView> {
    let owner = state.users.get(&c.owner_id).await?;
    let following = match viewer {
        Some(u) => Some(state.channels.store.is_following(u, &c.id).await?),
        None => None,
    };
    // Live to viewers once playable; `live_id` is there from the first moment (the studio).
    let live = match &c.current_live_id {
        Some(id) => state
            .channels
            .store
            .live(id)
            .await?
            .is_some_and(|l| l.ready),
        None => false,
    };
    Ok(ChannelView {
        owner: OwnerView {
            id: c.owner_id,
            nickname: owner
                .as_ref()
                .map(|o| o.nickname.clone())
                .unwrap_or_default(),
            avatar_url: owner
                .and_then(|o| o.avatar_key)
                .map(|k| state.channels.media_url(&k)),
        },
        image_url: c.image_key.as_deref().map(|k| state.channels.media_url(k)),
        live,
        live_id: c.current_live_id,
        id: c.id,
        name: c.name,
        description: c.description,
        category: c.category,
        follower_count: c.follower_count.max(0),
        stream_title: c.stream_title,
        stream_category: c.stream_category,
        low_latency: c.low_latency,
        created_at: c.created_at,
        following,
    })
}

// ---- channels ----

/// Your channel, with the ingest URL and stream key.
#[utoipa::path(get, path = "/api/channels/mine", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = MineView), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn mine(S(state): S<State>, user: AuthUser) -> ApiResult<Json<MineView>> {
    let (channel, key) = state.channels.mine(&user.id).await?;
    mine_view(&state, channel, key.key, &user.id).await
}

async fn mine_view(
    state: &State,
    channel: ChannelRecord,
    stream_key: String,
    owner: &UserId,
) -> ApiResult<Json<MineView>> {
    Ok(Json(MineView {
        channel: view(state, channel, Some(owner)).await?,
        ingest_url: state.channels.config.ingest_url.clone(),
        stream_key,
    }))
}

/// Issue a new stream key. The old one stops working at once; a live running on it is ended at
/// its next heartbeat.
#[utoipa::path(post, path = "/api/channels/mine/stream-key", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = MineView), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn rotate_key(S(state): S<State>, user: AuthUser) -> ApiResult<Json<MineView>> {
    let (channel, key) = state.channels.rotate_key(&user.id).await?;
    mine_view(&state, channel, key.key, &user.id).await
}

/// A channel's public page data.
#[utoipa::path(get, path = "/api/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_channel(
    S(state): S<State>,
    user: MaybeAuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ChannelView>> {
    let c = state.channels.channel(&parse_id(&id, "channel")?).await?;
    Ok(Json(view(&state, c, user.0.as_ref().map(|u| &u.id)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelPatchRequest {
    /// 1 to 40 characters.
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

/// Change your channel (owner only).
#[utoipa::path(patch, path = "/api/channels/{id}", tag = "channels", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ChannelPatchRequest,
    responses(
        (status = 200, body = ChannelView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not your channel", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_channel(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ChannelPatchRequest>,
) -> ApiResult<Json<ChannelView>> {
    let channel = state
        .channels
        .owned(&parse_id(&id, "channel")?, &user.id)
        .await?;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut ok = |r: Result<String, FieldError>| r.map_err(|e| errors.push(e)).ok();
    let patch = ChannelPatch {
        name: req
            .name
            .as_deref()
            .and_then(|v| ok(text("name", v, 40, false))),
        description: req
            .description
            .as_deref()
            .and_then(|v| ok(optional_text("description", v, 500, true))),
        category: req
            .category
            .as_ref()
            .map(|c| c.as_deref().and_then(|v| ok(category("category", v)))),
        stream_title: req.stream_title.as_ref().map(|c| {
            c.as_deref()
                .and_then(|v| ok(text("stream_title", v, 100, false)))
        }),
        stream_category: req.stream_category.as_ref().map(|c| {
            c.as_deref()
                .and_then(|v| ok(category("stream_category", v)))
        }),
        image_key: None,
        low_latency: req.low_latency,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let updated = state.channels.update(&channel, &patch).await?;
    Ok(Json(view(&state, updated, Some(&user.id)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImageUploadRequest {
    pub content_type: String,
    pub content_length: u64,
}

/// Presigned upload of a channel image (owner only); confirm with PUT.
#[utoipa::path(post, path = "/api/channels/{id}/image", tag = "channels", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ImageUploadRequest,
    responses((status = 200, body = PresignedUpload), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn image_upload(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ImageUploadRequest>,
) -> ApiResult<Json<PresignedUpload>> {
    let c = state
        .channels
        .owned(&parse_id(&id, "channel")?, &user.id)
        .await?;
    let up = uploads::AVATAR
        .presign(
            &state.deps.s3,
            &state.deps.stores.media_bucket,
            &media_keys::channel_images(&c.id),
            &req.content_type,
            req.content_length,
        )
        .await?;
    Ok(Json(up))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImageConfirm {
    pub key: String,
}

/// Point the channel at an uploaded image (owner only).
#[utoipa::path(put, path = "/api/channels/{id}/image", tag = "channels", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ImageConfirm,
    responses((status = 200, body = ChannelView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn image_confirm(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<ImageConfirm>,
) -> ApiResult<Json<ChannelView>> {
    let c = state
        .channels
        .owned(&parse_id(&id, "channel")?, &user.id)
        .await?;
    uploads::AVATAR
        .confirm(
            &state.deps.s3,
            &state.deps.stores.media_bucket,
            &media_keys::channel_images(&c.id),
            &req.key,
        )
        .await?;
    let patch = ChannelPatch {
        image_key: Some(req.key),
        ..Default::default()
    };
    let updated = state.channels.update(&c, &patch).await?;
    Ok(Json(view(&state, updated, Some(&user.id)).await?))
}

// ---- follows ----

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

// ---- moderators ----

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

// ---- lives ----

fn offset_cursor(c: Option<&str>) -> ApiResult<usize> {
    use base64::Engine;
    let Some(c) = c else { return Ok(0) };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("o:")?.parse().ok())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor of this list"))
}

fn next_offset(n: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{n}"))
}

/// Channels live now: most viewers first, then newest.
#[utoipa::path(get, path = "/api/lives", tag = "lives", params(PageQuery),
    responses((status = 200, body = Paged<LiveSummary>), (status = 400, body = Problem, content_type = "application/problem+json")))]
async fn list_lives(S(state): S<State>, Query(q): Query<PageQuery>) -> ApiResult<Response> {
    let limit = q.limit()?;
    let offset = offset_cursor(q.cursor.as_deref())?;
    let all = state.channels.lives().await?;
    let items: Vec<LiveSummary> = all.iter().skip(offset).take(limit).cloned().collect();
    let next = (offset + limit < all.len()).then(|| next_offset(offset + limit));
    let mut res = Json(Paged { items, next }).into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=2"),
    );
    Ok(res)
}

/// One live (or ended broadcast).
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    pub id: LiveId,
    pub channel_id: ChannelId,
    pub title: String,
    pub category: Option<String>,
    pub status: LiveStatus,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub viewer_count: u64,
    /// Absent until the media node has put a first thumbnail in place.
    pub thumbnail_url: Option<String>,
    /// Live master playlist while live; the VOD playlist after, if one was kept.
    pub playlist_url: Option<String>,
    pub duration_secs: Option<f64>,
    pub low_latency: bool,
    /// Its playlists are in place: a player following `playlist_url` gets 200s.
    pub ready: bool,
    /// Why it ended (`publisher left`, `heartbeat timeout`, `stream key rotated`, …).
    pub end_reason: Option<String>,
}

async fn live_view(state: &State, l: LiveRecord) -> ApiResult<LiveView> {
    let live = l.status == LiveStatus::Live;
    let viewers = if live {
        state.channels.viewer_counts(&[l.channel_id]).await?[0]
    } else {
        0
    };
    // While live: the channel's rolling thumbnail; after: the one kept with the recording.
    let keys = LiveKeys::new(l.channel_id, l.id);
    let thumbnail = if live {
        media_keys::latest_thumbnail(&l.channel_id)
    } else {
        keys.thumbnail()
    };
    Ok(LiveView {
        thumbnail_url: l.thumbnail.then(|| state.channels.media_url(&thumbnail)),
        playlist_url: if live {
            Some(state.channels.media_url(&keys.master()))
        } else {
            l.vod_key.as_deref().map(|k| state.channels.media_url(k))
        },
        id: l.id,
        channel_id: l.channel_id,
        title: l.title,
        category: l.category,
        status: l.status,
        started_at: l.started_at,
        ended_at: l.ended_at,
        viewer_count: viewers,
        duration_secs: l.duration_secs,
        low_latency: l.low_latency,
        ready: l.ready,
        end_reason: l.end_reason,
    })
}

async fn load_live(state: &State, id: &str) -> ApiResult<LiveRecord> {
    state
        .channels
        .store
        .live(&parse_id(id, "live")?)
        .await?
        .ok_or_else(|| ApiError::not_found("no such live"))
}

#[utoipa::path(get, path = "/api/lives/{id}", tag = "lives", params(("id" = String, Path)),
    responses((status = 200, body = LiveView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_live(S(state): S<State>, Path(id): Path<String>) -> ApiResult<Json<LiveView>> {
    let l = load_live(&state, &id).await?;
    Ok(Json(live_view(&state, l).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LivePatch {
    /// 1 to 100 characters.
    pub title: Option<String>,
    pub category: Option<String>,
}

/// Change a live's title or category (owner only).
#[utoipa::path(patch, path = "/api/lives/{id}", tag = "lives", security(("bearer" = [])), params(("id" = String, Path)), request_body = LivePatch,
    responses((status = 200, body = LiveView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn patch_live(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<LivePatch>,
) -> ApiResult<Json<LiveView>> {
    let live = load_live(&state, &id).await?;
    state.channels.owned(&live.channel_id, &user.id).await?;
    let title = req
        .title
        .as_deref()
        .map(|t| text("title", t, 100, false))
        .transpose();
    let cat = req
        .category
        .as_deref()
        .map(|c| category("category", c))
        .transpose();
    let (title, cat) = match (title, cat) {
        (Ok(t), Ok(c)) => (t, c),
        (t, c) => {
            return Err(ApiError::validation(
                [t.err(), c.err()].into_iter().flatten().collect(),
            ));
        }
    };
    let updated = state
        .channels
        .update_live(&live, title.as_deref(), cat.as_deref())
        .await?;
    Ok(Json(live_view(&state, updated).await?))
}

/// The stream health the media node last reported (owner only): the studio's live status.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveHealthView {
    pub live_id: LiveId,
    pub status: LiveStatus,
    /// Playable: the master playlist and every rendition are in place.
    pub ready: bool,
    /// Unix seconds of the last heartbeat.
    pub last_heartbeat: i64,
    /// Absent until the first heartbeat.
    pub health: Option<Health>,
}

#[utoipa::path(get, path = "/api/lives/{id}/health", tag = "lives", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = LiveHealthView), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn live_health(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let live = load_live(&state, &id).await?;
    state.channels.owned(&live.channel_id, &user.id).await?;
    let mut res = Json(LiveHealthView {
        live_id: live.id,
        status: live.status,
        ready: live.ready,
        last_heartbeat: live.last_heartbeat,
        health: live.health,
    })
    .into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

// ---- VODs ----

/// A channel's past broadcasts that kept a recording, newest first.
#[utoipa::path(get, path = "/api/channels/{id}/vods", tag = "vods", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<LiveView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_vods(
    S(state): S<State>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Paged<LiveView>>> {
    let c = state.channels.channel(&parse_id(&id, "channel")?).await?;
    let page = state
        .channels
        .store
        .vods(&c.id, q.cursor.as_deref(), q.limit()? as i32)
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for l in page.items {
        items.push(live_view(&state, l).await?);
    }
    Ok(Json(Paged {
        items,
        next: page.next,
    }))
}

/// Delete a VOD and its media (owner only).
#[utoipa::path(delete, path = "/api/vods/{id}", tag = "vods", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_vod(
    S(state): S<State>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let live = load_live(&state, &id).await?;
    state.channels.owned(&live.channel_id, &user.id).await?;
    if live.status != LiveStatus::Ended || live.vod_key.is_none() {
        return Err(ApiError::not_found("no such VOD"));
    }
    internal::delete_prefix(&state, &LiveKeys::new(live.channel_id, live.id).prefix()).await?;
    state.channels.store.forget_vod(&live.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- search ----

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// 1 to 50 characters; matched case-insensitively anywhere in channel names and live titles.
    pub q: String,
}

/// Search channel names and live titles (live first). Rate limited per client address.
#[utoipa::path(get, path = "/api/search", tag = "search", params(SearchQuery),
    responses((status = 200, body = Vec<Hit>), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn search(
    S(state): S<State>,
    ip: ClientIp,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Vec<Hit>>> {
    ratelimit::hit(
        &state.deps.redis,
        &format!("rl:search:ip:{}", ip.0),
        state.config.search_limit,
    )
    .await?;
    let query = q.q.trim();
    let n = query.chars().count();
    if n == 0 || n > 50 {
        return Err(ApiError::field("q", "must be 1 to 50 characters"));
    }
    Ok(Json(state.channels.search.search(query, 20).await?))
}
