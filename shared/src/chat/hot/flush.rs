//! The room's flush lock, its cursor and the pacing of flush rounds.

use super::*;

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

/// Extends the lock if it still holds the caller's token. KEYS: lock. ARGV: token, lock ms.
/// Returns 1, or 0 when the lock was lost.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1",
    )
});

/// Deletes the lock only if it still holds the caller's token. KEYS: lock. ARGV: token.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0",
    )
});

/// A room's flush lock, held until released, unlocked or expired.
#[derive(Debug)]
pub struct FlushLock {
    channel: ChannelId,
    token: String,
}

impl FlushLock {
    /// A call of one of the lock's scripts: KEYS[1] the lock, ARGV[1] the holder's token.
    fn script<'a>(&self, script: &'a Script) -> redis::ScriptInvocation<'a> {
        let mut call = script.key(lock_key(&self.channel));
        call.arg(&self.token);
        call
    }
}

/// What [`Hot::release`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The lock is free: nothing waited after the cursor.
    Released,
    /// Entries arrived meanwhile: the lock is kept (and extended) for another round.
    MoreToSend,
    /// Someone else holds the lock now.
    Lost,
}

impl Hot {
    // ---- the flush lock ----

    /// Tries to become the room's flusher.
    pub async fn try_lock(
        &self,
        ch: &ChannelId,
        ttl: Duration,
    ) -> anyhow::Result<Option<FlushLock>> {
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
        Ok(ok.map(|_| FlushLock {
            channel: *ch,
            token,
        }))
    }

    pub async fn flushed(&self, ch: &ChannelId) -> anyhow::Result<Option<MessageId>> {
        let mut c = self.conn().await?;
        let v: Option<String> = c.get(flushed_key(ch)).await?;
        v.map(|v| parse_id(&v)).transpose()
    }

    /// Moves the flush cursor to `id`; false when the lock was lost meanwhile.
    pub async fn advance(&self, lock: &FlushLock, id: MessageId) -> anyhow::Result<bool> {
        let mut c = self.conn().await?;
        let ok: i64 = lock
            .script(&ADVANCE)
            .key(flushed_key(&lock.channel))
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

    /// Extends the lock by `ttl` if the caller still holds it; false when it was lost.
    pub async fn renew(&self, lock: &FlushLock, ttl: Duration) -> anyhow::Result<bool> {
        let mut c = self.conn().await?;
        let ok: i64 = lock
            .script(&RENEW)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(ok == 1)
    }

    /// Releases the lock if the caller still holds it, whatever is pending.
    pub async fn unlock(&self, lock: &FlushLock) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: i64 = lock.script(&UNLOCK).invoke_async(&mut c).await?;
        Ok(())
    }

    /// Releases the lock unless entries arrived after the cursor (see [`RELEASE`]).
    pub async fn release(&self, lock: &FlushLock, ttl: Duration) -> anyhow::Result<Release> {
        let ch = &lock.channel;
        let mut c = self.conn().await?;
        let outcome: i64 = lock
            .script(&RELEASE)
            .key(flushed_key(ch))
            .key(stream_key(ch))
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(match outcome {
            0 => Release::Released,
            1 => Release::MoreToSend,
            _ => Release::Lost,
        })
    }

    /// Whether entries wait after the flush cursor.
    pub async fn pending(&self, ch: &ChannelId) -> anyhow::Result<bool> {
        let flushed = self.flushed(ch).await?.unwrap_or(MessageId::ZERO);
        Ok(!self.after(ch, flushed, 1).await?.is_empty())
    }
}
