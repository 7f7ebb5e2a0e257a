//! The chat sweep on AWS: run by an EventBridge schedule, flushes rooms a dead flusher left with
//! undelivered messages. Needs LAIT_WS_CALLBACK_URL (the WebSocket API's management endpoint),
//! since a scheduled event carries none; boots with the store clients only.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lait_shared::runtime::run_job(lait_chat_ws::Sweeper::new, async |sweeper| {
        let rooms = sweeper.chat.sweep(&sweeper.outbox).await;
        rooms.map(|rooms| serde_json::json!({ "flushed_rooms": rooms }))
    })
    .await
}
