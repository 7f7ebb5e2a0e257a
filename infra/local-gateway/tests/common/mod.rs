//! Test harness: lait-local (or just its WebSocket gateway) served by the test kit on an
//! ephemeral loopback port, against the real Redis and moto that `scripts/test` starts.
#![allow(dead_code, unused_imports)] // each suite uses part of it

use std::{ops::Deref, sync::Arc};

use lait_local::{App, Gateway, WsLimits};
use lait_shared::{runtime::Deps, ws::WsHandler};
pub use lait_test_kit::{
    Proc, TestApp, User, env_with, free_port, init_stores, own_moto, own_redis, require_env,
    status_of, unique, wait_port,
};

pub struct Server {
    pub app: TestApp,
    pub gateway: Gateway,
}

impl Deref for Server {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The whole lait-local app.
pub async fn start_app(overrides: &[(&str, &str)]) -> Server {
    let mut env = env_with(overrides);
    let deps = Deps::load(&mut env).await;
    let app = App::new(&mut env, deps);
    env.finish(()).expect("test configuration");
    let (listener, addr) = lait_test_kit::listener().await;
    let (router, gateway) = app.router(addr);
    Server {
        app: lait_test_kit::spawn_on(router, listener),
        gateway,
    }
}

/// Only the WebSocket gateway, with a test handler.
pub async fn start_gateway(handler: Arc<dyn WsHandler>, limits: WsLimits) -> Server {
    let (listener, addr) = lait_test_kit::listener().await;
    let gateway = Gateway::new(handler, limits, addr.to_string());
    Server {
        app: lait_test_kit::spawn_on(gateway.clone().router(), listener),
        gateway,
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
