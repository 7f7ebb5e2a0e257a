#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = lait_shared::runtime::boot(lait_channels::State::new).await?;
    lambda_http::run(lait_channels::app(state)).await
}
