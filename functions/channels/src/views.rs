//! What the routes answer with: a channel as anyone sees it and as its owner does.

use lait_shared::{
    ApiResult,
    channels::{IngestRefusal, model::*},
    clock::Timestamp,
    domain::ids::{ChannelId, LiveId, UserId},
    media_keys::{self, LiveKeys},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::State;

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    pub id: UserId,
    pub nickname: String,
    pub avatar_url: Option<String>,
}

/// A channel as anyone sees it. Never carries the stream key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: ChannelId,
    pub name: String,
    pub description: String,
    pub category: Option<Category>,
    pub image_url: Option<String>,
    pub owner: OwnerView,
    pub live: bool,
    pub live_id: Option<LiveId>,
    pub follower_count: i64,
    pub stream_title: Option<String>,
    pub stream_category: Option<Category>,
    pub low_latency: bool,
    pub created_at: Timestamp,
    /// Whether the caller follows it (absent for anonymous callers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub following: Option<bool>,
}

/// The owner's view: adds where and with what key to stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct MineView {
    #[serde(flatten)]
    pub channel: ChannelView,
    /// OBS "Server".
    pub ingest_url: String,
    /// OBS "Stream Key". Secret: shown to the owner only.
    pub stream_key: StreamKey,
    /// The last time (within 10 minutes) a media node turned this channel's stream away, and
    /// why; cleared when a live starts.
    pub ingest_refusal: Option<IngestRefusal>,
}

pub(crate) async fn view(
    state: &State,
    c: ChannelRecord,
    viewer: Option<&UserId>,
) -> ApiResult<ChannelView> {
    let owner = state.channels.owner(&c).await?;
    let following = match viewer {
        Some(u) => Some(state.channels.is_following(u, &c.id).await?),
        None => None,
    };
    // Live to viewers once playable; `live_id` is there from the first moment (the studio).
    let live = state.channels.is_playing(&c).await?;
    Ok(ChannelView {
        owner: OwnerView {
            id: c.owner_id,
            nickname: owner
                .as_ref()
                .map(|o| o.nickname.clone())
                .unwrap_or_default(),
            avatar_url: owner
                .and_then(|o| o.avatar_key)
                .map(|k| state.channels.media_url(&k)),
        },
        image_url: c.image_key.as_deref().map(|k| state.channels.media_url(k)),
        live,
        live_id: c.current_live_id,
        id: c.id,
        name: c.name,
        description: c.description,
        category: c.category,
        follower_count: c.follower_count.max(0),
        stream_title: c.stream_title,
        stream_category: c.stream_category,
        low_latency: c.low_latency,
        created_at: c.created_at,
        following,
    })
}

/// One live (or ended broadcast).
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    pub id: LiveId,
    pub channel_id: ChannelId,
    pub title: String,
    pub category: Option<Category>,
    pub status: LiveStatus,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub viewer_count: u64,
    /// Absent until the media node has put a first thumbnail in place.
    pub thumbnail_url: Option<String>,
    /// Live master playlist while live; the VOD playlist after, if one was kept.
    pub playlist_url: Option<String>,
    pub duration_secs: Option<f64>,
    pub low_latency: bool,
    /// Its playlists are in place: a player following `playlist_url` gets 200s.
    pub ready: bool,
    /// Why it ended (`publisher left`, `heartbeat timeout`, `stream key rotated`, …).
    pub end_reason: Option<String>,
}

pub(crate) async fn live_view(state: &State, l: LiveRecord) -> ApiResult<LiveView> {
    let live = l.status == LiveStatus::Live;
    let viewers = if live {
        state.channels.viewer_counts(&[l.channel_id]).await?[0]
    } else {
        0
    };
    // While live: the channel's rolling thumbnail; after: the one kept with the recording.
    let keys = LiveKeys::new(l.channel_id, l.id);
    let thumbnail = if live {
        media_keys::latest_thumbnail(&l.channel_id)
    } else {
        keys.thumbnail()
    };
    Ok(LiveView {
        thumbnail_url: l.thumbnail.then(|| state.channels.media_url(&thumbnail)),
        playlist_url: if live {
            Some(state.channels.media_url(&keys.master()))
        } else {
            l.vod_key.as_deref().map(|k| state.channels.media_url(k))
        },
        id: l.id,
        channel_id: l.channel_id,
        title: l.title,
        category: l.category,
        status: l.status,
        started_at: l.started_at,
        ended_at: l.ended_at,
        viewer_count: viewers,
        duration_secs: l.duration_secs,
        low_latency: l.low_latency,
        ready: l.ready,
        end_reason: l.end_reason,
    })
}
