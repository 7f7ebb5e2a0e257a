//! What the parts of one live share: its renditions, the ffmpeg restarts and the
//! pass-through mode, what has been published, and the finish deadline.

use std::{
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use lait_shared::{
    channels::Rendition,
    domain::ids::{ChannelId, LiveId},
    hls,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::{Agent, recorder};

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
    pub(crate) finishing: Mutex<Option<Instant>>,
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
