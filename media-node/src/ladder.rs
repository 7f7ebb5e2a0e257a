//! The ffmpeg transcoding ladder for one live.

use std::path::Path;

use lait_shared::channels::{Ladder, Rendition};

/// The rungs to encode: those not above the source height (never upscale); a source below the
/// lowest rung gets one rung at its own height.
pub fn rungs(ladder: &Ladder, source_height: Option<u32>) -> Vec<Rendition> {
    let Some(h) = source_height else {
        return ladder.renditions.clone();
    };
    let fitting: Vec<Rendition> = ladder
        .renditions
        .iter()
        .filter(|r| r.height <= h)
        .cloned()
        .collect();
    if !fitting.is_empty() {
        return fitting;
    }
    let lowest = ladder.renditions.iter().min_by_key(|r| r.height).cloned();
    lowest
        .map(|r| Rendition {
            name: format!("{}p", h - h % 2),
            height: h - h % 2,
            ..r
        })
        .into_iter()
        .collect()
}

/// Output width for `height` at the source's aspect ratio (even, as x264 needs).
pub fn width_for(height: u32, source: Option<(u32, u32)>) -> u32 {
    let (sw, sh) = source.filter(|(w, h)| *w > 0 && *h > 0).unwrap_or((16, 9));
    let w = (u64::from(height) * u64::from(sw) / u64::from(sh)) as u32;
    w + w % 2
}

/// Whether the publisher's own H.264 can be the top rendition as it is (no decode-encode of the
/// costliest rung: the ladder's CPU drops by ~40 %, and that picture is the source's own).
/// It can when the source is H.264 at the top rung's height; whether its keyframes fit the
/// segment grid is known only once they arrive (`ffmpeg::Progress::passthrough_breaks`).
pub fn can_pass_through(h264: bool, source_height: Option<u32>, rungs: &[Rendition]) -> bool {
    h264 && source_height.is_some() && rungs.first().map(|r| r.height) == source_height
}

/// The longest keyframe interval a passed-through source may have: a cut waits for the first
/// keyframe past the segment length, so a segment stays below the segment length plus this
/// limit, which must round within the fixed target (`hls::target_duration`; 1 s segments →
/// up to 1.47 s, 0.5 s → up to 0.97 s: a 1 s GOP is re-encoded for low latency).
pub fn passthrough_gop_limit(segment_seconds: f64, fps: f64) -> f64 {
    let frame = 1.0 / fps.max(1.0);
    lait_shared::hls::target_duration(segment_seconds) as f64 + 0.5 - segment_seconds - frame
}

pub struct Job<'a> {
    pub input: &'a str,
    pub spool: &'a Path,
    pub rungs: &'a [Rendition],
    pub segment_seconds: f64,
    /// The publisher sends audio; without it the ladder is video-only.
    pub has_audio: bool,
    pub start_number: u64,
    /// The top rung is the source's video as sent (`can_pass_through`); every other rung then
    /// takes its keyframes where the source has them, so segments stay aligned across rungs.
    pub pass_through: bool,
    /// The source's frame rate (for the pass-through cut tolerance).
    pub fps: f64,
}

/// Where ffmpeg logs the time of every keyframe the publisher sent (one decode, no re-encode).
pub const KEYFRAME_LOG: &str = "keyframes.log";

/// ffmpeg arguments: one decode, a split to every encoded rung plus a thumbnail branch and a
/// keyframe probe, x264 superfast/zerolatency (frame threads) with keyframes forced on segment
/// boundaries by time (whatever the publisher's GOP or frame rate) or, passing the source
/// through, on the source's keyframes; AAC when the source has audio, HLS segments per rung.
/// Its playlists are not used: the agent writes its own from the segments' measured timestamps.
pub fn ffmpeg_args(job: &Job<'_>) -> Vec<String> {
    let n = job.rungs.len();
    let spool = job.spool.display();
    // The rungs x264 encodes (all but a passed-through top one).
    let first_encoded = usize::from(job.pass_through && n > 0);
    let encoded = first_encoded..n;
    let mut filter = format!("[0:v]split={}", encoded.len() + 2);
    for i in encoded.clone() {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str("[vt][vk];");
    for i in encoded.clone() {
        filter.push_str(&format!("[v{i}]scale=-2:{}[v{i}o];", job.rungs[i].height));
    }
    // The first frame at once, then one every 10 s (`fps=1/10` held the first thumbnail back
    // 5–10 s: a live's card had no picture for that long).
    filter.push_str(
        "[vt]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,10)',scale=-2:360[thumb];",
    );
    filter.push_str(&format!(
        "[vk]select='eq(key,1)',metadata=mode=add:key=k:value=1,metadata=mode=print:direct=1:file={spool}/{KEYFRAME_LOG},nullsink"
    ));

    // -y: a restarted ffmpeg overwrites the thumbnail it left behind.
    let mut a: Vec<String> = [
        "-hide_banner",
        "-y",
        "-loglevel",
        "warning",
        "-nostats",
        "-progress",
        "pipe:1",
        "-i",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    a.push(job.input.to_owned());
    a.extend(["-filter_complex".into(), filter]);
    for i in 0..n {
        let video = if i < first_encoded {
            "0:v:0".to_owned()
        } else {
            format!("[v{i}o]")
        };
        a.extend(["-map".into(), video]);
        if job.has_audio {
            a.extend(["-map".into(), "0:a:0".into()]);
        }
    }
    for i in 0..n {
        if i < first_encoded {
            a.extend([format!("-c:v:{i}"), "copy".into()]);
        } else {
            // Per stream: a profile given to a copied stream is an error.
            a.extend([
                format!("-c:v:{i}"),
                "libx264".into(),
                format!("-profile:v:{i}"),
                "high".into(),
            ]);
        }
    }
    a.extend(
        [
            // superfast (Owncast's default) and frame threads rather than zerolatency's
            // sliced ones: ffmpeg 5 runs the rungs' encoders one after another on one thread,
            // and sliced x264 makes that thread wait on every frame, so under CPU contention
            // the ladder fell behind real time (beside a one-core hog, flat out: veryfast sliced
            // 1.8x, this 2.8x; docs/benchmarks.md). Three frame threads delay output by two
            // frames (67 ms).
            "-x264-params",
            "sliced-threads=0:threads=3",
            "-preset",
            "superfast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-sc_threshold",
            "0",
            "-fps_mode",
            "passthrough",
            // No keyframes but the forced ones: a frame-count GOP would cut segments short when
            // the source's frame rate differs from what it announced.
            "-g",
            "100000",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    let (keyframes, hls_time) = if job.pass_through {
        // Where the source has them; cut at each keyframe that ends a segment's length, less
        // half a frame so a keyframe a millisecond early still cuts.
        let jitter = 0.5 / job.fps.max(1.0);
        (
            "source".to_owned(),
            format!("{:.3}", job.segment_seconds - jitter),
        )
    } else {
        (
            format!("expr:gte(t,n_forced*{})", job.segment_seconds),
            job.segment_seconds.to_string(),
        )
    };
    a.extend(["-force_key_frames".into(), keyframes]);
    for (i, r) in job.rungs.iter().enumerate() {
        if i < first_encoded {
            if job.has_audio {
                a.extend([format!("-b:a:{i}"), format!("{}k", r.audio_kbps)]);
            }
            continue;
        }
        a.extend([
            format!("-b:v:{i}"),
            format!("{}k", r.video_kbps),
            format!("-maxrate:v:{i}"),
            format!("{}k", r.video_kbps * 107 / 100),
            format!("-bufsize:v:{i}"),
            format!("{}k", r.video_kbps * 3 / 2),
        ]);
        if job.has_audio {
            a.extend([format!("-b:a:{i}"), format!("{}k", r.audio_kbps)]);
        }
    }
    if job.has_audio {
        a.extend(
            ["-c:a", "aac", "-ac", "2", "-ar", "48000"]
                .iter()
                .map(|s| (*s).to_owned()),
        );
    }
    let map: Vec<String> = job
        .rungs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if job.has_audio {
                format!("v:{i},a:{i},name:{}", r.name)
            } else {
                format!("v:{i},name:{}", r.name)
            }
        })
        .collect();
    a.extend([
        "-f".into(),
        "hls".into(),
        "-hls_time".into(),
        hls_time,
        "-hls_list_size".into(),
        "3".into(),
        // temp_file: a segment appears under its name only when complete (the recorder's event).
        "-hls_flags".into(),
        "independent_segments+temp_file".into(),
        "-start_number".into(),
        job.start_number.to_string(),
        "-hls_segment_filename".into(),
        format!("{spool}/%v/seg_%05d.ts"),
        "-var_stream_map".into(),
        map.join(" "),
        format!("{spool}/%v/ffmpeg.m3u8"),
    ]);
    a.extend([
        "-map".into(),
        "[thumb]".into(),
        // Written as selected (the default for image2 held each frame until the next).
        "-fps_mode".into(),
        "vfr".into(),
        "-q:v".into(),
        "5".into(),
        "-update".into(),
        "1".into(),
        "-atomic_writing".into(),
        "1".into(),
        "-f".into(),
        "image2".into(),
        format!("{spool}/thumb.jpg"),
    ]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Ladder {
        Ladder::for_channel(false)
    }

    #[test]
    fn never_upscales() {
        let names = |h| {
            rungs(&ladder(), h)
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Some(1080)), ["720p", "480p", "360p"]);
        assert_eq!(names(Some(720)), ["720p", "480p", "360p"]);
        assert_eq!(names(Some(540)), ["480p", "360p"]);
        assert_eq!(names(Some(240)), ["240p"]);
        assert_eq!(names(None), ["720p", "480p", "360p"]);
    }

    #[test]
    fn widths_keep_the_aspect_ratio() {
        assert_eq!(width_for(480, Some((1280, 720))), 854);
        assert_eq!(width_for(720, None), 1280);
        assert_eq!(width_for(360, Some((640, 480))), 480);
    }

    /// The arguments for a 720p source's full ladder.
    /// Every rung with its audio, in the order of the ladder.
    const AUDIO_STREAM_MAP: &str = "v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p";

    /// The value that follows `flag` in `args`.
    fn value_of<'a>(args: &'a [String], flag: &str) -> &'a str {
        &args[args.iter().position(|a| a == flag).unwrap() + 1]
    }

    /// Each flag in `args` is followed by its expected value.
    fn assert_values(args: &[String], expected: &[(&str, &str)]) {
        for (flag, value) in expected {
            assert_eq!(value_of(args, flag), *value, "{flag}");
        }
    }

    fn args_for(segment_seconds: f64, has_audio: bool, start_number: u64) -> Vec<String> {
        job_args(segment_seconds, has_audio, start_number, false)
    }

    fn job_args(
        segment_seconds: f64,
        has_audio: bool,
        start_number: u64,
        pass_through: bool,
    ) -> Vec<String> {
        let r = rungs(&ladder(), Some(720));
        ffmpeg_args(&Job {
            input: "rtmp://in",
            spool: Path::new("/spool/x"),
            rungs: &r,
            segment_seconds,
            has_audio,
            start_number,
            pass_through,
            fps: 30.0,
        })
    }

    #[test]
    fn passes_the_source_through_only_at_the_top_rungs_height() {
        let r = rungs(&ladder(), Some(720));
        assert!(can_pass_through(true, Some(720), &r));
        assert!(!can_pass_through(false, Some(720), &r), "not H.264");
        assert!(!can_pass_through(true, None, &r), "height unknown");
        let r = rungs(&ladder(), Some(1080));
        assert!(
            !can_pass_through(true, Some(1080), &r),
            "above the top rung"
        );
        let r = rungs(&ladder(), Some(540));
        assert!(!can_pass_through(true, Some(540), &r), "between rungs");
        assert!((passthrough_gop_limit(1.0, 30.0) - (1.5 - 1.0 / 30.0)).abs() < 1e-9);
        assert!(
            passthrough_gop_limit(0.5, 30.0) < 1.0,
            "a 1 s GOP is too long for 0.5 s"
        );
        // The longest segment it allows rounds within the fixed target.
        for s in [0.5, 1.0, 2.0] {
            let longest = s + passthrough_gop_limit(s, 30.0);
            assert!(
                ((longest * 1000.0) as u64 + 500) / 1000 <= lait_shared::hls::target_duration(s),
                "{s}"
            );
        }
    }

    #[test]
    fn a_passed_through_top_rung_is_copied_and_the_rest_follow_its_keyframes() {
        let args = job_args(1.0, true, 0, true);
        // The source's video maps to the top rung, copied; two rungs are scaled and encoded.
        assert_values(
            &args,
            &[
                ("-map", "0:v:0"),
                ("-c:v:0", "copy"),
                ("-c:v:1", "libx264"),
                ("-c:v:2", "libx264"),
            ],
        );
        assert!(!args.iter().any(|a| a == "-profile:v:0" || a == "-b:v:0"));
        let filter = value_of(&args, "-filter_complex");
        assert!(
            filter.starts_with("[0:v]split=4[v1][v2][vt][vk];"),
            "{filter}"
        );
        assert!(!filter.contains("[v0]"));
        assert_values(
            &args,
            &[
                ("-force_key_frames", "source"),
                ("-hls_time", "0.983"),
                ("-b:a:0", "128k"),
                ("-var_stream_map", AUDIO_STREAM_MAP),
            ],
        );
        // Encoding every rung: keyframes by time, no copy.
        let args = args_for(1.0, true, 0);
        assert_values(&args, &[("-c:v:0", "libx264"), ("-hls_time", "1")]);
        assert!(value_of(&args, "-filter_complex").starts_with("[0:v]split=5[v0][v1][v2]"));
    }

    #[test]
    fn keyframes_on_segment_boundaries() {
        let args = args_for(0.5, true, 7);
        assert_values(
            &args,
            &[
                ("-force_key_frames", "expr:gte(t,n_forced*0.5)"),
                ("-start_number", "7"),
                ("-sc_threshold", "0"),
                ("-var_stream_map", AUDIO_STREAM_MAP),
            ],
        );
        assert!(args.contains(&"zerolatency".to_owned()) && args.contains(&"superfast".to_owned()));
        assert!(value_of(&args, "-hls_flags").contains("temp_file"));
        assert!(value_of(&args, "-filter_complex").contains(KEYFRAME_LOG));
        assert_eq!(args.iter().filter(|a| *a == "0:a:0").count(), 3);
    }

    #[test]
    fn video_only_ladder() {
        let args = args_for(1.0, false, 0);
        assert_values(
            &args,
            &[(
                "-var_stream_map",
                "v:0,name:720p v:1,name:480p v:2,name:360p",
            )],
        );
        assert!(!args.iter().any(|a| a == "0:a:0" || a == "aac"));
    }
}
