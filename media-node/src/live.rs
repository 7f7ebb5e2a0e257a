//! One live on this node: ffmpeg (restarted if it dies), the recorder (spool events → new
//! segments), the uploader (segments, then playlists, then master; retried, in order), thumbnails,
//! heartbeats, and the clean finish (VOD + unpublish).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aws_sdk_s3::primitives::ByteStream;
use lait_shared::{
    channels::{HeartbeatResponse, PublishResponse, Rendition},
    domain::ids::{ChannelId, LiveId},
};
use notify::{RecursiveMode, Watcher};
use serde_json::json;
use tokio::{
    io::AsyncBufReadExt,
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{
    Agent,
    ladder::{self, Job},
    playlist::{self, Segment, Variant},
    should_stop,
};

pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";
const PLAYLIST_CACHE: &str = "public, max-age=1";

/// Controls a running live.
pub struct Handle {
    stop: watch::Sender<bool>,
    done: JoinHandle<()>,
}

impl Handle {
    /// Finishes the live (VOD, unpublish) and waits for it.
    pub async fn stop_and_wait(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

pub fn start(agent: Agent, info: PublishResponse) -> Handle {
    let (stop, stop_rx) = watch::channel(false);
    let done = tokio::spawn(async move {
        let live_id = info.live_id;
        if let Err(e) = run(agent, info, stop_rx).await {
            tracing::error!(%live_id, error = format!("{e:#}"), "live failed");
        }
    });
    Handle { stop, done }
}

/// Source properties read from nginx-rtmp's stat page (the publisher's metadata).
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceMeta {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub bw_in: Option<u64>,
}

fn xml_value(block: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].find("</")? + start;
    Some(block[start..end].trim().to_owned())
}

/// The `<stream>` block of `name` in nginx-rtmp's stat XML.
pub fn stat_meta(xml: &str, name: &str) -> Option<SourceMeta> {
    let at = xml.find(&format!("<name>{name}</name>"))?;
    let block = &xml[at..];
    let block = &block[..block.find("</stream>").unwrap_or(block.len())];
    let video = block.find("<video>").map(|i| &block[i..]).unwrap_or("");
    Some(SourceMeta {
        width: xml_value(video, "width")
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0),
        height: xml_value(video, "height")
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0),
        fps: xml_value(video, "frame_rate")
            .and_then(|v| v.parse().ok())
            .filter(|v: &f64| *v > 0.0),
        bw_in: xml_value(block, "bw_in").and_then(|v| v.parse().ok()),
    })
}

async fn source_meta(agent: &Agent, live: &LiveId) -> Option<SourceMeta> {
    let url = format!("http://127.0.0.1:{}/stat", agent.config.nginx_http_port);
    let xml = agent.http.get(url).send().await.ok()?.text().await.ok()?;
    stat_meta(&xml, &live.to_string())
}

/// Counters ffmpeg reports on `-progress`.
#[derive(Default)]
struct Progress {
    fps: Mutex<f64>,
    dropped: AtomicU64,
}

struct Rung {
    rendition: Rendition,
    width: u32,
    /// Highest sequence recorded from ffmpeg's playlist.
    last_seen: Option<u64>,
    /// The next recorded segment follows an ffmpeg restart.
    discontinuity_pending: bool,
    uploaded: Vec<Segment>,
}

enum Upload {
    Segment {
        rung: usize,
        segment: Segment,
        path: PathBuf,
        seen: Instant,
    },
    Thumb {
        path: PathBuf,
    },
}

struct Shared {
    rungs: Mutex<Vec<Rung>>,
    master_uploaded: AtomicBool,
    upload_lag_ms: AtomicU64,
    pending_bytes: AtomicU64,
    restarts: AtomicU64,
}

struct Ctx {
    agent: Agent,
    channel: ChannelId,
    live: LiveId,
    dir: PathBuf,
    shared: Arc<Shared>,
}

impl Ctx {
    fn key(&self, rest: &str) -> String {
        format!("live/{}/{}/{rest}", self.channel, self.live)
    }

    /// PUT with retries and backoff: a segment is never dropped because S3 blinked. Gives up only
    /// after `deadline` (used while finishing a live).
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        cache: &str,
        deadline: Option<Instant>,
    ) -> bool {
        let mut wait = Duration::from_millis(100);
        loop {
            let res = self
                .agent
                .s3
                .put_object()
                .bucket(&self.agent.config.media_bucket)
                .key(key)
                .body(ByteStream::from(body.clone()))
                .content_type(content_type)
                .cache_control(cache)
                .send()
                .await;
            match res {
                Ok(_) => return true,
                Err(e) => {
                    tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "upload failed; retrying");
                    if deadline.is_some_and(|d| Instant::now() > d) {
                        tracing::error!(key, "upload abandoned at the end of the live");
                        return false;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

fn rendition_of(dir: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_str()?.to_owned();
    let file = parts.next()?.as_os_str().to_str()?;
    (file == "index.m3u8" && parts.next().is_none()).then_some(first)
}

/// Reads ffmpeg's playlist of one rendition and queues the segments not seen before.
fn record(ctx: &Ctx, rung_name: &str, txs: &[mpsc::UnboundedSender<Upload>]) {
    let path = ctx.dir.join(rung_name).join("index.m3u8");
    let Ok(text) = std::fs::read(&path) else {
        return;
    };
    let Some(entries) = playlist::parse_ffmpeg(&text) else {
        return;
    };
    let mut rungs = ctx.shared.rungs.lock().unwrap_or_else(|p| p.into_inner());
    let Some((idx, rung)) = rungs
        .iter_mut()
        .enumerate()
        .find(|(_, r)| r.rendition.name == rung_name)
    else {
        return;
    };
    for (uri, duration, pdt) in entries {
        let Some(seq) = playlist::seq_of(&uri) else {
            continue;
        };
        if rung.last_seen.is_some_and(|s| seq <= s) {
            continue;
        }
        rung.last_seen = Some(seq);
        let discontinuity =
            std::mem::take(&mut rung.discontinuity_pending) && !rung.uploaded.is_empty();
        let file = ctx.dir.join(rung_name).join(&uri);
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let pending = ctx.shared.pending_bytes.fetch_add(size, Ordering::SeqCst) + size;
        if pending > ctx.agent.config.spool_max_bytes {
            tracing::error!(live_id = %ctx.live, pending, "SPOOL FULL: uploads are not keeping up");
        }
        let _ = txs[idx].send(Upload::Segment {
            rung: idx,
            segment: Segment {
                seq,
                uri,
                duration,
                discontinuity,
                program_date_time: pdt,
            },
            path: file,
            seen: Instant::now(),
        });
    }
}

async fn uploader(
    ctx: Arc<Ctx>,
    mut rx: mpsc::UnboundedReceiver<Upload>,
    finishing: Arc<Mutex<Option<Instant>>>,
) {
    while let Some(job) = rx.recv().await {
        let deadline = *finishing.lock().unwrap_or_else(|p| p.into_inner());
        match job {
            Upload::Segment {
                rung,
                segment,
                path,
                seen,
            } => {
                let body = tokio::fs::read(&path).await.unwrap_or_default();
                let size = body.len() as u64;
                let name = ctx.shared.rungs.lock().unwrap_or_else(|p| p.into_inner())[rung]
                    .rendition
                    .name
                    .clone();
                if !ctx
                    .put(
                        &ctx.key(&format!("{name}/{}", segment.uri)),
                        body,
                        "video/mp2t",
                        SEGMENT_CACHE,
                        deadline,
                    )
                    .await
                {
                    continue;
                }
                let _ = tokio::fs::remove_file(&path).await;
                ctx.shared.pending_bytes.fetch_sub(
                    size.min(ctx.shared.pending_bytes.load(Ordering::SeqCst)),
                    Ordering::SeqCst,
                );
                let text = {
                    let mut rungs = ctx.shared.rungs.lock().unwrap_or_else(|p| p.into_inner());
                    rungs[rung].uploaded.push(segment);
                    playlist::live(&rungs[rung].uploaded, ctx.agent.config.window)
                };
                ctx.put(
                    &ctx.key(&format!("{name}/index.m3u8")),
                    text.into_bytes(),
                    PLAYLIST_TYPE,
                    PLAYLIST_CACHE,
                    deadline,
                )
                .await;
                ctx.shared
                    .upload_lag_ms
                    .store(seen.elapsed().as_millis() as u64, Ordering::SeqCst);
                tracing::debug!(live_id = %ctx.live, rendition = %name, lag_ms = seen.elapsed().as_millis() as u64, "segment published");
                if !ctx.shared.master_uploaded.load(Ordering::SeqCst) {
                    let master = {
                        let rungs = ctx.shared.rungs.lock().unwrap_or_else(|p| p.into_inner());
                        rungs
                            .iter()
                            .all(|r| !r.uploaded.is_empty())
                            .then(|| master_of(&rungs, "index.m3u8"))
                    };
                    if let Some(m) = master
                        && ctx
                            .put(
                                &ctx.key("master.m3u8"),
                                m.into_bytes(),
                                PLAYLIST_TYPE,
                                PLAYLIST_CACHE,
                                deadline,
                            )
                            .await
                    {
                        ctx.shared.master_uploaded.store(true, Ordering::SeqCst);
                        tracing::info!(live_id = %ctx.live, "master playlist published");
                    }
                }
            }
            Upload::Thumb { path } => {
                let Ok(body) = tokio::fs::read(&path).await else {
                    continue;
                };
                if body.is_empty() {
                    continue;
                }
                let latest = format!("thumbs/{}/latest.jpg", ctx.channel);
                ctx.put(
                    &latest,
                    body.clone(),
                    "image/jpeg",
                    "public, max-age=5",
                    deadline,
                )
                .await;
                ctx.put(
                    &ctx.key("thumb.jpg"),
                    body,
                    "image/jpeg",
                    "public, max-age=60",
                    deadline,
                )
                .await;
            }
        }
    }
}

fn master_of(rungs: &[Rung], playlist_name: &str) -> String {
    let variants: Vec<Variant> = rungs
        .iter()
        .map(|r| Variant {
            uri: format!("{}/{playlist_name}", r.rendition.name),
            bandwidth: u64::from(r.rendition.video_kbps + r.rendition.audio_kbps) * 1000,
            width: r.width,
            height: r.rendition.height,
        })
        .collect();
    playlist::master(&variants)
}

fn next_start_number(shared: &Shared) -> u64 {
    shared
        .rungs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(|r| r.last_seen)
        .max()
        .map_or(0, |s| s + 1)
}

/// Runs ffmpeg until told to stop, restarting it (numbering continued, discontinuity marked) when
/// it dies.
async fn supervise_ffmpeg(
    ctx: Arc<Ctx>,
    job_of: impl Fn(u64) -> Vec<String> + Send + 'static,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) {
    // Back off when ffmpeg keeps failing at once (e.g. the stream is gone); reset after a good run.
    let mut quick_failures = 0u32;
    loop {
        let stopping = *stop.borrow();
        if stopping {
            return;
        }
        let args = job_of(next_start_number(&ctx.shared));
        let child = tokio::process::Command::new(&ctx.agent.config.ffmpeg)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "could not start ffmpeg");
                return;
            }
        };
        let pid = child.id();
        let started = Instant::now();
        if let Some(out) = child.stdout.take() {
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(v) = line.strip_prefix("fps=").and_then(|v| v.parse().ok()) {
                        *progress.fps.lock().unwrap_or_else(|p| p.into_inner()) = v;
                    } else if let Some(v) = line
                        .strip_prefix("drop_frames=")
                        .and_then(|v| v.parse().ok())
                    {
                        progress.dropped.store(v, Ordering::SeqCst);
                    }
                }
            });
        }
        // The last lines ffmpeg printed, to explain an exit.
        let last_words = Arc::new(Mutex::new(std::collections::VecDeque::<String>::new()));
        if let Some(err) = child.stderr.take() {
            let last_words = last_words.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut w = last_words.lock().unwrap_or_else(|p| p.into_inner());
                    if w.len() == 8 {
                        w.pop_front();
                    }
                    w.push_back(line);
                }
            });
        }
        tokio::select! {
            status = child.wait() => {
                let said = last_words.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>().join(" | ");
                tracing::warn!(live_id = %ctx.live, ?status, ffmpeg = %said, "ffmpeg exited; restarting");
                ctx.shared.restarts.fetch_add(1, Ordering::SeqCst);
                for r in ctx.shared.rungs.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
                    r.discontinuity_pending = true;
                }
                quick_failures = if started.elapsed() < Duration::from_secs(5) { quick_failures + 1 } else { 0 };
                let pause = Duration::from_millis(500) * 2u32.pow(quick_failures.min(4));
                tokio::time::sleep(pause.min(Duration::from_secs(5))).await;
            }
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                // SIGINT lets ffmpeg close its last segment and playlist.
                if let Some(pid) = pid {
                    let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
                }
                if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                return;
            }
        }
    }
}

async fn run(
    agent: Agent,
    info: PublishResponse,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let live = info.live_id;
    let dir = agent.config.spool_dir.join(live.to_string());
    tokio::fs::create_dir_all(&dir).await?;
    // Lets a restarted agent end this live cleanly if this process dies (see `recover`).
    tokio::fs::write(
        dir.join("live.json"),
        serde_json::to_vec(&json!({"live_id": live, "channel_id": info.channel_id}))?,
    )
    .await?;

    // The publisher's metadata shows up in nginx's stat shortly after the rename.
    let mut meta = None;
    for _ in 0..15 {
        if let Some(m) = source_meta(&agent, &live).await
            && m.height.is_some()
        {
            meta = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let meta = meta.unwrap_or_default();
    let rungs = ladder::rungs(&info.ladder, meta.height);
    for r in &rungs {
        tokio::fs::create_dir_all(dir.join(&r.name)).await?;
    }
    let source = meta.width.zip(meta.height);
    let shared = Arc::new(Shared {
        rungs: Mutex::new(
            rungs
                .iter()
                .map(|r| Rung {
                    width: ladder::width_for(r.height, source),
                    rendition: r.clone(),
                    last_seen: None,
                    discontinuity_pending: false,
                    uploaded: Vec::new(),
                })
                .collect(),
        ),
        master_uploaded: AtomicBool::new(false),
        upload_lag_ms: AtomicU64::new(0),
        pending_bytes: AtomicU64::new(0),
        restarts: AtomicU64::new(0),
    });
    let ctx = Arc::new(Ctx {
        agent: agent.clone(),
        channel: info.channel_id,
        live,
        dir: dir.clone(),
        shared,
    });

    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            for p in ev.paths {
                let _ = ev_tx.send(p);
            }
        }
    })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;

    // One ordered upload queue per rendition (and one for thumbnails): renditions do not wait
    // for each other, and within one the segment always goes before the playlist naming it.
    let finishing = Arc::new(Mutex::new(None));
    let mut up_txs = Vec::new();
    let mut uploads = Vec::new();
    for _ in 0..=rungs.len() {
        let (tx, rx) = mpsc::unbounded_channel();
        up_txs.push(tx);
        uploads.push(tokio::spawn(uploader(ctx.clone(), rx, finishing.clone())));
    }
    let thumb_tx = up_txs.pop().expect("one queue per rendition plus one");

    let input = format!("rtmp://127.0.0.1:{}/live/{live}", agent.config.rtmp_port);
    let (seg, fps, spool) = (
        info.ladder.segment_seconds,
        meta.fps.unwrap_or(30.0),
        dir.clone(),
    );
    let job_rungs = rungs.clone();
    let job_of = move |start_number| {
        ladder::ffmpeg_args(&Job {
            input: &input,
            spool: &spool,
            rungs: &job_rungs,
            segment_seconds: seg,
            fps,
            start_number,
        })
    };
    let progress = Arc::new(Progress::default());
    // ffmpeg stops when this live does, for whatever reason (publisher gone, told to stop).
    let (ffmpeg_stop, ffmpeg_stop_rx) = watch::channel(false);
    let ffmpeg = tokio::spawn(supervise_ffmpeg(
        ctx.clone(),
        job_of,
        progress.clone(),
        ffmpeg_stop_rx,
    ));

    let mut heartbeat = tokio::time::interval(agent.config.heartbeat_every);
    heartbeat.tick().await;
    let thumb = dir.join("thumb.jpg");
    loop {
        tokio::select! {
            Some(path) = ev_rx.recv() => {
                if path == thumb {
                    let _ = thumb_tx.send(Upload::Thumb { path });
                } else if let Some(name) = rendition_of(&dir, &path) {
                    record(&ctx, &name, &up_txs);
                }
            }
            _ = heartbeat.tick() => {
                let m = source_meta(&agent, &live).await.unwrap_or_default();
                let health = json!({
                    "bitrate_kbps": m.bw_in.unwrap_or(0) as f64 / 1000.0,
                    "fps": *progress.fps.lock().unwrap_or_else(|p| p.into_inner()),
                    "keyframe_interval": seg,
                    "dropped_frames": progress.dropped.load(Ordering::SeqCst),
                    "upload_lag_ms": ctx.shared.upload_lag_ms.load(Ordering::SeqCst),
                });
                let res = agent
                    .call::<HeartbeatResponse>("/internal/media/heartbeat", &json!({"live_id": live, "health": health}), Duration::from_secs(5))
                    .await;
                match res {
                    Ok(r) if should_stop(&r) => {
                        tracing::info!(live_id = %live, reason = ?r.and_then(|r| r.reason), "told to stop");
                        agent.drop_publisher(&live).await;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(live_id = %live, error = %e, "heartbeat failed"),
                }
            }
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }

    // Finish: stop ffmpeg (it closes its last segment), record what it wrote, drain uploads.
    *finishing.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(Instant::now() + Duration::from_secs(60));
    let _ = ffmpeg_stop.send(true);
    let _ = ffmpeg.await;
    drop(watcher);
    let names: Vec<String> = rungs.iter().map(|r| r.name.clone()).collect();
    for name in &names {
        record(&ctx, name, &up_txs);
    }
    drop(up_txs);
    drop(thumb_tx);
    for u in uploads {
        let _ = u.await;
    }

    // The recording: every uploaded segment of every rendition.
    let (vods, master, total) = {
        let rungs = ctx.shared.rungs.lock().unwrap_or_else(|p| p.into_inner());
        let vods: BTreeMap<String, String> = rungs
            .iter()
            .filter(|r| !r.uploaded.is_empty())
            .map(|r| (r.rendition.name.clone(), playlist::vod(&r.uploaded)))
            .collect();
        let total: f64 = rungs
            .first()
            .map(|r| r.uploaded.iter().map(|s| s.duration).sum())
            .unwrap_or(0.0);
        (vods, master_of(&rungs, "vod.m3u8"), total)
    };
    let deadline = Some(Instant::now() + Duration::from_secs(60));
    let mut vod_key = None;
    if !vods.is_empty() {
        for (name, text) in vods {
            ctx.put(
                &ctx.key(&format!("{name}/vod.m3u8")),
                text.into_bytes(),
                PLAYLIST_TYPE,
                "public, max-age=60",
                deadline,
            )
            .await;
        }
        if ctx
            .put(
                &ctx.key("vod.m3u8"),
                master.into_bytes(),
                PLAYLIST_TYPE,
                "public, max-age=60",
                deadline,
            )
            .await
        {
            vod_key = Some(ctx.key("vod.m3u8"));
        }
    }
    let body = json!({"live_id": live, "vod_playlist_key": vod_key, "duration_secs": total});
    if let Err(e) = agent
        .call::<serde_json::Value>("/internal/media/unpublish", &body, Duration::from_secs(10))
        .await
    {
        tracing::warn!(live_id = %live, error = %e, "unpublish failed; the reaper will end the live");
    }
    let _ = tokio::fs::remove_dir_all(&dir).await;
    tracing::info!(live_id = %live, seconds = started.elapsed().as_secs(), restarts = ctx.shared.restarts.load(Ordering::SeqCst), "live finished");
    Ok(())
}

/// At start-up: lives a previous agent process left in the spool are ended now (their ffmpeg and
/// publisher died with it), instead of waiting for the reaper.
pub async fn recover(agent: &Agent) {
    let Ok(mut entries) = tokio::fs::read_dir(&agent.config.spool_dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let meta = entry.path().join("live.json");
        let Ok(bytes) = tokio::fs::read(&meta).await else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let body = json!({"live_id": v["live_id"], "vod_playlist_key": null, "duration_secs": 0.0});
        match agent
            .call::<serde_json::Value>("/internal/media/unpublish", &body, Duration::from_secs(10))
            .await
        {
            Ok(_) => {
                tracing::info!(live_id = %v["live_id"], "ended a live left by a previous agent")
            }
            Err(e) => {
                tracing::warn!(live_id = %v["live_id"], error = %e, "could not end a leftover live; the reaper will")
            }
        }
        let _ = tokio::fs::remove_dir_all(entry.path()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nginx_stat() {
        let xml = "<rtmp><server><application><name>live</name><live><stream><name>abc</name><bw_in>2500000</bw_in>\
                   <meta><video><width>1280</width><height>720</height><frame_rate>30</frame_rate><codec>H264</codec></video></meta></stream>\
                   <stream><name>other</name></stream></live></application></server></rtmp>";
        let m = stat_meta(xml, "abc").unwrap();
        assert_eq!(
            (m.width, m.height, m.fps, m.bw_in),
            (Some(1280), Some(720), Some(30.0), Some(2_500_000))
        );
        let o = stat_meta(xml, "other").unwrap();
        assert_eq!(o.height, None);
        assert!(stat_meta(xml, "missing").is_none());
    }

    #[test]
    fn rendition_playlists_are_recognized() {
        let dir = Path::new("/spool/l");
        assert_eq!(
            rendition_of(dir, Path::new("/spool/l/720p/index.m3u8")).as_deref(),
            Some("720p")
        );
        assert_eq!(
            rendition_of(dir, Path::new("/spool/l/720p/index.m3u8.tmp")),
            None
        );
        assert_eq!(
            rendition_of(dir, Path::new("/spool/l/720p/seg_00001.ts")),
            None
        );
        assert_eq!(rendition_of(dir, Path::new("/spool/l/master.m3u8")), None);
    }
}
