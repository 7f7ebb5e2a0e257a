//! The chat sweep on AWS: run by an EventBridge schedule, flushes rooms a dead flusher left with
//! undelivered messages. Needs LAIT_WS_CALLBACK_URL (the WebSocket API's management endpoint),
//! since a scheduled event carries none.
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = lait_shared::runtime::boot(lait_chat_ws::State::new).await?;
    let out = state
        .callback_outbox()
        .ok_or("LAIT_WS_CALLBACK_URL is required for the sweep")?;
    let (state, out) = (&state, &out);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let rooms = state.chat.sweep(out).await.map_err(|e| e.to_string())?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "flushed_rooms": rooms }))
        },
    ))
    .await
}
