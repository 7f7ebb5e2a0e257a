//! Reads what a segment really holds from its MPEG-TS packets: which elementary streams, and the
//! presentation time span of its video (or, without video, its audio). The playlist's `#EXTINF`
//! and timeline jumps come from here, not from the segmenter's own arithmetic, which counts a gap
//! in the input as media (ffmpeg lists a one-frame segment after a 5 s stall as 5 s long).

/// 90 kHz PTS clock.
const CLOCK: f64 = 90_000.0;
const PACKET: usize = 188;
const WRAP: i64 = 1 << 33;

/// The time span of one elementary stream in a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// PTS of the first access unit, in seconds (unwrapped against the segment's first PTS).
    pub first: f64,
    /// PTS of the last access unit, in seconds.
    pub last: f64,
    /// Access units (PES packets) seen.
    pub units: u32,
}

impl Span {
    /// Media duration: first to last plus one unit (the mean interval between units).
    pub fn duration(&self, unit_fallback: f64) -> f64 {
        let unit = if self.units > 1 {
            (self.last - self.first) / f64::from(self.units - 1)
        } else {
            unit_fallback
        };
        (self.last - self.first) + unit
    }

    /// Where the next segment's first unit is expected.
    pub fn end(&self, unit_fallback: f64) -> f64 {
        self.first + self.duration(unit_fallback)
    }
}

/// What a segment holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Contents {
    pub video: Option<Span>,
    pub audio: Option<Span>,
}

impl Contents {
    /// The span the playlist uses: video when there is video.
    pub fn timeline(&self) -> Option<Span> {
        self.video.or(self.audio)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Video,
    Audio,
}

fn kind_of(stream_type: u8) -> Option<Kind> {
    match stream_type {
        // H.264, H.265, MPEG-2/4 video
        0x1b | 0x24 | 0x02 | 0x10 => Some(Kind::Video),
        // AAC (ADTS, LATM), MPEG audio, AC-3, E-AC-3
        0x0f | 0x11 | 0x03 | 0x04 | 0x81 | 0x87 => Some(Kind::Audio),
        _ => None,
    }
}

struct Acc {
    first_raw: Option<i64>,
    first: i64,
    last: i64,
    units: u32,
}

impl Acc {
    fn new() -> Self {
        Self {
            first_raw: None,
            first: 0,
            last: 0,
            units: 0,
        }
    }

    fn push(&mut self, raw: i64) {
        // Unwrap the 33-bit counter around the first PTS of the segment.
        let base = *self.first_raw.get_or_insert(raw);
        let mut pts = raw;
        if pts - base < -WRAP / 2 {
            pts += WRAP;
        } else if pts - base > WRAP / 2 {
            pts -= WRAP;
        }
        if self.units == 0 {
            self.first = pts;
            self.last = pts;
        } else {
            // B-frames arrive out of presentation order: keep the extremes.
            self.first = self.first.min(pts);
            self.last = self.last.max(pts);
        }
        self.units += 1;
    }

    fn span(&self) -> Option<Span> {
        (self.units > 0).then(|| Span {
            first: self.first as f64 / CLOCK,
            last: self.last as f64 / CLOCK,
            units: self.units,
        })
    }
}

/// The payload of one TS packet, with its PID and payload-unit-start flag.
fn packet(p: &[u8]) -> Option<(u16, bool, &[u8])> {
    if p.len() != PACKET || p[0] != 0x47 {
        return None;
    }
    let pusi = p[1] & 0x40 != 0;
    let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let afc = (p[3] >> 4) & 0x3;
    let start = match afc {
        1 => 4,
        3 => 5 + usize::from(p[4]),
        _ => return Some((pid, pusi, &[])),
    };
    Some((pid, pusi, p.get(start..).unwrap_or(&[])))
}

/// The section after a PSI pointer field, up to its declared length.
fn section(payload: &[u8]) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    let s = payload.get(1 + pointer..)?;
    let len = usize::from(u16::from(s.get(1)? & 0x0f) << 8 | u16::from(*s.get(2)?));
    s.get(..(3 + len).min(s.len()))
}

fn pes_pts(payload: &[u8]) -> Option<i64> {
    if payload.len() < 14 || payload[..3] != [0, 0, 1] || payload[7] & 0x80 == 0 {
        return None;
    }
    let b = &payload[9..14];
    Some(
        (i64::from(b[0] & 0x0e) << 29)
            | (i64::from(b[1]) << 22)
            | (i64::from(b[2] & 0xfe) << 14)
            | (i64::from(b[3]) << 7)
            | (i64::from(b[4]) >> 1),
    )
}

/// Scans a segment: PAT → PMT → the PTS of every PES start of its audio and video streams.
/// Cost is one pass over the packet headers; the payload is never decoded.
pub fn scan(data: &[u8]) -> Contents {
    let mut pmt_pid = None;
    let mut streams: Vec<(u16, Kind)> = Vec::new();
    let (mut video, mut audio) = (Acc::new(), Acc::new());
    for p in data.chunks_exact(PACKET) {
        let Some((pid, pusi, payload)) = packet(p) else {
            continue;
        };
        if !pusi {
            continue;
        }
        if pid == 0 {
            // PAT: the first program's PMT.
            if let Some(s) = section(payload) {
                let entries = s.get(8..s.len().saturating_sub(4)).unwrap_or(&[]);
                pmt_pid = entries
                    .chunks_exact(4)
                    .find(|e| u16::from(e[0]) << 8 | u16::from(e[1]) != 0)
                    .map(|e| u16::from(e[2] & 0x1f) << 8 | u16::from(e[3]));
            }
        } else if Some(pid) == pmt_pid {
            if let Some(s) = section(payload) {
                streams.clear();
                let info_len = s.get(10..12).map_or(0, |b| {
                    usize::from(u16::from(b[0] & 0x0f) << 8 | u16::from(b[1]))
                });
                let mut es = s
                    .get(12 + info_len..s.len().saturating_sub(4))
                    .unwrap_or(&[]);
                while es.len() >= 5 {
                    let es_pid = u16::from(es[1] & 0x1f) << 8 | u16::from(es[2]);
                    if let Some(k) = kind_of(es[0]) {
                        streams.push((es_pid, k));
                    }
                    let skip = 5 + usize::from(u16::from(es[3] & 0x0f) << 8 | u16::from(es[4]));
                    es = es.get(skip..).unwrap_or(&[]);
                }
            }
        } else if let Some((_, kind)) = streams.iter().find(|(p, _)| *p == pid)
            && let Some(pts) = pes_pts(payload)
        {
            match kind {
                Kind::Video => video.push(pts),
                Kind::Audio => audio.push(pts),
            }
        }
    }
    Contents {
        video: video.span(),
        audio: audio.span(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ts_packet(pid: u16, pusi: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (if pusi { 0x40 } else { 0 }) | (pid >> 8) as u8,
            pid as u8,
            0x10,
        ];
        p.extend_from_slice(payload);
        p.resize(PACKET, 0xff);
        p
    }

    fn psi(table: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(table);
        v.extend_from_slice(&[0, 0, 0, 0]); // CRC (not checked)
        let len = table.len() - 3 + 4;
        v[2] = (v[2] & 0xf0) | ((len >> 8) as u8 & 0x0f);
        v[3] = len as u8;
        v
    }

    fn pes(stream_id: u8, pts: i64) -> Vec<u8> {
        let p = pts & (WRAP - 1);
        vec![
            0,
            0,
            1,
            stream_id,
            0,
            0,
            0x80,
            0x80,
            5,
            0x21 | ((p >> 29) as u8 & 0x0e),
            (p >> 22) as u8,
            ((p >> 14) as u8 & 0xfe) | 1,
            (p >> 7) as u8,
            ((p << 1) as u8) | 1,
        ]
    }

    /// A minimal segment: PAT, PMT (video on 0x100 and/or audio on 0x101), then PES starts at
    /// the given PTS (90 kHz) with a continuation packet after each.
    pub(crate) fn segment(video: &[i64], audio: &[i64]) -> Vec<u8> {
        let mut out = ts_packet(
            0,
            true,
            &psi(&[0x00, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00]),
        );
        let mut pmt = vec![0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0x00];
        if !video.is_empty() {
            pmt.extend_from_slice(&[0x1b, 0xe1, 0x00, 0xf0, 0x00]);
        }
        if !audio.is_empty() {
            pmt.extend_from_slice(&[0x0f, 0xe1, 0x01, 0xf0, 0x00]);
        }
        out.extend(ts_packet(0x1000, true, &psi(&pmt)));
        for (pid, sid, list) in [(0x100, 0xe0, video), (0x101, 0xc0, audio)] {
            for &pts in list {
                out.extend(ts_packet(pid, true, &pes(sid, pts)));
                out.extend(ts_packet(pid, false, &[0xaa; 20]));
            }
        }
        out
    }

    #[test]
    fn video_span_and_duration() {
        // 30 fps: 3000 ticks a frame; 30 frames starting at 10 s.
        let v: Vec<i64> = (0..30).map(|i| 900_000 + i * 3000).collect();
        let a: Vec<i64> = (0..47).map(|i| 900_000 + i * 1920).collect();
        let c = scan(&segment(&v, &a));
        let span = c.video.unwrap();
        assert_eq!(span.units, 30);
        assert!((span.first - 10.0).abs() < 1e-9);
        assert!((span.duration(0.0) - 1.0).abs() < 1e-9, "{span:?}");
        assert!((span.end(0.0) - 11.0).abs() < 1e-9);
        assert_eq!(c.audio.unwrap().units, 47);
        assert_eq!(c.timeline(), c.video);
    }

    #[test]
    fn out_of_order_pts_and_wraparound() {
        // B-frame order, across the 33-bit wrap.
        let near = WRAP - 6000;
        let v = [near, near + 9000, near + 3000, near + 6000];
        let span = scan(&segment(&v, &[])).video.unwrap();
        assert!((span.last - span.first - 0.1).abs() < 1e-9, "{span:?}");
        assert_eq!(span.units, 4);
    }

    #[test]
    fn one_frame_uses_the_fallback_and_audio_only_has_no_video() {
        let span = scan(&segment(&[90_000], &[])).video.unwrap();
        assert!((span.duration(1.0 / 30.0) - 1.0 / 30.0).abs() < 1e-9);
        let c = scan(&segment(&[], &[0, 1920]));
        assert!(c.video.is_none() && c.audio.is_some());
        assert_eq!(c.timeline(), c.audio);
    }

    #[test]
    fn garbage_is_empty() {
        assert_eq!(scan(&[0u8; 1000]), Contents::default());
        assert_eq!(scan(b"not a transport stream"), Contents::default());
    }
}
