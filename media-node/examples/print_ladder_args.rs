//! Prints, as JSON, the ffmpeg arguments the agent would use for a 720p30 source (bench/transcode.sh).
//! Usage: print_ladder_args <input> <spool dir> [encode|pass-through]
use lait_shared::channels::Ladder;

fn main() {
    let mut args = std::env::args().skip(1);
    let input = args.next().expect("input");
    let spool = std::path::PathBuf::from(args.next().expect("spool dir"));
    let pass_through = match args.next().as_deref() {
        None | Some("encode") => false,
        Some("pass-through") => true,
        Some(other) => panic!("mode is encode or pass-through, not {other}"),
    };
    let ladder = Ladder::for_channel(false);
    let rungs = lait_media_node::ladder::rungs(&ladder, Some(720));
    let job = lait_media_node::ladder::Job {
        input: &input,
        spool: &spool,
        rungs: &rungs,
        segment_seconds: ladder.segment_seconds,
        has_audio: true,
        start_number: 0,
        pass_through,
        fps: 30.0,
    };
    println!(
        "{}",
        serde_json::to_string(&lait_media_node::ladder::ffmpeg_args(&job)).expect("json")
    );
}
