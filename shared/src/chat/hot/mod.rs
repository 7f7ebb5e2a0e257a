//! Chat's Redis side: tickets, the connection registry and rooms, each room's stream (hot
//! history and the fan-out queue), admission (bans, timeouts, slow mode, duplicates, the token
//! bucket) and the per-room flush lock: `connections.rs` (registry, rooms, ban and timeout
//! caches), `stream.rs` (append, admission, reads), `flush.rs` (the lock and the cursor); tickets
//! and cached channel facts here.
//!
//! Keys of one channel share the hash tag `{<channel>}` so the multi-key scripts also run on a
//! Redis cluster (ElastiCache Serverless). `viewers:<channel>` (read by `GET /api/lives`) and the
//! per-connection keys live in other slots and are written by separate commands.

use std::{sync::LazyLock, time::Duration};

use redis::{AsyncCommands, Script, streams::StreamRangeReply};

use super::model::{Connection, EntryMeta, Event, EventBody, MessageId, Ticket};
use crate::{
    auth::secret,
    clock::Timestamp,
    domain::ids::{ChannelId, ConnectionId, UserId},
    stores::redis::Redis,
};

/// API Gateway closes a WebSocket after 2 h: a registration never needs to outlive that.
pub const CONNECTION_TTL: Duration = Duration::from_secs(2 * 3600);
/// Streams and their flush state of idle rooms go away after a week.
const STREAM_TTL_SECS: u64 = 7 * 24 * 3600;
/// Index of rooms with recent traffic, for the sweep.
const ACTIVE_ROOMS: &str = "chat:rooms";

fn tag(ch: &ChannelId) -> String {
    format!("chat:{{{ch}}}")
}
fn ticket_key(hash: &str) -> String {
    format!("chat:ticket:{hash}")
}
fn conn_key(id: &ConnectionId) -> String {
    format!("chat:conn:{}", id.as_str())
}
fn room_key(ch: &ChannelId) -> String {
    format!("{}:room", tag(ch))
}
fn user_conns_key(ch: &ChannelId, user: &UserId) -> String {
    format!("{}:uconn:{user}", tag(ch))
}
/// The sets a connection belongs to: its room, and its user's connections in that room (the room
/// again for anonymous ones, which the scripts then skip).
fn membership_keys(conn: &Connection) -> (String, String) {
    let room = room_key(&conn.channel_id);
    let user = conn
        .user
        .as_ref()
        .map(|u| user_conns_key(&conn.channel_id, &u.id))
        .unwrap_or_else(|| room.clone());
    (room, user)
}
pub fn viewers_key(ch: &ChannelId) -> String {
    format!("viewers:{ch}")
}
fn stream_key(ch: &ChannelId) -> String {
    format!("{}:stream", tag(ch))
}
fn flushed_key(ch: &ChannelId) -> String {
    format!("{}:flushed", tag(ch))
}
fn lock_key(ch: &ChannelId) -> String {
    format!("{}:flush", tag(ch))
}
fn paced_key(ch: &ChannelId) -> String {
    format!("{}:paced", tag(ch))
}
fn ban_key(ch: &ChannelId, user: &UserId) -> String {
    format!("{}:ban:{user}", tag(ch))
}
fn timeout_key(ch: &ChannelId, user: &UserId) -> String {
    format!("{}:timeout:{user}", tag(ch))
}
fn slow_key(ch: &ChannelId, user: &UserId) -> String {
    format!("{}:slow:{user}", tag(ch))
}
fn dup_key(ch: &ChannelId, user: &UserId, text_hash: &str) -> String {
    format!("{}:dup:{user}:{text_hash}", tag(ch))
}
fn bucket_key(ch: &ChannelId, user: &UserId) -> String {
    format!("{}:bucket:{user}", tag(ch))
}
pub(crate) fn channel_cache_key(ch: &ChannelId) -> String {
    format!("{}:channel", tag(ch))
}

mod connections;
mod flush;
mod stream;

pub use self::{
    flush::{FlushLock, Release},
    stream::{Admission, Refusal},
};

#[derive(Clone)]
pub struct Hot {
    redis: Redis,
    /// Cap of each room's stream (`MAXLEN ~`).
    pub history_len: usize,
}

fn parse_id(raw: &str) -> anyhow::Result<MessageId> {
    raw.parse()
        .map_err(|e| anyhow::anyhow!("bad stream id {raw:?}: {e}"))
}

impl Hot {
    pub fn new(redis: Redis, history_len: usize) -> Self {
        Self { redis, history_len }
    }

    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    async fn conn(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        self.redis.conn().await
    }

    /// `SET key value EX secs`.
    async fn set_ex(
        &self,
        key: impl redis::ToSingleRedisArg + Send + Sync,
        value: impl redis::ToSingleRedisArg + Send + Sync,
        secs: u64,
    ) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c.set_ex(key, value, secs).await?;
        Ok(())
    }

    // ---- tickets ----

    /// Stores a ticket; returns the secret the client presents. Only its hash is a key.
    pub async fn put_ticket(&self, ticket: &Ticket, ttl: Duration) -> anyhow::Result<String> {
        let secret = secret::random(32);
        let key = ticket_key(&secret::sha256_hex(&secret));
        self.set_ex(key, serde_json::to_string(ticket)?, ttl.as_secs().max(1))
            .await?;
        Ok(secret)
    }

    /// Takes a ticket: it exists at most once (`GETDEL`).
    pub async fn take_ticket(&self, secret: &str) -> anyhow::Result<Option<Ticket>> {
        let mut c = self.conn().await?;
        let raw: Option<String> = c.get_del(ticket_key(&secret::sha256_hex(secret))).await?;
        Ok(raw.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    // ---- cached channel facts ----

    pub async fn cached<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> anyhow::Result<Option<T>> {
        let mut c = self.conn().await?;
        let raw: Option<String> = c.get(key).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    pub async fn cache<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        self.set_ex(key, serde_json::to_string(value)?, ttl.as_secs().max(1))
            .await
    }

    pub async fn forget(&self, key: &str) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c.del(key).await?;
        Ok(())
    }
}
