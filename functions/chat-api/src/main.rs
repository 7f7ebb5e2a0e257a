#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = lait_shared::runtime::boot(lait_chat_api::State::new).await?;
    lambda_http::run(lait_chat_api::app(state)).await
}
