//! HLS media playlists as Lait writes them (RFC 8216), shared by the media agent (live and VOD
//! playlists) and the channels function (a VOD closed by the reaper after an agent died).
//!
//! The rules a strict player relies on, kept whatever the encoder or the load:
//! - `#EXT-X-TARGETDURATION` is fixed for the life of a live: derived from the profile's segment
//!   length with headroom, never raised. A segment whose rounded duration would exceed it is left
//!   out of the live playlist (the timeline then jumps: the next segment carries
//!   `#EXT-X-DISCONTINUITY`); the VOD keeps it.
//! - `#EXTINF` is the segment's measured media duration (the caller measures it).
//! - The live window is sized in seconds: a segment leaves only while what stays lasts at least
//!   `3 × TARGETDURATION` plus one segment, and only after it was listed in a published playlist
//!   for a full reload interval (target duration plus the playlist's cache age), so a player
//!   reloading at the target cadence sees every segment even after a burst.
//! - Media sequence numbers count listed segments (so a skipped segment leaves no hole);
//!   `#EXT-X-DISCONTINUITY-SEQUENCE` counts the discontinuities that slid off (§6.2.2).
//!
//! Segment file names carry what a VOD needs (`seg_00042_1001ms.ts`, `_d` for a discontinuity),
//! so the list of segments that reached S3 *is* the recording: an agent that dies mid-stream loses
//! nothing that was uploaded, and whoever closes the live rebuilds the VOD from a listing.

use std::{collections::VecDeque, fmt::Write};

use crate::clock::Timestamp;

/// One segment of a rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segmenter's number (file name); increases through ffmpeg restarts.
    pub seq: u64,
    /// Media duration in milliseconds (measured from the segment's timestamps).
    pub duration_ms: u64,
    /// The timeline jumps before this segment (encoder restart, input gap).
    pub discontinuity: bool,
    /// Wall-clock time of the segment's first frame (RFC 3339), live playlists only.
    pub program_date_time: Option<Timestamp>,
}

impl Segment {
    pub fn duration(&self) -> f64 {
        self.duration_ms as f64 / 1000.0
    }

    /// `seg_00042_1001ms.ts`, or `seg_00042_1001ms_d.ts` after a discontinuity.
    pub fn file_name(&self) -> String {
        format!(
            "seg_{:05}_{}ms{}.ts",
            self.seq,
            self.duration_ms,
            if self.discontinuity { "_d" } else { "" }
        )
    }

    /// Reads a name written by [`Segment::file_name`].
    pub fn from_file_name(name: &str) -> Option<Self> {
        let stem = name.strip_prefix("seg_")?.strip_suffix(".ts")?;
        let (stem, discontinuity) = match stem.strip_suffix("_d") {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let (seq, ms) = stem.split_once('_')?;
        let ms = ms.strip_suffix("ms")?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            seq: seq.parse().ok()?,
            duration_ms: ms.parse().ok()?,
            discontinuity,
            program_date_time: None,
        })
    }

    /// Rounded to the nearest second, as RFC 8216 compares `#EXTINF` with the target.
    fn rounded(&self) -> u64 {
        (self.duration_ms + 500) / 1000
    }
}

/// The fixed target duration of a profile: the segment length with half of it as headroom
/// (1 s segments → 2, 0.5 s → 1).
pub fn target_duration(segment_seconds: f64) -> u64 {
    ((segment_seconds * 1.5).ceil() as u64).max(1)
}

struct Listed {
    segment: Segment,
    /// Preceded by `#EXT-X-DISCONTINUITY` (its own jump, or one over a segment left out).
    discontinuity: bool,
    /// When a published playlist first named it (caller's clock, seconds).
    published_at: Option<f64>,
}

/// Why a segment was not listed.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejected {
    /// Its rounded duration exceeds the fixed target duration.
    TooLong { duration: f64, target: u64 },
}

/// A live (sliding window) media playlist.
pub struct LivePlaylist {
    target: u64,
    min_window: f64,
    reload_interval: f64,
    window: VecDeque<Listed>,
    /// Media sequence number of the first listed segment.
    media_sequence: u64,
    discontinuity_sequence: u64,
    /// The next listed segment must carry a discontinuity (one before it was left out).
    pending_discontinuity: bool,
}

impl LivePlaylist {
    /// `segment_seconds`: the profile's segment length; `min_window`: the least seconds a
    /// playlist lists (raised to `3 × target + segment`); `cache_age`: seconds a CDN may serve
    /// an old copy of the playlist.
    pub fn new(segment_seconds: f64, min_window: f64, cache_age: f64) -> Self {
        let target = target_duration(segment_seconds);
        Self {
            target,
            min_window: min_window.max(3.0 * target as f64 + segment_seconds),
            reload_interval: target as f64 + cache_age,
            window: VecDeque::new(),
            media_sequence: 0,
            discontinuity_sequence: 0,
            pending_discontinuity: false,
        }
    }

    pub fn target(&self) -> u64 {
        self.target
    }

    /// Adds a segment at the live edge and slides the window (`now`: caller's clock, seconds).
    pub fn push(&mut self, segment: Segment, now: f64) -> Result<(), Rejected> {
        if segment.rounded() > self.target {
            // Listing it would break the fixed target; the timeline jumps over it instead.
            self.pending_discontinuity = true;
            return Err(Rejected::TooLong {
                duration: segment.duration(),
                target: self.target,
            });
        }
        let skipped = std::mem::take(&mut self.pending_discontinuity) && !self.window.is_empty();
        self.window.push_back(Listed {
            discontinuity: segment.discontinuity || skipped,
            segment,
            published_at: None,
        });
        self.slide(now);
        Ok(())
    }

    /// Records that the current playlist was published (uploaded) at `now`.
    pub fn published(&mut self, now: f64) {
        for l in self.window.iter_mut().filter(|l| l.published_at.is_none()) {
            l.published_at = Some(now);
        }
    }

    fn slide(&mut self, now: f64) {
        let mut total: f64 = self.window.iter().map(|l| l.segment.duration()).sum();
        while let Some(oldest) = self.window.front() {
            let seen = oldest
                .published_at
                .is_some_and(|t| now - t >= self.reload_interval);
            let rest = total - oldest.segment.duration();
            if self.window.len() < 2 || rest < self.min_window || !seen {
                break;
            }
            total = rest;
            if oldest.discontinuity {
                self.discontinuity_sequence += 1;
            }
            self.window.pop_front();
            self.media_sequence += 1;
            // A tag on the new first segment is still shown; only removed tags are counted.
        }
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.window.iter().map(|l| &l.segment)
    }

    pub fn render(&self) -> String {
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            self.discontinuity_sequence
        );
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        push_segments(
            &mut out,
            self.window.iter().map(|l| (&l.segment, l.discontinuity)),
            true,
        );
        out
    }
}

fn push_segments<'a>(
    out: &mut String,
    segments: impl Iterator<Item = (&'a Segment, bool)>,
    pdt: bool,
) {
    let mut first = true;
    for (s, discontinuity) in segments {
        // A tag before the very first segment of a VOD says nothing.
        if discontinuity && (pdt || !first) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        first = false;
        if pdt && let Some(t) = &s.program_date_time {
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{t}");
        }
        let _ = writeln!(out, "#EXTINF:{:.3},\n{}", s.duration(), s.file_name());
    }
}

/// The complete recording of one rendition, in sequence order.
pub fn vod(segments: &[Segment], segment_seconds: f64) -> String {
    let target = segments
        .iter()
        .map(Segment::rounded)
        .max()
        .unwrap_or(0)
        .max(target_duration(segment_seconds));
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    push_segments(
        &mut out,
        segments.iter().map(|s| (s, s.discontinuity)),
        false,
    );
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Rebuilds a rendition's recording from the names of its objects (any order, other files
/// ignored): what reached S3 is what the VOD lists.
pub fn recording_from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Segment> {
    let mut segs: Vec<Segment> = names
        .into_iter()
        .filter_map(|n| Segment::from_file_name(n.rsplit('/').next().unwrap_or(n)))
        .collect();
    segs.sort_by_key(|s| s.seq);
    segs.dedup_by_key(|s| s.seq);
    segs
}

/// One variant of a master playlist.
#[derive(Debug, Clone)]
pub struct Variant {
    pub uri: String,
    pub bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// Whether the variant carries AAC audio; `None` when unknown (CODECS is then left out,
    /// which RFC 8216 allows, rather than risk naming a codec that is not there).
    pub has_audio: Option<bool>,
}

pub fn master(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        // H.264 High@3.1 (and AAC-LC): what the ladder encodes.
        let codecs = match v.has_audio {
            Some(true) => ",CODECS=\"avc1.64001f,mp4a.40.2\"",
            Some(false) => ",CODECS=\"avc1.64001f\"",
            None => "",
        };
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{}{codecs}\n{}",
            v.bandwidth,
            v.bandwidth * 9 / 10,
            v.width,
            v.height,
            v.uri
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn seg(seq: u64, ms: u64, disc: bool) -> Segment {
        Segment {
            seq,
            duration_ms: ms,
            discontinuity: disc,
            program_date_time: None,
        }
    }

    #[test]
    fn file_names_round_trip() {
        for s in [
            seg(42, 1001, false),
            seg(7, 33, true),
            seg(123_456, 0, false),
        ] {
            assert_eq!(Segment::from_file_name(&s.file_name()), Some(s.clone()));
        }
        assert_eq!(seg(42, 1001, false).file_name(), "seg_00042_1001ms.ts");
        for bad in [
            "seg_00042.ts",
            "seg__1ms.ts",
            "seg_x_1ms.ts",
            "index.m3u8",
            "seg_1_1ms.ts.tmp",
        ] {
            assert_eq!(Segment::from_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn target_has_headroom() {
        assert_eq!(target_duration(1.0), 2);
        assert_eq!(target_duration(0.5), 1);
        assert_eq!(target_duration(2.0), 3);
    }

    #[test]
    fn recording_from_a_listing() {
        let names = [
            "live/c/l/720p/seg_00002_1000ms.ts",
            "live/c/l/720p/index.m3u8",
            "live/c/l/720p/seg_00001_998ms.ts",
            "live/c/l/720p/seg_00003_1000ms_d.ts",
        ];
        let rec = recording_from_names(names);
        assert_eq!(rec.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let p = vod(&rec, 1.0);
        let parsed = m3u8_rs::parse_media_playlist_res(p.as_bytes()).unwrap();
        assert!(parsed.end_list && parsed.segments.len() == 3);
        assert!(parsed.segments[2].discontinuity && !parsed.segments[0].discontinuity);
        assert_eq!(parsed.target_duration, 2);
    }

    #[test]
    fn master_lists_variants_with_codecs() {
        let m = master(&[Variant {
            uri: "720p/index.m3u8".into(),
            bandwidth: 3_000_000,
            width: 1280,
            height: 720,
            has_audio: Some(false),
        }]);
        assert!(m.contains("RESOLUTION=1280x720") && m.contains("CODECS=\"avc1.64001f\""));
        assert!(m3u8_rs::parse_master_playlist_res(m.as_bytes()).is_ok());
    }

    #[test]
    fn a_burst_does_not_slide_past_unseen_segments() {
        let mut p = LivePlaylist::new(1.0, 0.0, 1.0);
        for i in 0..30 {
            p.push(seg(i, 1000, false), 100.0).unwrap();
        }
        p.published(100.0);
        // Thirty segments arrived at once: none has been seen for a reload interval yet.
        assert_eq!(p.segments().count(), 30);
        p.push(seg(30, 1000, false), 103.1).unwrap();
        // Now the window is back to 3 × 2 s + 1 s (+ the new one).
        assert_eq!(p.segments().count(), 7);
        assert!(p.render().contains("#EXT-X-MEDIA-SEQUENCE:24\n"));
    }

    #[test]
    fn too_long_segment_is_skipped_with_a_discontinuity() {
        let mut p = LivePlaylist::new(1.0, 0.0, 1.0);
        p.push(seg(0, 1000, false), 0.0).unwrap();
        assert_eq!(
            p.push(seg(1, 5000, false), 1.0),
            Err(Rejected::TooLong {
                duration: 5.0,
                target: 2
            })
        );
        p.push(seg(2, 1000, false), 2.0).unwrap();
        let text = p.render();
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.segments.len(), 2);
        assert!(parsed.segments[1].discontinuity, "{text}");
        assert_eq!(parsed.segments[1].uri, "seg_00002_1000ms.ts");
    }

    /// One step of a live: a segment (duration in ms, timeline jump) arriving after `gap` seconds,
    /// then maybe a successful upload of the playlist.
    #[derive(Debug, Clone)]
    struct Step {
        ms: u64,
        jump: bool,
        gap: f64,
        uploaded: bool,
    }

    fn steps() -> impl Strategy<Value = (f64, Vec<Step>)> {
        let step = (
            prop_oneof![8 => 200u64..1600, 1 => 0u64..5000],
            prop::bool::weighted(0.1),
            prop_oneof![6 => 0.0f64..1.5, 1 => 0.0f64..0.01, 1 => 1.5f64..12.0],
            prop::bool::weighted(0.85),
        )
            .prop_map(|(ms, jump, gap, uploaded)| Step {
                ms,
                jump,
                gap,
                uploaded,
            });
        (
            prop_oneof![Just(1.0), Just(0.5), Just(2.0)],
            prop::collection::vec(step, 1..150),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any sequence of durations, jumps and upload outages gives playlists that a strict
        /// parser accepts and that keep every rule above, reload after reload.
        #[test]
        fn live_playlists_keep_the_rules((segment_seconds, steps) in steps()) {
            let mut p = LivePlaylist::new(segment_seconds, 0.0, 1.0);
            let target = target_duration(segment_seconds);
            let min_window = 3.0 * target as f64 + segment_seconds;
            let reload = target as f64 + 1.0;
            let mut now = 0.0;
            // Accepted segments in order (index = media sequence number).
            let mut accepted = Vec::<Segment>::new();
            let mut skipped_before = false;
            // msn → (uri, tagged, first published)
            let mut seen = std::collections::HashMap::<u64, (String, bool, f64)>::new();
            let (mut last_msn, mut last_disc) = (0u64, 0u64);
            for (i, s) in steps.iter().enumerate() {
                now += s.gap;
                let segment = seg(i as u64, s.ms, s.jump);
                let long = (s.ms + 500) / 1000 > target;
                prop_assert_eq!(p.push(segment.clone(), now).is_err(), long);
                if long {
                    skipped_before = true;
                } else {
                    let mut tagged = segment.clone();
                    tagged.discontinuity = s.jump || (skipped_before && !accepted.is_empty());
                    skipped_before = false;
                    accepted.push(tagged);
                }
                if !s.uploaded {
                    continue;
                }
                let text = p.render();
                p.published(now);
                let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes())
                    .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
                prop_assert_eq!(parsed.target_duration, target, "{}", text);
                let msn = parsed.media_sequence;
                prop_assert!(msn >= last_msn && parsed.discontinuity_sequence >= last_disc);
                // Every listed segment: consecutive numbering, its own URI, rounded ≤ target,
                // the tag where a jump or a skipped segment is.
                prop_assert_eq!(msn as usize + parsed.segments.len(), accepted.len());
                for (k, ps) in parsed.segments.iter().enumerate() {
                    let n = msn + k as u64;
                    let want = &accepted[n as usize];
                    prop_assert_eq!(&ps.uri, &seg(want.seq, want.duration_ms, segment_jump(&steps, want.seq)).file_name());
                    prop_assert!(((ps.duration as f64) - want.duration()).abs() < 1e-3);
                    prop_assert!((f64::from(ps.duration) + 0.5).floor() as u64 <= target);
                    prop_assert_eq!(ps.discontinuity, want.discontinuity, "{}", text);
                    let entry = seen.entry(n).or_insert((ps.uri.clone(), ps.discontinuity, now));
                    prop_assert_eq!(&entry.0, &ps.uri);
                }
                // The window never drops below the minimum once it has slid.
                let total: f64 = parsed.segments.iter().map(|s| f64::from(s.duration)).sum();
                prop_assert!(msn == 0 || total >= min_window - 0.01, "{} s < {} s\n{}", total, min_window, text);
                // What slid off had been published for a full reload interval.
                for n in last_msn..msn {
                    let at = seen.get(&n).map(|e| e.2).ok_or_else(|| TestCaseError::fail(format!("msn {n} removed unseen")))?;
                    prop_assert!(now - at >= reload - 1e-9, "msn {} removed {} s after it was published", n, now - at);
                }
                // The discontinuity sequence counts exactly the tags that slid off.
                let removed_tags = (0..msn).filter(|n| seen[n].1).count() as u64;
                prop_assert_eq!(parsed.discontinuity_sequence, removed_tags);
                last_msn = msn;
                last_disc = parsed.discontinuity_sequence;
            }
        }
    }

    fn segment_jump(steps: &[Step], seq: u64) -> bool {
        steps[seq as usize].jump
    }
}
