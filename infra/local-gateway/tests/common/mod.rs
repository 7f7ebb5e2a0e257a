//! Test harness: lait-local (or just its WebSocket gateway) served by the test kit on an
//! ephemeral loopback port, against the real Redis and moto that `scripts/test` starts.
#![allow(dead_code, unused_imports)] // each suite uses part of it

use std::sync::Arc;

use lait_local::{App, Gateway, WsLimits};
use lait_shared::ws::WsHandler;
pub use lait_test_kit::{
    Proc, Served, TestApp, User, env_with, free_port, init_stores, own_moto, own_redis,
    require_env, status_of, unique, wait_port,
};

/// A served app and its WebSocket gateway (`state`).
pub type Server = Served<Gateway>;

/// The whole lait-local app.
pub async fn start_app(overrides: &[(&str, &str)]) -> Server {
    lait_test_kit::serve(overrides, |env, deps, addr| {
        App::new(env, deps).router(addr)
    })
    .await
}

/// Only the WebSocket gateway, with a test handler.
pub async fn start_gateway(handler: Arc<dyn WsHandler>, limits: WsLimits) -> Server {
    let (listener, addr) = lait_test_kit::listener().await;
    let gateway = Gateway::new(handler, limits, addr.to_string());
    Served {
        app: lait_test_kit::spawn_on(gateway.clone().router(), listener),
        state: gateway,
    }
}

/// A real `aws-sdk-apigatewaymanagement` client aimed at `endpoint`.
pub async fn management_client(endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(conf)
}
