//! Test harness: lait-local (or just its WebSocket gateway) on an ephemeral loopback port, against
//! the real Redis and moto that `scripts/test` starts (standard AWS env + REDIS_URL).
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use axum::Router;
use lait_local::{App, Gateway, WsLimits};
use lait_shared::{config::Env, runtime::Deps, ws::WsHandler};

pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test, which starts Redis and moto")
    })
}

/// Environment for an app, with `overrides` on top of the process environment.
pub fn env_with(overrides: &[(&str, &str)]) -> Env {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Env::from_pairs(vars)
}

pub struct Server {
    pub addr: SocketAddr,
    pub gateway: Gateway,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(router: Router, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    })
}

/// The whole lait-local app.
pub async fn start_app(overrides: &[(&str, &str)]) -> Server {
    require_env("REDIS_URL");
    require_env("AWS_ENDPOINT_URL");
    let mut env = env_with(overrides);
    let deps = Deps::load(&mut env).await;
    let app = App::new(&mut env, deps);
    env.finish(()).expect("test configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (router, gateway) = app.router(addr);
    let task = serve(router, listener).await;
    Server {
        addr,
        gateway,
        task,
    }
}

/// Only the WebSocket gateway, with a test handler.
pub async fn start_gateway(handler: Arc<dyn WsHandler>, limits: WsLimits) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = Gateway::new(handler, limits, addr.to_string());
    let task = serve(gateway.clone().router(), listener).await;
    Server {
        addr,
        gateway,
        task,
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub async fn wait_port(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on port {port}");
}

/// A private redis-server, for tests that kill it.
pub async fn own_redis() -> (Proc, u16) {
    let bin = require_env("LAIT_REDIS_SERVER");
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_port(port).await;
    (Proc(child), port)
}

/// A private moto_server with Lait's tables and buckets, for tests that kill it.
pub async fn own_moto() -> (Proc, u16) {
    let command = require_env("LAIT_MOTO_SERVER");
    let mut command = command.split_whitespace();
    let port = free_port();
    let child = Command::new(command.next().expect("a moto command"))
        .args(command)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    wait_port(port).await;
    init_stores(port);
    (Proc(child), port)
}

/// Creates Lait's tables and buckets in the moto at `port` (those missing).
pub fn init_stores(port: u16) {
    let init = require_env("LAIT_INIT_STORES");
    let mut parts = init.split_whitespace();
    let status = Command::new(parts.next().unwrap())
        .args(parts)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .status()
        .expect("run the store init script");
    assert!(status.success(), "store init failed");
}
