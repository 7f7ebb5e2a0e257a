//! HLS playlists the agent writes itself (rather than uploading ffmpeg's): they name only
//! segments already in S3, keep numbering across ffmpeg restarts, and mark restarts with
//! `#EXT-X-DISCONTINUITY` (counting the ones that slid off in `#EXT-X-DISCONTINUITY-SEQUENCE`,
//! RFC 8216 §6.2.2).

use std::fmt::Write;

/// One uploaded segment of a rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub seq: u64,
    pub uri: String,
    pub duration: f64,
    /// First segment after an ffmpeg restart.
    pub discontinuity: bool,
    pub program_date_time: Option<String>,
}

fn target_duration(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(|s| s.duration.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1)
}

fn push_segments(out: &mut String, segments: &[Segment]) {
    for s in segments {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(pdt) = &s.program_date_time {
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{pdt}");
        }
        let _ = writeln!(out, "#EXTINF:{:.6},\n{}", s.duration, s.uri);
    }
}

/// A live (sliding window) media playlist of the last `window` segments of `all`.
pub fn live(all: &[Segment], window: usize) -> String {
    let start = all.len().saturating_sub(window);
    let shown = &all[start..];
    let slid_off_discontinuities = all[..start].iter().filter(|s| s.discontinuity).count();
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(all));
    let _ = writeln!(
        out,
        "#EXT-X-MEDIA-SEQUENCE:{}",
        shown.first().map_or(0, |s| s.seq)
    );
    let _ = writeln!(
        out,
        "#EXT-X-DISCONTINUITY-SEQUENCE:{slid_off_discontinuities}"
    );
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    push_segments(&mut out, shown);
    out
}

/// The complete recording.
pub fn vod(all: &[Segment]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", target_duration(all));
    let _ = writeln!(
        out,
        "#EXT-X-MEDIA-SEQUENCE:{}",
        all.first().map_or(0, |s| s.seq)
    );
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    push_segments(&mut out, all);
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// One variant of a master playlist.
#[derive(Debug, Clone)]
pub struct Variant {
    pub uri: String,
    pub bandwidth: u64,
    pub width: u32,
    pub height: u32,
}

pub fn master(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        // H.264 High@3.1 and AAC-LC: what the ladder encodes.
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"avc1.64001f,mp4a.40.2\"\n{}",
            v.bandwidth,
            v.bandwidth * 9 / 10,
            v.width,
            v.height,
            v.uri
        );
    }
    out
}

/// Segments of an ffmpeg-written playlist: (uri, duration, program date time). Read by hand:
/// ffmpeg writes PROGRAM-DATE-TIME offsets as `+0000`, which strict RFC 3339 parsers refuse.
pub fn parse_ffmpeg(text: &[u8]) -> Option<Vec<(String, f64, Option<String>)>> {
    let text = std::str::from_utf8(text).ok()?;
    if !text.starts_with("#EXTM3U") {
        return None;
    }
    let mut out = Vec::new();
    let (mut duration, mut pdt) = (None, None);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest.split(',').next().and_then(|d| d.parse::<f64>().ok());
        } else if let Some(rest) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(rest.to_owned());
        } else if !line.starts_with('#') {
            out.push((line.to_owned(), duration.take()?, pdt.take()));
        }
    }
    Some(out)
}

/// The sequence number in a segment file name (`seg_00042.ts` → 42).
pub fn seq_of(uri: &str) -> Option<u64> {
    let stem = uri.rsplit('/').next()?.strip_suffix(".ts")?;
    stem.rsplit('_').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(seq: u64, disc: bool) -> Segment {
        Segment {
            seq,
            uri: format!("seg_{seq:05}.ts"),
            duration: 1.0,
            discontinuity: disc,
            program_date_time: None,
        }
    }

    #[test]
    fn live_window_counts_discontinuities_that_slid_off() {
        let all: Vec<_> = (0..10).map(|i| seg(i, i == 2 || i == 8)).collect();
        let p = live(&all, 4);
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:6\n"), "{p}");
        assert!(p.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{p}");
        assert_eq!(p.matches("#EXTINF").count(), 4);
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert!(!p.contains("ENDLIST"));
        let parsed = m3u8_rs::parse_media_playlist_res(p.as_bytes()).unwrap();
        assert_eq!(parsed.media_sequence, 6);
    }

    #[test]
    fn vod_has_every_segment_and_ends() {
        let all: Vec<_> = (3..8).map(|i| seg(i, i == 5)).collect();
        let p = vod(&all);
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD") && p.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(p.matches("#EXTINF").count(), 5);
        let parsed = m3u8_rs::parse_media_playlist_res(p.as_bytes()).unwrap();
        assert!(parsed.end_list);
        assert_eq!(parsed.segments.len(), 5);
    }

    #[test]
    fn master_lists_variants_with_codecs() {
        let m = master(&[Variant {
            uri: "720p/index.m3u8".into(),
            bandwidth: 3_000_000,
            width: 1280,
            height: 720,
        }]);
        assert!(
            m.contains("RESOLUTION=1280x720")
                && m.contains("CODECS=")
                && m.contains("BANDWIDTH=3000000")
        );
        assert!(m3u8_rs::parse_master_playlist_res(m.as_bytes()).is_ok());
    }

    #[test]
    fn parses_ffmpeg_output_and_sequence_numbers() {
        let text = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T01:02:03.000+0000\n#EXTINF:1.000000,\nseg_00003.ts\n#EXTINF:1.000000,\nseg_00004.ts\n";
        let segs = parse_ffmpeg(text.as_bytes()).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[1].0, "seg_00004.ts");
        assert_eq!(seq_of(&segs[1].0), Some(4));
        assert_eq!(segs[0].2.as_deref(), Some("2026-11-26T01:02:03.000+0000"));
        assert_eq!(segs[1].2, None);
        assert!(parse_ffmpeg(b"not a playlist").is_none());
    }
}
