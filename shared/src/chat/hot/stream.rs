//! Each room's stream: hot history and the fan-out queue; admission and append in one script.

use super::*;

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

impl Hot {
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
        let now = Timestamp::now().unix_secs();
        let _: () = c.zadd(ACTIVE_ROOMS, ch.to_string(), now).await?;
        Ok(())
    }

    /// Rooms with traffic `within` the last while (older ones are dropped from the index).
    pub async fn active_rooms(&self, within: Duration) -> anyhow::Result<Vec<ChannelId>> {
        let mut c = self.conn().await?;
        let since = (Timestamp::now() - within).unix_secs();
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
        // Redis refuses an exclusive range that starts past the last id there can be.
        if after == MessageId::MAX {
            return Ok(Vec::new());
        }
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
        // Nothing is before 0-0, and Redis refuses an exclusive range that ends there.
        if before == Some(MessageId::ZERO) {
            return Ok(Vec::new());
        }
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
}
