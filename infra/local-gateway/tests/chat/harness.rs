//! The chat suites' stack (lait-local on the test kit) and a WebSocket chat client that sorts
//! what arrives into room events and replies.
#![allow(dead_code, unused_imports)] // each feature file uses part of it

pub(crate) use std::{collections::VecDeque, time::Duration};

pub(crate) use super::common::*;
pub(crate) use futures::{SinkExt, StreamExt};
pub(crate) use reqwest::Method;
pub(crate) use serde_json::{Value, json};
pub(crate) use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message},
};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) struct Stack {
    pub(crate) app: Server,
    /// The environment the app was started with, for out-of-band functions (the sweep).
    pub(crate) env: Vec<(String, String)>,
}

impl Stack {
    pub(crate) async fn new(overrides: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("LAIT_SIGNUP_LIMIT", "10000/3600"),
            ("LAIT_CHAT_FLUSH_WINDOW_MS", "20"),
        ];
        all.extend_from_slice(overrides);
        Self {
            app: start_app(&all).await,
            env: all
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Runs the chat sweep once as its scheduled function boots (store clients and the
    /// management endpoint only); returns the rooms it flushed.
    pub(crate) async fn sweep(&self) -> usize {
        let endpoint = self.app.url("");
        let mut pairs: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("LAIT_WS_CALLBACK_URL", &endpoint));
        let mut env = env_with(&pairs);
        let clients = lait_shared::runtime::Clients::load(&mut env).await;
        let sweeper = lait_chat_ws::Sweeper::new(&mut env, clients);
        let sweeper = env.finish(sweeper).expect("sweep configuration");
        sweeper.chat.sweep(&sweeper.outbox).await.unwrap()
    }

    /// A stack on a private redis-server (for tests that flush it), with `overrides`; the server
    /// (stopped when dropped) and its URL.
    pub(crate) async fn on_own_redis(overrides: &[(&str, &str)]) -> (Self, Proc, String) {
        let (redis, port) = own_redis().await;
        let url = format!("redis://127.0.0.1:{port}");
        let mut all = vec![("REDIS_URL", url.as_str())];
        all.extend_from_slice(overrides);
        (Self::new(&all).await, redis, url)
    }

    /// A fresh owner's room: the owner, the channel, the owner joined and an anonymous reader.
    pub(crate) async fn room(&self) -> (User, String, Client, Client) {
        let owner = self.user().await;
        let ch = owner.channel_id.clone();
        let joined = self.join(&owner, &ch).await;
        let anonymous = self.connect(&ch, None).await.unwrap();
        (owner, ch, joined, anonymous)
    }

    /// The owner's room with a raised rate limit, `senders` signed-in clients and `readers`
    /// anonymous ones.
    pub(crate) async fn busy_room(
        &self,
        senders: usize,
        readers: usize,
    ) -> (Vec<Client>, Vec<Client>) {
        let owner = self.user().await;
        let ch = owner.channel_id.clone();
        let limits = json!({"messages_per_second": 50, "burst": 100});
        let settings = self.patch(format!("/api/channels/{ch}/chat/settings"));
        settings.by(&owner).json(limits).expect(200).await;
        let mut joined = Vec::new();
        for _ in 0..senders {
            let u = self.user().await;
            joined.push(self.join(&u, &ch).await);
        }
        let mut anonymous = Vec::new();
        for _ in 0..readers {
            anonymous.push(self.connect(&ch, None).await.unwrap());
        }
        (joined, anonymous)
    }

    /// `owner` makes `moderator` a moderator of their channel.
    pub(crate) async fn add_moderator(&self, owner: &User, moderator: &User) {
        let ch = &owner.channel_id;
        let path = format!("/api/channels/{ch}/moderators/{}", moderator.id);
        self.put(path).by(owner).expect(204).await;
    }

    /// Puts `owner`'s channel live as a media node would (publish hook); returns the live id.
    pub(crate) async fn go_live(&self, owner: &User) -> String {
        let key = self.app.stream_key(owner).await;
        self.app.publish_unready(&key).await
    }

    /// A ticket `user` is granted for `channel` (201, valid 60 s); the secret.
    pub(crate) async fn good_ticket(&self, user: &User, channel: &str) -> String {
        let (status, body) = self.app.ticket(user, channel).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["expires_in"], 60);
        body["ticket"].as_str().unwrap().to_owned()
    }

    /// Opens a chat connection; `Err(status)` when the handshake is refused.
    pub(crate) async fn connect(&self, channel: &str, ticket: Option<&str>) -> Result<Client, u16> {
        let mut query = format!("?channel={channel}");
        if let Some(t) = ticket {
            query.push_str(&format!("&ticket={t}"));
        }
        match connect_async(self.app.ws_url(&query)).await {
            Ok((ws, _)) => Ok(Client::new(ws)),
            Err(tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    /// `user` joined to `channel`'s chat.
    pub(crate) async fn join(&self, user: &User, channel: &str) -> Client {
        let t = self.good_ticket(user, channel).await;
        self.connect(channel, Some(&t)).await.expect("joined")
    }

    /// Each of `users` joined to `channel`'s chat.
    pub(crate) async fn joined<const N: usize>(
        &self,
        users: [&User; N],
        channel: &str,
    ) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for user in users {
            clients.push(self.join(user, channel).await);
        }
        clients.try_into().ok().unwrap()
    }
}

impl std::ops::Deref for Stack {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.app
    }
}

/// A chat client that sorts what it receives into room events (from batches) and replies.
pub(crate) struct Client {
    pub(crate) ws: Ws,
    pub(crate) events: VecDeque<Value>,
    pub(crate) replies: VecDeque<Value>,
    pub(crate) frames: usize,
    pub(crate) next_request: u64,
}

impl Client {
    pub(crate) fn new(ws: Ws) -> Self {
        Self {
            ws,
            events: VecDeque::new(),
            replies: VecDeque::new(),
            frames: 0,
            next_request: 0,
        }
    }

    /// Reads one frame; `None` when the server closed the connection.
    pub(crate) async fn pump(&mut self) -> Option<()> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "batch" {
                        self.frames += 1;
                        self.events
                            .extend(v["messages"].as_array().unwrap().iter().cloned());
                    } else {
                        self.replies.push_back(v);
                    }
                    return Some(());
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    pub(crate) async fn send_raw(&mut self, frame: &str) {
        self.ws.send(Message::text(frame)).await.unwrap();
    }

    /// Sends a frame with a fresh `request_id` without waiting; returns the id.
    pub(crate) async fn submit(&mut self, mut frame: Value) -> String {
        self.next_request += 1;
        let rid = format!("r{}", self.next_request);
        frame["request_id"] = json!(rid);
        self.send_raw(&frame.to_string()).await;
        rid
    }

    /// Waits for the ack or error carrying `rid`.
    pub(crate) async fn reply_to(&mut self, rid: &str) -> Value {
        loop {
            if let Some(i) = self.replies.iter().position(|r| r["request_id"] == rid) {
                return self.replies.remove(i).unwrap();
            }
            self.pump()
                .await
                .expect("connection open while waiting for a reply");
        }
    }

    /// Sends a frame with a fresh `request_id` and waits for the ack or error carrying it.
    pub(crate) async fn request(&mut self, frame: Value) -> Value {
        let rid = self.submit(frame).await;
        self.reply_to(&rid).await
    }

    pub(crate) async fn say(&mut self, text: &str) -> Value {
        self.request(json!({"action": "send", "text": text})).await
    }

    /// Sends and expects an ack; returns the message id.
    pub(crate) async fn say_ok(&mut self, text: &str) -> String {
        let r = self.say(text).await;
        assert_eq!(r["type"], "ack", "{r}");
        r["id"].as_str().unwrap().to_owned()
    }

    /// The next reply not tied to a request.
    pub(crate) async fn reply(&mut self) -> Value {
        loop {
            if let Some(r) = self.replies.pop_front() {
                return r;
            }
            self.pump().await.expect("connection open");
        }
    }

    /// Waits until `n` room events of type `kind` have arrived; returns them (and drops them
    /// from the buffer together with any other events before them).
    pub(crate) async fn take(&mut self, kind: &str, n: usize) -> Vec<Value> {
        loop {
            let count = self.events.iter().filter(|e| e["type"] == kind).count();
            if count >= n {
                let mut out = Vec::new();
                while out.len() < n {
                    let e = self.events.pop_front().unwrap();
                    if e["type"] == kind {
                        out.push(e);
                    }
                }
                return out;
            }
            self.pump()
                .await
                .expect("connection open while waiting for events");
        }
    }

    /// Whether the server closes the connection within the wait.
    pub(crate) async fn closed(&mut self) -> bool {
        loop {
            if self.pump().await.is_none() {
                return true;
            }
        }
    }

    /// No room event arrives within `d`.
    pub(crate) async fn quiet(&mut self, d: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < deadline {
            if !self.events.is_empty() {
                return false;
            }
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "batch" {
                        return false;
                    }
                    self.replies.push_back(v);
                }
                // A closed or broken connection is not a quiet one.
                Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => return false,
                Ok(Some(Ok(_))) => {}
            }
        }
        self.events.is_empty()
    }

    /// Reads what arrives within `d`; returns how many room events of type `kind` are buffered.
    pub(crate) async fn arrived(&mut self, kind: &str, d: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "batch" {
                    self.events
                        .extend(v["messages"].as_array().unwrap().iter().cloned());
                } else {
                    self.replies.push_back(v);
                }
            }
        }
        self.events.iter().filter(|e| e["type"] == kind).count()
    }
}

pub(crate) fn texts(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["text"].as_str().unwrap()).collect()
}

/// A message id as the pair of integers it compares as.
pub(crate) fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// Asserts `got` is in id order without repeats, and the same sequence as every other client's.
pub(crate) fn assert_in_order_once(got: &[String], reference: &mut Option<Vec<String>>) {
    let mut sorted = got.to_vec();
    sorted.sort_by_key(|id| id_key(id));
    sorted.dedup();
    assert_eq!(got, sorted, "in id order, no duplicates");
    match reference {
        None => *reference = Some(got.to_vec()),
        Some(want) => assert_eq!(got, want.as_slice(), "every client sees the same sequence"),
    }
}

pub(crate) fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A connection to the Redis at `url`.
pub(crate) async fn redis_at(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Empties the Redis at `url`, as a failover to a blank replica would.
pub(crate) async fn flush_redis(url: &str) {
    let mut c = redis_at(url).await;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
}

pub(crate) async fn redis_get(key: &str) -> Option<String> {
    let mut c = redis_at(&require_env("REDIS_URL")).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}
