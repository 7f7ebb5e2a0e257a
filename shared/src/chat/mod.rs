//! Chat: tickets, rooms, sending with admission and filtering, history with archive fallback,
//! moderation, and the per-room micro-batched fan-out.
//!
//! Free of Lambda and HTTP: `chat-ws` and `chat-api` are thin adapters, and delivery goes through
//! the [`Outbox`] interface (API Gateway's `@connections` API in both runtimes).

pub mod filter;
pub mod hot;
pub mod model;
pub mod protocol;
pub mod store;
pub mod text;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, future::BoxFuture};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use self::{
    filter::{Verdict, WordFilter},
    hot::{Admission, Hot, Refusal},
    model::*,
    protocol::{Action, ClientFrame, ErrorCode, ServerFrame},
    store::{AuditEntry, Ban, ChatStore, Range},
    text::{ChatText, TextError},
};
use crate::{
    channels::store::ChannelsStore,
    clock::now_rfc3339,
    config::Env,
    domain::ids::{ChannelId, LiveId, UserId},
    error::ApiError,
    ratelimit::Limit,
    runtime::Deps,
    stores::users::UsersStore,
};

/// API Gateway's largest WebSocket message; batches are split below it.
pub const MAX_FRAME: usize = 128 * 1024;
/// Most messages one `history` answer carries.
pub const MAX_HISTORY: usize = 500;
pub const DEFAULT_HISTORY: usize = 50;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// How long a new flusher waits for more messages before sending a batch.
    pub flush_window: Duration,
    /// PostToConnection calls in flight per flush.
    pub fanout_concurrency: usize,
    /// Cap of each room's Redis stream.
    pub history_len: usize,
    pub duplicate_window: Duration,
    /// Flush lock lifetime: how long a dead flusher blocks its room.
    pub lock_ttl: Duration,
    /// How long one invocation keeps flushing a busy room before handing it over.
    pub flush_budget: Duration,
    /// Tickets per user.
    pub ticket_limit: Limit,
    /// How long a ticket stays valid.
    pub ticket_ttl: Duration,
}

impl ChatConfig {
    pub fn read(env: &mut Env) -> Self {
        Self {
            flush_window: Duration::from_millis(env.or("LAIT_CHAT_FLUSH_WINDOW_MS", 50)),
            fanout_concurrency: env.or("LAIT_CHAT_FANOUT_CONCURRENCY", 64usize).max(1),
            history_len: env.or("LAIT_CHAT_HISTORY_LEN", 1000usize).max(10),
            duplicate_window: env.secs_or("LAIT_CHAT_DUPLICATE_SECS", Duration::from_secs(30)),
            lock_ttl: Duration::from_secs(5),
            flush_budget: Duration::from_millis(env.or("LAIT_CHAT_FLUSH_BUDGET_MS", 5000)),
            ticket_limit: env.or("LAIT_CHAT_TICKET_LIMIT", Limit::new(30, 60)),
            ticket_ttl: env.secs_or("LAIT_CHAT_TICKET_SECS", Duration::from_secs(60)),
        }
    }
}

/// Why delivering to one connection failed.
#[derive(Debug)]
pub enum PostError {
    /// The connection is gone (410): forget it.
    Gone,
    Other(anyhow::Error),
}

/// What is posted to a connection; a batch's is shared by every post of its fan-out. Its SHA-256
/// is computed at most once, so an outbox that signs payloads (SigV4) hashes a batch once, not
/// once per connection.
pub struct Payload {
    data: Bytes,
    sha256: OnceLock<String>,
}

impl Payload {
    pub fn new(data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            sha256: OnceLock::new(),
        }
    }

    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Lower-case hex SHA-256 of the data.
    pub fn sha256_hex(&self) -> &str {
        self.sha256
            .get_or_init(|| crate::auth::secret::sha256_hex(&self.data))
    }
}

/// Talking to clients: API Gateway's management API behind a small interface.
pub trait Outbox: Send + Sync + 'static {
    fn post<'a>(
        &'a self,
        connection: &'a str,
        payload: &'a Payload,
    ) -> BoxFuture<'a, Result<(), PostError>>;
    fn close<'a>(&'a self, connection: &'a str) -> BoxFuture<'a, Result<(), PostError>>;
}

/// Everything that can go wrong in a chat action, as a client is told.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("you are banned from this chat")]
    Banned,
    /// The connection's registration is gone (Redis lost it): the client must reconnect.
    #[error("this connection is no longer registered; reconnect and resume")]
    Unregistered,
    #[error("you are timed out")]
    TimedOut { retry_ms: u64 },
    #[error("slow mode is on")]
    SlowMode { retry_ms: u64 },
    #[error("you already sent this message")]
    Duplicate { retry_ms: u64 },
    #[error("too many messages")]
    RateLimited { retry_ms: u64 },
    #[error("the message contains a forbidden word")]
    Filtered,
    #[error("the message is longer than 500 characters")]
    TooLong,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<redis::RedisError> for ChatError {
    fn from(e: redis::RedisError) -> Self {
        Self::Internal(e.into())
    }
}

impl ChatError {
    /// The `code` of the error event.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Banned => ErrorCode::Banned,
            Self::Unregistered => ErrorCode::Reconnect,
            Self::TimedOut { .. } => ErrorCode::TimedOut,
            Self::SlowMode { .. } => ErrorCode::SlowMode,
            Self::Duplicate { .. } => ErrorCode::Duplicate,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Filtered => ErrorCode::Filtered,
            Self::TooLong => ErrorCode::TooLong,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status of this error, for REST answers and the `$connect` handshake alike.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Filtered | Self::TooLong => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) | Self::Banned => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unregistered => StatusCode::CONFLICT,
            Self::TimedOut { .. }
            | Self::SlowMode { .. }
            | Self::Duplicate { .. }
            | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::TimedOut { retry_ms }
            | Self::SlowMode { retry_ms }
            | Self::Duplicate { retry_ms }
            | Self::RateLimited { retry_ms } => Some(*retry_ms),
            _ => None,
        }
    }

    /// The message shown to the client (internal errors say nothing more).
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => "something went wrong; try again".into(),
            other => other.to_string(),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let detail = e.message();
        match e.status() {
            StatusCode::BAD_REQUEST => ApiError::bad_request(detail),
            StatusCode::FORBIDDEN => ApiError::forbidden(detail),
            StatusCode::NOT_FOUND => ApiError::not_found(detail),
            StatusCode::CONFLICT => ApiError::conflict("reconnect"),
            StatusCode::TOO_MANY_REQUESTS => {
                let ms = e.retry_after_ms().unwrap_or(1000);
                ApiError::rate_limited(ms.div_ceil(1000).max(1))
            }
            _ => match e {
                ChatError::Internal(err) => ApiError::internal(err),
                other => ApiError::internal(anyhow::anyhow!(other.to_string())),
            },
        }
    }
}

impl From<TextError> for ChatError {
    fn from(e: TextError) -> Self {
        match e {
            TextError::Empty => Self::BadRequest("text must not be empty".into()),
            TextError::TooLong => Self::TooLong,
        }
    }
}

/// What every action needs to know about a channel; cached in Redis for a few seconds and
/// dropped when settings change or a live starts or ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Room {
    pub owner_id: UserId,
    pub live_id: Option<LiveId>,
    pub settings: ChatSettings,
}

const ROOM_CACHE_TTL: Duration = Duration::from_secs(10);

/// A moderation action, parsed from a client frame.
#[derive(Debug, Clone)]
pub enum ModAction {
    Delete { message_id: MessageId },
    Timeout { user_id: UserId, seconds: u32 },
    Ban { user_id: UserId, reason: String },
    Unban { user_id: UserId },
    Slow { seconds: u32 },
    Clear,
}

impl ModAction {
    fn name(&self) -> &'static str {
        match self {
            Self::Delete { .. } => "delete",
            Self::Timeout { .. } => "timeout",
            Self::Ban { .. } => "ban",
            Self::Unban { .. } => "unban",
            Self::Slow { .. } => "slow",
            Self::Clear => "clear",
        }
    }
}

impl TryFrom<ClientFrame> for ModAction {
    type Error = ChatError;
    fn try_from(frame: ClientFrame) -> Result<Self, ChatError> {
        Ok(match frame {
            ClientFrame::Delete { message_id } => Self::Delete { message_id },
            ClientFrame::Timeout { user_id, seconds } => Self::Timeout { user_id, seconds },
            ClientFrame::Ban { user_id, reason } => Self::Ban {
                user_id,
                reason: reason
                    .map(|r| crate::domain::clean_text(&r, false))
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            },
            ClientFrame::Unban { user_id } => Self::Unban { user_id },
            ClientFrame::Slow { seconds } => Self::Slow { seconds },
            ClientFrame::Clear => Self::Clear,
            ClientFrame::Send { .. } | ClientFrame::History { .. } | ClientFrame::Ping => {
                return Err(ChatError::BadRequest("not a moderation action".into()));
            }
        })
    }
}

/// Someone allowed to moderate a channel, checked against the stores (not the ticket).
#[derive(Debug, Clone)]
pub struct Moderator {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub is_owner: bool,
    pub room: Room,
}

/// Per-channel word filters with the list version they were built from.
type FilterCache = HashMap<ChannelId, (u64, Arc<WordFilter>)>;

#[derive(Clone)]
pub struct Chat {
    pub store: ChatStore,
    pub hot: Hot,
    channels: ChannelsStore,
    users: UsersStore,
    pub config: Arc<ChatConfig>,
    filters: Arc<Mutex<FilterCache>>,
}

/// Serialises events into `{"type":"batch","messages":[…]}` frames of at most [`MAX_FRAME`] bytes.
pub fn batch_frames(events: &[Event]) -> anyhow::Result<Vec<Payload>> {
    const HEAD: &[u8] = protocol::BATCH_HEAD.as_bytes();
    const TAIL: &[u8] = b"]}";
    let mut frames = Vec::new();
    let mut cur: Vec<u8> = HEAD.to_vec();
    let mut items = 0;
    for e in events {
        let item = serde_json::to_vec(e)?;
        let extra = item.len() + usize::from(items > 0);
        if items > 0 && cur.len() + extra + TAIL.len() > MAX_FRAME {
            cur.extend_from_slice(TAIL);
            frames.push(Payload::new(std::mem::replace(&mut cur, HEAD.to_vec())));
            items = 0;
        }
        if items > 0 {
            cur.push(b',');
        }
        cur.extend_from_slice(&item);
        items += 1;
    }
    if items > 0 {
        cur.extend_from_slice(TAIL);
        frames.push(Payload::new(cur));
    }
    Ok(frames)
}

/// Tasks one delivery is spread over.
const DELIVERY_LANES: usize = 4;

/// Posts every frame to each connection of `part`, `concurrency` at a time; returns the gone ones.
async fn deliver_lane(
    out: Arc<dyn Outbox>,
    frames: Arc<Vec<Payload>>,
    part: Vec<String>,
    concurrency: usize,
) -> Vec<String> {
    let gone = Mutex::new(Vec::new());
    futures::stream::iter(part)
        .for_each_concurrent(concurrency, |id| {
            let (out, frames, gone) = (&out, &frames, &gone);
            async move {
                for f in frames.iter() {
                    match out.post(&id, f).await {
                        Ok(()) => {}
                        Err(PostError::Gone) => {
                            gone.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                            return;
                        }
                        Err(PostError::Other(e)) => {
                            tracing::warn!(connection_id = %id, error = %e, "chat delivery failed");
                            return;
                        }
                    }
                }
            }
        })
        .await;
    gone.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Posts `{type:"ack", action:"send", id, request_id}` to the sender of each archived message.
async fn ack_senders(events: &[Event], metas: Vec<EntryMeta>, out: &Arc<dyn Outbox>) {
    let acks = events
        .iter()
        .zip(metas)
        .filter_map(|(e, m)| Some((e.id, m.ack?)));
    futures::stream::iter(acks)
        .for_each_concurrent(16, |(id, to)| async move {
            let ack = ServerFrame::Ack {
                action: Action::Send,
                id: Some(id),
                request_id: to.request_id,
            };
            match out.post(&to.connection_id, &Payload::new(ack.to_json())).await {
                Ok(()) | Err(PostError::Gone) => {}
                Err(PostError::Other(e)) => {
                    tracing::warn!(connection_id = %to.connection_id, error = %e, "send ack failed");
                }
            }
        })
        .await;
}

impl Chat {
    pub fn new(deps: &Deps, config: ChatConfig) -> Self {
        Self {
            store: ChatStore::new(deps.dynamodb.clone(), &deps.stores),
            hot: Hot::new(deps.redis.clone(), config.history_len),
            channels: ChannelsStore::new(deps.dynamodb.clone(), &deps.stores),
            users: UsersStore::new(deps.dynamodb.clone(), &deps.stores),
            config: Arc::new(config),
            filters: Arc::default(),
        }
    }

    // ---- rooms ----

    pub async fn room(&self, ch: &ChannelId) -> Result<Room, ChatError> {
        let key = hot::channel_cache_key(ch);
        if let Some(room) = self.hot.cached::<Room>(&key).await? {
            return Ok(room);
        }
        let channel = self
            .channels
            .channel(ch)
            .await?
            .ok_or_else(|| ChatError::NotFound("no such channel".into()))?;
        let room = Room {
            owner_id: channel.owner_id,
            live_id: channel.current_live_id,
            settings: self.store.settings(ch).await?,
        };
        self.hot.cache(&key, &room, ROOM_CACHE_TTL).await?;
        Ok(room)
    }

    /// Drops the cached room after a change.
    pub async fn invalidate(&self, ch: &ChannelId) -> Result<(), ChatError> {
        Ok(self.hot.forget(&hot::channel_cache_key(ch)).await?)
    }

    /// The channel's own word filter, rebuilt only when its list changed.
    fn channel_filter(&self, ch: &ChannelId, settings: &ChatSettings) -> Option<Arc<WordFilter>> {
        if settings.words.is_empty() {
            return None;
        }
        let mut cache = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, f)) = cache.get(ch)
            && *v == settings.words_version
        {
            return Some(f.clone());
        }
        let f = Arc::new(WordFilter::new(settings.words.iter().map(String::as_str)));
        cache.insert(*ch, (settings.words_version, f.clone()));
        Some(f)
    }

    async fn is_banned(&self, ch: &ChannelId, user: &UserId) -> Result<bool, ChatError> {
        if let Some(b) = self.hot.cached_ban(ch, user).await? {
            return Ok(b);
        }
        let banned = self.store.is_banned(ch, user).await?;
        self.hot.cache_ban(ch, user, banned).await?;
        Ok(banned)
    }

    // ---- tickets and connections ----

    /// A ticket for `user` to join `ch`'s chat; returns the secret.
    /// A ticket for `user` to join `ch`, and what it grants (the client shows its badges and
    /// moderation tools from it).
    pub async fn issue_ticket(
        &self,
        user: &UserId,
        ch: &ChannelId,
    ) -> Result<(String, Ticket), ChatError> {
        let room = self.room(ch).await?;
        if self.is_banned(ch, user).await? {
            return Err(ChatError::Banned);
        }
        let record = self
            .users
            .get(user)
            .await?
            .ok_or_else(|| ChatError::Forbidden("no such user".into()))?;
        let mut badges = Vec::new();
        if room.owner_id == *user {
            badges.push(Badge::Owner);
        } else if self.channels.is_moderator(ch, user).await? {
            badges.push(Badge::Moderator);
        }
        let ticket = Ticket {
            channel_id: *ch,
            capabilities: Capabilities {
                send: true,
                moderate: !badges.is_empty(),
            },
            user: ChatUser {
                id: *user,
                nickname: record.nickname,
                badges,
            },
        };
        let id = self.hot.put_ticket(&ticket, self.config.ticket_ttl).await?;
        Ok((id, ticket))
    }

    /// `$connect`: validates the ticket (if any) and registers the connection.
    pub async fn connect(
        &self,
        connection_id: &str,
        channel: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<Connection, ChatError> {
        let ch: ChannelId = channel
            .ok_or_else(|| ChatError::BadRequest("the channel query parameter is required".into()))?
            .parse()
            .map_err(|_| ChatError::BadRequest("channel must be a channel id".into()))?;
        let conn = match ticket {
            None => {
                self.room(&ch).await?;
                Connection {
                    channel_id: ch,
                    user: None,
                    capabilities: Capabilities::default(),
                }
            }
            Some(secret) => {
                let t = self.hot.take_ticket(secret).await?.ok_or_else(|| {
                    ChatError::Forbidden("unknown, used or expired ticket".into())
                })?;
                if t.channel_id != ch {
                    return Err(ChatError::Forbidden(
                        "the ticket is for another channel".into(),
                    ));
                }
                if self.is_banned(&ch, &t.user.id).await? {
                    return Err(ChatError::Banned);
                }
                Connection {
                    channel_id: ch,
                    user: Some(t.user),
                    capabilities: t.capabilities,
                }
            }
        };
        self.hot.join(connection_id, &conn).await?;
        Ok(conn)
    }

    pub async fn disconnect(&self, connection_id: &str) -> Result<(), ChatError> {
        self.hot.leave(connection_id).await?;
        Ok(())
    }

    pub async fn connection(&self, connection_id: &str) -> Result<Connection, ChatError> {
        self.hot
            .connection(connection_id)
            .await?
            .ok_or(ChatError::Unregistered)
    }

    // ---- sending ----

    /// Admits a message and appends it to the room's stream. It is not acked here: the flusher
    /// archives it, then posts the ack to `ack` (see [`Chat::flush`]).
    pub async fn send(
        &self,
        conn: &Connection,
        raw: &str,
        ack: Option<AckTo>,
    ) -> Result<MessageId, ChatError> {
        let user = conn
            .user
            .as_ref()
            .filter(|_| conn.capabilities.send)
            .ok_or_else(|| ChatError::Forbidden("sign in to chat".into()))?;
        let text = ChatText::parse(raw)?;
        let ch = conn.channel_id;
        let room = self.room(&ch).await?;
        let own = self.channel_filter(&ch, &room.settings);
        let mut filters = vec![filter::global()];
        filters.extend(own.as_deref());
        let text = match filter::check(text.as_str(), &filters) {
            Verdict::Clean => text.into_string(),
            Verdict::Matched { .. } if room.settings.filter_action == FilterAction::Reject => {
                return Err(ChatError::Filtered);
            }
            Verdict::Matched { masked } => masked,
        };
        let text_hash = crate::auth::secret::sha256_hex(&filter::fold(&text).text);
        let exempt = user.is_staff();
        let body = EventBody::Message {
            user: user.clone(),
            text,
            ts: crate::clock::now_rfc3339_ms(),
        };
        let slow = u64::from(room.settings.slow_seconds) * 1000;
        let admission = Admission {
            rate: room.settings.messages_per_second,
            burst: room.settings.burst,
            slow_ms: if exempt { 0 } else { slow },
            duplicate_ms: self.config.duplicate_window.as_millis() as u64,
        };
        let meta = EntryMeta {
            live_id: room.live_id,
            ack,
        };
        let id = self
            .hot
            .send(&ch, &user.id, &text_hash[..32], &body, &meta, admission)
            .await?
            .map_err(|r| match r {
                Refusal::Banned => ChatError::Banned,
                Refusal::TimedOut { retry_ms } => ChatError::TimedOut { retry_ms },
                Refusal::SlowMode { retry_ms } => ChatError::SlowMode { retry_ms },
                Refusal::Duplicate { retry_ms } => ChatError::Duplicate { retry_ms },
                Refusal::RateLimited { retry_ms } => ChatError::RateLimited { retry_ms },
            })?;
        Ok(id)
    }

    // ---- history ----

    /// Messages after `after` (the resume path), oldest first; `more` when the answer was cut at
    /// `limit`. Served from the stream, completed from the archive when the stream does not reach
    /// back far enough (trimmed, or Redis lost it).
    pub async fn history_after(
        &self,
        ch: &ChannelId,
        after: MessageId,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), ChatError> {
        let limit = limit.clamp(1, MAX_HISTORY);
        let room = self.room(ch).await?;
        let after = after.max(room.settings.cleared_before.unwrap_or(MessageId::ZERO));
        let mut found: BTreeMap<MessageId, ChatMessage> = BTreeMap::new();
        let hot = self.hot.after(ch, after, self.config.history_len).await?;
        let covered = matches!(self.hot.first_id(ch).await?, Some(first) if first <= after);
        found.extend(
            hot.into_iter()
                .filter_map(ChatMessage::from_event)
                .map(|m| (m.id, m)),
        );
        if !covered {
            let cold = self
                .store
                .channel_messages(
                    ch,
                    Range::After(after),
                    limit + 1,
                    room.settings.cleared_before,
                )
                .await?;
            found.extend(cold.into_iter().map(|m| (m.id, m)));
        }
        let more = found.len() > limit;
        Ok((found.into_values().take(limit).collect(), more))
    }

    /// Up to `limit` newest messages before `before` (or the newest), oldest first.
    pub async fn history_before(
        &self,
        ch: &ChannelId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let limit = limit.clamp(1, MAX_HISTORY);
        let room = self.room(ch).await?;
        let cleared = room.settings.cleared_before;
        let mut found: BTreeMap<MessageId, ChatMessage> = BTreeMap::new();
        // Events are interleaved with messages; read a little more than asked.
        let hot = self.hot.before(ch, before, limit + limit / 2 + 10).await?;
        found.extend(
            hot.into_iter()
                .filter_map(ChatMessage::from_event)
                .filter(|m| cleared.is_none_or(|c| m.id >= c))
                .map(|m| (m.id, m)),
        );
        if found.len() < limit {
            let from = found.keys().next().copied().or(before);
            let cold = self
                .store
                .channel_messages(ch, Range::Before(from), limit - found.len(), cleared)
                .await?;
            found.extend(cold.into_iter().map(|m| (m.id, m)));
        }
        let skip = found.len().saturating_sub(limit);
        Ok(found.into_values().skip(skip).collect())
    }

    /// One live's chat for VOD replay, oldest first.
    pub async fn live_history(
        &self,
        live: &LiveId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<(ChannelId, Vec<ChatMessage>), ChatError> {
        let record = self
            .channels
            .live(live)
            .await?
            .ok_or_else(|| ChatError::NotFound("no such live".into()))?;
        let ch = record.channel_id;
        let room = self.room(&ch).await?;
        let messages = self
            .store
            .live_messages(
                &ch,
                live,
                after,
                limit.clamp(1, MAX_HISTORY),
                room.settings.cleared_before,
            )
            .await?;
        Ok((ch, messages))
    }

    // ---- fan-out ----

    /// Sends everything after the room's flush cursor to every connection of the room, unless
    /// another invocation is already doing so. Rounds of one room start at least the flush
    /// window apart, and what arrives in between goes out together: a quiet room's message goes
    /// out at once, a busy room's are batched. `wait: false` (moderation notices, the sweep)
    /// skips the wait for the first round.
    pub async fn flush(
        &self,
        ch: &ChannelId,
        out: &Arc<dyn Outbox>,
        wait: bool,
    ) -> Result<(), ChatError> {
        let ttl = self.config.lock_ttl;
        let Some(token) = self.hot.try_lock(ch, ttl).await? else {
            return Ok(());
        };
        let started = tokio::time::Instant::now();
        let mut first = true;
        loop {
            let pause = self.hot.pace(ch, self.config.flush_window).await?;
            if (wait || !first) && !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            first = false;
            let flushed = self.hot.flushed(ch).await?.unwrap_or(MessageId::ZERO);
            let (events, metas): (Vec<Event>, Vec<EntryMeta>) = self
                .hot
                .unsent(ch, flushed, 1000)
                .await?
                .into_iter()
                .unzip();
            if let Some(last) = events.last().map(|e| e.id) {
                // Archive first: nobody sees or is acked a message that a Redis loss could take.
                // If DynamoDB fails, the room stays where it is; the next sender or the sweep
                // tries again from the same cursor.
                let round = tokio::time::Instant::now();
                if let Err(e) = self.archive(&events, &metas).await {
                    self.hot.unlock(ch, &token).await?;
                    return Err(e.into());
                }
                let archived = round.elapsed();
                let (delivered, ()) = futures::join!(
                    self.deliver(ch, &events, out),
                    ack_senders(&events, metas, out)
                );
                delivered?;
                tracing::debug!(channel_id = %ch, events = events.len(), archive_ms = archived.as_millis() as u64, round_ms = round.elapsed().as_millis() as u64, "chat flush round");
                if !self.hot.advance(ch, &token, last).await? {
                    tracing::warn!(channel_id = %ch, "flush lock expired during a delivery");
                    return Ok(());
                }
            }
            if started.elapsed() >= self.config.flush_budget {
                // An invocation has a deadline (the Lambda timeout): hand the room over. Under
                // traffic the next sender takes the lock at once; if traffic stopped right now,
                // the sweep sends what is left.
                self.hot.unlock(ch, &token).await?;
                return Ok(());
            }
            match self.hot.release(ch, &token, ttl).await? {
                1 => continue,
                0 => return Ok(()),
                _ => {
                    tracing::warn!(channel_id = %ch, "flush lock lost");
                    return Ok(());
                }
            }
        }
    }

    async fn archive(&self, events: &[Event], metas: &[EntryMeta]) -> anyhow::Result<()> {
        let messages: Vec<(ChatMessage, Option<LiveId>)> = events
            .iter()
            .zip(metas)
            .filter_map(|(e, m)| Some((ChatMessage::from_event(e.clone())?, m.live_id)))
            .collect();
        if messages.is_empty() {
            return Ok(());
        }
        self.store.archive(&messages).await
    }

    async fn deliver(
        &self,
        ch: &ChannelId,
        events: &[Event],
        out: &Arc<dyn Outbox>,
    ) -> Result<(), ChatError> {
        let frames = Arc::new(batch_frames(events)?);
        let connections = self.hot.room(ch).await?;
        if connections.is_empty() {
            return Ok(());
        }
        // A few lanes on their own tasks, so signing and sending use every core rather than the
        // one polling this invocation.
        let lanes = DELIVERY_LANES.min(connections.len());
        let per_lane = (self.config.fanout_concurrency / lanes).max(1);
        let mut running = tokio::task::JoinSet::new();
        for part in connections.chunks(connections.len().div_ceil(lanes)) {
            running.spawn(deliver_lane(
                out.clone(),
                frames.clone(),
                part.to_vec(),
                per_lane,
            ));
        }
        let mut gone = Vec::new();
        while let Some(lane) = running.join_next().await {
            gone.extend(lane.map_err(|e| anyhow::anyhow!("delivery lane failed: {e}"))?);
        }
        if !gone.is_empty() {
            self.hot.drop_gone(ch, &gone).await?;
        }
        Ok(())
    }

    /// Flushes rooms whose flusher died (lock expired with entries left). Run periodically.
    pub async fn sweep(&self, out: &Arc<dyn Outbox>) -> Result<usize, ChatError> {
        let mut flushed = 0;
        for ch in self.hot.active_rooms(3600).await? {
            if self.hot.pending(&ch).await? {
                // One room's failure (say, its archive write) must not stop the others.
                match self.flush(&ch, out, false).await {
                    Ok(()) => flushed += 1,
                    Err(e) => {
                        tracing::error!(channel_id = %ch, error = %e, "sweep: flush failed");
                    }
                }
            }
        }
        Ok(flushed)
    }

    // ---- moderation ----

    /// Checks that `user` may moderate `ch`: the owner, or one of its moderators now (not as of
    /// the ticket).
    pub async fn moderator(
        &self,
        ch: &ChannelId,
        user: Option<&UserId>,
    ) -> Result<Moderator, ChatError> {
        let user = user.ok_or_else(|| ChatError::Forbidden("sign in to moderate".into()))?;
        let room = self.room(ch).await?;
        let is_owner = room.owner_id == *user;
        if !is_owner && !self.channels.is_moderator(ch, user).await? {
            return Err(ChatError::Forbidden(
                "only the owner and moderators may do this".into(),
            ));
        }
        Ok(Moderator {
            channel_id: *ch,
            user_id: *user,
            is_owner,
            room,
        })
    }

    /// Whether `actor` may act on `target`: nobody acts on the owner or themselves, and only the
    /// owner acts on a moderator.
    async fn check_target(&self, actor: &Moderator, target: &UserId) -> Result<(), ChatError> {
        if *target == actor.room.owner_id {
            return Err(ChatError::Forbidden(
                "the channel owner cannot be moderated".into(),
            ));
        }
        if *target == actor.user_id {
            return Err(ChatError::BadRequest("you cannot moderate yourself".into()));
        }
        if !actor.is_owner
            && self
                .channels
                .is_moderator(&actor.channel_id, target)
                .await?
        {
            return Err(ChatError::Forbidden(
                "only the owner can moderate a moderator".into(),
            ));
        }
        Ok(())
    }

    async fn audit(
        &self,
        m: &Moderator,
        action: &str,
        target: Option<UserId>,
        message: Option<MessageId>,
        detail: String,
    ) -> Result<(), ChatError> {
        let entry = AuditEntry {
            action: action.to_owned(),
            actor: m.user_id,
            target_user: target,
            message_id: message,
            detail,
            at: now_rfc3339(),
        };
        Ok(self.store.audit(&m.channel_id, &entry).await?)
    }

    /// Carries out a moderation action; returns whether the room has new events to flush.
    pub async fn moderate(
        &self,
        m: &Moderator,
        action: ModAction,
        out: &Arc<dyn Outbox>,
    ) -> Result<(), ChatError> {
        let ch = m.channel_id;
        let name = action.name();
        match action {
            ModAction::Delete { message_id } => {
                let in_stream = match self.hot.get(&ch, message_id).await? {
                    Some(e) if e.is_message() => self.hot.remove(&ch, message_id).await?,
                    _ => false,
                };
                // The archive is found through gsi1, which DynamoDB updates asynchronously: a
                // message sent a moment ago may not be indexed yet.
                let mut archived = self.store.mark_deleted(&ch, message_id).await?;
                for _ in 0..5 {
                    if archived || !in_stream {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    archived = self.store.mark_deleted(&ch, message_id).await?;
                }
                if in_stream && !archived {
                    tracing::warn!(channel_id = %ch, message_id = %message_id, "deleted message not found in the archive");
                }
                if !in_stream && !archived {
                    return Err(ChatError::NotFound("no such message".into()));
                }
                self.hot
                    .append(&ch, &EventBody::Deleted { message_id })
                    .await?;
                self.audit(m, name, None, Some(message_id), String::new())
                    .await?;
            }
            ModAction::Timeout { user_id, seconds } => {
                self.check_target(m, &user_id).await?;
                if seconds == 0 || seconds > MAX_TIMEOUT_SECONDS {
                    return Err(ChatError::BadRequest(format!(
                        "seconds must be between 1 and {MAX_TIMEOUT_SECONDS}"
                    )));
                }
                self.hot.set_timeout(&ch, &user_id, seconds).await?;
                self.hot
                    .append(&ch, &EventBody::UserTimedOut { user_id, seconds })
                    .await?;
                self.audit(m, name, Some(user_id), None, format!("{seconds} s"))
                    .await?;
            }
            ModAction::Ban { user_id, reason } => {
                self.check_target(m, &user_id).await?;
                let target = self
                    .users
                    .get(&user_id)
                    .await?
                    .ok_or_else(|| ChatError::NotFound("no such user".into()))?;
                let ban = Ban {
                    user_id,
                    nickname: target.nickname,
                    reason: reason.clone(),
                    by: m.user_id,
                    at: now_rfc3339(),
                };
                self.store.put_ban(&ch, &ban).await?;
                self.hot.cache_ban(&ch, &user_id, true).await?;
                for conn in self.hot.user_connections(&ch, &user_id).await? {
                    match out.close(&conn).await {
                        Ok(()) | Err(PostError::Gone) => {}
                        Err(PostError::Other(e)) => {
                            tracing::warn!(connection_id = %conn, error = %e, "closing a banned user's connection failed")
                        }
                    }
                    self.hot.leave(&conn).await?;
                }
                self.hot
                    .append(&ch, &EventBody::UserBanned { user_id })
                    .await?;
                self.audit(m, name, Some(user_id), None, reason).await?;
            }
            ModAction::Unban { user_id } => {
                if !self.store.delete_ban(&ch, &user_id).await? {
                    return Err(ChatError::NotFound("that user is not banned".into()));
                }
                self.hot.cache_ban(&ch, &user_id, false).await?;
                self.hot.clear_timeout(&ch, &user_id).await?;
                self.audit(m, name, Some(user_id), None, String::new())
                    .await?;
                return Ok(());
            }
            ModAction::Slow { seconds } => {
                if seconds > MAX_SLOW_SECONDS {
                    return Err(ChatError::BadRequest(format!(
                        "seconds must be between 0 (off) and {MAX_SLOW_SECONDS}"
                    )));
                }
                self.store
                    .update_settings::<ChatError>(&ch, |s| {
                        s.slow_seconds = seconds;
                        Ok(())
                    })
                    .await??;
                self.invalidate(&ch).await?;
                self.hot
                    .append(&ch, &EventBody::SlowMode { seconds })
                    .await?;
                self.audit(m, name, None, None, format!("{seconds} s"))
                    .await?;
            }
            ModAction::Clear => {
                let id = self.hot.append(&ch, &EventBody::Cleared).await?;
                self.store
                    .update_settings::<ChatError>(&ch, |s| {
                        s.cleared_before = Some(id);
                        Ok(())
                    })
                    .await??;
                self.invalidate(&ch).await?;
                self.hot.trim_before(&ch, id).await?;
                self.audit(m, name, None, None, String::new()).await?;
            }
        }
        // The action is done and its event stored; a failed flush leaves the event for the
        // next flusher or the sweep rather than failing the moderator's request.
        if let Err(e) = self.flush(&ch, out, false).await {
            tracing::error!(channel_id = %ch, error = %e, "chat flush failed; left for the next flusher");
        }
        Ok(())
    }

    /// Changes chat settings (REST), recording the change in the audit log.
    pub async fn update_settings(
        &self,
        m: &Moderator,
        what: &str,
        change: impl Fn(&mut ChatSettings) -> Result<(), ChatError>,
    ) -> Result<ChatSettings, ChatError> {
        let settings = self.store.update_settings(&m.channel_id, change).await??;
        self.invalidate(&m.channel_id).await?;
        self.audit(m, "settings", None, None, what.to_owned())
            .await?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u64, text: &str) -> Event {
        Event {
            id: MessageId { ms: i, seq: 0 },
            channel_id: ChannelId::new(),
            body: EventBody::Message {
                user: ChatUser {
                    id: UserId::new(),
                    nickname: "n".into(),
                    badges: vec![],
                },
                text: text.into(),
                ts: "t".into(),
            },
        }
    }

    #[test]
    fn batches_split_below_the_frame_limit_and_keep_order() {
        let big = "가".repeat(500);
        let events: Vec<Event> = (0..300).map(|i| event(i, &big)).collect();
        let frames = batch_frames(&events).unwrap();
        assert!(frames.len() > 1);
        let mut ids = Vec::new();
        for f in frames.iter().map(Payload::data) {
            assert!(f.len() <= MAX_FRAME, "{}", f.len());
            let v: serde_json::Value = serde_json::from_slice(f).unwrap();
            assert_eq!(v["type"], "batch");
            for m in v["messages"].as_array().unwrap() {
                ids.push(m["id"].as_str().unwrap().to_owned());
            }
        }
        let want: Vec<String> = (0..300).map(|i| format!("{i}-0")).collect();
        assert_eq!(ids, want);
        assert!(batch_frames(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_payload_hashes_its_data() {
        let p = Payload::new("abc");
        assert_eq!(
            p.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(p.data().as_ref(), b"abc");
    }
}
