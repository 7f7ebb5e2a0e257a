//! The reaper: ends lives whose heartbeat stopped (the media node died) and closes their
//! recordings from what reached S3. A schedule runs it on AWS (`channels-reaper`), a timer in
//! lait-local. It boots with the store clients only, no secrets.

use std::{collections::BTreeMap, time::Duration};

use lait_shared::{
    ApiError, ApiResult,
    accounts::store::UsersStore,
    channels::{Channels, ChannelsConfig, Ladder, model::LiveRecord, store::ChannelsStore},
    config::Env,
    domain::ids::LiveId,
    hls,
    media_keys::{self, LiveKeys},
    runtime::Clients,
    stores::media::MediaBucket,
};

/// What the reaper needs.
#[derive(Clone)]
pub struct Reaper {
    pub channels: Channels,
    pub media: MediaBucket,
}

impl Reaper {
    pub fn new(env: &mut Env, clients: Clients) -> Self {
        Self::with(ChannelsConfig::read(env), &clients)
    }

    pub(crate) fn with(config: ChannelsConfig, clients: &Clients) -> Self {
        Self {
            channels: Channels::new(
                ChannelsStore::new(clients.dynamodb.clone(), &clients.stores),
                UsersStore::new(clients.dynamodb.clone(), &clients.stores),
                clients.redis.clone(),
                config,
            ),
            media: MediaBucket::of(clients),
        }
    }
}

/// Ends lives whose heartbeat stopped, closing each recording from the segments that reached
/// S3: the media node died (perhaps with its spool), but what it uploaded is the VOD.
pub async fn reap(state: &Reaper) -> ApiResult<Vec<LiveId>> {
    let mut ended = Vec::new();
    for live in state.channels.stale_lives().await? {
        let (vod, duration) = match close_recording(state, &live).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(live_id = %live.id, error = %e, "could not close the recording; ending without a VOD");
                (None, None)
            }
        };
        state.channels.end_stale(&live.id, vod, duration).await?;
        ended.push(live.id);
    }
    Ok(ended)
}

/// Rebuilds the search index from the table when Redis lost it (see
/// `lait_shared::channels::Channels::rebuild_search_if_lost`); the channels indexed, 0 when the
/// index was whole.
pub async fn reindex(state: &Reaper) -> ApiResult<usize> {
    let indexed = state
        .channels
        .rebuild_search_if_lost()
        .await
        .map_err(ApiError::internal)?;
    Ok(indexed.unwrap_or(0))
}

/// Writes the VOD playlists of a live from a listing of its objects (segment names carry their
/// duration and discontinuity; see `lait_shared::hls`). Returns the VOD master's key and the
/// duration, or nothing when no segment reached S3.
async fn close_recording(
    state: &Reaper,
    live: &LiveRecord,
) -> ApiResult<(Option<String>, Option<f64>)> {
    let keys = LiveKeys::new(live.channel_id, live.id);
    let prefix = keys.prefix();
    let mut by_rendition: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for k in state.media.keys_under(&prefix).await? {
        if let Some((rendition, file)) = k[prefix.len()..].split_once('/') {
            by_rendition
                .entry(rendition.to_owned())
                .or_default()
                .push(file.to_owned());
        }
    }
    let ladder = Ladder::for_channel(live.low_latency);
    let mut variants = Vec::new();
    let mut duration = None;
    for r in &ladder.renditions {
        let segments = hls::recording_from_names(
            by_rendition
                .get(&r.name)
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        if segments.is_empty() {
            continue;
        }
        duration.get_or_insert(segments.iter().map(hls::Segment::duration).sum::<f64>());
        let playlist = hls::vod(&segments, ladder.segment_seconds);
        (state.media)
            .put_playlist(&keys.rendition_vod(&r.name), playlist)
            .await?;
        // The node's probe (audio, aspect) died with it: 16:9 and no CODECS claim.
        let width = r.height * 16 / 9;
        variants.push(hls::Variant {
            uri: format!("{}/{}", r.name, media_keys::VOD),
            bandwidth: u64::from(r.video_kbps + r.audio_kbps) * 1000,
            width: width + width % 2,
            height: r.height,
            has_audio: None,
        });
    }
    if variants.is_empty() {
        return Ok((None, None));
    }
    let key = keys.vod();
    state
        .media
        .put_playlist(&key, hls::master(&variants))
        .await?;
    tracing::info!(live_id = %live.id, renditions = variants.len(), "recording closed by the reaper");
    Ok((Some(key), duration))
}

/// Ends lives whose heartbeat stopped and rebuilds a lost search index, every `every`
/// (lait-local; on AWS a schedule runs the `channels-reaper` function instead).
pub async fn reaper_loop(state: Reaper, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match reap(&state).await {
            Ok(ended) if !ended.is_empty() => {
                tracing::info!(count = ended.len(), "reaper ended stale lives")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reaper run failed"),
        }
        if let Err(e) = reindex(&state).await {
            tracing::warn!(error = %e, "search index rebuild failed");
        }
    }
}
