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
};

/// The media bucket, as the reaper and VOD deletion use it.
#[derive(Clone)]
pub struct MediaBucket {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl MediaBucket {
    pub fn new(clients: &Clients) -> Self {
        Self {
            s3: clients.s3.clone(),
            bucket: clients.stores.media_bucket.clone(),
        }
    }
}

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
            media: MediaBucket::new(clients),
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
    let MediaBucket { s3, bucket } = &state.media;
    let keys = LiveKeys::new(live.channel_id, live.id);
    let prefix = keys.prefix();
    let mut by_rendition: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(ApiError::internal)?;
        for k in page.contents().iter().filter_map(|o| o.key()) {
            if let Some((rendition, file)) = k[prefix.len()..].split_once('/') {
                by_rendition
                    .entry(rendition.to_owned())
                    .or_default()
                    .push(file.to_owned());
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
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
        put_playlist(
            &state.media,
            keys.rendition_vod(&r.name),
            hls::vod(&segments, ladder.segment_seconds),
        )
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
    put_playlist(&state.media, key.clone(), hls::master(&variants)).await?;
    tracing::info!(live_id = %live.id, renditions = variants.len(), "recording closed by the reaper");
    Ok((Some(key), duration))
}

async fn put_playlist(media: &MediaBucket, key: String, text: String) -> ApiResult<()> {
    media
        .s3
        .put_object()
        .bucket(&media.bucket)
        .key(key)
        .body(text.into_bytes().into())
        .content_type("application/vnd.apple.mpegurl")
        .cache_control("public, max-age=60")
        .send()
        .await
        .map_err(ApiError::internal)?;
    Ok(())
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

impl MediaBucket {
    /// Deletes every object under `prefix` in the media bucket.
    pub async fn delete_prefix(&self, prefix: &str) -> ApiResult<()> {
        let Self { s3, bucket } = self;
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(ApiError::internal)?;
            let ids: Vec<_> = page
                .contents()
                .iter()
                .filter_map(|o| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(o.key()?)
                        .build()
                        .ok()
                })
                .collect();
            if !ids.is_empty() {
                let delete = aws_sdk_s3::types::Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()
                    .map_err(ApiError::internal)?;
                s3.delete_objects()
                    .bucket(bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(ApiError::internal)?;
            }
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("LAIT_MEDIA_BUCKET", "media"),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    #[tokio::test]
    async fn the_reaper_boots_from_store_settings_alone_and_the_function_does_not() {
        let mut env = Env::from_pairs(store_env());
        let clients = Clients::load(&mut env).await;
        let reaper = Reaper::new(&mut env, clients);
        assert!(env.finish(reaper).is_ok());

        let mut env = Env::from_pairs(store_env());
        let deps = lait_shared::runtime::Deps::load(&mut env).await;
        let state = crate::State::new(&mut env, deps);
        let err = env.finish(state).err().expect("the API needs its secrets");
        let names: Vec<&str> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"LAIT_MEDIA_SECRET"), "{names:?}");
        assert!(names.contains(&"LAIT_JWT_SECRET"), "{names:?}");
    }
}
