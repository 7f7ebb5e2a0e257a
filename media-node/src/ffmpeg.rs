//! The ladder's ffmpeg process: started, watched, restarted when it dies (numbering continued,
//! the next segment of every rendition marked as a discontinuity), stopped with SIGINT so it
//! closes its last segment.

use std::{
    collections::VecDeque,
    io::{Read, Seek, SeekFrom},
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{io::AsyncBufReadExt, sync::watch};

use crate::ctx::Ctx;

/// Counters ffmpeg reports on `-progress`, and the publisher's keyframe times it logs.
pub struct Progress {
    pub fps: Mutex<f64>,
    pub dropped: AtomicU64,
    /// The encoded position (`out_time_us`) and when it last moved: a draining ladder is done
    /// once it stops moving.
    encoded: Mutex<(i64, Instant)>,
    keyframes: Mutex<Keyframes>,
}

struct Keyframes {
    path: PathBuf,
    offset: u64,
    last: Option<f64>,
    intervals: VecDeque<f64>,
    /// The longest interval since this ffmpeg started, and how many it has seen.
    longest: f64,
    seen: u32,
}

impl Keyframes {
    /// Takes in what ffmpeg appended to the log since the last read.
    fn read_new(&mut self) {
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // A restarted ffmpeg started a new log (and a new timeline).
            self.offset = 0;
            self.last = None;
            self.longest = 0.0;
            self.seen = 0;
        }
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.path)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
            && f.read_to_string(&mut text).is_ok()
        {
            // Only whole lines; a partial one is read next time.
            let whole = text.rfind('\n').map_or(0, |i| i + 1);
            self.offset += whole as u64;
            for t in keyframe_times(&text[..whole]) {
                if let Some(prev) = self.last.replace(t)
                    && t > prev
                {
                    if self.intervals.len() == 10 {
                        self.intervals.pop_front();
                    }
                    self.intervals.push_back(t - prev);
                    self.longest = self.longest.max(t - prev);
                    self.seen += 1;
                }
            }
        }
    }
}

impl Progress {
    pub fn new(keyframe_log: PathBuf) -> Self {
        Self {
            fps: Mutex::new(0.0),
            dropped: AtomicU64::new(0),
            encoded: Mutex::new((i64::MIN, Instant::now())),
            keyframes: Mutex::new(Keyframes {
                path: keyframe_log,
                offset: 0,
                last: None,
                intervals: VecDeque::new(),
                longest: 0.0,
                seen: 0,
            }),
        }
    }

    /// A new ffmpeg starts: a new timeline, and a new keyframe log.
    fn reset(&self) {
        *self.encoded.lock().unwrap_or_else(|p| p.into_inner()) = (i64::MIN, Instant::now());
        let mut k = self.keyframes.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::fs::remove_file(&k.path);
        k.offset = 0;
        k.last = None;
        k.longest = 0.0;
        k.seen = 0;
    }

    fn encoded_up_to(&self, us: i64) {
        let mut e = self.encoded.lock().unwrap_or_else(|p| p.into_inner());
        // Any change counts: a restarted ffmpeg counts from 0 again.
        if us != e.0 {
            *e = (us, Instant::now());
        }
    }

    /// How long the encoded position has stood still.
    fn idle_for(&self) -> Duration {
        self.encoded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .elapsed()
    }

    /// The publisher's keyframe interval (seconds, mean of the last ten), read from what ffmpeg
    /// appended to its keyframe log since the last call; 0 before two keyframes.
    pub fn keyframe_interval(&self) -> f64 {
        let mut k = self.keyframes.lock().unwrap_or_else(|p| p.into_inner());
        k.read_new();
        if k.intervals.is_empty() {
            0.0
        } else {
            k.intervals.iter().sum::<f64>() / k.intervals.len() as f64
        }
    }

    /// Whether the source's video can be passed through as the top rung: `Err` with the reason
    /// once a keyframe interval is above `limit` seconds or a keyframe is already that overdue
    /// at the encoded position (caught while the long segment is still open); `Ok(true)` once
    /// two whole intervals within the limit have been seen (one short first interval says
    /// little), `Ok(false)` before. Positions and keyframe
    /// times share ffmpeg's output timeline, which starts at 0.
    pub fn passthrough_fits(&self, limit: f64) -> Result<bool, String> {
        let mut k = self.keyframes.lock().unwrap_or_else(|p| p.into_inner());
        k.read_new();
        if k.longest > limit {
            return Err(format!(
                "the source's keyframe interval ({:.2} s) is longer than a segment",
                k.longest
            ));
        }
        let position = self.encoded.lock().unwrap_or_else(|p| p.into_inner()).0 as f64 / 1e6;
        let overdue = position - k.last.unwrap_or(0.0);
        if overdue > limit {
            return Err(format!(
                "no keyframe from the source for {overdue:.2} s (longer than a segment)"
            ));
        }
        Ok(k.seen >= 2)
    }
}

/// `pts_time:` values of ffmpeg's `metadata=mode=print` lines.
fn keyframe_times(text: &str) -> impl Iterator<Item = f64> + '_ {
    text.lines()
        .filter_map(|l| l.split("pts_time:").nth(1))
        .filter_map(|v| v.trim().parse().ok())
}

/// How the ladder is to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Run,
    /// The publisher is gone: let ffmpeg encode what it has still to read (a ladder behind real
    /// time holds seconds of the stream in nginx's queue and its socket; nginx keeps the play
    /// session open, `idle_streams on`), then close, so the VOD keeps everything the publisher
    /// sent.
    Drain,
    /// Now (the agent shuts down).
    Now,
}

/// Longest a draining ladder may take to encode the rest of the stream.
pub const DRAIN_MAX: Duration = Duration::from_secs(30);
/// A draining ladder whose encoded position stands still this long has read everything.
const DRAINED_AFTER: Duration = Duration::from_millis(1500);

/// Runs ffmpeg until told to stop. `job_of(start_number)` gives its arguments.
pub async fn supervise(
    ctx: Arc<Ctx>,
    job_of: impl Fn(u64) -> Vec<String> + Send + 'static,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<Stop>,
) {
    // Back off when ffmpeg keeps failing at once (e.g. the stream is gone); reset after a good run.
    let mut quick_failures = 0u32;
    loop {
        if *stop.borrow() != Stop::Run {
            return;
        }
        // A switch asked for while no ffmpeg ran is in the mode `job_of` reads now: consume it
        // first, so it does not restart the ffmpeg started next.
        let _ = futures::FutureExt::now_or_never(ctx.reencode.notified());
        let args = job_of(ctx.next_start_number());
        progress.reset();
        let child = tokio::process::Command::new(&ctx.agent.config.ffmpeg)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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
                    if let Some(v) = line
                        .strip_prefix("out_time_us=")
                        .and_then(|v| v.parse().ok())
                    {
                        progress.encoded_up_to(v);
                    } else if let Some(v) = line.strip_prefix("fps=").and_then(|v| v.parse().ok()) {
                        *progress.fps.lock().unwrap_or_else(|p| p.into_inner()) = v;
                    } else if let Some(v) = line
                        .strip_prefix("drop_frames=")
                        .and_then(|v| v.parse().ok())
                    {
                        progress.dropped.store(v, Ordering::Relaxed);
                    }
                }
            });
        }
        // The last lines ffmpeg printed, to explain an exit.
        let last_words = Arc::new(Mutex::new(VecDeque::<String>::new()));
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
                ctx.on_ffmpeg_exit().await;
                quick_failures = if started.elapsed() < Duration::from_secs(5) { quick_failures + 1 } else { 0 };
                let pause = Duration::from_millis(500) * 2u32.pow(quick_failures.min(4));
                tokio::time::sleep(pause.min(Duration::from_secs(5))).await;
            }
            _ = ctx.reencode.notified() => {
                // The source stopped fitting pass-through: close this ffmpeg's segments and go
                // on at once with every rung encoded (`job_of` reads the mode).
                interrupt(&mut child, pid).await;
                ctx.on_ffmpeg_exit().await;
            }
            how = async { stop.wait_for(|s| *s != Stop::Run).await.map(|s| *s).unwrap_or(Stop::Now) } => {
                if how == Stop::Drain {
                    let t = Instant::now();
                    let drained = async {
                        while progress.idle_for() < DRAINED_AFTER {
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::timeout(DRAIN_MAX, drained) => {}
                        status = child.wait() => {
                            tracing::info!(live_id = %ctx.live, ?status, "ffmpeg exited while draining");
                            return;
                        }
                    }
                    tracing::info!(live_id = %ctx.live, drain_ms = t.elapsed().as_millis() as u64, "the ladder encoded the rest of the stream");
                }
                interrupt(&mut child, pid).await;
                return;
            }
        }
    }
}

/// SIGINT lets ffmpeg close (and rename) its last segment; killed if it takes over 5 s.
async fn interrupt(child: &mut tokio::process::Child, pid: Option<u32>) {
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoded_position_moves_also_after_a_restart() {
        let p = Progress::new(PathBuf::from("/nonexistent"));
        p.encoded_up_to(5_000_000);
        std::thread::sleep(Duration::from_millis(30));
        p.encoded_up_to(5_000_000);
        assert!(p.idle_for() >= Duration::from_millis(30), "standing still");
        // A restarted ffmpeg reports from 0 again: that is movement, not a stall.
        p.encoded_up_to(40_000);
        assert!(p.idle_for() < Duration::from_millis(30));
    }

    #[test]
    fn pass_through_breaks_on_a_long_or_overdue_keyframe() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("k.log");
        let line = |t: f64| format!("frame:0 pts:0 pts_time:{t}\nk=1\n");
        let limit = 1.25;
        let p = Progress::new(log.clone());
        std::fs::write(&log, [0.0, 1.0].map(line).concat()).unwrap();
        p.encoded_up_to(1_500_000);
        assert_eq!(
            p.passthrough_fits(limit),
            Ok(false),
            "one interval: not known yet"
        );
        std::fs::write(&log, [0.0, 1.0, 2.0].map(line).concat()).unwrap();
        p.encoded_up_to(3_200_000);
        assert_eq!(
            p.passthrough_fits(limit),
            Ok(true),
            "keyframes every segment"
        );
        // The next keyframe is 1.4 s overdue at the encoded position: the open segment is long.
        p.encoded_up_to(3_400_000);
        let why = p.passthrough_fits(limit).unwrap_err();
        assert!(why.contains("no keyframe"), "{why}");

        let p = Progress::new(log.clone());
        std::fs::write(&log, [0.0, 0.4, 2.1].map(line).concat()).unwrap();
        p.encoded_up_to(2_200_000);
        let why = p.passthrough_fits(limit).unwrap_err();
        assert!(why.contains("1.70 s"), "{why}");
    }

    #[test]
    fn keyframe_interval_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("k.log");
        let p = Progress::new(log.clone());
        assert_eq!(p.keyframe_interval(), 0.0);
        std::fs::write(&log, "frame:0    pts:0       pts_time:0\nk=1\nframe:1    pts:1500    pts_time:1.5\nk=1\nframe:2 pts:3000 pts_ti").unwrap();
        assert!((p.keyframe_interval() - 1.5).abs() < 1e-9);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, b"me:3.5\nk=1\n").unwrap();
        assert!((p.keyframe_interval() - 1.75).abs() < 1e-9);
        // A new ffmpeg truncates the log and starts over.
        std::fs::write(&log, "frame:0 pts:0 pts_time:0\n").unwrap();
        assert!((p.keyframe_interval() - 1.75).abs() < 1e-9);
    }
}
