//! The reaper on AWS: run by an EventBridge schedule, ends lives whose heartbeat stopped and
//! closes their recordings from what reached S3.
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = lait_shared::runtime::boot_job(lait_channels::Reaper::new).await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let ended = lait_channels::reap(state)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "ended": ended.len() }))
        },
    ))
    .await
}
