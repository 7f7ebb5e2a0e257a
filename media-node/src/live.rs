//! One live on this node, start to finish: probe the publisher (nginx stat), start the ladder
//! (`ffmpeg`), notice finished segments (`recorder`), upload them with their playlists
//! (`upload`), heartbeat, and the clean finish (VOD + unpublish). A restarted agent closes what
//! a dead one left (`recover`), rebuilding the VOD from what reached S3.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use lait_shared::{
    channels::{HeartbeatRequest, PublishResponse, Rendition, UnpublishRequest, model::Health},
    domain::ids::{ChannelId, LiveId},
    hls,
};
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinHandle,
};

pub use crate::ffmpeg::Stop;
use crate::{
    Agent, ffmpeg,
    ladder::{self, Job},
    nginx::{self, SourceMeta},
    recorder::{self, Recorder},
    upload,
};

/// Controls a running live.
pub struct Handle {
    stop: watch::Sender<Stop>,
    done: JoinHandle<()>,
}

impl Handle {
    /// Finishes the live (VOD, unpublish) and waits for it: `Drain` once the publisher has left
    /// (the ladder first encodes what it has still to read), `Now` when the agent shuts down.
    pub async fn stop_and_wait(self, how: Stop) {
        let _ = self.stop.send(how);
        let _ = self.done.await;
    }
}

pub fn start(agent: Agent, info: PublishResponse) -> Handle {
    let (stop, stop_rx) = watch::channel(Stop::Run);
    let done = tokio::spawn(async move {
        let live_id = info.live_id;
        if let Err(e) = run(agent, info, stop_rx).await {
            tracing::error!(%live_id, error = format!("{e:#}"), "live failed");
        }
    });
    Handle { stop, done }
}

/// One rendition as encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rung {
    pub rendition: Rendition,
    pub width: u32,
}

impl Rung {
    pub fn variant(&self, playlist: &str, has_audio: bool) -> hls::Variant {
        let r = &self.rendition;
        hls::Variant {
            uri: format!("{}/{playlist}", r.name),
            bandwidth: u64::from(r.video_kbps + if has_audio { r.audio_kbps } else { 0 }) * 1000,
            width: self.width,
            height: r.height,
            has_audio: Some(has_audio),
        }
    }
}

/// `live.json` in the live's spool directory: enough for a restarted agent to close the live.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveFile {
    pub live_id: LiveId,
    pub channel_id: ChannelId,
    pub segment_seconds: f64,
    pub has_audio: bool,
    pub rungs: Vec<Rung>,
}

/// What the parts of one live share.
pub struct Ctx {
    pub agent: Agent,
    pub channel: ChannelId,
    pub live: LiveId,
    pub dir: PathBuf,
    pub rungs: Vec<Rung>,
    pub segment_seconds: f64,
    pub fps: f64,
    pub has_audio: bool,
    pub started: Instant,
    /// Per rendition: the next segment from `restart_from` on follows an ffmpeg restart.
    restart: Vec<AtomicBool>,
    restart_from: AtomicU64,
    /// The top rung is the source's own video (`ladder::can_pass_through`), until the source
    /// stops fitting (`stop_passing_through`).
    pub pass_through: AtomicBool,
    /// Restart ffmpeg now (the mode changed).
    pub reencode: Notify,
    /// The source's keyframes were seen to fit pass-through: until then (or the switch to
    /// encoding) the live is not listed, so a switch never shows a listed live a gap.
    pub passthrough_confirmed: AtomicBool,
    /// Per rendition: the highest finished segment number seen (+1; 0 = none).
    seen: Vec<AtomicU64>,
    /// Per rendition: a live playlist is in S3.
    pub published: Vec<AtomicBool>,
    pub master_uploaded: AtomicBool,
    pub master_lock: tokio::sync::Mutex<()>,
    /// The first thumbnail is in S3 (the directory's card shows it).
    pub thumb_uploaded: AtomicBool,
    /// Send a heartbeat now: the master playlist (the live becomes playable) or the first
    /// thumbnail is in S3, and channels should know at once.
    pub beat_now: Notify,
    pub upload_lag_ms: AtomicU64,
    pub pending_bytes: AtomicU64,
    pub restarts: AtomicU64,
    finishing: Mutex<Option<Instant>>,
}

impl Ctx {
    pub fn new(agent: Agent, file: &LiveFile, fps: f64) -> Self {
        let n = file.rungs.len();
        Self {
            dir: agent.config.spool_dir.join(file.live_id.to_string()),
            agent,
            channel: file.channel_id,
            live: file.live_id,
            rungs: file.rungs.clone(),
            segment_seconds: file.segment_seconds,
            fps,
            has_audio: file.has_audio,
            started: Instant::now(),
            restart: (0..n).map(|_| AtomicBool::new(false)).collect(),
            restart_from: AtomicU64::new(0),
            pass_through: AtomicBool::new(false),
            reencode: Notify::new(),
            passthrough_confirmed: AtomicBool::new(false),
            seen: (0..n).map(|_| AtomicU64::new(0)).collect(),
            published: (0..n).map(|_| AtomicBool::new(false)).collect(),
            master_uploaded: AtomicBool::new(false),
            master_lock: tokio::sync::Mutex::new(()),
            thumb_uploaded: AtomicBool::new(false),
            beat_now: Notify::new(),
            upload_lag_ms: AtomicU64::new(0),
            pending_bytes: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            finishing: Mutex::new(None),
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        *self.finishing.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn master(&self, playlist: &str) -> String {
        hls::master(
            &self
                .rungs
                .iter()
                .map(|r| r.variant(playlist, self.has_audio))
                .collect::<Vec<_>>(),
        )
    }

    /// The recorder saw segment `seq` of rendition `idx` finish.
    pub fn saw(&self, idx: usize, seq: u64) {
        self.seen[idx].fetch_max(seq + 1, Ordering::SeqCst);
    }

    /// Where a (re)started ffmpeg numbers from: after every segment any rendition finished, so
    /// no file name is reused while its segment may still wait for upload.
    pub fn next_start_number(&self) -> u64 {
        self.seen
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .max()
            .unwrap_or(0)
    }

    /// ffmpeg ended: drop its partial files, and mark the first segment of the next ffmpeg in
    /// every rendition (not a last one the old ffmpeg closed that still waits for upload).
    pub async fn on_ffmpeg_exit(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        for (i, r) in self.rungs.iter().enumerate() {
            let dir = self.dir.join(&r.rendition.name);
            if let Ok(Some(highest)) =
                tokio::task::spawn_blocking(move || recorder::clean_partials(&dir)).await
            {
                self.saw(i, highest);
            }
        }
        self.unlist_until_restarted();
        self.restart_from
            .store(self.next_start_number(), Ordering::SeqCst);
        for flag in &self.restart {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// Segment `seq` is the running ffmpeg's (not one an ended ffmpeg left for upload).
    pub fn current(&self, seq: u64) -> bool {
        seq >= self.restart_from.load(Ordering::SeqCst)
    }

    /// Whether the ladder's mode is settled: the live may be listed.
    pub fn mode_settled(&self) -> bool {
        !self.pass_through.load(Ordering::SeqCst)
            || self.passthrough_confirmed.load(Ordering::SeqCst)
    }

    /// Whether segment `seq` of rendition `idx` is the first after an ffmpeg restart.
    pub fn first_after_restart(&self, idx: usize, seq: u64) -> bool {
        self.current(seq) && self.restart[idx].swap(false, Ordering::SeqCst)
    }

    /// The source's video stops being passed through (once): every rung is encoded from the
    /// next ffmpeg on.
    pub fn stop_passing_through(&self, reason: &str) {
        if self.pass_through.swap(false, Ordering::SeqCst) {
            tracing::info!(live_id = %self.live, reason, "encoding the top rung instead of passing the source through");
            // The old ffmpeg's segments no longer count toward listing (see `on_ffmpeg_exit`).
            self.restart_from.store(u64::MAX, Ordering::SeqCst);
            self.unlist_until_restarted();
            self.reencode.notify_one();
        }
    }

    /// Not listed yet: list it once the next ffmpeg has a segment in every rendition (a
    /// listed live then shows no gap while ffmpeg restarts).
    fn unlist_until_restarted(&self) {
        if !self.master_uploaded.load(Ordering::SeqCst) {
            for p in &self.published {
                p.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// The publisher's metadata shows up in nginx's stat shortly after the rename; audio may follow
/// video by a moment, so wait for both (or give up on the missing one after ~2 s). When the stat
/// never answers, assume audio and video (ffmpeg then finds out) rather than refuse the stream.
async fn probe(agent: &Agent, live: &LiveId) -> SourceMeta {
    let mut last = None;
    for i in 0..30 {
        if let Some(m) = nginx::source_meta(agent, live).await {
            last = Some(m);
            if m.video && m.audio && m.height.is_some() || i >= 20 && (m.video || m.audio) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last.unwrap_or_else(|| {
        tracing::warn!(live_id = %live, "nginx stat did not describe the stream; assuming audio and video");
        SourceMeta {
            video: true,
            audio: true,
            ..SourceMeta::default()
        }
    })
}

async fn heartbeat(agent: &Agent, live: LiveId, health: Health) -> Option<(bool, Option<String>)> {
    let res = agent
        .call::<lait_shared::channels::HeartbeatResponse>(
            "/internal/media/heartbeat",
            &HeartbeatRequest {
                live_id: live,
                health,
            },
            Duration::from_secs(5),
        )
        .await;
    match res {
        Ok(r) => r.map(|r| (r.action.is_stop(), r.reason)),
        Err(e) => {
            tracing::warn!(live_id = %live, error = %e, "heartbeat failed");
            None
        }
    }
}

async fn unpublish(agent: &Agent, req: &UnpublishRequest) -> bool {
    match agent
        .call::<serde_json::Value>("/internal/media/unpublish", req, Duration::from_secs(10))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(live_id = %req.live_id, error = %e, "unpublish failed; the reaper will end the live");
            false
        }
    }
}

async fn run(
    agent: Agent,
    info: PublishResponse,
    mut stop: watch::Receiver<Stop>,
) -> anyhow::Result<()> {
    let live = info.live_id;
    let dir = agent.config.spool_dir.join(live.to_string());
    tokio::fs::create_dir_all(&dir).await?;

    let meta = probe(&agent, &live).await;
    if !meta.video {
        // Nothing to show a viewer: refuse the stream rather than list a black screen.
        let reason = if meta.audio {
            "audio-only streams are not supported: send video (H.264) with the audio"
        } else {
            "no video arrived from the publisher"
        };
        tracing::warn!(live_id = %live, reason, "publish refused after probing");
        let health = Health {
            error: Some(reason.to_owned()),
            ..Health::default()
        };
        heartbeat(&agent, live, health).await;
        nginx::drop_publisher(&agent, &live).await;
        unpublish(
            &agent,
            &UnpublishRequest::without_recording(live, Some(reason.to_owned())),
        )
        .await;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        return Ok(());
    }
    let source = meta.width.zip(meta.height);
    let file = LiveFile {
        live_id: live,
        channel_id: info.channel_id,
        segment_seconds: info.ladder.segment_seconds,
        has_audio: meta.audio,
        rungs: ladder::rungs(&info.ladder, meta.height)
            .into_iter()
            .map(|r| Rung {
                width: ladder::width_for(r.height, source),
                rendition: r,
            })
            .collect(),
    };
    for r in &file.rungs {
        tokio::fs::create_dir_all(dir.join(&r.rendition.name)).await?;
    }
    // Lets a restarted agent close this live if this process dies (see `recover`).
    tokio::fs::write(dir.join("live.json"), serde_json::to_vec(&file)?).await?;
    let fps = meta.fps.unwrap_or(30.0);
    let ctx = Arc::new(Ctx::new(agent.clone(), &file, fps));
    let rungs_only: Vec<Rendition> = file.rungs.iter().map(|r| r.rendition.clone()).collect();
    let pass_through = ladder::can_pass_through(meta.h264, meta.height, &rungs_only);
    ctx.pass_through.store(pass_through, Ordering::SeqCst);
    tracing::info!(live_id = %live, rungs = ctx.rungs.len(), pass_through, "starting the ladder");

    // One ordered upload queue per rendition (and one for thumbnails): renditions do not wait
    // for each other, and within one the segment always goes before the playlist naming it.
    let mut seg_txs = Vec::new();
    let mut uploads = Vec::new();
    for i in 0..ctx.rungs.len() {
        let (tx, rx) = mpsc::unbounded_channel();
        seg_txs.push(tx);
        uploads.push(tokio::spawn(upload::rendition(ctx.clone(), i, rx)));
    }
    let (thumb_tx, thumb_rx) = mpsc::unbounded_channel();
    let thumbs = tokio::spawn(upload::thumbnails(ctx.clone(), thumb_rx));
    let recorder = Recorder::start(ctx.clone(), seg_txs.clone(), thumb_tx)?;

    let input = format!("rtmp://127.0.0.1:{}/live/{live}", agent.config.rtmp_port);
    let (spool, seg, has_audio, job_ctx) = (
        dir.clone(),
        file.segment_seconds,
        file.has_audio,
        ctx.clone(),
    );
    let job_of = move |start_number| {
        ladder::ffmpeg_args(&Job {
            input: &input,
            spool: &spool,
            rungs: &rungs_only,
            segment_seconds: seg,
            has_audio,
            start_number,
            pass_through: job_ctx.pass_through.load(Ordering::SeqCst),
            fps,
        })
    };
    let progress = Arc::new(ffmpeg::Progress::new(dir.join(ladder::KEYFRAME_LOG)));
    // Passing the source through holds only while its keyframes fit the segment grid.
    let guard = pass_through.then(|| {
        let (ctx, progress) = (ctx.clone(), progress.clone());
        let limit = ladder::passthrough_gop_limit(file.segment_seconds, fps);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            while ctx.pass_through.load(Ordering::SeqCst) {
                tick.tick().await;
                match progress.passthrough_fits(limit) {
                    Err(reason) => ctx.stop_passing_through(&reason),
                    Ok(true) if !ctx.passthrough_confirmed.swap(true, Ordering::SeqCst) => {
                        upload::master_when_ready(&ctx).await;
                    }
                    Ok(_) => {}
                }
            }
        })
    });
    // ffmpeg stops when this live does, for whatever reason (publisher gone, told to stop).
    let (ffmpeg_stop, ffmpeg_stop_rx) = watch::channel(Stop::Run);
    let ffmpeg = tokio::spawn(ffmpeg::supervise(
        ctx.clone(),
        job_of,
        progress.clone(),
        ffmpeg_stop_rx,
    ));

    let mut ticker = tokio::time::interval(agent.config.heartbeat_every);
    ticker.tick().await;
    let how = loop {
        let beat = tokio::select! {
            _ = ticker.tick() => true,
            // The master (or the first thumbnail) is in S3: tell channels now, so the live is
            // listed (or its card shows a picture) at once.
            _ = ctx.beat_now.notified() => true,
            how = async { stop.wait_for(|s| *s != Stop::Run).await.map(|s| *s).unwrap_or(Stop::Now) } => break how,
        };
        if beat {
            let m = nginx::source_meta(&agent, &live).await.unwrap_or_default();
            let health = Health {
                bitrate_kbps: m.bw_in.unwrap_or(0) as f64 / 1000.0,
                fps: *progress.fps.lock().unwrap_or_else(|p| p.into_inner()),
                keyframe_interval: progress.keyframe_interval(),
                dropped_frames: progress.dropped.load(Ordering::Relaxed),
                upload_lag_ms: ctx.upload_lag_ms.load(Ordering::Relaxed),
                ready: ctx.master_uploaded.load(Ordering::SeqCst),
                thumbnail: ctx.thumb_uploaded.load(Ordering::SeqCst),
                passthrough: ctx.pass_through.load(Ordering::SeqCst),
                error: None,
            };
            if let Some((true, reason)) = heartbeat(&agent, live, health).await {
                tracing::info!(live_id = %live, ?reason, "told to stop");
                nginx::drop_publisher(&agent, &live).await;
                break Stop::Drain;
            }
        }
    };

    if how == Stop::Drain {
        // The publisher is gone: the live ends now (viewers see it offline at once); its
        // recording follows once the ladder has encoded the rest.
        unpublish(&agent, &UnpublishRequest::without_recording(live, None)).await;
    }
    // Finish: stop ffmpeg (it closes and renames its last segment; after the publisher left it
    // first encodes the rest of the stream), queue what the watcher may not have, drain the
    // uploads within a minute.
    *ctx.finishing.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(Instant::now() + Duration::from_secs(60));
    if let Some(g) = guard {
        g.abort();
    }
    let _ = ffmpeg_stop.send(how);
    let _ = ffmpeg.await;
    for (i, r) in ctx.rungs.iter().enumerate() {
        for f in recorder::leftovers(&dir.join(&r.rendition.name)) {
            let _ = seg_txs[i].send(f);
        }
    }
    drop(recorder);
    drop(seg_txs);
    let mut recordings = Vec::new();
    for (i, u) in uploads.into_iter().enumerate() {
        recordings.push((i, u.await.unwrap_or_default()));
    }
    thumbs.abort();
    let vod_key = upload::write_vod(&ctx, &recordings).await;
    let duration_secs = recordings
        .first()
        .map(|(_, s)| s.iter().map(hls::Segment::duration).sum())
        .unwrap_or(0.0);
    unpublish(
        &agent,
        &UnpublishRequest {
            live_id: live,
            vod_playlist_key: vod_key,
            duration_secs,
            reason: None,
        },
    )
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    tracing::info!(live_id = %live, seconds = ctx.started.elapsed().as_secs(), restarts = ctx.restarts.load(Ordering::SeqCst), "live finished");
    Ok(())
}

/// Lists the names of the objects under `prefix`.
async fn list_names(agent: &Agent, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = agent
            .s3
            .list_objects_v2()
            .bucket(&agent.config.media_bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await?;
        names.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(names),
        }
    }
}

/// At start-up: lives a previous agent process left in the spool (their ffmpeg and publisher
/// died with it) are closed now: the VOD is rebuilt from the segments that reached S3, then the
/// live is ended.
pub async fn recover(agent: &Agent) {
    let Ok(mut entries) = tokio::fs::read_dir(&agent.config.spool_dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Ok(bytes) = tokio::fs::read(entry.path().join("live.json")).await else {
            continue;
        };
        let Ok(file) = serde_json::from_slice::<LiveFile>(&bytes) else {
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
            continue;
        };
        let ctx = Ctx::new(agent.clone(), &file, 30.0);
        *ctx.finishing.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + Duration::from_secs(30));
        let mut recordings = Vec::new();
        for (i, r) in file.rungs.iter().enumerate() {
            match list_names(agent, &ctx.key(&format!("{}/", r.rendition.name))).await {
                Ok(names) => recordings.push((
                    i,
                    hls::recording_from_names(names.iter().map(String::as_str)),
                )),
                Err(e) => {
                    tracing::warn!(live_id = %file.live_id, error = %e, "could not list the recording")
                }
            }
        }
        let vod_key = upload::write_vod(&ctx, &recordings).await;
        let duration_secs = recordings
            .first()
            .map(|(_, s)| s.iter().map(hls::Segment::duration).sum())
            .unwrap_or(0.0);
        let segments: usize = recordings.iter().map(|(_, s)| s.len()).sum();
        let req = UnpublishRequest {
            live_id: file.live_id,
            vod_playlist_key: vod_key,
            duration_secs,
            reason: Some("media agent restarted".into()),
        };
        if unpublish(agent, &req).await {
            tracing::info!(live_id = %file.live_id, segments, "closed a live left by a previous agent");
        }
        let _ = tokio::fs::remove_dir_all(entry.path()).await;
    }
}
