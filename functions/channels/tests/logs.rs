//! Stream keys never reach the logs, at any level (its own binary: the subscriber is global).

mod common;

use common::*;
use serde_json::json;
use tracing_subscriber::EnvFilter;

#[tokio::test]
async fn stream_keys_are_never_logged() {
    let capture = lait_shared::telemetry::MemoryWriter::default();
    lait_shared::telemetry::init_with(EnvFilter::new("trace"), capture.clone(), false);

    let api = start(&[]).await;
    let owner = api.user().await;
    let key1 = api.stream_key(&owner).await;
    let live = api.publish(&key1).await;
    let heartbeat = json!({"live_id": live});
    api.hook("/internal/media/heartbeat", heartbeat.clone())
        .await;
    let key2 = api.rotate_key(&owner).await;
    api.hook("/internal/media/heartbeat", heartbeat).await;
    let old_key = json!({"stream_key": key1, "node_id": "n"});
    api.hook("/internal/media/publish", old_key).await;
    api.publish(&key2).await;

    let logs = capture.contents();
    assert!(
        logs.contains("live started") && logs.contains("stream key rotated"),
        "the capture saw the flows"
    );
    for (name, key) in [("first key", &key1), ("second key", &key2)] {
        let secret_part = &key[5..];
        let line = logs.lines().find(|l| l.contains(secret_part));
        assert!(
            line.is_none(),
            "{name} logged: {}",
            line.unwrap_or_default()
        );
    }
}
