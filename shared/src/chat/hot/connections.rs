//! The connection registry, rooms (and viewer counts), and the ban and timeout caches.

use super::*;

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

impl redis::ToRedisArgs for ConnectionId {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        out.write_arg(self.as_str().as_bytes());
    }
}

impl Hot {
    // ---- connections and rooms ----

    /// Registers a connection and joins its room; returns the room's size.
    pub async fn join(&self, id: &ConnectionId, conn: &Connection) -> anyhow::Result<u64> {
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

    pub async fn connection(&self, id: &ConnectionId) -> anyhow::Result<Option<Connection>> {
        let mut c = self.conn().await?;
        let raw: Option<String> = c.get(conn_key(id)).await?;
        Ok(raw.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    /// Forgets a connection (idempotent). Returns what it was, if it was registered.
    pub async fn leave(&self, id: &ConnectionId) -> anyhow::Result<Option<Connection>> {
        let Some(conn) = self.connection(id).await? else {
            return Ok(None);
        };
        self.leave_room(id, &conn).await?;
        self.forget(&conn_key(id)).await?;
        Ok(Some(conn))
    }

    async fn leave_room(&self, id: &ConnectionId, conn: &Connection) -> anyhow::Result<()> {
        let (room, user) = membership_keys(conn);
        self.run_leave(&conn.channel_id, &room, &user, id).await
    }

    /// [`LEAVE`] for connection `id` on the room's and the user's sets, then the room's new size.
    async fn run_leave(
        &self,
        ch: &ChannelId,
        room: &str,
        user: &str,
        id: &ConnectionId,
    ) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let size: u64 = LEAVE
            .key(room)
            .key(user)
            .arg(id)
            .invoke_async(&mut c)
            .await?;
        self.set_viewers(ch, size).await
    }

    /// Drops connections API Gateway reported gone (410) from a room.
    pub async fn drop_gone(&self, channel: &ChannelId, ids: &[ConnectionId]) -> anyhow::Result<()> {
        for id in ids {
            if self.leave(id).await?.is_none() {
                // Registration already expired: only the room still names it.
                let room = room_key(channel);
                self.run_leave(channel, &room, &room, id).await?;
            }
        }
        Ok(())
    }

    async fn set_viewers(&self, ch: &ChannelId, size: u64) -> anyhow::Result<()> {
        self.set_ex(viewers_key(ch), size, CONNECTION_TTL.as_secs())
            .await
    }

    pub async fn room(&self, ch: &ChannelId) -> anyhow::Result<Vec<ConnectionId>> {
        self.members(room_key(ch)).await
    }

    /// How many connections the room has (SCARD: no member is read).
    pub async fn room_size(&self, ch: &ChannelId) -> anyhow::Result<usize> {
        let mut c = self.conn().await?;
        Ok(c.scard(room_key(ch)).await?)
    }

    pub async fn user_connections(
        &self,
        ch: &ChannelId,
        user: &UserId,
    ) -> anyhow::Result<Vec<ConnectionId>> {
        self.members(user_conns_key(ch, user)).await
    }

    async fn members(&self, set: String) -> anyhow::Result<Vec<ConnectionId>> {
        let mut c = self.conn().await?;
        let ids: Vec<String> = c.smembers(set).await?;
        Ok(ids.into_iter().map(ConnectionId::new).collect())
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
        self.set_ex(ban_key(ch, user), if banned { "1" } else { "0" }, 3600)
            .await
    }

    pub async fn set_timeout(
        &self,
        ch: &ChannelId,
        user: &UserId,
        secs: u32,
    ) -> anyhow::Result<()> {
        self.set_ex(timeout_key(ch, user), "1", u64::from(secs))
            .await
    }

    pub async fn clear_timeout(&self, ch: &ChannelId, user: &UserId) -> anyhow::Result<()> {
        self.forget(&timeout_key(ch, user)).await
    }
}
