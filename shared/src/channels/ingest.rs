//! The media node's hooks: publish (a stream key becomes a live), heartbeat (health; stop when
//! the key was rotated or the live ended), unpublish (the end, with its VOD), and the reaper for
//! lives whose node went silent.

use serde::{Deserialize, Serialize};

use super::{Channels, Ladder, model::*};
use crate::media_keys::LiveKeys;
use crate::stores::dynamo::StoreError;
use crate::{
    auth::secret,
    clock::Timestamp,
    domain::ids::{ChannelId, LiveId},
    error::ApiError,
    search::Kind,
};

/// The media node's publish call.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishRequest {
    pub stream_key: StreamKey,
    pub node_id: String,
    #[serde(default)]
    pub client_addr: String,
    /// The live's id, chosen by the node for this publish: the call is then idempotent, so a
    /// node whose call timed out (the live may have started) can ask again and gets the same
    /// live instead of "already live". Without it channels picks one.
    #[serde(default)]
    pub live_id: Option<LiveId>,
    /// Set when the node turns the publisher away before any live starts (it is full, or
    /// draining): channels checks the key as for a publish, records the refusal for the
    /// channel's studio, and answers 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<NodeRefusal>,
}

/// Why a media node turned a publisher away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeRefusal {
    /// It carries as many streams as it was sized for: the encoder would degrade every stream.
    NodeFull,
    /// It is stopping (scale-in or a deploy) and takes no new stream.
    NodeDraining,
}

impl NodeRefusal {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NodeFull => "the media node is full",
            Self::NodeDraining => "the media node is stopping",
        }
    }
}

/// The last time a media node turned a channel's publisher away, for its studio: OBS reconnects
/// by itself and the load balancer sends it to a node with room.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestRefusal {
    pub reason: NodeRefusal,
    /// Unix seconds.
    pub at: i64,
    pub node_id: String,
}

/// How long a refusal stays in the studio.
const REFUSAL_SHOWN_SECS: u64 = 600;

fn refusal_key(ch: &ChannelId) -> String {
    format!("ingest:refused:{ch}")
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

#[serde_with::skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeartbeatResponse {
    pub action: HeartbeatAction,
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
    /// Authorizes a publisher by stream key and starts a live (or, when the node turned it away,
    /// records why for the studio and answers 503).
    pub async fn publish(&self, req: &PublishRequest) -> Result<PublishResponse, ApiError> {
        let refused = || ApiError::forbidden("publishing refused");
        let hash = req.stream_key.hash();
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
        if let Some(reason) = req.refused {
            tracing::info!(channel_id = %channel_id, node_id = %req.node_id, ?reason, "publisher turned away by its node");
            self.record_refusal(&channel_id, reason, &req.node_id)
                .await?;
            return Err(ApiError::unavailable(reason.describe()));
        }
        let channel = self.channel(&channel_id).await?;
        let title = channel
            .stream_title
            .clone()
            .unwrap_or_else(|| format!("{} live", channel.name));
        let live = LiveRecord {
            id: req.live_id.unwrap_or_default(),
            channel_id,
            title,
            category: channel.stream_category.or(channel.category),
            started_at: Timestamp::now(),
            ended_at: None,
            status: LiveStatus::Live,
            node_id: req.node_id.clone(),
            key_hash: hash,
            last_heartbeat: Timestamp::now(),
            health: None,
            vod_key: None,
            duration_secs: None,
            end_reason: None,
            low_latency: channel.low_latency,
            ready: false,
            thumbnail: false,
        };
        let live = match self.store.start_live(&live).await {
            Ok(()) => {
                tracing::info!(channel_id = %channel_id, live_id = %live.id, node_id = %req.node_id, "live started");
                live
            }
            Err(StoreError::Conflict) => match self.replayed(&live).await? {
                Some(started) => {
                    tracing::info!(channel_id = %channel_id, live_id = %live.id, node_id = %req.node_id, "publish asked again: the live it started");
                    started
                }
                None => return Err(ApiError::conflict("this channel is already live")),
            },
            Err(e) => return Err(e.into()),
        };
        let title = live.title.clone();
        self.forget_refusal(&channel_id).await;
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
            ladder: Ladder::for_channel(live.low_latency),
        })
    }

    async fn record_refusal(
        &self,
        ch: &ChannelId,
        reason: NodeRefusal,
        node_id: &str,
    ) -> Result<(), ApiError> {
        let refusal = IngestRefusal {
            reason,
            at: Timestamp::now().unix_secs(),
            node_id: node_id.to_owned(),
        };
        let mut conn = self.redis.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(refusal_key(ch))
            .arg(serde_json::to_string(&refusal).map_err(anyhow::Error::from)?)
            .arg("EX")
            .arg(REFUSAL_SHOWN_SECS)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The channel's last node refusal, if recent: the studio shows it.
    pub async fn ingest_refusal(&self, ch: &ChannelId) -> Result<Option<IngestRefusal>, ApiError> {
        let mut conn = self.redis.conn().await?;
        let raw: Option<String> = redis::cmd("GET")
            .arg(refusal_key(ch))
            .query_async(&mut conn)
            .await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// A live started: an older refusal is no longer news.
    async fn forget_refusal(&self, ch: &ChannelId) {
        if let Ok(mut conn) = self.redis.conn().await {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg(refusal_key(ch))
                .query_async(&mut conn)
                .await;
        }
    }

    /// The live an earlier call of this very publish started (same node-chosen id, channel and
    /// key, still live), if `live` was refused because of it.
    async fn replayed(&self, live: &LiveRecord) -> Result<Option<LiveRecord>, ApiError> {
        let started = self.store.live(&live.id).await?;
        Ok(started.filter(|s| {
            s.channel_id == live.channel_id
                && secret::same(&s.key_hash, &live.key_hash)
                && s.node_id == live.node_id
                && s.status == LiveStatus::Live
        }))
    }

    pub async fn heartbeat(&self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        let stop = |reason: &str| HeartbeatResponse {
            action: HeartbeatAction::Stop,
            reason: Some(reason.into()),
        };
        let Some(live) = self
            .store
            .heartbeat(&req.live_id, &req.health, Timestamp::now())
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
            ended_at: Timestamp::now(),
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
        let deadline = Timestamp::now() - self.config.heartbeat_timeout;
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
}
