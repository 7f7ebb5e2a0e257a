//! Stream keys never reach the logs, at any level (its own binary: the subscriber is global).

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use common::*;
use reqwest::Method;
use serde_json::json;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn stream_keys_are_never_logged() {
    let capture = Capture::default();
    lait_shared::telemetry::init_with(EnvFilter::new("trace"), capture.clone(), false);

    let api = start(&[]).await;
    let owner = api.user().await;
    let key1 = api.stream_key(&owner).await;
    let live = api.publish(&key1).await;
    api.signed("/internal/media/heartbeat", &json!({"live_id": live}), None)
        .await;
    let res = api
        .call(
            Method::POST,
            "/api/channels/mine/stream-key",
            Some(&owner),
            None,
        )
        .await;
    let key2 = res.json::<serde_json::Value>().await.unwrap()["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    api.signed("/internal/media/heartbeat", &json!({"live_id": live}), None)
        .await;
    api.signed(
        "/internal/media/publish",
        &json!({"stream_key": key1, "node_id": "n"}),
        None,
    )
    .await;
    api.publish(&key2).await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
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
