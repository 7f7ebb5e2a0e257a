//! chat-api: chat's REST side: tickets for the WebSocket, history (live and VOD replay), bans,
//! settings and word lists, and the moderation audit log. Real-time traffic is chat-ws's.

use std::sync::Arc;

use axum::{
    extract::{FromRef, State as S},
    http::StatusCode,
};
use lait_shared::{
    ApiError, ApiResult, FieldError,
    auth::{AuthUser, Authenticator},
    chat::{
        Chat, ChatConfig, DEFAULT_HISTORY, MAX_HISTORY,
        model::{Capabilities, ChatMessage, ChatSettings, ChatUser, FilterAction, MessageId},
        settings::SettingsChange,
        store::{AuditEntry, Ban},
    },
    config::Env,
    domain::ids::{ChannelId, LiveId},
    http::{ChannelModerator, Json, PageQuery, Paged, Path, PathId, Query},
    openapi::problem,
    ratelimit,
    runtime::Deps,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Clone)]
pub struct State {
    pub deps: Deps,
    pub chat: Arc<Chat>,
}

impl State {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        Self {
            chat: Arc::new(Chat::new(&deps.clients(), ChatConfig::read(env))),
            deps,
        }
    }
}

impl FromRef<State> for Authenticator {
    fn from_ref(s: &State) -> Self {
        s.deps.auth.clone()
    }
}

impl FromRef<State> for Arc<Chat> {
    fn from_ref(s: &State) -> Self {
        s.chat.clone()
    }
}

/// Routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .routes(routes!(create_ticket))
        .routes(routes!(channel_history))
        .routes(routes!(live_history))
        .routes(routes!(list_bans))
        .routes(routes!(get_settings, patch_settings))
        .routes(routes!(get_words, put_words, add_word))
        .routes(routes!(remove_word))
        .routes(routes!(audit_log))
}

lait_shared::http_function!(routes);

// ---- tickets ----

#[derive(Debug, Deserialize, ToSchema)]
pub struct TicketRequest {
    pub channel_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    /// Pass as `?ticket=` when opening the WebSocket (with `?channel=`). Single use.
    pub ticket: String,
    /// Seconds the ticket stays valid.
    pub expires_in: u64,
    /// Who the connection will be (badges: `owner` / `moderator`).
    pub user: ChatUser,
    /// What it may do: `send`, and `moderate` for the owner and moderators.
    pub capabilities: Capabilities,
}

/// A single-use, 60-second ticket to join a channel's chat as the signed-in user.
#[utoipa::path(post, path = "/api/chat/tickets", tag = "chat", security(("bearer" = [])), request_body = TicketRequest,
    responses((status = 201, body = TicketView), problem::BadRequest,
        problem::Unauthorized, problem::Forbidden,
        problem::NotFound, problem::TooManyRequests))]
async fn create_ticket(
    S(state): S<State>,
    user: AuthUser,
    Json(req): Json<TicketRequest>,
) -> ApiResult<(StatusCode, Json<TicketView>)> {
    let ch: ChannelId = req
        .channel_id
        .parse()
        .map_err(|_| ApiError::field("channel_id", "must be a channel id"))?;
    ratelimit::hit(
        &state.deps.redis,
        &format!("rl:chat-ticket:{}", user.id),
        state.chat.config.ticket_limit,
    )
    .await?;
    let (ticket, grant) = state.chat.issue_ticket(&user.id, &ch).await?;
    Ok((
        StatusCode::CREATED,
        Json(TicketView {
            ticket,
            expires_in: state.chat.config.ticket_ttl.as_secs(),
            user: grant.user,
            capabilities: grant.capabilities,
        }),
    ))
}

// ---- history ----

#[derive(Debug, Deserialize, IntoParams)]
pub struct BeforeQuery {
    /// Only messages older than this id (the previous page's `next_before`).
    // The form `MessageId` parses: the document refuses no id the handler takes.
    #[param(pattern = r"^[0-9]{1,20}(-[0-9]{1,20})?$")]
    pub before: Option<String>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AfterQuery {
    /// Only messages newer than this id (the previous page's `next_after`).
    #[param(pattern = r"^[0-9]{1,20}(-[0-9]{1,20})?$")]
    pub after: Option<String>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

#[lait_shared::skip_serializing_none]
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Pass as `before` for older messages; absent when there are none.
    pub next_before: Option<MessageId>,
}

#[lait_shared::skip_serializing_none]
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayPage {
    pub channel_id: ChannelId,
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next_after: Option<MessageId>,
}

/// A page of history: its size (1 to 500, default 50) and the message id it starts from
/// (`field`: `before` or `after`), both parsed and reported together.
fn window(
    limit: Option<usize>,
    field: &str,
    from: Option<&str>,
) -> ApiResult<(usize, Option<MessageId>)> {
    let limit = match limit {
        None => Ok(DEFAULT_HISTORY),
        Some(l) if (1..=MAX_HISTORY).contains(&l) => Ok(l),
        Some(_) => Err(FieldError::new("limit", "must be between 1 and 500")),
    };
    let from = from
        .map(|r| r.parse().map_err(|e: &str| FieldError::new(field, e)))
        .transpose();
    ApiError::both(limit, from)
}

/// The next page's cursor: the message at the page's far end (`edge`), if the page is full.
fn next_cursor(
    messages: &[ChatMessage],
    limit: usize,
    edge: fn(&[ChatMessage]) -> Option<&ChatMessage>,
) -> Option<MessageId> {
    (messages.len() == limit).then(|| edge(messages).map(|m| m.id))?
}

/// A channel's recent chat, oldest first, paging backwards with `before`. Served from Redis,
/// completed from the archive.
#[utoipa::path(get, path = "/api/channels/{id}/chat", tag = "chat", params(("id" = String, Path), BeforeQuery),
    responses((status = 200, body = HistoryPage), problem::BadRequest, problem::NotFound))]
async fn channel_history(
    S(state): S<State>,
    PathId(ch): PathId<ChannelId>,
    Query(q): Query<BeforeQuery>,
) -> ApiResult<Json<HistoryPage>> {
    let (limit, before) = window(q.limit, "before", q.before.as_deref())?;
    let messages = state.chat.history_before(&ch, before, limit).await?;
    let next_before = next_cursor(&messages, limit, <[_]>::first);
    Ok(Json(HistoryPage {
        messages,
        next_before,
    }))
}

/// One broadcast's chat in order, for VOD replay (message ids carry their time).
#[utoipa::path(get, path = "/api/lives/{id}/chat", tag = "chat", params(("id" = String, Path), AfterQuery),
    responses((status = 200, body = ReplayPage), problem::BadRequest, problem::NotFound))]
async fn live_history(
    S(state): S<State>,
    PathId(live): PathId<LiveId>,
    Query(q): Query<AfterQuery>,
) -> ApiResult<Json<ReplayPage>> {
    let (limit, after) = window(q.limit, "after", q.after.as_deref())?;
    let (channel_id, messages) = state.chat.live_history(&live, after, limit).await?;
    let next_after = next_cursor(&messages, limit, <[_]>::last);
    Ok(Json(ReplayPage {
        channel_id,
        messages,
        next_after,
    }))
}

// ---- bans ----

/// Users banned from the channel's chat (owner and moderators). Unban over the WebSocket.
#[utoipa::path(get, path = "/api/channels/{id}/chat/bans", tag = "chat", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<Ban>), problem::Forbidden, problem::NotFound))]
async fn list_bans(
    S(state): S<State>,
    ChannelModerator(m): ChannelModerator,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Paged<Ban>>> {
    let page = state.chat.bans(&m, &q.paging()?).await?;
    Ok(Json(page.into()))
}

// ---- settings ----

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    pub slow_seconds: u32,
    pub messages_per_second: f64,
    pub burst: u32,
    pub filter_action: FilterAction,
}

impl From<&ChatSettings> for SettingsView {
    fn from(s: &ChatSettings) -> Self {
        Self {
            slow_seconds: s.slow_seconds,
            messages_per_second: s.messages_per_second,
            burst: s.burst,
            filter_action: s.filter_action,
        }
    }
}

/// The channel's chat settings (owner and moderators).
#[utoipa::path(get, path = "/api/channels/{id}/chat/settings", tag = "chat", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SettingsView), problem::Forbidden, problem::NotFound))]
async fn get_settings(ChannelModerator(m): ChannelModerator) -> ApiResult<Json<SettingsView>> {
    Ok(Json(SettingsView::from(&m.room.settings)))
}

/// Change slow mode, the rate limit or the filter action (owner and moderators).
#[utoipa::path(patch, path = "/api/channels/{id}/chat/settings", tag = "chat", security(("bearer" = [])), params(("id" = String, Path)), request_body = SettingsChange,
    responses((status = 200, body = SettingsView), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn patch_settings(
    S(state): S<State>,
    ChannelModerator(m): ChannelModerator,
    Json(change): Json<SettingsChange>,
) -> ApiResult<Json<SettingsView>> {
    let s = state.chat.change_settings(&m, &change).await?;
    Ok(Json(SettingsView::from(&s)))
}

// ---- word list ----

#[derive(Debug, Serialize, ToSchema)]
pub struct WordsView {
    /// The channel's own words (the global list applies too).
    pub words: Vec<String>,
    /// What happens to a message containing one: `mask` or `reject`.
    pub action: FilterAction,
}

impl From<&ChatSettings> for WordsView {
    fn from(s: &ChatSettings) -> Self {
        Self {
            words: s.words.clone(),
            action: s.filter_action,
        }
    }
}

/// The channel's forbidden words and filter action (owner and moderators).
#[utoipa::path(get, path = "/api/channels/{id}/chat/words", tag = "chat", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = WordsView), problem::Forbidden, problem::NotFound))]
async fn get_words(ChannelModerator(m): ChannelModerator) -> ApiResult<Json<WordsView>> {
    Ok(Json(WordsView::from(&m.room.settings)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WordsReplace {
    pub words: Vec<String>,
    pub action: Option<FilterAction>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WordAdd {
    pub word: String,
}

/// Replace the channel's word list (and optionally the action).
#[utoipa::path(put, path = "/api/channels/{id}/chat/words", tag = "chat", security(("bearer" = [])), params(("id" = String, Path)), request_body = WordsReplace,
    responses((status = 200, body = WordsView), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn put_words(
    S(state): S<State>,
    ChannelModerator(m): ChannelModerator,
    Json(req): Json<WordsReplace>,
) -> ApiResult<Json<WordsView>> {
    let s = state.chat.replace_words(&m, &req.words, req.action).await?;
    Ok(Json(WordsView::from(&s)))
}

/// Add one word.
#[utoipa::path(post, path = "/api/channels/{id}/chat/words", tag = "chat", security(("bearer" = [])), params(("id" = String, Path)), request_body = WordAdd,
    responses((status = 201, body = WordsView), problem::BadRequest, problem::Forbidden, problem::NotFound))]
async fn add_word(
    S(state): S<State>,
    ChannelModerator(m): ChannelModerator,
    Json(req): Json<WordAdd>,
) -> ApiResult<(StatusCode, Json<WordsView>)> {
    let s = state.chat.add_word(&m, &req.word).await?;
    Ok((StatusCode::CREATED, Json(WordsView::from(&s))))
}

/// Remove one word.
#[utoipa::path(delete, path = "/api/channels/{id}/chat/words/{word}", tag = "chat", security(("bearer" = [])), params(("id" = String, Path), ("word" = String, Path)),
    responses((status = 204), problem::Forbidden, problem::NotFound))]
async fn remove_word(
    S(state): S<State>,
    ChannelModerator(m): ChannelModerator,
    Path((_channel, word)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.remove_word(&m, &word).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- audit ----

/// Moderation actions in the channel, newest first (owner only).
#[utoipa::path(get, path = "/api/channels/{id}/chat/audit", tag = "chat", security(("bearer" = [])), params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<AuditEntry>), problem::Forbidden, problem::NotFound))]
async fn audit_log(
    S(state): S<State>,
    ChannelModerator(m): ChannelModerator,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Paged<AuditEntry>>> {
    let page = state.chat.audit_log(&m, &q.paging()?).await?;
    Ok(Json(page.into()))
}
