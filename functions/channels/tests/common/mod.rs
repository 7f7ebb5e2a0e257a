//! Serves auth + channels on loopback against the real Redis and moto started by scripts/test.
#![allow(dead_code)]

use std::net::SocketAddr;

use lait_shared::{config::Env, runtime::Deps, signing};
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

pub struct Api {
    pub base: String,
    pub http: Client,
    pub state: lait_channels::State,
    pub ip: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub fn random_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

pub async fn start(overrides: &[(&str, &str)]) -> Api {
    for var in [
        "REDIS_URL",
        "AWS_ENDPOINT_URL",
        "LAIT_JWT_SECRET",
        "LAIT_MEDIA_SECRET",
    ] {
        assert!(
            std::env::var(var).is_ok(),
            "{var} is not set: run the tests through scripts/test"
        );
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.push(("LAIT_TRUST_FORWARDED_FOR".into(), "true".into()));
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let mut env = Env::from_pairs(vars);
    let deps = Deps::load(&mut env).await;
    let auth = lait_auth::State::new(&mut env, deps.clone());
    let state = lait_channels::State::new(&mut env, deps.clone());
    env.finish(()).expect("test configuration");
    let router = lait_auth::router(auth).merge(lait_channels::router(state.clone()));
    let app = lait_shared::http::finish(router, &deps.http);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Api {
        base: format!("http://{addr}"),
        http: Client::new(),
        state,
        ip: random_ip(),
        task,
    }
}

/// A signed-up, logged-in user.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub channel_id: String,
    pub token: String,
    pub nickname: String,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn user(&self) -> User {
        let email = format!("{}@example.com", unique("c"));
        let nickname = unique("ch");
        let res = self
            .http
            .post(self.url("/api/auth/signup"))
            .header("x-forwarded-for", random_ip())
            .json(
                &json!({"email": email, "nickname": nickname, "password": "correct horse battery"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let u: Value = res.json().await.unwrap();
        let s: Value = self
            .http
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", random_ip())
            .json(&json!({"email": email, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        User {
            id: u["id"].as_str().unwrap().into(),
            channel_id: u["channel_id"].as_str().unwrap().into(),
            token: s["access_token"].as_str().unwrap().into(),
            nickname,
        }
    }

    /// A request as `user` (None: anonymous).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("x-forwarded-for", &self.ip);
        if let Some(u) = user {
            req = req.bearer_auth(&u.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str, user: Option<&User>) -> Value {
        let res = self.call(Method::GET, path, user, None).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn stream_key(&self, user: &User) -> String {
        self.get_json("/api/channels/mine", Some(user)).await["stream_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A media-node request with a valid signature (or the given timestamp).
    pub async fn signed(&self, path: &str, body: &Value, ts: Option<i64>) -> Response {
        let body = serde_json::to_vec(body).unwrap();
        let ts = ts.unwrap_or_else(lait_shared::clock::now_secs);
        let secret = std::env::var("LAIT_MEDIA_SECRET").unwrap();
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
    /// live ready; returns the live id.
    pub async fn publish(&self, key: &str) -> String {
        let live_id = self.publish_unready(key).await;
        self.ready(&live_id).await;
        live_id
    }

    /// Publishes with `key` (the live is not playable yet); returns the live id.
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

pub async fn status_of(res: Response) -> (u16, Value) {
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}
