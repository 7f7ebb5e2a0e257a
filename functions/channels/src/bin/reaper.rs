//! The reaper on AWS: run by an EventBridge schedule, ends lives whose heartbeat stopped and
//! closes their recordings from what reached S3, and rebuilds the search index if Redis lost it.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lait_shared::runtime::run_job(lait_channels::Reaper::new, async |state| {
        let ended = lait_channels::reap(state).await?;
        // A search index Redis lost is rebuilt from the table.
        let reindexed = lait_channels::reindex(state).await?;
        Ok::<_, lait_shared::ApiError>(
            serde_json::json!({ "ended": ended.len(), "reindexed": reindexed }),
        )
    })
    .await
}
