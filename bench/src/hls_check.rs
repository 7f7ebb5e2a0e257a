//! hls-check: the RFC 8216 rules a strict player relies on, checked over every reload a poller
//! recorded of a live rendition (tests/e2e/conformance.py). Input: JSON lines
//! `{"t": <seconds>, "rendition": "<name>", "text": "<playlist>"}` on stdin. Prints one JSON
//! summary per rendition; exits 1 on any violation.
//!   hls-check --target <TARGETDURATION> [--stale <seconds>]
//!
//! Per rendition: every reload parses (m3u8-rs) as a live media playlist; `#EXT-X-TARGETDURATION`
//! is the profile's and never changes; no `#EXTINF` rounds above it; once the window slid, it
//! lists at least 3 × target; media sequence and discontinuity sequence never go back; a media
//! sequence number keeps its URI and its discontinuity tag; the discontinuity sequence counts
//! exactly the tags that slid off; a segment leaves only after it was listed for a target duration
//! (minus the poller's resolution); a new segment appears at least every `--stale` seconds.

use std::{
    collections::{BTreeMap, HashMap},
    io::BufRead,
};

use clap::Parser;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reload {
    t: f64,
    rendition: String,
    text: String,
}

struct Seen {
    uri: String,
    discontinuity: bool,
    first: f64,
    last: f64,
}

#[derive(Default)]
struct Rendition {
    reloads: usize,
    segments: BTreeMap<u64, Seen>,
    /// First media sequence and discontinuity sequence observed.
    base: Option<(u64, u64)>,
    last_msn: u64,
    last_disc: u64,
    newest: Option<u64>,
    last_new_at: Option<f64>,
    /// When this rendition was last reloaded: a new segment appeared after that.
    last_reload_at: Option<f64>,
    max_gap: f64,
    violations: Vec<String>,
}

const POLL_SLACK: f64 = 0.6;

/// Checks a live rendition's reloads, JSON lines on stdin, against RFC 8216's rules.
#[derive(Parser)]
struct Args {
    /// The profile's #EXT-X-TARGETDURATION, in seconds.
    #[arg(long)]
    target: u64,
    /// Longest wait for a new segment, in seconds (default 1.5 × target).
    #[arg(long)]
    stale: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = args.target;
    let stale = args.stale.unwrap_or(1.5 * target as f64);
    let mut renditions: BTreeMap<String, Rendition> = BTreeMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Reload = serde_json::from_str(&line)?;
        let state = renditions.entry(r.rendition.clone()).or_default();
        check(state, &r, target, stale);
    }
    let mut failed = renditions.is_empty();
    let mut out = HashMap::new();
    for (name, r) in &renditions {
        failed |= !r.violations.is_empty();
        out.insert(
            name.clone(),
            serde_json::json!({
                "reloads": r.reloads,
                "segments": r.segments.len(),
                "max_gap_s": (r.max_gap * 100.0).round() / 100.0,
                "violations": r.violations.iter().take(20).collect::<Vec<_>>(),
                "violation_count": r.violations.len(),
            }),
        );
    }
    println!("{}", serde_json::to_string(&out)?);
    std::process::exit(i32::from(failed));
}

fn check(s: &mut Rendition, r: &Reload, target: u64, stale: f64) {
    s.reloads += 1;
    let prev_reload = s.last_reload_at.replace(r.t);
    let at = format!("t={:.2}", r.t);
    let p = match m3u8_rs::parse_media_playlist_res(r.text.as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            s.violations.push(format!("{at}: does not parse: {e:?}"));
            return;
        }
    };
    if p.target_duration != target {
        s.violations.push(format!(
            "{at}: TARGETDURATION {} (want {target}, fixed)",
            p.target_duration
        ));
    }
    if p.end_list || p.playlist_type.is_some() {
        s.violations
            .push(format!("{at}: a live playlist with ENDLIST or a type"));
    }
    for seg in &p.segments {
        if (f64::from(seg.duration) + 0.5).floor() as u64 > target {
            s.violations.push(format!(
                "{at}: EXTINF {} rounds above the target {target} ({})",
                seg.duration, seg.uri
            ));
        }
    }
    let msn = p.media_sequence;
    let (base_msn, base_disc) = *s.base.get_or_insert((msn, p.discontinuity_sequence));
    if msn < s.last_msn || p.discontinuity_sequence < s.last_disc {
        s.violations.push(format!(
            "{at}: sequence went back ({msn}/{} after {}/{})",
            p.discontinuity_sequence, s.last_msn, s.last_disc
        ));
    }
    let total: f64 = p.segments.iter().map(|x| f64::from(x.duration)).sum();
    if msn > base_msn && total < 3.0 * target as f64 - 0.01 {
        s.violations.push(format!(
            "{at}: window {total:.2} s < 3 × target after sliding"
        ));
    }
    for (k, seg) in p.segments.iter().enumerate() {
        let n = msn + k as u64;
        match s.segments.get_mut(&n) {
            Some(seen) => {
                if seen.uri != seg.uri || seen.discontinuity != seg.discontinuity {
                    s.violations.push(format!(
                        "{at}: media sequence {n} changed ({} → {})",
                        seen.uri, seg.uri
                    ));
                }
                seen.last = r.t;
            }
            None => {
                s.segments.insert(
                    n,
                    Seen {
                        uri: seg.uri.clone(),
                        discontinuity: seg.discontinuity,
                        first: r.t,
                        last: r.t,
                    },
                );
            }
        }
    }
    // Removed segments were listed for at least a target duration.
    for n in s.last_msn.max(base_msn)..msn {
        if let Some(seen) = s.segments.get(&n)
            && seen.last - seen.first < target as f64 - POLL_SLACK
        {
            s.violations.push(format!(
                "{at}: media sequence {n} listed only {:.2} s",
                seen.last - seen.first
            ));
        }
    }
    let removed_tags = (base_msn..msn)
        .filter(|n| s.segments.get(n).is_some_and(|x| x.discontinuity))
        .count() as u64;
    if p.discontinuity_sequence != base_disc + removed_tags {
        s.violations.push(format!(
            "{at}: DISCONTINUITY-SEQUENCE {} but {} tags slid off",
            p.discontinuity_sequence,
            base_disc + removed_tags
        ));
    }
    let newest = (msn + p.segments.len() as u64).checked_sub(1);
    if newest > s.newest {
        if let Some(prev) = s.last_new_at {
            // Seen `gap` apart; the segment appeared after the previous reload, so the playlist
            // stood still at least `stood`: only that proves a violation (a poller slowed by
            // the CPU hog reloads late, which alone must not count against the playlist).
            let gap = r.t - prev;
            let stood = prev_reload.unwrap_or(r.t) - prev;
            s.max_gap = s.max_gap.max(gap);
            if stood > stale {
                s.violations.push(format!(
                    "{at}: no new segment for at least {stood:.2} s (seen {gap:.2} s apart; limit {stale:.2})"
                ));
            }
        }
        s.newest = newest;
        s.last_new_at = Some(r.t);
    }
    s.last_msn = msn;
    s.last_disc = p.discontinuity_sequence;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(first: u64, n: u64) -> String {
        let mut p = format!(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
        );
        for i in first..first + n {
            p.push_str(&format!("#EXTINF:1.000,\nseg_{i:05}_1000ms.ts\n"));
        }
        p
    }

    fn stale_violations(reloads: &[(f64, u64)]) -> Vec<String> {
        let mut s = Rendition::default();
        for &(t, newest) in reloads {
            let r = Reload {
                t,
                rendition: "720p".into(),
                text: playlist(newest.saturating_sub(3), newest.min(3) + 1),
            };
            check(&mut s, &r, 1, 1.5);
        }
        s.violations
            .into_iter()
            .filter(|v| v.contains("no new segment"))
            .collect()
    }

    #[test]
    fn a_stale_playlist_is_a_violation_only_when_the_reloads_prove_it() {
        // New segments every second, but the poller came late once: seen 1.8 s apart, while
        // the playlist may have changed right after the reload at 1.1 s.
        assert!(stale_violations(&[(0.0, 3), (1.1, 4), (2.9, 5), (3.9, 6)]).is_empty());
        // Reloaded every 0.3 s and nothing new for 2.1 s: the playlist stood still.
        let v = stale_violations(&[
            (0.0, 3),
            (0.3, 3),
            (0.6, 3),
            (0.9, 3),
            (1.2, 3),
            (1.5, 3),
            (1.8, 3),
            (2.1, 4),
        ]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("at least 1.80"), "{v:?}");
    }
}
