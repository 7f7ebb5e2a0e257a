//! Prints, as JSON, the ffmpeg arguments the agent would use for a 720p source (bench/transcode.sh).
//! Usage: print_ladder_args <input> <spool dir>
use lait_shared::channels::Ladder;

fn main() {
    let mut args = std::env::args().skip(1);
    let input = args.next().expect("input");
    let spool = std::path::PathBuf::from(args.next().expect("spool dir"));
    let ladder = Ladder::for_channel(false);
    let rungs = lait_media_node::ladder::rungs(&ladder, Some(720));
    let job = lait_media_node::ladder::Job {
        input: &input,
        spool: &spool,
        rungs: &rungs,
        segment_seconds: ladder.segment_seconds,
        has_audio: true,
        start_number: 0,
    };
    println!(
        "{}",
        serde_json::to_string(&lait_media_node::ladder::ffmpeg_args(&job)).expect("json")
    );
}
