//! The media-node agent (RTMP hooks, ffmpeg ladder, uploader) arrives with the media issue.
fn main() {
    eprintln!("lait-media-agent: not built yet; see the media issue");
    std::process::exit(2);
}
