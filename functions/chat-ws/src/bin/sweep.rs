//! The chat sweep on AWS: run by an EventBridge schedule, flushes rooms a dead flusher left with
//! undelivered messages. Needs LAIT_WS_CALLBACK_URL (the WebSocket API's management endpoint),
//! since a scheduled event carries none; boots with the store clients only.
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let sweeper = lait_shared::runtime::boot_job(lait_chat_ws::Sweeper::new).await?;
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let rooms = sweeper
                .chat
                .sweep(&sweeper.outbox)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "flushed_rooms": rooms }))
        },
    ))
    .await
}
