//! Notices finished segments and thumbnails in the spool. ffmpeg writes each file under a
//! temporary name and renames it when complete, so the kernel is asked for exactly that event
//! (`IN_MOVED_TO`) on the live's directories: work is one event per segment, and the agent's own
//! reads of the spool (which a watch on every event kind would report back to it) raise none.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    sync::atomic::Ordering,
};

use futures::StreamExt;
use inotify::{Inotify, WatchMask};
use tokio::sync::mpsc;

use crate::ctx::Ctx;

/// A finished segment of one rendition.
#[derive(Debug)]
pub struct Finished {
    pub seq: u64,
    pub path: PathBuf,
}

/// ffmpeg's own segment name: `seg_00042.ts`.
pub fn ffmpeg_seq(name: &OsStr) -> Option<u64> {
    let name = name.to_str()?;
    let digits = name.strip_prefix("seg_")?.strip_suffix(".ts")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

pub const THUMB: &str = "thumb.jpg";

/// Watches the live's directory (thumbnails) and each rendition's (segments) until dropped.
pub struct Recorder {
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub fn start(
        ctx: std::sync::Arc<Ctx>,
        rungs: Vec<mpsc::UnboundedSender<Finished>>,
        thumbs: mpsc::UnboundedSender<PathBuf>,
    ) -> std::io::Result<Self> {
        let inotify = Inotify::init()?;
        let mut dirs = Vec::new();
        for r in &ctx.rungs {
            let dir = ctx.dir.join(&r.rendition.name);
            dirs.push((inotify.watches().add(&dir, WatchMask::MOVED_TO)?, Some(dir)));
        }
        let top = inotify.watches().add(&ctx.dir, WatchMask::MOVED_TO)?;
        let mut events = inotify.into_event_stream([0u8; 4096])?;
        let task = tokio::spawn(async move {
            while let Some(Ok(ev)) = events.next().await {
                let Some(name) = ev.name else { continue };
                if ev.wd == top {
                    if name == OsStr::new(THUMB) {
                        let _ = thumbs.send(ctx.dir.join(THUMB));
                    }
                    continue;
                }
                let Some(idx) = dirs.iter().position(|(wd, _)| *wd == ev.wd) else {
                    continue;
                };
                let Some(seq) = ffmpeg_seq(&name) else {
                    continue;
                };
                ctx.saw(idx, seq);
                let path = dirs[idx].1.as_ref().map(|d| d.join(&name));
                if let Some(path) = path {
                    let _ = rungs[idx].send(Finished { seq, path });
                }
            }
        });
        Ok(Self { task })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Finished segments still in a rendition's directory, in order (after ffmpeg stopped: the
/// uploader skips what the watcher already queued).
pub fn leftovers(dir: &Path) -> Vec<Finished> {
    let mut out: Vec<Finished> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            Some(Finished {
                seq: ffmpeg_seq(&e.file_name())?,
                path: e.path(),
            })
        })
        .collect();
    out.sort_by_key(|f| f.seq);
    out
}

/// Removes the partial files a killed ffmpeg left (`*.tmp`); returns the highest finished
/// segment number on disk.
pub fn clean_partials(dir: &Path) -> Option<u64> {
    let mut highest = None;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        if name.to_str().is_some_and(|n| n.ends_with(".tmp")) {
            let _ = std::fs::remove_file(e.path());
        } else if let Some(seq) = ffmpeg_seq(&name) {
            highest = highest.max(Some(seq));
        }
    }
    highest
}

/// Pending bytes, for the spool-full warning.
pub fn account(ctx: &Ctx, bytes: i64) {
    if bytes >= 0 {
        let now = ctx.pending_bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        if now > ctx.agent.config.spool_max_bytes {
            tracing::error!(live_id = %ctx.live, pending = now, "SPOOL FULL: uploads are not keeping up");
        }
    } else {
        let _ = ctx
            .pending_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(bytes.unsigned_abs()))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_ffmpeg_segments_count() {
        assert_eq!(ffmpeg_seq(OsStr::new("seg_00042.ts")), Some(42));
        assert_eq!(ffmpeg_seq(OsStr::new("seg_00042.ts.tmp")), None);
        assert_eq!(ffmpeg_seq(OsStr::new("index.m3u8")), None);
        assert_eq!(ffmpeg_seq(OsStr::new("seg_.ts")), None);
        assert_eq!(ffmpeg_seq(OsStr::new("seg_4x.ts")), None);
    }

    #[test]
    fn leftovers_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "seg_00003.ts",
            "seg_00001.ts",
            "seg_00004.ts.tmp",
            "index.m3u8",
        ] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let l = leftovers(dir.path());
        assert_eq!(l.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(clean_partials(dir.path()), Some(3));
        assert!(!dir.path().join("seg_00004.ts.tmp").exists());
    }
}
