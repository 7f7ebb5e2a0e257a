//! Chat's Redis side: tickets, the connection registry and rooms, each room's stream (hot
//! history and the fan-out queue), admission (bans, timeouts, slow mode, duplicates, the token
//! bucket) and the per-room flush lock.
//!
//! Keys of one channel share the hash tag `{<channel>}` so the multi-key scripts also run on a
//! Redis cluster (ElastiCache Serverless). `viewers:<channel>` (read by `GET /api/lives`) and the
//! per-connection keys live in other slots and are written by separate commands.

use std::{sync::LazyLock, time::Duration};

use redis::{AsyncCommands, Script, streams::StreamRangeReply};

use super::model::{Connection, EntryMeta, Event, EventBody, MessageId, Ticket};
use crate::{
    auth::secret,
    domain::ids::{ChannelId, UserId},
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
fn conn_key(id: &str) -> String {
    format!("chat:conn:{id}")
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

/// Creates the room's flush cursor (just before the newest entry) if it is missing, so a fresh
/// or restarted Redis never re-sends old history. Shared prologue of the append scripts.
const ENSURE_FLUSHED: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  redis.call('SET', KEYS[2], last[1] and last[1][1] or '0-0')
end
";

/// KEYS: stream, flushed. ARGV: body, maxlen, ttl.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{ENSURE_FLUSHED}
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return id"
    ))
});

/// Admission and append in one step, so a refused message changes nothing (no token spent, no
/// slow-mode or duplicate mark) and an accepted one is appended exactly once.
/// KEYS: stream, flushed, ban, timeout, slow, dup, bucket.
/// ARGV: body, maxlen, ttl, rate per second, burst, slow ms (0 = off or exempt), duplicate ms,
/// entry meta (for the flusher).
static SEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "if redis.call('GET', KEYS[3]) == '1' then return {{'banned', 0}} end
local t = redis.call('PTTL', KEYS[4])
if t > 0 then return {{'timed_out', t}} end
local slow = tonumber(ARGV[6])
if slow > 0 then
  t = redis.call('PTTL', KEYS[5])
  if t > 0 then return {{'slow_mode', t}} end
end
t = redis.call('PTTL', KEYS[6])
if t > 0 then return {{'duplicate', t}} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[7], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
if tokens < 1 then return {{'rate_limited', math.ceil((1 - tokens) * 1000 / rate)}} end
redis.call('HSET', KEYS[7], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[7], math.ceil(burst * 1000 / rate) + 1000)
if slow > 0 then redis.call('SET', KEYS[5], '1', 'PX', slow) end
redis.call('SET', KEYS[6], '1', 'PX', ARGV[7])
{ENSURE_FLUSHED}
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1], 'm', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {{'ok', id}}"
    ))
});

/// Advances the flush cursor if the caller still holds the lock. KEYS: lock, flushed.
/// ARGV: token, id, ttl. Returns 1, or 0 when the lock was lost.
static ADVANCE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1",
    )
});

/// Releases the lock unless entries arrived after the cursor, atomically with that check, so an
/// appender that found the lock taken can rely on the holder to send its entry.
/// KEYS: lock, flushed, stream. ARGV: token, lock ms.
/// Returns 0 released, 1 more to send (lock kept and extended), -1 lock lost.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local flushed = redis.call('GET', KEYS[2]) or '0-0'
local more = redis.call('XRANGE', KEYS[3], '(' .. flushed, '+', 'COUNT', 1)
if #more > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
redis.call('DEL', KEYS[1])
return 0",
    )
});

/// Spaces a room's flush rounds at least a window apart, on Redis' clock (flushers run on many
/// hosts): returns how long to wait before this round and records when it will start.
/// KEYS: paced. ARGV: window ms.
static PACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(now, last + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tostring(start), 'PX', tonumber(ARGV[1]) + 60000)
return start - now",
    )
});

/// Deletes the lock only if it still holds the caller's token. KEYS: lock. ARGV: token.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0",
    )
});

/// KEYS: room, user connections (or the room again for anonymous). ARGV: connection id, ttl.
/// Returns the room's size.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[1] then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return redis.call('SCARD', KEYS[1])",
    )
});

/// KEYS: room, user connections (or the room again). ARGV: connection id. Returns the room's size.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('SCARD', KEYS[1])",
    )
});

/// Why the admission script refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Banned,
    TimedOut { retry_ms: u64 },
    SlowMode { retry_ms: u64 },
    Duplicate { retry_ms: u64 },
    RateLimited { retry_ms: u64 },
}

/// Per-message admission parameters.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub rate: f64,
    pub burst: u32,
    /// 0 when slow mode is off or the sender is exempt.
    pub slow_ms: u64,
    pub duplicate_ms: u64,
}

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

    // ---- tickets ----

    /// Stores a ticket; returns the secret the client presents. Only its hash is a key.
    pub async fn put_ticket(&self, ticket: &Ticket, ttl: Duration) -> anyhow::Result<String> {
        let secret = secret::random(32);
        let mut c = self.conn().await?;
        let _: () = c
            .set_ex(
                ticket_key(&secret::sha256_hex(&secret)),
                serde_json::to_string(ticket)?,
                ttl.as_secs().max(1),
            )
            .await?;
        Ok(secret)
    }

    /// Takes a ticket: it exists at most once (`GETDEL`).
    pub async fn take_ticket(&self, secret: &str) -> anyhow::Result<Option<Ticket>> {
        let mut c = self.conn().await?;
        let raw: Option<String> = c.get_del(ticket_key(&secret::sha256_hex(secret))).await?;
        Ok(raw.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    // ---- connections and rooms ----

    /// Registers a connection and joins its room; returns the room's size.
    pub async fn join(&self, id: &str, conn: &Connection) -> anyhow::Result<u64> {
        let mut c = self.conn().await?;
        let ttl = CONNECTION_TTL.as_secs();
        let _: () = c
            .set_ex(conn_key(id), serde_json::to_string(conn)?, ttl)
            .await?;
        let (room, user) = membership_keys(conn);
        let size: u64 = JOIN
            .key(&room)
            .key(&user)
            .arg(id)
            .arg(ttl)
            .invoke_async(&mut c)
            .await?;
        self.set_viewers(&conn.channel_id, size).await?;
        Ok(size)
    }

    pub async fn connection(&self, id: &str) -> anyhow::Result<Option<Connection>> {
        let mut c = self.conn().await?;
        let raw: Option<String> = c.get(conn_key(id)).await?;
        Ok(raw.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    /// Forgets a connection (idempotent). Returns what it was, if it was registered.
    pub async fn leave(&self, id: &str) -> anyhow::Result<Option<Connection>> {
        let Some(conn) = self.connection(id).await? else {
            return Ok(None);
        };
        self.leave_room(id, &conn).await?;
        let mut c = self.conn().await?;
        let _: () = c.del(conn_key(id)).await?;
        Ok(Some(conn))
    }

    async fn leave_room(&self, id: &str, conn: &Connection) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let (room, user) = membership_keys(conn);
        let size: u64 = LEAVE
            .key(&room)
            .key(&user)
            .arg(id)
            .invoke_async(&mut c)
            .await?;
        self.set_viewers(&conn.channel_id, size).await
    }

    /// Drops connections API Gateway reported gone (410) from a room.
    pub async fn drop_gone(&self, channel: &ChannelId, ids: &[String]) -> anyhow::Result<()> {
        for id in ids {
            if self.leave(id).await?.is_none() {
                // Registration already expired: only the room still names it.
                let mut c = self.conn().await?;
                let room = room_key(channel);
                let size: u64 = LEAVE
                    .key(&room)
                    .key(&room)
                    .arg(id)
                    .invoke_async(&mut c)
                    .await?;
                self.set_viewers(channel, size).await?;
            }
        }
        Ok(())
    }

    async fn set_viewers(&self, ch: &ChannelId, size: u64) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c
            .set_ex(viewers_key(ch), size, CONNECTION_TTL.as_secs())
            .await?;
        Ok(())
    }

    pub async fn room(&self, ch: &ChannelId) -> anyhow::Result<Vec<String>> {
        let mut c = self.conn().await?;
        Ok(c.smembers(room_key(ch)).await?)
    }

    pub async fn user_connections(
        &self,
        ch: &ChannelId,
        user: &UserId,
    ) -> anyhow::Result<Vec<String>> {
        let mut c = self.conn().await?;
        Ok(c.smembers(user_conns_key(ch, user)).await?)
    }

    // ---- bans and timeouts (cache) ----

    /// `Some(banned)` when cached.
    pub async fn cached_ban(&self, ch: &ChannelId, user: &UserId) -> anyhow::Result<Option<bool>> {
        let mut c = self.conn().await?;
        let v: Option<String> = c.get(ban_key(ch, user)).await?;
        Ok(v.map(|v| v == "1"))
    }

    pub async fn cache_ban(
        &self,
        ch: &ChannelId,
        user: &UserId,
        banned: bool,
    ) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c
            .set_ex(ban_key(ch, user), if banned { "1" } else { "0" }, 3600)
            .await?;
        Ok(())
    }

    pub async fn set_timeout(
        &self,
        ch: &ChannelId,
        user: &UserId,
        secs: u32,
    ) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c
            .set_ex(timeout_key(ch, user), "1", u64::from(secs))
            .await?;
        Ok(())
    }

    pub async fn clear_timeout(&self, ch: &ChannelId, user: &UserId) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c.del(timeout_key(ch, user)).await?;
        Ok(())
    }

    // ---- the stream ----

    fn body_json(body: &EventBody) -> anyhow::Result<String> {
        Ok(serde_json::to_string(body)?)
    }

    /// Appends an event (moderation notices) without admission checks.
    pub async fn append(&self, ch: &ChannelId, body: &EventBody) -> anyhow::Result<MessageId> {
        let mut c = self.conn().await?;
        let id: String = APPEND
            .key(stream_key(ch))
            .key(flushed_key(ch))
            .arg(Self::body_json(body)?)
            .arg(self.history_len)
            .arg(STREAM_TTL_SECS)
            .invoke_async(&mut c)
            .await?;
        self.touch_room(ch).await?;
        parse_id(&id)
    }

    /// Admits and appends a message from `user`; `text_hash` identifies its text for the
    /// duplicate window.
    pub async fn send(
        &self,
        ch: &ChannelId,
        user: &UserId,
        text_hash: &str,
        body: &EventBody,
        meta: &EntryMeta,
        admission: Admission,
    ) -> anyhow::Result<Result<MessageId, Refusal>> {
        let mut c = self.conn().await?;
        let (status, value): (String, redis::Value) = SEND
            .key(stream_key(ch))
            .key(flushed_key(ch))
            .key(ban_key(ch, user))
            .key(timeout_key(ch, user))
            .key(slow_key(ch, user))
            .key(dup_key(ch, user, text_hash))
            .key(bucket_key(ch, user))
            .arg(Self::body_json(body)?)
            .arg(self.history_len)
            .arg(STREAM_TTL_SECS)
            .arg(admission.rate)
            .arg(admission.burst)
            .arg(admission.slow_ms)
            .arg(admission.duplicate_ms)
            .arg(serde_json::to_string(meta)?)
            .invoke_async(&mut c)
            .await?;
        let retry_ms = || redis::from_redis_value::<u64>(value.clone()).unwrap_or(1000);
        let refusal = match status.as_str() {
            "ok" => {
                let id: String = redis::from_redis_value(value.clone())?;
                self.touch_room(ch).await?;
                return Ok(Ok(parse_id(&id)?));
            }
            "banned" => Refusal::Banned,
            "timed_out" => Refusal::TimedOut {
                retry_ms: retry_ms(),
            },
            "slow_mode" => Refusal::SlowMode {
                retry_ms: retry_ms(),
            },
            "duplicate" => Refusal::Duplicate {
                retry_ms: retry_ms(),
            },
            "rate_limited" => Refusal::RateLimited {
                retry_ms: retry_ms(),
            },
            other => anyhow::bail!("unexpected admission answer {other:?}"),
        };
        Ok(Err(refusal))
    }

    async fn touch_room(&self, ch: &ChannelId) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let now = crate::clock::now_secs();
        let _: () = c.zadd(ACTIVE_ROOMS, ch.to_string(), now).await?;
        Ok(())
    }

    /// Rooms with traffic in the last `secs` seconds (older ones are dropped from the index).
    pub async fn active_rooms(&self, secs: i64) -> anyhow::Result<Vec<ChannelId>> {
        let mut c = self.conn().await?;
        let since = crate::clock::now_secs() - secs;
        let _: () = c.zrembyscore(ACTIVE_ROOMS, "-inf", since).await?;
        let ids: Vec<String> = c.zrange(ACTIVE_ROOMS, 0, -1).await?;
        Ok(ids.iter().filter_map(|s| s.parse().ok()).collect())
    }

    fn entries(ch: &ChannelId, reply: StreamRangeReply) -> anyhow::Result<Vec<(Event, EntryMeta)>> {
        let mut out = Vec::with_capacity(reply.ids.len());
        for entry in reply.ids {
            let Some(raw) = entry.get::<String>("e") else {
                continue;
            };
            let body: EventBody = serde_json::from_str(&raw)?;
            let meta = match entry.get::<String>("m") {
                Some(m) => serde_json::from_str(&m)?,
                None => EntryMeta::default(),
            };
            let id = parse_id(&entry.id)?;
            out.push((
                Event {
                    id,
                    channel_id: *ch,
                    body,
                },
                meta,
            ));
        }
        Ok(out)
    }

    fn events(ch: &ChannelId, reply: StreamRangeReply) -> anyhow::Result<Vec<Event>> {
        Ok(Self::entries(ch, reply)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// Entries after `after` with their meta, oldest first: what a flusher sends.
    pub async fn unsent(
        &self,
        ch: &ChannelId,
        after: MessageId,
        count: usize,
    ) -> anyhow::Result<Vec<(Event, EntryMeta)>> {
        let mut c = self.conn().await?;
        let reply: StreamRangeReply = c
            .xrange_count(stream_key(ch), format!("({after}"), "+", count)
            .await?;
        Self::entries(ch, reply)
    }

    /// Entries after `after`, oldest first.
    pub async fn after(
        &self,
        ch: &ChannelId,
        after: MessageId,
        count: usize,
    ) -> anyhow::Result<Vec<Event>> {
        let entries = self.unsent(ch, after, count).await?;
        Ok(entries.into_iter().map(|(e, _)| e).collect())
    }

    /// Entries before `before` (or the newest), newest first.
    pub async fn before(
        &self,
        ch: &ChannelId,
        before: Option<MessageId>,
        count: usize,
    ) -> anyhow::Result<Vec<Event>> {
        let mut c = self.conn().await?;
        let end = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        let reply: StreamRangeReply = c.xrevrange_count(stream_key(ch), end, "-", count).await?;
        Self::events(ch, reply)
    }

    /// The oldest entry's id, if the stream exists.
    pub async fn first_id(&self, ch: &ChannelId) -> anyhow::Result<Option<MessageId>> {
        let mut c = self.conn().await?;
        let reply: StreamRangeReply = c.xrange_count(stream_key(ch), "-", "+", 1).await?;
        reply.ids.first().map(|e| parse_id(&e.id)).transpose()
    }

    /// One entry by id.
    pub async fn get(&self, ch: &ChannelId, id: MessageId) -> anyhow::Result<Option<Event>> {
        let mut c = self.conn().await?;
        let key = id.to_string();
        let reply: StreamRangeReply = c.xrange_count(stream_key(ch), &key, &key, 1).await?;
        Ok(Self::events(ch, reply)?.into_iter().next())
    }

    pub async fn remove(&self, ch: &ChannelId, id: MessageId) -> anyhow::Result<bool> {
        let mut c = self.conn().await?;
        let n: u64 = c.xdel(stream_key(ch), &[id.to_string()]).await?;
        Ok(n > 0)
    }

    /// Drops every entry before `id`.
    pub async fn trim_before(&self, ch: &ChannelId, id: MessageId) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: u64 = redis::cmd("XTRIM")
            .arg(stream_key(ch))
            .arg("MINID")
            .arg(id.to_string())
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    // ---- the flush lock ----

    /// Tries to become the room's flusher; returns the lock token.
    pub async fn try_lock(&self, ch: &ChannelId, ttl: Duration) -> anyhow::Result<Option<String>> {
        let token = secret::random(12);
        let mut c = self.conn().await?;
        let ok: Option<String> = redis::cmd("SET")
            .arg(lock_key(ch))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut c)
            .await?;
        Ok(ok.map(|_| token))
    }

    pub async fn flushed(&self, ch: &ChannelId) -> anyhow::Result<Option<MessageId>> {
        let mut c = self.conn().await?;
        let v: Option<String> = c.get(flushed_key(ch)).await?;
        v.map(|v| parse_id(&v)).transpose()
    }

    /// Moves the flush cursor to `id`; false when the lock was lost meanwhile.
    pub async fn advance(
        &self,
        ch: &ChannelId,
        token: &str,
        id: MessageId,
    ) -> anyhow::Result<bool> {
        let mut c = self.conn().await?;
        let ok: i64 = ADVANCE
            .key(lock_key(ch))
            .key(flushed_key(ch))
            .arg(token)
            .arg(id.to_string())
            .arg(STREAM_TTL_SECS)
            .invoke_async(&mut c)
            .await?;
        Ok(ok == 1)
    }

    /// How long to wait before the room's next flush round so rounds start at least `window`
    /// apart; the round's start is recorded.
    pub async fn pace(&self, ch: &ChannelId, window: Duration) -> anyhow::Result<Duration> {
        let mut c = self.conn().await?;
        let wait: u64 = PACE
            .key(paced_key(ch))
            .arg(window.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(Duration::from_millis(wait))
    }

    /// Releases the lock if the caller still holds it, whatever is pending.
    pub async fn unlock(&self, ch: &ChannelId, token: &str) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: i64 = UNLOCK
            .key(lock_key(ch))
            .arg(token)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// See [`RELEASE`].
    pub async fn release(&self, ch: &ChannelId, token: &str, ttl: Duration) -> anyhow::Result<i64> {
        let mut c = self.conn().await?;
        Ok(RELEASE
            .key(lock_key(ch))
            .key(flushed_key(ch))
            .key(stream_key(ch))
            .arg(token)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?)
    }

    /// Whether entries wait after the flush cursor.
    pub async fn pending(&self, ch: &ChannelId) -> anyhow::Result<bool> {
        let flushed = self.flushed(ch).await?.unwrap_or(MessageId::ZERO);
        Ok(!self.after(ch, flushed, 1).await?.is_empty())
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
        let mut c = self.conn().await?;
        let _: () = c
            .set_ex(key, serde_json::to_string(value)?, ttl.as_secs().max(1))
            .await?;
        Ok(())
    }

    pub async fn forget(&self, key: &str) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: () = c.del(key).await?;
        Ok(())
    }
}
