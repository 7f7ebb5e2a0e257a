//! Chat: tickets, rooms, sending with admission and filtering, history with archive fallback,
//! moderation, and the per-room micro-batched fan-out.
//!
//! Free of Lambda and HTTP: `chat-ws` and `chat-api` are thin adapters, and delivery goes through
//! the [`Outbox`] interface (API Gateway's `@connections` API in both runtimes).

mod connect;
mod error;
mod fanout;
pub mod filter;
mod history;
pub mod hot;
pub mod model;
mod moderation;
pub mod protocol;
mod send;
pub mod settings;
pub mod store;
pub mod text;

pub use self::{
    error::ChatError,
    fanout::batch_frames,
    moderation::{ModAction, Moderator},
};

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use self::{filter::WordFilter, hot::Hot, model::*, store::ChatStore};
use crate::{
    accounts::store::UsersStore,
    channels::store::ChannelsStore,
    config::Env,
    domain::ids::{ChannelId, ConnectionId, LiveId, UserId},
    ratelimit::Limit,
    runtime::Clients,
};

/// API Gateway's largest WebSocket message; batches are split below it.
pub const MAX_FRAME: usize = 128 * 1024;
/// Most messages one `history` answer carries.
pub const MAX_HISTORY: usize = 500;
pub const DEFAULT_HISTORY: usize = 50;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Least time between two flush rounds of a room; what arrives in between goes out in one
    /// batch (a quiet room's message goes out at once).
    pub flush_window: Duration,
    /// From this many connections on, a room's rounds are `big_room_window` apart: each viewer
    /// then gets at most 1 s / that frames a second (every frame is a billed API Gateway
    /// message); smaller rooms' windows grow in proportion from `flush_window`.
    pub big_room: usize,
    pub big_room_window: Duration,
    /// PostToConnection calls in flight per flush.
    pub fanout_concurrency: usize,
    /// Cap of each room's Redis stream.
    pub history_len: usize,
    pub duplicate_window: Duration,
    /// Flush lock lifetime: how long a dead flusher blocks its room. A live flusher renews it
    /// every third of it while a round is under way, however long the round takes.
    pub lock_ttl: Duration,
    /// How long one invocation keeps flushing a busy room before handing it over.
    pub flush_budget: Duration,
    /// Tickets per user.
    pub ticket_limit: Limit,
    /// How long a ticket stays valid.
    pub ticket_ttl: Duration,
}

impl ChatConfig {
    /// The least time between two rounds of a room of `size` connections: `flush_window` for
    /// an empty room, growing linearly to `big_room_window` at `big_room` (never below the
    /// base window).
    pub fn window_for(&self, size: usize) -> Duration {
        let base = self.flush_window;
        let big = self.big_room_window.max(base);
        let share = (size.min(self.big_room) as f64) / self.big_room as f64;
        base + (big - base).mul_f64(share)
    }

    pub fn read(env: &mut Env) -> Self {
        Self {
            flush_window: Duration::from_millis(env.or("LAIT_CHAT_FLUSH_WINDOW_MS", 50)),
            big_room: env.or("LAIT_CHAT_BIG_ROOM", 1000usize).max(1),
            big_room_window: Duration::from_millis(env.or("LAIT_CHAT_BIG_ROOM_WINDOW_MS", 250)),
            fanout_concurrency: env.or("LAIT_CHAT_FANOUT_CONCURRENCY", 64usize).max(1),
            history_len: env.or("LAIT_CHAT_HISTORY_LEN", 1000usize).max(10),
            duplicate_window: env.secs_or("LAIT_CHAT_DUPLICATE_SECS", Duration::from_secs(30)),
            lock_ttl: Duration::from_millis(env.or("LAIT_CHAT_LOCK_TTL_MS", 5000u64).max(30)),
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
        connection: &'a ConnectionId,
        payload: &'a Payload,
    ) -> BoxFuture<'a, Result<(), PostError>>;
    fn close<'a>(&'a self, connection: &'a ConnectionId) -> BoxFuture<'a, Result<(), PostError>>;
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

/// Per-channel word filters with the list version they were built from.
type FilterCache = HashMap<ChannelId, (u64, Arc<WordFilter>)>;

#[derive(Clone)]
pub struct Chat {
    pub(crate) store: ChatStore,
    pub hot: Hot,
    channels: ChannelsStore,
    users: UsersStore,
    pub config: Arc<ChatConfig>,
    filters: Arc<Mutex<FilterCache>>,
}

impl Chat {
    pub fn new(deps: &Clients, config: ChatConfig) -> Self {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_hashes_its_data() {
        let p = Payload::new("abc");
        assert_eq!(
            p.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(p.data().as_ref(), b"abc");
    }

    #[test]
    fn the_flush_window_grows_with_the_room_to_four_frames_a_second() {
        let config = ChatConfig::read(&mut Env::from_pairs(Vec::<(String, String)>::new()));
        let ms = |size| config.window_for(size).as_millis();
        assert_eq!(ms(0), 50, "a small room keeps its immediacy");
        assert_eq!(ms(1), 50);
        assert_eq!(ms(500), 150);
        assert_eq!(
            ms(1000),
            250,
            "a big room: at most 4 frames a second per viewer"
        );
        assert_eq!(ms(100_000), 250);
        // A base window above the big room's is never shortened.
        let mut env = Env::from_pairs([("LAIT_CHAT_FLUSH_WINDOW_MS", "400")]);
        let slow = ChatConfig::read(&mut env);
        assert_eq!(slow.window_for(100_000).as_millis(), 400);
    }
}
