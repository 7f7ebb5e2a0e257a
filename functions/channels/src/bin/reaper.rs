//! The reaper on AWS: run by an EventBridge schedule, ends lives whose heartbeat stopped and
//! closes their recordings from what reached S3.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lait_shared::runtime::run_job(lait_channels::Reaper::new, async |state| {
        let ended = lait_channels::reap(state).await;
        ended.map(|ended| serde_json::json!({ "ended": ended.len() }))
    })
    .await
}
