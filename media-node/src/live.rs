//! One live on this node, start to finish, one step per file: probe the publisher
//! (`nginx`), start the ladder (`ladder`, `ffmpeg`), notice finished segments (`recorder`),
//! upload them with their playlists (`upload`), heartbeat (here), and the finish (`finish`: VOD
//! + unpublish; a restarted agent closes what a dead one left). `ctx` is what they share.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use lait_shared::{
    channels::{HeartbeatRequest, PublishResponse, Rendition, UnpublishRequest, model::Health},
    domain::ids::LiveId,
};
use tokio::sync::{mpsc, watch};

pub use crate::ffmpeg::Stop;
use crate::{
    Agent,
    ctx::{Ctx, LiveFile, Rung},
    ffmpeg, finish,
    ladder::{self, Job},
    nginx,
    recorder::{self, Recorder},
    upload,
};

/// Controls a running live.
pub struct Handle {
    stop: watch::Sender<Stop>,
}

impl Handle {
    /// Finishes the live (VOD, unpublish): `Drain` once the publisher has left (the ladder first
    /// encodes what it has still to read), `Now` when the agent shuts down. The live's task
    /// then removes it from the agent's lives.
    pub fn stop(&self, how: Stop) {
        let _ = self.stop.send(how);
    }
}

/// Starts a live on its own task, registered in the agent's lives before the task runs (so it
/// cannot finish, and remove itself, before it is there).
pub fn start(agent: Agent, info: PublishResponse) {
    let (stop, stop_rx) = watch::channel(Stop::Run);
    agent.live_started(info.live_id, Handle { stop });
    tokio::spawn(async move {
        let live_id = info.live_id;
        if let Err(e) = run(agent.clone(), info, stop_rx).await {
            tracing::error!(%live_id, error = format!("{e:#}"), "live failed");
        }
        agent.live_finished(&live_id);
    });
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

async fn run(
    agent: Agent,
    info: PublishResponse,
    mut stop: watch::Receiver<Stop>,
) -> anyhow::Result<()> {
    let live = info.live_id;
    let dir = agent.config.spool_dir.join(live.to_string());
    tokio::fs::create_dir_all(&dir).await?;

    let meta = nginx::probe(&agent, &live).await;
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
        finish::unpublish(
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
        finish::unpublish(&agent, &UnpublishRequest::without_recording(live, None)).await;
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
    finish::close(&ctx, &recordings, None).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    tracing::info!(live_id = %live, seconds = ctx.started.elapsed().as_secs(), restarts = ctx.restarts.load(Ordering::SeqCst), "live finished");
    Ok(())
}
