//! lait-media-agent: nginx-rtmp hooks, ffmpeg ladder, uploader. Listens on loopback only.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let agent = lait_shared::runtime::boot_with(|env, sdk| {
        lait_media_node::Agent::new(
            lait_media_node::Config::read(env),
            lait_shared::stores::aws::s3(sdk),
        )
    })
    .await?;
    lait_media_node::serve(agent).await
}
