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

pub struct Job<'a> {
    pub input: &'a str,
    pub spool: &'a Path,
    pub rungs: &'a [Rendition],
    pub segment_seconds: f64,
    /// The publisher sends audio; without it the ladder is video-only.
    pub has_audio: bool,
    pub start_number: u64,
}

/// Where ffmpeg logs the time of every keyframe the publisher sent (one decode, no re-encode).
pub const KEYFRAME_LOG: &str = "keyframes.log";

/// ffmpeg arguments: one decode, a split to every rung plus a thumbnail branch and a keyframe
/// probe, x264 veryfast/zerolatency with keyframes forced on segment boundaries by time (whatever
/// the publisher's GOP or frame rate), AAC when the source has audio, HLS segments per rung. Its
/// playlists are not used: the agent writes its own from the segments' measured timestamps.
pub fn ffmpeg_args(job: &Job<'_>) -> Vec<String> {
    let n = job.rungs.len();
    let spool = job.spool.display();
    let mut filter = format!("[0:v]split={}", n + 2);
    for i in 0..n {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str("[vt][vk];");
    for (i, r) in job.rungs.iter().enumerate() {
        filter.push_str(&format!("[v{i}]scale=-2:{}[v{i}o];", r.height));
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
        a.extend(["-map".into(), format!("[v{i}o]")]);
        if job.has_audio {
            a.extend(["-map".into(), "0:a:0".into()]);
        }
    }
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-profile:v",
            "high",
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
    a.extend([
        "-force_key_frames".into(),
        format!("expr:gte(t,n_forced*{})", job.segment_seconds),
    ]);
    for (i, r) in job.rungs.iter().enumerate() {
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
        job.segment_seconds.to_string(),
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
    fn args_for(segment_seconds: f64, has_audio: bool, start_number: u64) -> Vec<String> {
        let r = rungs(&ladder(), Some(720));
        ffmpeg_args(&Job {
            input: "rtmp://in",
            spool: std::path::Path::new("/spool/x"),
            rungs: &r,
            segment_seconds,
            has_audio,
            start_number,
        })
    }

    #[test]
    fn keyframes_on_segment_boundaries() {
        let args = args_for(0.5, true, 7);
        let at = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(at("-force_key_frames"), "expr:gte(t,n_forced*0.5)");
        assert_eq!(at("-start_number"), "7");
        assert_eq!(at("-sc_threshold"), "0");
        assert_eq!(
            at("-var_stream_map"),
            "v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p"
        );
        assert!(args.contains(&"zerolatency".to_owned()) && args.contains(&"veryfast".to_owned()));
        assert!(at("-hls_flags").contains("temp_file"));
        assert!(at("-filter_complex").contains(KEYFRAME_LOG));
        assert_eq!(args.iter().filter(|a| *a == "0:a:0").count(), 3);
    }

    #[test]
    fn video_only_ladder() {
        let args = args_for(1.0, false, 0);
        let at = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        assert_eq!(
            at("-var_stream_map"),
            "v:0,name:720p v:1,name:480p v:2,name:360p"
        );
        assert!(!args.iter().any(|a| a == "0:a:0" || a == "aac"));
    }
}
