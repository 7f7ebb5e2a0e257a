//! lait-media-agent: nginx-rtmp hooks, ffmpeg ladder, uploader. Listens on loopback only.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let agent = lait_shared::runtime::boot_with(lait_media_node::Agent::from_env).await?;
    lait_media_node::serve(agent).await
}
