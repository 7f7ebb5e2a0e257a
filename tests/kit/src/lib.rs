//! The test kit (zero2prod's `spawn_app`): every integration suite serves its Router with
//! [`spawn`] on an ephemeral loopback port, against the Redis and moto that `scripts/test`
//! starts, and talks to it through [`TestApp`]'s typed calls (`user`, `follow`, `ticket`,
//! `publish`, …). Dev-only: no function links it.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::Router;
use lait_shared::{config::Env, signing};
use reqwest::{Client, Method, Response, header};
use serde_json::{Value, json};

pub use reqwest;

pub const PASSWORD: &str = "correct horse battery";

/// A variable `scripts/test` sets, or a panic that says to run the tests through it.
pub fn require_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test, which starts Redis and moto")
    })
}

/// The process environment with `overrides` on top. `X-Forwarded-For` is trusted, so each test
/// client can claim its own address and rate limits stay per test.
pub fn env_with(overrides: &[(&str, &str)]) -> Env {
    for var in ["REDIS_URL", "AWS_ENDPOINT_URL"] {
        require_env(var);
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.push(("LAIT_TRUST_FORWARDED_FOR".into(), "true".into()));
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Env::from_pairs(vars)
}

/// `prefix` and ten random hex digits: emails, nicknames and names no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A random 10.x.y.z address for `X-Forwarded-For`.
pub fn random_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

/// A loopback listener and its base URL, for apps whose settings name their own address.
pub async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves `router` on `listener` until the returned app is dropped.
pub fn spawn_on(router: Router, listener: tokio::net::TcpListener) -> TestApp {
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        ip: random_ip(),
        task,
    }
}

/// Serves `router` on an ephemeral loopback port.
pub async fn spawn(router: Router) -> TestApp {
    let (listener, _) = listener().await;
    spawn_on(router, listener)
}

/// A served app and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: Client,
    /// The `X-Forwarded-For` address this client claims.
    pub ip: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A signed-up, logged-in user.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub channel_id: String,
    pub token: String,
    pub nickname: String,
    pub email: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    /// A request as `user` (None: anonymous), with this client's address.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> Response {
        self.call_token(method, path, user.map(|u| u.token.as_str()), body)
            .await
    }

    /// Like [`Self::call`] with a raw bearer token.
    pub async fn call_token(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("x-forwarded-for", &self.ip);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Option<Value>) -> Response {
        self.call_token(Method::POST, path, Some(token), body).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.call_token(Method::GET, path, Some(token), None).await
    }

    /// GET that must answer 200; its JSON.
    pub async fn get_json(&self, path: &str, user: Option<&User>) -> Value {
        let res = self.call(Method::GET, path, user, None).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn signup(&self, email: &str, nickname: &str, password: &str) -> Response {
        self.post(
            "/api/auth/signup",
            json!({"email": email, "nickname": nickname, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in; the token response.
    pub async fn session(&self, email: &str, password: &str) -> Value {
        let res = self.login(email, password).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Signs up a fresh user; (email, password, the user's JSON).
    pub async fn new_user(&self) -> (String, String, Value) {
        let email = format!("{}@example.com", unique("u"));
        let res = self.signup(&email, &unique("n"), PASSWORD).await;
        assert_eq!(res.status(), 201);
        (email, PASSWORD.to_owned(), res.json().await.unwrap())
    }

    /// A fresh user, signed up and logged in (each from its own address, so sign-up limits of
    /// one test never meet another's).
    pub async fn user(&self) -> User {
        let email = format!("{}@example.com", unique("u"));
        let nickname = unique("n");
        let signup = |path: &str, body: Value| {
            self.http
                .post(self.url(path))
                .header("x-forwarded-for", random_ip())
                .json(&body)
                .send()
        };
        let res = signup(
            "/api/auth/signup",
            json!({"email": email, "nickname": nickname, "password": PASSWORD}),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 201);
        let u: Value = res.json().await.unwrap();
        let res = signup(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        let s: Value = res.json().await.unwrap();
        User {
            id: u["id"].as_str().unwrap().into(),
            channel_id: u["channel_id"].as_str().unwrap().into(),
            token: s["access_token"].as_str().unwrap().into(),
            nickname,
            email,
        }
    }

    pub async fn follow(&self, user: &User, channel: &str) -> Response {
        self.call(
            Method::PUT,
            &format!("/api/channels/{channel}/follow"),
            Some(user),
            None,
        )
        .await
    }

    /// A chat ticket for `user` in `channel`: (status, body).
    pub async fn ticket(&self, user: &User, channel: &str) -> (u16, Value) {
        let res = self
            .call(
                Method::POST,
                "/api/chat/tickets",
                Some(user),
                Some(json!({"channel_id": channel})),
            )
            .await;
        status_of(res).await
    }

    /// The owner's stream key.
    pub async fn stream_key(&self, user: &User) -> String {
        self.get_json("/api/channels/mine", Some(user)).await["stream_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A media-node request signed with `LAIT_MEDIA_SECRET` (at `ts`, default now).
    pub async fn signed(&self, path: &str, body: &Value, ts: Option<i64>) -> Response {
        let body = serde_json::to_vec(body).unwrap();
        let ts = ts.unwrap_or_else(lait_shared::clock::now_secs);
        let secret = require_env("LAIT_MEDIA_SECRET");
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json");
        for (name, value) in signing::headers(secret.as_bytes(), ts, "POST", path, &body) {
            req = req.header(name, value);
        }
        req.body(body).send().await.unwrap()
    }

    /// Publishes with `key` and, as a media node does once the playlists are up, reports the
    /// live ready; the live id.
    pub async fn publish(&self, key: &str) -> String {
        let live_id = self.publish_unready(key).await;
        self.ready(&live_id).await;
        live_id
    }

    /// Publishes with `key` (the live is not playable yet); the live id.
    pub async fn publish_unready(&self, key: &str) -> String {
        let res = self
            .signed(
                "/internal/media/publish",
                &json!({"stream_key": key, "node_id": "test-node", "client_addr": "127.0.0.1"}),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["live_id"].as_str().unwrap().to_owned()
    }

    /// The media node's heartbeat saying the live's playlists are in place.
    pub async fn ready(&self, live_id: &str) {
        let res = self
            .signed(
                "/internal/media/heartbeat",
                &json!({"live_id": live_id, "health": {"ready": true, "thumbnail": true}}),
                None,
            )
            .await;
        assert_eq!(res.status(), 200);
    }
}

/// Status and JSON body (Null when there is none).
pub async fn status_of(res: Response) -> (u16, Value) {
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// A problem+json answer: its status and body (asserting the content type).
pub async fn problem(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/problem+json",
        "status {status}"
    );
    (status, res.json().await.unwrap())
}

pub fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
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
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
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
