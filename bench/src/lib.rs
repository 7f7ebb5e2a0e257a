//! What the chat tools share: accounts, tickets and WebSocket URLs over the public API, and the
//! protocol's message ids.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async_with_config,
    tungstenite::{self, protocol::WebSocketConfig},
};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

pub struct User {
    pub channel_id: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// A new account (`<prefix><i>-<tag>@example.com`), logged in.
    pub async fn user(&self, prefix: &str, i: usize) -> anyhow::Result<User> {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let email = format!("{prefix}{i}-{tag}@example.com");
        let res = self
            .http
            .post(format!("{}/api/auth/signup", self.base))
            .json(&json!({"email": email, "nickname": format!("{prefix}{i}_{tag}"), "password": "benchmark password"}))
            .send()
            .await?;
        if res.status() != 201 {
            bail!("signup: {} {}", res.status(), res.text().await?);
        }
        let u: Value = res.json().await?;
        let login: Value = self
            .http
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": "benchmark password"}))
            .send()
            .await?
            .json()
            .await?;
        Ok(User {
            channel_id: u["channel_id"].as_str().context("channel id")?.to_owned(),
            token: login["access_token"]
                .as_str()
                .context("access token")?
                .to_owned(),
        })
    }

    /// A chat ticket for `channel`, or the status it was refused with.
    pub async fn try_ticket(
        &self,
        user: &User,
        channel: &str,
    ) -> anyhow::Result<Result<String, u16>> {
        let res = self
            .http
            .post(format!("{}/api/chat/tickets", self.base))
            .bearer_auth(&user.token)
            .json(&json!({"channel_id": channel}))
            .send()
            .await?;
        if res.status() != 201 {
            return Ok(Err(res.status().as_u16()));
        }
        let v: Value = res.json().await?;
        Ok(Ok(v["ticket"].as_str().context("ticket")?.to_owned()))
    }

    pub async fn ticket(&self, user: &User, channel: &str) -> anyhow::Result<String> {
        match self.try_ticket(user, channel).await? {
            Ok(t) => Ok(t),
            Err(status) => bail!("ticket: {status}"),
        }
    }

    pub fn ws(&self, channel: &str, ticket: Option<&str>) -> String {
        let base = self.base.replacen("http", "ws", 1);
        match ticket {
            Some(t) => format!("{base}/ws?channel={channel}&ticket={t}"),
            None => format!("{base}/ws?channel={channel}"),
        }
    }
}

/// Opens a WebSocket with small read chunks: tungstenite zero-fills the whole read buffer before
/// each read.
pub async fn connect_async(
    url: &str,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let config = WebSocketConfig::default().read_buffer_size(4096);
    connect_async_with_config(url, Some(config), false).await
}

/// [`connect_async`], asking again while the gateway answers 429 (API Gateway admits 500 new
/// connections a second per account; lait-local emulates it): a bench opening thousands of
/// sockets is paced as it would be on AWS. Gives up after a minute.
pub async fn connect_admitted(
    url: &str,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match connect_async(url).await {
            Err(tungstenite::Error::Http(res))
                if res.status() == 429 && tokio::time::Instant::now() < deadline =>
            {
                let wait = 50 + rand::random::<u64>() % 200;
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            other => return other,
        }
    }
}

/// A message id `<unix ms>-<sequence>` as a pair that orders as ids do.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

pub fn format_id((ms, seq): (u64, u64)) -> String {
    format!("{ms}-{seq}")
}
