//! Channels, stream keys, lives (started and ended by the media node), VODs, follows, moderators,
//! notices. HTTP-free: `functions/channels` maps requests onto this.

pub mod model;
pub mod store;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use self::{
    model::*,
    store::{ChannelsStore, StreamKeyRecord},
};
use crate::media_keys::{self, LiveKeys};
use crate::stores::dynamo::StoreError;
use crate::{
    auth::secret,
    clock::{now_ms, now_rfc3339, now_secs},
    config::Env,
    domain::ids::{ChannelId, LiveId, UserId},
    error::ApiError,
    search::{Kind, SearchIndex},
    stores::redis::Redis,
};

#[derive(Debug, Clone)]
pub struct ChannelsConfig {
    /// Public base URL of the media bucket (CDN).
    pub cdn_base: String,
    /// What streamers put in OBS as the server.
    pub ingest_url: String,
    /// A live whose last heartbeat is older than this is ended by the reaper.
    pub heartbeat_timeout: Duration,
    /// How long `GET /api/lives` answers may be reused.
    pub lives_cache_ttl: Duration,
}

impl ChannelsConfig {
    pub fn read(env: &mut Env) -> Self {
        Self {
            cdn_base: env
                .or("LAIT_CDN_BASE_URL", "/media".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            ingest_url: env.or("LAIT_INGEST_URL", "rtmp://127.0.0.1:1935/live".to_owned()),
            heartbeat_timeout: env.secs_or("LAIT_HEARTBEAT_TIMEOUT_SECS", Duration::from_secs(30)),
            lives_cache_ttl: Duration::from_millis(env.or("LAIT_LIVES_CACHE_MS", 1000)),
        }
    }
}

/// One rung of the transcoding ladder.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rendition {
    pub name: String,
    pub height: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

/// What the media node transcodes a live into.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ladder {
    pub segment_seconds: f64,
    pub low_latency: bool,
    pub renditions: Vec<Rendition>,
}

impl Ladder {
    pub fn for_channel(low_latency: bool) -> Self {
        let r = |name: &str, height, video_kbps| Rendition {
            name: name.to_owned(),
            height,
            video_kbps,
            audio_kbps: 128,
        };
        Self {
            // The low-latency profile halves the segment (and so the GOP) length.
            segment_seconds: if low_latency { 0.5 } else { 1.0 },
            low_latency,
            renditions: vec![
                r("720p", 720, 2800),
                r("480p", 480, 1400),
                r("360p", 360, 800),
            ],
        }
    }
}

/// A live in `GET /api/lives`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveSummary {
    pub id: LiveId,
    pub channel: ChannelSummary,
    pub title: String,
    pub category: Option<String>,
    pub started_at: String,
    pub viewer_count: u64,
    /// The channel's rolling thumbnail (refreshed every ~10 s); absent until the first one is in
    /// place.
    pub thumbnail_url: Option<String>,
    pub playlist_url: String,
    pub low_latency: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelSummary {
    pub id: ChannelId,
    pub name: String,
    pub image_url: Option<String>,
    pub category: Option<String>,
}

/// Stream key format: a recognizable prefix (secret scanners) and 256 random bits.
pub fn new_stream_key() -> StreamKeyRecord {
    let key = format!("lait_{}", secret::random(32));
    StreamKeyRecord {
        hash: secret::sha256_hex(&key),
        key,
        created_at: now_rfc3339(),
    }
}

/// The directory snapshot of this process, and a lock so one request rebuilds it at a time.
/// A snapshot is only valid for the generation it was built in: every publish or end bumps the
/// generation, so a rebuild that raced with it can never be served as fresh.
struct Snapshot {
    at: Instant,
    generation: u64,
    lives: Arc<Vec<LiveSummary>>,
}

#[derive(Default)]
struct LivesCache {
    current: Mutex<Option<Snapshot>>,
    generation: std::sync::atomic::AtomicU64,
    refresh: tokio::sync::Mutex<()>,
}

/// The shared copy in Redis, with when and in which (Redis-wide) generation it was built.
#[derive(Serialize, Deserialize)]
struct SharedLives {
    built_ms: i64,
    generation: u64,
    lives: Vec<LiveSummary>,
}

const LIVES_GENERATION_KEY: &str = "cache:lives:gen";

const LIVES_CACHE_KEY: &str = "cache:lives";

#[derive(Clone)]
pub struct Channels {
    pub store: ChannelsStore,
    pub search: SearchIndex,
    pub config: Arc<ChannelsConfig>,
    redis: Redis,
    lives_cache: Arc<LivesCache>,
}

/// The media node's publish call.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishRequest {
    pub stream_key: String,
    pub node_id: String,
    #[serde(default)]
    pub client_addr: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishResponse {
    pub channel_id: ChannelId,
    pub live_id: LiveId,
    pub title: String,
    pub ladder: Ladder,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatRequest {
    pub live_id: LiveId,
    #[serde(default)]
    pub health: Health,
}

/// What the media node does after a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatAction {
    Continue,
    /// Drop the publisher.
    Stop,
}

impl HeartbeatAction {
    pub fn is_stop(self) -> bool {
        self == Self::Stop
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatResponse {
    pub action: HeartbeatAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnpublishRequest {
    pub live_id: LiveId,
    /// Key of the VOD master playlist in the media bucket, if one was written.
    pub vod_playlist_key: Option<String>,
    #[serde(default)]
    pub duration_secs: f64,
    /// Why the live ends, when not because the publisher left (e.g. audio-only refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl UnpublishRequest {
    /// Ends a live without (or before) its recording.
    pub fn without_recording(live_id: LiveId, reason: Option<String>) -> Self {
        Self {
            live_id,
            vod_playlist_key: None,
            duration_secs: 0.0,
            reason,
        }
    }
}

impl Channels {
    pub fn new(store: ChannelsStore, redis: Redis, config: ChannelsConfig) -> Self {
        Self {
            store,
            search: SearchIndex::new(redis.clone()),
            config: Arc::new(config),
            redis,
            lives_cache: Arc::default(),
        }
    }

    pub fn media_url(&self, key: &str) -> String {
        format!("{}/{key}", self.config.cdn_base)
    }

    pub async fn channel(&self, id: &ChannelId) -> Result<ChannelRecord, ApiError> {
        self.store
            .channel(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such channel"))
    }

    /// The channel if `user` owns it: 404 when it does not exist, 403 when it is not theirs.
    pub async fn owned(&self, id: &ChannelId, user: &UserId) -> Result<ChannelRecord, ApiError> {
        let c = self.channel(id).await?;
        if c.owner_id != *user {
            return Err(ApiError::forbidden("this channel is not yours"));
        }
        Ok(c)
    }

    /// The owner or one of the channel's moderators.
    pub async fn can_moderate(
        &self,
        channel: &ChannelRecord,
        user: &UserId,
    ) -> Result<bool, ApiError> {
        Ok(channel.owner_id == *user || self.store.is_moderator(&channel.id, user).await?)
    }

    pub async fn mine(&self, user: &UserId) -> Result<(ChannelRecord, StreamKeyRecord), ApiError> {
        let id = self
            .store
            .channel_of(user)
            .await?
            .ok_or_else(|| ApiError::not_found("you have no channel"))?;
        let channel = self.channel(&id).await?;
        let key = self.store.ensure_stream_key(&id, new_stream_key()).await?;
        Ok((channel, key))
    }

    pub async fn rotate_key(
        &self,
        user: &UserId,
    ) -> Result<(ChannelRecord, StreamKeyRecord), ApiError> {
        let (channel, old) = self.mine(user).await?;
        let next = new_stream_key();
        self.store
            .rotate_stream_key(&channel.id, &old, &next)
            .await?;
        tracing::info!(channel_id = %channel.id, "stream key rotated");
        Ok((channel, next))
    }

    pub async fn update(
        &self,
        channel: &ChannelRecord,
        patch: &ChannelPatch,
    ) -> Result<ChannelRecord, ApiError> {
        let updated = self.store.update_channel(&channel.id, patch).await?;
        if patch.name.is_some() {
            self.index_channel(&updated).await;
        }
        Ok(updated)
    }

    /// Keeps a channel's name searchable (best effort: the index is a cache of the table).
    pub async fn index_channel(&self, c: &ChannelRecord) {
        if let Err(e) = self
            .search
            .put(Kind::Channel, &c.id.to_string(), &c.id.to_string(), &c.name)
            .await
        {
            tracing::warn!(error = %e, "search index update failed");
        }
    }

    // ---- media node ----

    /// Authorizes a publisher by stream key and starts a live.
    pub async fn publish(&self, req: &PublishRequest) -> Result<PublishResponse, ApiError> {
        let refused = || ApiError::forbidden("publishing refused");
        let hash = secret::sha256_hex(req.stream_key.trim());
        let Some(channel_id) = self.store.channel_by_key_hash(&hash).await? else {
            tracing::info!(node_id = %req.node_id, "publish refused: unknown stream key");
            return Err(refused());
        };
        // Defense in depth: the key in force must still be this one.
        let current = self
            .store
            .stream_key(&channel_id)
            .await?
            .ok_or_else(refused)?;
        if !secret::same(&current.hash, &hash) {
            return Err(refused());
        }
        let channel = self.channel(&channel_id).await?;
        let title = channel
            .stream_title
            .clone()
            .unwrap_or_else(|| format!("{} live", channel.name));
        let live = LiveRecord {
            id: LiveId::new(),
            channel_id,
            title: title.clone(),
            category: channel.stream_category.clone().or(channel.category.clone()),
            started_at: now_rfc3339(),
            ended_at: None,
            status: LiveStatus::Live,
            node_id: req.node_id.clone(),
            key_hash: hash,
            last_heartbeat: now_secs(),
            health: None,
            vod_key: None,
            duration_secs: None,
            end_reason: None,
            low_latency: channel.low_latency,
            ready: false,
            thumbnail: false,
        };
        match self.store.start_live(&live).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(ApiError::conflict("this channel is already live"));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(channel_id = %channel_id, live_id = %live.id, node_id = %req.node_id, "live started");
        self.on_live_change().await;
        self.forget_chat_room(&channel_id).await;
        if let Err(e) = self
            .search
            .put(
                Kind::Live,
                &live.id.to_string(),
                &channel_id.to_string(),
                &title,
            )
            .await
        {
            tracing::warn!(error = %e, "search index update failed");
        }
        let _ = self.search.set_live(&channel_id.to_string(), true).await;
        Ok(PublishResponse {
            channel_id,
            live_id: live.id,
            title,
            ladder: Ladder::for_channel(channel.low_latency),
        })
    }

    pub async fn heartbeat(&self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        let stop = |reason: &str| HeartbeatResponse {
            action: HeartbeatAction::Stop,
            reason: Some(reason.into()),
        };
        let Some(live) = self
            .store
            .heartbeat(&req.live_id, &req.health, now_secs())
            .await?
        else {
            return Ok(stop("the live has ended"));
        };
        let current = self.store.stream_key(&live.channel_id).await?;
        if !current.is_some_and(|k| secret::same(&k.hash, &live.key_hash)) {
            self.end(&live.id, "stream key rotated", None, None).await?;
            return Ok(stop("the stream key was rotated"));
        }
        if req.health.ready && !live.ready {
            // Playable now: the directory lists it from this moment.
            tracing::info!(live_id = %live.id, "live ready");
            self.on_live_change().await;
        } else if req.health.thumbnail && !live.thumbnail && live.ready {
            // Its card can show the picture now.
            self.on_live_change().await;
        }
        if let Some(error) = &req.health.error {
            tracing::warn!(live_id = %live.id, error, "the media node cannot carry the stream");
        }
        Ok(HeartbeatResponse {
            action: HeartbeatAction::Continue,
            reason: None,
        })
    }

    pub async fn unpublish(&self, req: &UnpublishRequest) -> Result<(), ApiError> {
        let live = self
            .store
            .live(&req.live_id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such live"))?;
        // The VOD must be this live's own objects.
        let keys = LiveKeys::new(live.channel_id, live.id);
        let vod = match req.vod_playlist_key.as_deref() {
            Some(k) if keys.owns(k) => Some(k.to_owned()),
            Some(_) => {
                return Err(ApiError::field(
                    "vod_playlist_key",
                    "must be under this live's prefix",
                ));
            }
            None => None,
        };
        let reason = req.reason.as_deref().unwrap_or("publisher left");
        if live.status == LiveStatus::Live {
            return self
                .end(&live.id, reason, vod, Some(req.duration_secs))
                .await;
        }
        // Already ended (the node's first call as the publisher left, a key rotation, the
        // reaper): this call brings the recording.
        if let Some(vod) = vod
            && self
                .store
                .attach_vod(&live, &vod, req.duration_secs)
                .await?
        {
            tracing::info!(live_id = %live.id, "VOD recorded");
        }
        Ok(())
    }

    async fn end(
        &self,
        id: &LiveId,
        reason: &str,
        vod: Option<String>,
        duration: Option<f64>,
    ) -> Result<(), ApiError> {
        let end = LiveEnd {
            ended_at: now_rfc3339(),
            reason: reason.to_owned(),
            vod_key: vod,
            duration_secs: duration,
        };
        if let Some(live) = self.store.end_live(id, &end).await? {
            tracing::info!(live_id = %id, channel_id = %live.channel_id, reason, "live ended");
            let _ = self.search.remove(Kind::Live, &id.to_string()).await;
            let _ = self
                .search
                .set_live(&live.channel_id.to_string(), false)
                .await;
            self.on_live_change().await;
            self.forget_chat_room(&live.channel_id).await;
        }
        Ok(())
    }

    /// Chat caches a channel's current live (its archive is partitioned by live); drop it now
    /// rather than let messages land in the wrong partition until the cache expires.
    async fn forget_chat_room(&self, channel: &ChannelId) {
        let key = crate::chat::hot::channel_cache_key(channel);
        if let Ok(mut c) = self.redis.conn().await {
            let _: Result<(), _> = redis::AsyncCommands::del(&mut c, key).await;
        }
    }

    /// Lives whose heartbeat stopped (their media node is gone).
    pub async fn stale_lives(&self) -> Result<Vec<LiveRecord>, ApiError> {
        let deadline = now_secs() - self.config.heartbeat_timeout.as_secs() as i64;
        Ok(self
            .store
            .lives_now()
            .await?
            .into_iter()
            .filter(|l| l.last_heartbeat < deadline)
            .collect())
    }

    /// Ends a live whose media node is gone, with the VOD closed from what reached S3 if any.
    pub async fn end_stale(
        &self,
        id: &LiveId,
        vod: Option<String>,
        duration: Option<f64>,
    ) -> Result<(), ApiError> {
        self.end(id, "heartbeat timeout", vod, duration).await
    }

    /// Ends lives whose heartbeat stopped, without a VOD. Returns the ones it ended.
    pub async fn reap(&self) -> Result<Vec<LiveId>, ApiError> {
        let mut ended = Vec::new();
        for live in self.stale_lives().await? {
            self.end_stale(&live.id, None, None).await?;
            ended.push(live.id);
        }
        Ok(ended)
    }

    // ---- lives directory ----

    async fn on_live_change(&self) {
        use std::sync::atomic::Ordering;
        self.lives_cache.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut conn) = self.redis.conn().await {
            let _ = redis::cmd("INCR")
                .arg(LIVES_GENERATION_KEY)
                .query_async::<()>(&mut conn)
                .await;
        }
    }

    fn cached_lives(&self) -> Option<(bool, Arc<Vec<LiveSummary>>)> {
        use std::sync::atomic::Ordering;
        let current = self
            .lives_cache
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let snap = current.as_ref()?;
        if snap.generation != self.lives_cache.generation.load(Ordering::SeqCst) {
            return None;
        }
        Some((
            snap.at.elapsed() < self.config.lives_cache_ttl,
            snap.lives.clone(),
        ))
    }

    /// Every live now, most viewers first, then newest. Served from this process's snapshot
    /// (at most `lives_cache_ttl` old), refreshed by one request at a time while the others keep
    /// answering from the stale snapshot; a refresh reads the shared snapshot in Redis, and only
    /// when that is stale too, the table. So the directory costs no table read per request and a
    /// burst of requests at expiry does not stampede the stores.
    pub async fn lives(&self) -> Result<Arc<Vec<LiveSummary>>, ApiError> {
        match self.cached_lives() {
            Some((true, list)) => return Ok(list),
            Some((false, stale)) => {
                let Ok(_refreshing) = self.lives_cache.refresh.try_lock() else {
                    return Ok(stale);
                };
                return self.refresh_lives().await;
            }
            None => {}
        }
        let _refreshing = self.lives_cache.refresh.lock().await;
        if let Some((true, list)) = self.cached_lives() {
            return Ok(list);
        }
        self.refresh_lives().await
    }

    async fn refresh_lives(&self) -> Result<Arc<Vec<LiveSummary>>, ApiError> {
        use std::sync::atomic::Ordering;
        let local_generation = self.lives_cache.generation.load(Ordering::SeqCst);
        let ttl_ms = self.config.lives_cache_ttl.as_millis() as i64;
        let mut conn = self.redis.conn().await?;
        let (shared, generation): (Option<String>, Option<u64>) = redis::cmd("MGET")
            .arg(LIVES_CACHE_KEY)
            .arg(LIVES_GENERATION_KEY)
            .query_async(&mut conn)
            .await?;
        let generation = generation.unwrap_or(0);
        let fresh = shared
            .and_then(|c| serde_json::from_str::<SharedLives>(&c).ok())
            .filter(|s| s.generation == generation && now_ms() - s.built_ms < ttl_ms);
        let list = match fresh {
            Some(s) => s.lives,
            None => {
                let lives = self.build_lives().await?;
                let shared = SharedLives {
                    built_ms: now_ms(),
                    generation,
                    lives,
                };
                let json = serde_json::to_string(&shared).map_err(ApiError::internal)?;
                redis::cmd("SET")
                    .arg(LIVES_CACHE_KEY)
                    .arg(json)
                    .arg("PX")
                    .arg(ttl_ms.max(1) * 10)
                    .query_async::<()>(&mut conn)
                    .await?;
                shared.lives
            }
        };
        let list = Arc::new(list);
        let snapshot = Snapshot {
            at: Instant::now(),
            generation: local_generation,
            lives: list.clone(),
        };
        *self
            .lives_cache
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(snapshot);
        Ok(list)
    }

    async fn build_lives(&self) -> Result<Vec<LiveSummary>, ApiError> {
        // Listed means playable: a live whose playlists are not in the bucket yet stays out.
        let lives: Vec<LiveRecord> = self
            .store
            .lives_now()
            .await?
            .into_iter()
            .filter(|l| l.ready)
            .collect();
        if lives.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<ChannelId> = lives.iter().map(|l| l.channel_id).collect();
        let channels = self.store.channels(&ids).await?;
        let viewers = self.viewer_counts(&ids).await?;
        let mut out: Vec<LiveSummary> = lives
            .into_iter()
            .zip(viewers)
            .filter_map(|(live, viewer_count)| {
                let c = channels.iter().find(|c| c.id == live.channel_id)?;
                Some(self.summary(&live, c, viewer_count))
            })
            .collect();
        out.sort_by(|a, b| {
            b.viewer_count
                .cmp(&a.viewer_count)
                .then(b.started_at.cmp(&a.started_at))
        });
        Ok(out)
    }

    /// Viewer counts per channel, kept in Redis by chat (`viewers:<channel>`).
    pub async fn viewer_counts(&self, channels: &[ChannelId]) -> Result<Vec<u64>, ApiError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = channels.iter().map(|c| format!("viewers:{c}")).collect();
        let mut conn = self.redis.conn().await?;
        let counts: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        Ok(counts.into_iter().map(|c| c.unwrap_or(0)).collect())
    }

    pub fn summary(&self, live: &LiveRecord, c: &ChannelRecord, viewer_count: u64) -> LiveSummary {
        LiveSummary {
            id: live.id,
            channel: ChannelSummary {
                id: c.id,
                name: c.name.clone(),
                image_url: c.image_key.as_deref().map(|k| self.media_url(k)),
                category: c.category.clone(),
            },
            title: live.title.clone(),
            category: live.category.clone(),
            started_at: live.started_at.clone(),
            viewer_count,
            thumbnail_url: live
                .thumbnail
                .then(|| self.media_url(&media_keys::latest_thumbnail(&c.id))),
            playlist_url: self.media_url(&LiveKeys::new(c.id, live.id).master()),
            low_latency: live.low_latency,
        }
    }

    pub async fn update_live(
        &self,
        live: &LiveRecord,
        title: Option<&str>,
        category: Option<&str>,
    ) -> Result<LiveRecord, ApiError> {
        let updated = self.store.update_live(&live.id, title, category).await?;
        if updated.status == LiveStatus::Live {
            if title.is_some() {
                let _ = self
                    .search
                    .put(
                        Kind::Live,
                        &live.id.to_string(),
                        &live.channel_id.to_string(),
                        &updated.title,
                    )
                    .await;
            }
            self.on_live_change().await;
        }
        Ok(updated)
    }
}
