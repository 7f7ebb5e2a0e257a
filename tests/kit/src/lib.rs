//! The test kit (zero2prod's `spawn_app`): every integration suite boots its app with [`serve`]
//! on an ephemeral loopback port, against the Redis and moto that `scripts/test` starts, and
//! talks to it through [`TestApp`]'s typed calls (`user`, `session`, `follow`, `ticket`,
//! `publish`, …) or a [`Req`] (`app.put(path).by(&user).expect(204)`). Dev-only: no function
//! links it. One file (~650 lines): every suite imports the same few names from it.

use std::{
    net::SocketAddr,
    ops::{Deref, DerefMut},
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::Router;
use lait_shared::{clock::Timestamp, config::Env, runtime::Deps, signing};
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
pub fn env_with<K: AsRef<str>, V: AsRef<str>>(overrides: &[(K, V)]) -> Env {
    for var in ["REDIS_URL", "AWS_ENDPOINT_URL"] {
        require_env(var);
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.push(("LAIT_TRUST_FORWARDED_FOR".into(), "true".into()));
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())),
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

/// Boots an app as `runtime::boot` does (the test environment with `overrides`, its [`Deps`],
/// then `build`, which also gets the app's own address) and serves the router `build` returns on
/// `listener`; the rest is kept as the app's `state`.
pub async fn serve_on<S, K: AsRef<str>, V: AsRef<str>>(
    listener: tokio::net::TcpListener,
    overrides: &[(K, V)],
    build: impl FnOnce(&mut Env, Deps, SocketAddr) -> (Router, S),
) -> Served<S> {
    let addr = listener.local_addr().unwrap();
    let mut env = env_with(overrides);
    let deps = Deps::load(&mut env).await;
    let (router, state) = build(&mut env, deps, addr);
    env.finish(()).expect("test configuration");
    Served {
        app: spawn_on(router, listener),
        state,
    }
}

/// [`serve_on`] an ephemeral loopback port.
pub async fn serve<S>(
    overrides: &[(&str, &str)],
    build: impl FnOnce(&mut Env, Deps, SocketAddr) -> (Router, S),
) -> Served<S> {
    let (listener, _) = listener().await;
    serve_on(listener, overrides, build).await
}

/// A served app and what a suite keeps of its insides (its `State`, the gateway, …); it is used
/// as the [`TestApp`] it derefs to.
pub struct Served<S> {
    pub app: TestApp,
    pub state: S,
}

impl<S> Deref for Served<S> {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl<S> DerefMut for Served<S> {
    fn deref_mut(&mut self) -> &mut TestApp {
        &mut self.app
    }
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

/// A logged-in session's tokens.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
}

impl Session {
    /// The tokens of a login or refresh response, which must be a 200.
    pub async fn granted(res: Response) -> Self {
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let token = |name: &str| body[name].as_str().expect(name).to_owned();
        Self {
            access: token("access_token"),
            refresh: token("refresh_token"),
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    /// A request to `path`, from this client's address; see [`Req`].
    pub fn req(&self, method: Method, path: impl Into<String>) -> Req {
        let path = path.into();
        let inner = self
            .http
            .request(method.clone(), self.url(&path))
            .header("x-forwarded-for", &self.ip);
        Req {
            method,
            path,
            inner,
        }
    }

    pub fn get(&self, path: impl Into<String>) -> Req {
        self.req(Method::GET, path)
    }

    pub fn post(&self, path: impl Into<String>) -> Req {
        self.req(Method::POST, path)
    }

    pub fn put(&self, path: impl Into<String>) -> Req {
        self.req(Method::PUT, path)
    }

    pub fn patch(&self, path: impl Into<String>) -> Req {
        self.req(Method::PATCH, path)
    }

    pub fn delete(&self, path: impl Into<String>) -> Req {
        self.req(Method::DELETE, path)
    }

    /// A request as `user` (None: anonymous), with this client's address.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> Response {
        self.req(method, path).by(user).body(body).send().await
    }

    /// GET that must answer 200; its JSON.
    pub async fn get_json(&self, path: &str, user: Option<&User>) -> Value {
        self.get(path).by(user).expect(200).await
    }

    pub async fn signup(&self, email: &str, nickname: &str, password: &str) -> Response {
        let body = json!({"email": email, "nickname": nickname, "password": password});
        self.post("/api/auth/signup").json(body).send().await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password});
        self.post("/api/auth/login").json(body).send().await
    }

    /// Logs in; the session's tokens.
    pub async fn session(&self, email: &str, password: &str) -> Session {
        Session::granted(self.login(email, password).await).await
    }

    /// Exchanges a refresh token (in the body).
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.with_refresh_token("/api/auth/refresh", refresh_token)
            .await
    }

    /// Exchanges a refresh token that must still be good; the new session.
    pub async fn refreshed(&self, refresh_token: &str) -> Session {
        Session::granted(self.refresh(refresh_token).await).await
    }

    /// Ends the session of a refresh token (in the body).
    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.with_refresh_token("/api/auth/logout", refresh_token)
            .await
    }

    async fn with_refresh_token(&self, path: &str, refresh_token: &str) -> Response {
        let body = json!({"refresh_token": refresh_token});
        self.post(path).json(body).send().await
    }

    /// The status `GET /api/users/me` answers with this access token.
    pub async fn me_status(&self, access_token: &str) -> u16 {
        self.get("/api/users/me")
            .bearer(access_token)
            .status()
            .await
    }

    /// Signs up a fresh user; (email, password, the user's JSON).
    pub async fn new_user(&self) -> (String, String, Value) {
        let email = format!("{}@example.com", unique("u"));
        let res = self.signup(&email, &unique("n"), PASSWORD).await;
        (
            email,
            PASSWORD.to_owned(),
            expect_json(res, 201, "sign-up").await,
        )
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
        let u = expect_json(res, 201, "sign-up").await;
        let res = signup(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .unwrap();
        let s = expect_json(res, 200, "log-in").await;
        User {
            id: u["id"].as_str().unwrap().into(),
            channel_id: u["channel_id"].as_str().unwrap().into(),
            token: s["access_token"].as_str().unwrap().into(),
            nickname,
            email,
        }
    }

    /// `N` fresh users ([`Self::user`]).
    pub async fn users<const N: usize>(&self) -> [User; N] {
        let mut users = Vec::with_capacity(N);
        for _ in 0..N {
            users.push(self.user().await);
        }
        users.try_into().unwrap()
    }

    pub async fn follow(&self, user: &User, channel: &str) -> Response {
        let path = format!("/api/channels/{channel}/follow");
        self.put(path).by(user).send().await
    }

    pub async fn unfollow(&self, user: &User, channel: &str) -> Response {
        let path = format!("/api/channels/{channel}/follow");
        self.delete(path).by(user).send().await
    }

    /// A channel's public view (anonymous).
    pub async fn channel(&self, channel: &str) -> Value {
        self.get_json(&format!("/api/channels/{channel}"), None)
            .await
    }

    /// A live's public view.
    pub async fn live(&self, live_id: &str) -> Value {
        self.get_json(&format!("/api/lives/{live_id}"), None).await
    }

    /// The live directory's first hundred.
    pub async fn lives(&self) -> Value {
        self.get_json("/api/lives?limit=100", None).await
    }

    /// A chat ticket for `user` in `channel`: (status, body).
    pub async fn ticket(&self, user: &User, channel: &str) -> (u16, Value) {
        let body = json!({"channel_id": channel});
        self.post("/api/chat/tickets")
            .by(user)
            .json(body)
            .answer()
            .await
    }

    /// The owner's stream key.
    pub async fn stream_key(&self, user: &User) -> String {
        self.get_json("/api/channels/mine", Some(user)).await["stream_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Rotates the owner's stream key; the new key.
    pub async fn rotate_key(&self, user: &User) -> String {
        let path = "/api/channels/mine/stream-key";
        self.post(path).by(user).expect(200).await["stream_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A media-node request signed with `LAIT_MEDIA_SECRET` (at `ts`, default now).
    pub async fn signed(&self, path: &str, body: &Value, ts: Option<Timestamp>) -> Response {
        let ts = ts.unwrap_or_else(Timestamp::now);
        let secret = require_env("LAIT_MEDIA_SECRET");
        self.signed_with(secret.as_bytes(), path, body, ts)
            .send()
            .await
            .unwrap()
    }

    /// A media-node request signed with `secret` at `ts`, not sent.
    pub fn signed_with(
        &self,
        secret: &[u8],
        path: &str,
        body: &Value,
        ts: Timestamp,
    ) -> reqwest::RequestBuilder {
        let body = serde_json::to_vec(body).unwrap();
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json");
        for (name, value) in signing::headers(secret, ts, "POST", path, &body) {
            req = req.header(name, value);
        }
        req.body(body)
    }

    /// A signed media-node hook (as a node sends it now): its status and JSON body.
    pub async fn hook(&self, path: &str, body: Value) -> (u16, Value) {
        status_of(self.signed(path, &body, None).await).await
    }

    /// Publishes with `key` and, as a media node does once the playlists are up, reports the
    /// live ready; the live id.
    pub async fn publish(&self, key: &str) -> String {
        let live_id = self.publish_unready(key).await;
        self.ready(&live_id).await;
        live_id
    }

    /// Puts `owner`'s channel live and ready ([`Self::publish`] with their key); the live id.
    pub async fn start_live(&self, owner: &User) -> String {
        self.publish(&self.stream_key(owner).await).await
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

/// A request being built: `app.put(path).by(&user).json(body)`, then one of the ways to send it
/// (`send`, `status`, `answer`, `problem`, `expect`).
pub struct Req {
    method: Method,
    path: String,
    inner: reqwest::RequestBuilder,
}

impl Req {
    /// As `user`'s bearer token; `None` leaves the request anonymous.
    pub fn by<'u>(self, user: impl Into<Option<&'u User>>) -> Self {
        match user.into() {
            Some(u) => self.bearer(&u.token),
            None => self,
        }
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.inner = self.inner.bearer_auth(token);
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.inner = self.inner.json(&body);
        self
    }

    /// A JSON body when there is one.
    pub fn body(self, body: Option<Value>) -> Self {
        match body {
            Some(b) => self.json(b),
            None => self,
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.inner = self.inner.header(name, value.as_ref());
        self
    }

    pub async fn send(self) -> Response {
        self.inner.send().await.unwrap()
    }

    pub async fn status(self) -> u16 {
        self.send().await.status().as_u16()
    }

    /// Status and JSON body (Null when there is none).
    pub async fn answer(self) -> (u16, Value) {
        status_of(self.send().await).await
    }

    /// A problem+json answer: its status and body.
    pub async fn problem(self) -> (u16, Value) {
        problem(self.send().await).await
    }

    /// Sends; the answer must be `status`. Its JSON body (Null when there is none).
    pub async fn expect(self, status: u16) -> Value {
        let what = format!("{} {}", self.method, self.path);
        let (got, body) = self.answer().await;
        assert_eq!(got, status, "{what}: {body}");
        body
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

/// The fields a validation problem names, in order.
pub fn invalid_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
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

/// The JSON body of an answer that must have `status`; otherwise a panic that shows the answer.
async fn expect_json(res: Response, status: u16, what: &str) -> Value {
    let got = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what} answered {got}: {body}");
    serde_json::from_str(&body).unwrap()
}
