//! Serves the auth function on loopback against the real Redis and moto started by scripts/test.
#![allow(dead_code)]

use std::net::SocketAddr;

use lait_shared::{config::Env, runtime::Deps};
use reqwest::{Client, Response, header};
use serde_json::{Value, json};

pub struct Api {
    pub base: String,
    pub http: Client,
    /// The X-Forwarded-For address this client claims (tests trust it to isolate rate limits).
    pub ip: String,
    pub deps: Deps,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn env_with(overrides: &[(&str, &str)]) -> Env {
    for var in ["REDIS_URL", "AWS_ENDPOINT_URL", "LAIT_JWT_SECRET"] {
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
    Env::from_pairs(vars)
}

pub fn random_ip() -> String {
    let b = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", b[0], b[1], b[2])
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub async fn start(overrides: &[(&str, &str)]) -> Api {
    start_with(|_| {
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    })
    .await
}

/// Like [`start`], with settings that depend on the server's own base URL.
pub async fn start_with(overrides: impl FnOnce(&str) -> Vec<(String, String)>) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let extra = overrides(&base);
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut env = env_with(&extra);
    let deps = Deps::load(&mut env).await;
    let state = lait_auth::State::new(&mut env, deps.clone());
    env.finish(()).expect("test configuration");
    let app = lait_auth::app(state);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Api {
        base,
        http: client(),
        ip: random_ip(),
        deps,
        task,
    }
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .header("x-forwarded-for", &self.ip)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Option<Value>) -> Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("x-forwarded-for", &self.ip)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn signup(&self, email: &str, nickname: &str, password: &str) -> Response {
        self.post(
            "/api/auth/signup",
            json!({"email": email, "nickname": nickname, "password": password}),
        )
        .await
    }

    /// Signs up a fresh user; returns (email, password, user json).
    pub async fn new_user(&self) -> (String, String, Value) {
        let email = format!("{}@example.com", unique("u"));
        let password = "correct horse battery".to_owned();
        let res = self.signup(&email, &unique("n"), &password).await;
        assert_eq!(res.status(), 201);
        let user = res.json().await.unwrap();
        (email, password, user)
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in; returns the token response.
    pub async fn session(&self, email: &str, password: &str) -> Value {
        let res = self.login(email, password).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

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
