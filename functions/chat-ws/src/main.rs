use lait_shared::ws::{WsEvent, WsHandler};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = lait_shared::runtime::boot(lait_chat_ws::State::new).await?;
    let handler = &lait_chat_ws::Handler(state);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<WsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(handler.handle(e.payload).await)
    }))
    .await
}
