#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = lait_shared::runtime::boot(lait_local::App::new).await?;
    app.serve().await
}
