//! Channels, stream keys, lives (started and ended by the media node), VODs, follows, moderators,
//! notices. HTTP-free: `functions/channels` maps requests onto this.

mod community;
mod directory;
mod ingest;
pub mod model;
mod reindex;
pub mod store;

pub use self::community::{FollowedChannel, ModeratorView, NoticeInput, sort_following};
pub use self::ingest::{
    HeartbeatAction, HeartbeatRequest, HeartbeatResponse, IngestRefusal, NodeRefusal,
    PublishRequest, PublishResponse, UnpublishRequest,
};

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use self::{
    model::*,
    store::{ChannelsStore, StreamKeyRecord},
};
use crate::{
    accounts::store::UsersStore,
    clock::Timestamp,
    config::Env,
    domain::ids::{ChannelId, LiveId, UserId},
    error::ApiError,
    search::{Kind, SearchIndex},
    stores::{dynamo::StoreError, redis::Redis},
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
    pub category: Option<Category>,
    pub started_at: Timestamp,
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
    pub category: Option<Category>,
}

/// A new stream key, as stored.
pub fn new_stream_key() -> StreamKeyRecord {
    let key = StreamKey::generate();
    StreamKeyRecord {
        hash: key.hash(),
        key,
        created_at: Timestamp::now(),
    }
}

#[derive(Clone)]
pub struct Channels {
    pub store: ChannelsStore,
    /// Owners' and moderators' profiles.
    users: UsersStore,
    pub search: SearchIndex,
    pub config: Arc<ChannelsConfig>,
    redis: Redis,
    lives_cache: Arc<directory::LivesCache>,
}

impl Channels {
    pub fn new(
        store: ChannelsStore,
        users: UsersStore,
        redis: Redis,
        config: ChannelsConfig,
    ) -> Self {
        Self {
            store,
            users,
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
        let updated = match self.store.update_channel(channel, patch).await {
            Ok(updated) => updated,
            Err(StoreError::Other(e)) if patch.name.is_some() => {
                self.search.after_failed_write(&e).await;
                return Err(StoreError::Other(e).into());
            }
            Err(e) => return Err(e.into()),
        };
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
}
