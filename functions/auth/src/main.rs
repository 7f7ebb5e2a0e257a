#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = lait_shared::runtime::boot(lait_auth::State::new).await?;
    lambda_http::run(lait_auth::app(state)).await
}
