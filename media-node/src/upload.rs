//! Spool → S3. Per rendition, in order: measure the segment from its timestamps, put it, then the
//! rendition's live playlist naming it; once every rendition has one, the master. A segment is
//! never dropped because S3 blinked: puts are retried until the live is finishing.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use aws_sdk_s3::primitives::ByteStream;
use backon::{ExponentialBuilder, Retryable};
use lait_shared::{
    clock::Timestamp,
    hls::{self, LivePlaylist, Segment},
    media_keys::{self, LiveKeys},
};
use tokio::sync::mpsc;

use crate::{
    ctx::Ctx,
    recorder::{self, Finished},
    ts,
};

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";
const PLAYLIST_CACHE: &str = "public, max-age=1";
/// The playlist's cache age, in seconds (a segment stays listed this much longer).
const PLAYLIST_CACHE_SECS: f64 = 1.0;

impl Ctx {
    /// PUT with retries and backoff. Gives up only once the live is finishing and its deadline
    /// passed.
    pub async fn put(
        &self,
        key: &str,
        body: bytes::Bytes,
        content_type: &str,
        cache: &str,
    ) -> bool {
        let put = || async {
            self.agent
                .s3
                .put_object()
                .bucket(&self.agent.config.media_bucket)
                .key(key)
                .body(ByteStream::from(body.clone()))
                .content_type(content_type)
                .cache_control(cache)
                .send()
                .await
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .without_max_times();
        let res = put
            .retry(backoff)
            .when(|_| self.deadline().is_none_or(|d| Instant::now() <= d))
            .notify(|e, _| {
                tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(e), "upload failed; retrying");
            })
            .await;
        if res.is_err() {
            tracing::error!(key, "upload abandoned at the end of the live");
        }
        res.is_ok()
    }

    pub fn key(&self, rest: &str) -> String {
        LiveKeys::new(self.channel, self.live).key(rest)
    }
}

/// Seconds on the agent's monotonic clock (the playlist writer's time base).
fn clock(ctx: &Ctx) -> f64 {
    ctx.started.elapsed().as_secs_f64()
}

/// Uploads one rendition's segments as they finish; returns the recording (every segment that
/// reached S3, in order).
pub async fn rendition(
    ctx: Arc<Ctx>,
    idx: usize,
    mut rx: mpsc::UnboundedReceiver<Finished>,
) -> Vec<Segment> {
    let name = ctx.rungs[idx].rendition.name.clone();
    let seg_secs = ctx.segment_seconds;
    let frame = 1.0 / ctx.fps;
    let mut playlist =
        LivePlaylist::new(seg_secs, ctx.agent.config.window_secs, PLAYLIST_CACHE_SECS);
    let mut recorded: Vec<Segment> = Vec::new();
    let mut last_seq: Option<u64> = None;
    // Where the next segment should start on the media timeline (seconds).
    let mut expected: Option<f64> = None;
    let mut source_rate = SourceRate::default();
    while let Some(f) = rx.recv().await {
        // The watcher and the final scan may both name a segment.
        if last_seq.is_some_and(|s| f.seq <= s) {
            continue;
        }
        last_seq = Some(f.seq);
        let seen = Instant::now();
        let body = match tokio::fs::read(&f.path).await {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => {
                tracing::warn!(live_id = %ctx.live, path = %f.path.display(), error = %e, "segment vanished");
                continue;
            }
        };
        let size = body.len() as i64;
        recorder::account(&ctx, size);
        let contents = ts::scan(&body);
        let Some(span) = contents.timeline() else {
            tracing::warn!(live_id = %ctx.live, rendition = %name, seq = f.seq, "segment without media; skipped");
            let _ = tokio::fs::remove_file(&f.path).await;
            recorder::account(&ctx, -size);
            continue;
        };
        let restarted = ctx.first_after_restart(idx, f.seq);
        // A jump on the media timeline (encoder restart, publisher gap, dropped input) is a
        // discontinuity; small holes are left to the player's gap handling.
        let jumped = expected
            .is_some_and(|e| span.first < e - 2.0 * frame || span.first > e + seg_secs / 2.0);
        expected = Some(span.end(frame));
        let duration = span.duration(frame);
        if idx == 0 && ctx.pass_through.load(Ordering::SeqCst) {
            let declared = ctx.rungs[0].variant("", ctx.has_audio).bandwidth;
            if let Some(bps) = source_rate.add(size as u64, duration, declared) {
                ctx.stop_passing_through(&format!(
                    "the source's bitrate ({} kbps) is far above the top rung's ({} kbps)",
                    bps / 1000,
                    declared / 1000
                ));
            }
        }
        let segment = Segment {
            seq: f.seq,
            duration_ms: (duration * 1000.0).round() as u64,
            discontinuity: (restarted || jumped) && !recorded.is_empty(),
            program_date_time: Some(Timestamp::now() - Duration::from_secs_f64(duration)),
        };
        if !ctx
            .put(
                &ctx.key(&format!("{name}/{}", segment.file_name())),
                body,
                "video/mp2t",
                SEGMENT_CACHE,
            )
            .await
        {
            continue;
        }
        let _ = tokio::fs::remove_file(&f.path).await;
        recorder::account(&ctx, -size);
        recorded.push(segment.clone());
        if let Err(why) = playlist.push(segment, clock(&ctx)) {
            tracing::warn!(live_id = %ctx.live, rendition = %name, seq = f.seq, ?why, "segment left out of the live playlist");
            continue;
        }
        let text = bytes::Bytes::from(playlist.render());
        if ctx
            .put(
                &ctx.key(&format!("{name}/{}", media_keys::LIVE_PLAYLIST)),
                text,
                PLAYLIST_TYPE,
                PLAYLIST_CACHE,
            )
            .await
        {
            playlist.published(clock(&ctx));
            let lag_ms = seen.elapsed().as_millis() as u64;
            ctx.upload_lag_ms.store(lag_ms, Ordering::Relaxed);
            tracing::debug!(live_id = %ctx.live, rendition = %name, seq = f.seq, lag_ms, "segment published");
            if ctx.current(f.seq) {
                ctx.published[idx].store(true, Ordering::SeqCst);
            }
            master_when_ready(&ctx).await;
        }
    }
    recorded
}

/// The bitrate of a passed-through top rung over its last few segments: the master announces
/// the rung's bandwidth, so a source far above it is encoded to it instead.
#[derive(Default)]
struct SourceRate {
    recent: std::collections::VecDeque<(u64, f64)>,
}

impl SourceRate {
    const SEGMENTS: usize = 5;

    /// Adds a segment (bytes, seconds); the measured bits per second once the last
    /// `SEGMENTS` average over 1.5 × `declared`.
    fn add(&mut self, bytes: u64, seconds: f64, declared: u64) -> Option<u64> {
        if self.recent.len() == Self::SEGMENTS {
            self.recent.pop_front();
        }
        self.recent.push_back((bytes, seconds));
        let (b, s) = self
            .recent
            .iter()
            .fold((0u64, 0.0), |(b, s), (bb, ss)| (b + bb, s + ss));
        let bps = (b as f64 * 8.0 / s.max(0.001)) as u64;
        (self.recent.len() == Self::SEGMENTS && bps * 2 > declared * 3).then_some(bps)
    }
}

/// The master playlist, once every rendition has a published playlist of the running ffmpeg
/// and the ladder's mode is settled; then the live is ready to be listed.
pub async fn master_when_ready(ctx: &Ctx) {
    if ctx.master_uploaded.load(Ordering::SeqCst)
        || !ctx.mode_settled()
        || !ctx.published.iter().all(|p| p.load(Ordering::SeqCst))
    {
        return;
    }
    let _once = ctx.master_lock.lock().await;
    if ctx.master_uploaded.load(Ordering::SeqCst)
        || !ctx.mode_settled()
        || !ctx.published.iter().all(|p| p.load(Ordering::SeqCst))
    {
        return;
    }
    if ctx
        .put(
            &ctx.key(media_keys::MASTER),
            ctx.master(media_keys::LIVE_PLAYLIST).into(),
            PLAYLIST_TYPE,
            PLAYLIST_CACHE,
        )
        .await
    {
        ctx.master_uploaded.store(true, Ordering::SeqCst);
        ctx.beat_now.notify_one();
        tracing::info!(live_id = %ctx.live, "master playlist published");
    }
}

/// Thumbnails: the channel's rolling one and the live's own.
pub async fn thumbnails(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    while let Some(path) = rx.recv().await {
        let Ok(body) = tokio::fs::read(&path).await else {
            continue;
        };
        if body.is_empty() {
            continue;
        }
        let body = bytes::Bytes::from(body);
        let latest = media_keys::latest_thumbnail(&ctx.channel);
        if ctx
            .put(&latest, body.clone(), "image/jpeg", "public, max-age=5")
            .await
            && !ctx.thumb_uploaded.swap(true, Ordering::SeqCst)
        {
            ctx.beat_now.notify_one();
        }
        ctx.put(
            &ctx.key(media_keys::THUMBNAIL),
            body,
            "image/jpeg",
            "public, max-age=60",
        )
        .await;
    }
}

/// The VOD: one playlist per rendition with a recording, then the master naming them.
/// Returns the master's key when it was written.
pub async fn write_vod(ctx: &Ctx, recordings: &[(usize, Vec<Segment>)]) -> Option<String> {
    let mut written = Vec::new();
    for (idx, segs) in recordings.iter().filter(|(_, s)| !s.is_empty()) {
        let name = &ctx.rungs[*idx].rendition.name;
        let text = hls::vod(segs, ctx.segment_seconds);
        if ctx
            .put(
                &ctx.key(&format!("{name}/{}", media_keys::VOD)),
                text.into(),
                PLAYLIST_TYPE,
                "public, max-age=60",
            )
            .await
        {
            written.push(*idx);
        }
    }
    if written.is_empty() {
        return None;
    }
    let master = hls::master(
        &written
            .iter()
            .map(|i| ctx.rungs[*i].variant(media_keys::VOD, ctx.has_audio))
            .collect::<Vec<_>>(),
    );
    ctx.put(
        &ctx.key(media_keys::VOD),
        master.into(),
        PLAYLIST_TYPE,
        "public, max-age=60",
    )
    .await
    .then(|| ctx.key(media_keys::VOD))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_far_above_the_declared_bandwidth_is_caught_over_five_segments() {
        let declared = 2_928_000;
        let mut r = SourceRate::default();
        // 2.9 Mbps then a burst: within 1.5× on average, nothing.
        for bytes in [362_000, 362_000, 362_000, 362_000, 900_000] {
            assert_eq!(r.add(bytes, 1.0, declared), None);
        }
        // A 6 Mbps source: caught once five of its segments are in.
        let mut r = SourceRate::default();
        for _ in 0..4 {
            assert_eq!(r.add(750_000, 1.0, declared), None, "too few segments");
        }
        assert_eq!(r.add(750_000, 1.0, declared), Some(6_000_000));
    }
}
