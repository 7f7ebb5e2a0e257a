//! Chat end to end through lait-local: real WebSocket clients, real Redis and moto, tickets from
//! chat-api, chat-ws behind the gateway's API Gateway emulation.

mod common;

use std::{collections::VecDeque, time::Duration};

use common::*;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message},
};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

struct Stack {
    app: Server,
    /// The environment the app was started with, for out-of-band functions (the sweep).
    env: Vec<(String, String)>,
}

impl Stack {
    async fn new(overrides: &[(&str, &str)]) -> Self {
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
    async fn sweep(&self) -> usize {
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

    /// The owner's room with a raised rate limit, `senders` signed-in clients and `readers`
    /// anonymous ones.
    async fn busy_room(&self, senders: usize, readers: usize) -> (Vec<Client>, Vec<Client>) {
        let owner = self.user().await;
        let ch = owner.channel_id.clone();
        let (status, _) = self
            .call(
                Method::PATCH,
                &format!("/api/channels/{ch}/chat/settings"),
                Some(&owner),
                Some(json!({"messages_per_second": 50, "burst": 100})),
            )
            .await;
        assert_eq!(status, 200);
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

    async fn user(&self) -> User {
        self.app.user().await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> (u16, Value) {
        status_of(self.app.call(method, path, user, body).await).await
    }

    /// Puts `owner`'s channel live as a media node would (publish hook); returns the live id.
    async fn go_live(&self, owner: &User) -> String {
        let key = self.app.stream_key(owner).await;
        self.app.publish_unready(&key).await
    }

    /// A media-node hook, signed like the agent signs it.
    async fn signed(&self, path: &str, body: Value) -> (u16, Value) {
        status_of(self.app.signed(path, &body, None).await).await
    }

    async fn ticket(&self, user: &User, channel: &str) -> String {
        let (status, body) = self.app.ticket(user, channel).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["expires_in"], 60);
        body["ticket"].as_str().unwrap().to_owned()
    }

    /// Opens a chat connection; `Err(status)` when the handshake is refused.
    async fn connect(&self, channel: &str, ticket: Option<&str>) -> Result<Client, u16> {
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
    async fn join(&self, user: &User, channel: &str) -> Client {
        let t = self.ticket(user, channel).await;
        self.connect(channel, Some(&t)).await.expect("joined")
    }
}

/// A chat client that sorts what it receives into room events (from batches) and replies.
struct Client {
    ws: Ws,
    events: VecDeque<Value>,
    replies: VecDeque<Value>,
    frames: usize,
    next_request: u64,
}

impl Client {
    fn new(ws: Ws) -> Self {
        Self {
            ws,
            events: VecDeque::new(),
            replies: VecDeque::new(),
            frames: 0,
            next_request: 0,
        }
    }

    /// Reads one frame; `None` when the server closed the connection.
    async fn pump(&mut self) -> Option<()> {
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

    async fn send_raw(&mut self, frame: &str) {
        self.ws.send(Message::text(frame)).await.unwrap();
    }

    /// Sends a frame with a fresh `request_id` without waiting; returns the id.
    async fn submit(&mut self, mut frame: Value) -> String {
        self.next_request += 1;
        let rid = format!("r{}", self.next_request);
        frame["request_id"] = json!(rid);
        self.send_raw(&frame.to_string()).await;
        rid
    }

    /// Waits for the ack or error carrying `rid`.
    async fn reply_to(&mut self, rid: &str) -> Value {
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
    async fn request(&mut self, frame: Value) -> Value {
        let rid = self.submit(frame).await;
        self.reply_to(&rid).await
    }

    async fn say(&mut self, text: &str) -> Value {
        self.request(json!({"action": "send", "text": text})).await
    }

    /// Sends and expects an ack; returns the message id.
    async fn say_ok(&mut self, text: &str) -> String {
        let r = self.say(text).await;
        assert_eq!(r["type"], "ack", "{r}");
        r["id"].as_str().unwrap().to_owned()
    }

    /// The next reply not tied to a request.
    async fn reply(&mut self) -> Value {
        loop {
            if let Some(r) = self.replies.pop_front() {
                return r;
            }
            self.pump().await.expect("connection open");
        }
    }

    /// Waits until `n` room events of type `kind` have arrived; returns them (and drops them
    /// from the buffer together with any other events before them).
    async fn take(&mut self, kind: &str, n: usize) -> Vec<Value> {
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
    async fn closed(&mut self) -> bool {
        loop {
            if self.pump().await.is_none() {
                return true;
            }
        }
    }

    /// No room event arrives within `d`.
    async fn quiet(&mut self, d: Duration) -> bool {
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
    async fn arrived(&mut self, kind: &str, d: Duration) -> usize {
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

fn texts(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["text"].as_str().unwrap()).collect()
}

/// A message id as the pair of integers it compares as.
fn id_key(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// Asserts `got` is in id order without repeats, and the same sequence as every other client's.
fn assert_in_order_once(got: &[String], reference: &mut Option<Vec<String>>) {
    let mut sorted = got.to_vec();
    sorted.sort_by_key(|id| id_key(id));
    sorted.dedup();
    assert_eq!(got, sorted, "in id order, no duplicates");
    match reference {
        None => *reference = Some(got.to_vec()),
        Some(want) => assert_eq!(got, want.as_slice(), "every client sees the same sequence"),
    }
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_users_chat_in_order_and_anonymous_reads_only() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let ch = owner.channel_id.clone();
    let mut a = s.join(&owner, &ch).await;
    let mut b = s.join(&viewer, &ch).await;
    let mut anon = s.connect(&ch, None).await.unwrap();

    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(a.say_ok(&format!("from a {i}")).await);
        sent.push(b.say_ok(&format!("from b {i}")).await);
    }
    for c in [&mut a, &mut b, &mut anon] {
        let got = c.take("message", 6).await;
        assert_eq!(
            ids(&got),
            sent,
            "every client gets every message once, in id order"
        );
        assert_eq!(
            texts(&got),
            [
                "from a 0", "from b 0", "from a 1", "from b 1", "from a 2", "from b 2"
            ]
        );
        assert!(c.quiet(Duration::from_millis(300)).await, "no duplicates");
    }
    // The message shape.
    let m = {
        let id = b.say_ok("shape").await;
        let got = anon.take("message", 1).await.remove(0);
        assert_eq!(got["id"], id);
        got
    };
    assert_eq!(m["channel_id"], ch);
    assert_eq!(m["user"]["id"], viewer.id);
    assert!(m["user"]["nickname"].is_string());
    assert_eq!(m["user"]["badges"], json!([]));
    assert!(m["ts"].as_str().unwrap().ends_with('Z'));
    let owner_msg = {
        a.say_ok("by the owner").await;
        anon.take("message", 1).await.pop().unwrap()
    };
    assert_eq!(owner_msg["user"]["badges"], json!(["owner"]));

    // Anonymous: reads, cannot send or moderate.
    let r = anon.say("hello?").await;
    assert_eq!(r["type"], "error");
    assert_eq!(r["code"], "forbidden");
    assert_eq!(r["action"], "send");
    let r = anon.request(json!({"action": "clear"})).await;
    assert_eq!(r["code"], "forbidden");
    let h = anon.request(json!({"action": "history", "limit": 3})).await;
    assert_eq!(h["type"], "history");
    assert_eq!(
        texts(h["messages"].as_array().unwrap()),
        ["from b 2", "shape", "by the owner"]
    );

    // Viewer counts are distinct connections, cluster-wide in Redis, and the directory shows
    // them once the channel is live.
    let live_id = s.go_live(&owner).await;
    let (status, _) = s
        .signed(
            "/internal/media/heartbeat",
            json!({"live_id": live_id, "health": {"ready": true}}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, lives) = s
        .call(Method::GET, "/api/lives?limit=100", None, None)
        .await;
    let listed = lives["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == live_id.as_str())
        .cloned();
    assert_eq!(
        listed.map(|l| l["viewer_count"].clone()),
        Some(json!(3)),
        "{lives}"
    );
    let viewers = redis_get(&format!("viewers:{ch}")).await;
    assert_eq!(viewers.as_deref(), Some("3"));
    drop(anon);
    let mut left = false;
    for _ in 0..50 {
        if redis_get(&format!("viewers:{ch}")).await.as_deref() == Some("2") {
            left = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left, "a closed connection leaves the count");
}

async fn redis_get(key: &str) -> Option<String> {
    let client = redis::Client::open(require_env("REDIS_URL")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn tickets_are_single_use_short_lived_and_per_channel() {
    let s = Stack::new(&[("LAIT_CHAT_TICKET_SECS", "1")]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let ch = owner.channel_id.clone();

    let (status, body) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&viewer),
            Some(json!({"channel_id": ch})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 1);
    // What the ticket grants, for the client's badges and tools: a viewer sends, no more.
    assert_eq!(body["user"]["id"], viewer.id.as_str());
    assert_eq!(body["user"]["badges"], json!([]));
    assert_eq!(
        body["capabilities"],
        json!({"send": true, "moderate": false})
    );
    let (_, owners) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&owner),
            Some(json!({"channel_id": ch})),
        )
        .await;
    assert_eq!(owners["user"]["badges"], json!(["owner"]));
    assert_eq!(owners["capabilities"]["moderate"], true);
    let t = body["ticket"].as_str().unwrap();
    assert!(t.len() >= 40, "a long random secret");
    let first = s.connect(&ch, Some(t)).await;
    assert!(first.is_ok());
    assert_eq!(
        s.connect(&ch, Some(t)).await.err(),
        Some(403),
        "reuse refused"
    );

    let (_, body) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&viewer),
            Some(json!({"channel_id": ch})),
        )
        .await;
    let t = body["ticket"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        s.connect(&ch, Some(&t)).await.err(),
        Some(403),
        "expired refused"
    );

    // A ticket is for one channel.
    let (_, body) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&viewer),
            Some(json!({"channel_id": ch})),
        )
        .await;
    let t = body["ticket"].as_str().unwrap().to_owned();
    assert_eq!(
        s.connect(&viewer.channel_id, Some(&t)).await.err(),
        Some(403)
    );

    // Bad requests.
    assert_eq!(s.connect("nope", None).await.err(), Some(400));
    assert_eq!(
        s.connect(&uuid::Uuid::now_v7().to_string(), None)
            .await
            .err(),
        Some(404)
    );
    let (status, _) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            None,
            Some(json!({"channel_id": ch})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&viewer),
            Some(json!({"channel_id": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&viewer),
            Some(json!({"channel_id": uuid::Uuid::now_v7().to_string()})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn each_refusal_has_its_error_event() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let modr = s.user().await;
    let ch = owner.channel_id.clone();
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/channels/{ch}/moderators/{}", modr.id),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut o = s.join(&owner, &ch).await;
    let mut v = s.join(&viewer, &ch).await;
    let mut md = s.join(&modr, &ch).await;

    // Too long: 501 code points. Empty after cleaning: bad_request.
    let r = v.say(&"가".repeat(501)).await;
    assert_eq!(r["code"], "too_long", "{r}");
    let r = v.say(" \u{200B} ").await;
    assert_eq!(r["code"], "bad_request");

    // Duplicate text within 30 s (compared after folding).
    v.say_ok("same thing").await;
    let r = v.say("SAME  thing").await;
    assert_eq!(r["code"], "duplicate", "{r}");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 0);

    // Token bucket: burst 5 (one already spent above), then rate_limited with a retry hint.
    let mut codes = Vec::new();
    for i in 0..6 {
        let r = v.say(&format!("burst {i}")).await;
        codes.push(
            r["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| "ok".into()),
        );
    }
    assert_eq!(codes[..4], ["ok", "ok", "ok", "ok"], "{codes:?}");
    assert!(codes[4..].iter().all(|c| c == "rate_limited"), "{codes:?}");
    let r = v.say("one more").await;
    assert_eq!(r["code"], "rate_limited");
    let retry = r["retry_after_ms"].as_u64().unwrap();
    assert!((1..=1000).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_millis(retry + 50)).await;
    v.say_ok("after waiting").await;

    // Masked by default: the global list, through a fullwidth + spacing evasion.
    o.say_ok("what the ｆ ｕ ｃ ｋ").await;
    let got = v.take("message", 7).await;
    assert_eq!(got.last().unwrap()["text"], "what the * * * *");

    // A channel's own word and `reject`: refused with `filtered`, zero-width evasion included.
    let path = format!("/api/channels/{ch}/chat/words");
    let (status, body) = s
        .call(
            Method::PUT,
            &path,
            Some(&owner),
            Some(json!({"words": ["Badword"], "action": "reject"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"words": ["badword"], "action": "reject"}));
    let mut o2 = s.join(&owner, &ch).await;
    for evasion in [
        "BADWORD",
        "b a d w o r d",
        "bad\u{200B}word",
        "ｂａｄｗｏｒｄ!",
    ] {
        let r = o2.say(evasion).await;
        assert_eq!(r["code"], "filtered", "{evasion}: {r}");
    }
    assert!(
        v.quiet(Duration::from_millis(300)).await,
        "refused messages go nowhere"
    );
    // Non-moderators cannot edit the list.
    let (status, _) = s
        .call(
            Method::POST,
            &path,
            Some(&viewer),
            Some(json!({"word": "x"})),
        )
        .await;
    assert_eq!(status, 403);

    // Slow mode: the owner turns it on; a viewer waits, the owner is exempt.
    let r = o.request(json!({"action": "slow", "seconds": 30})).await;
    assert_eq!(r["type"], "ack", "{r}");
    let ev = v.take("slow_mode", 1).await;
    assert_eq!(ev[0]["seconds"], 30);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    v.say_ok("slow 1").await;
    let r = v.say("slow 2").await;
    assert_eq!(r["code"], "slow_mode", "{r}");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 25_000);
    o.say_ok("owner 1").await;
    o.say_ok("owner 2").await;
    md.say_ok("moderator 1").await;
    md.say_ok("moderator 2").await;
    let r = o.request(json!({"action": "slow", "seconds": 3601})).await;
    assert_eq!(r["code"], "bad_request");

    // Malformed frames: each answered, never a crash.
    v.send_raw("{not json").await;
    assert_eq!(v.reply().await["code"], "bad_request");
    v.send_raw(r#"{"action":"fly"}"#).await;
    let r = v.reply().await;
    assert_eq!(r["code"], "bad_request");
    assert!(r["message"].as_str().unwrap().contains("fly"));
    v.send_raw(r#"{"text":"no action"}"#).await;
    assert_eq!(v.reply().await["code"], "bad_request");
    v.send_raw("[1,2]").await;
    assert_eq!(v.reply().await["code"], "bad_request");
    let r = v.request(json!({"action": "send"})).await;
    assert_eq!(r["code"], "bad_request");
    assert!(r["message"].as_str().unwrap().contains("text"));
    let r = v.request(json!({"action": "send", "text": 5})).await;
    assert_eq!(r["code"], "bad_request");
    let r = v
        .request(json!({"action": "history", "after": "yesterday"}))
        .await;
    assert_eq!(r["code"], "bad_request");
    let r = v.request(json!({"action": "history", "limit": 0})).await;
    assert_eq!(r["code"], "bad_request");
    v.ws.send(Message::binary(vec![0u8, 159, 146, 150]))
        .await
        .unwrap();
    assert_eq!(v.reply().await["code"], "bad_request");
    let r = v.request(json!({"action": "ping"})).await;
    assert_eq!(r["type"], "pong");
}

#[tokio::test]
async fn moderation_ban_timeout_delete_clear_and_audit() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let other = s.user().await;
    let modr = s.user().await;
    let ch = owner.channel_id.clone();
    let (status, _) = s
        .call(
            Method::PUT,
            &format!("/api/channels/{ch}/moderators/{}", modr.id),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let mut o = s.join(&owner, &ch).await;
    let mut v = s.join(&viewer, &ch).await;
    let mut x = s.join(&other, &ch).await;
    let mut m = s.join(&modr, &ch).await;

    // A non-moderator's moderation frames are refused before anything else is looked at.
    for frame in [
        json!({"action": "ban", "user_id": viewer.id}),
        json!({"action": "ban"}),
        json!({"action": "delete", "message_id": "nope"}),
        json!({"action": "timeout", "user_id": viewer.id, "seconds": 60}),
        json!({"action": "slow", "seconds": 5}),
        json!({"action": "clear"}),
        json!({"action": "unban", "user_id": viewer.id}),
    ] {
        let r = x.request(frame.clone()).await;
        assert_eq!(r["code"], "forbidden", "{frame}: {r}");
    }

    // Delete reaches every client and hides the message from history.
    let keep = v.say_ok("keep me").await;
    let gone = v.say_ok("delete me").await;
    for c in [&mut o, &mut v, &mut x] {
        c.take("message", 2).await;
    }
    let r = m
        .request(json!({"action": "delete", "message_id": gone}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    for c in [&mut o, &mut v, &mut x] {
        let d = c.take("deleted", 1).await;
        assert_eq!(d[0]["message_id"], gone);
    }
    let h = x.request(json!({"action": "history", "limit": 10})).await;
    assert_eq!(ids(h["messages"].as_array().unwrap()), vec![keep.clone()]);
    let (_, page) = s
        .call(Method::GET, &format!("/api/channels/{ch}/chat"), None, None)
        .await;
    assert_eq!(
        ids(page["messages"].as_array().unwrap()),
        vec![keep.clone()]
    );
    let r = m
        .request(json!({"action": "delete", "message_id": "1-0"}))
        .await;
    assert_eq!(r["code"], "not_found");

    // Nobody moderates the owner; a moderator does not moderate another moderator.
    let r = m
        .request(json!({"action": "ban", "user_id": owner.id}))
        .await;
    assert_eq!(r["code"], "forbidden");

    // Timeout: the user cannot send until it ends.
    let r = m
        .request(json!({"action": "timeout", "user_id": other.id, "seconds": 600}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    let t = o.take("user_timed_out", 1).await;
    assert_eq!(t[0]["user_id"], other.id);
    let r = x.say("can I?").await;
    assert_eq!(r["code"], "timed_out", "{r}");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 590_000);

    // Ban: the banned user's sockets close, new tickets and reconnects are refused.
    let pre_ban_ticket = s.ticket(&viewer, &ch).await;
    let mut v2 = s.join(&viewer, &ch).await;
    let r = o
        .request(json!({"action": "ban", "user_id": viewer.id, "reason": "spam"}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    assert!(v.closed().await, "first socket closed");
    assert!(v2.closed().await, "second socket closed");
    assert_eq!(s.connect(&ch, Some(&pre_ban_ticket)).await.err(), Some(403));
    let (status, body) = s
        .call(
            Method::POST,
            "/api/chat/tickets",
            Some(&viewer),
            Some(json!({"channel_id": ch})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let b = m.take("user_banned", 1).await;
    assert_eq!(b[0]["user_id"], viewer.id);
    // Still readable anonymously, like any viewer.
    assert!(s.connect(&ch, None).await.is_ok());

    let (status, bans) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat/bans"),
            Some(&modr),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(bans["items"][0]["user_id"], viewer.id);
    assert_eq!(bans["items"][0]["reason"], "spam");
    assert_eq!(bans["items"][0]["by"], owner.id);
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat/bans"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 403);

    // Unban lets them back in.
    let r = m
        .request(json!({"action": "unban", "user_id": viewer.id}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    let mut v3 = s.join(&viewer, &ch).await;
    v3.say_ok("back").await;

    // Clear hides everything before it.
    let r = o.request(json!({"action": "clear"})).await;
    assert_eq!(r["type"], "ack");
    x.take("cleared", 1).await;
    let h = x.request(json!({"action": "history", "limit": 50})).await;
    assert_eq!(h["messages"], json!([]));
    let (_, page) = s
        .call(Method::GET, &format!("/api/channels/{ch}/chat"), None, None)
        .await;
    assert_eq!(page["messages"], json!([]));

    // The audit log: the owner reads every action, a moderator may not.
    let (status, log) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat/audit"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["clear", "unban", "ban", "timeout", "delete"]);
    assert_eq!(log["items"][2]["actor"], owner.id);
    assert_eq!(log["items"][2]["target_user"], viewer.id);
    assert_eq!(log["items"][4]["actor"], modr.id);
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat/audit"),
            Some(&modr),
            None,
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn reconnect_with_the_last_id_replays_exactly_the_missed_messages() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut v = s.join(&viewer, &ch).await;
    o.say_ok("seen 1").await;
    o.say_ok("seen 2").await;
    let seen = v.take("message", 2).await;
    let last = seen[1]["id"].as_str().unwrap().to_owned();
    drop(v);

    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(o.say_ok(&format!("missed {i}")).await);
    }
    let mut v = s.join(&viewer, &ch).await;
    let h = v.request(json!({"action": "history", "after": last})).await;
    assert_eq!(h["type"], "history", "{h}");
    assert_eq!(ids(h["messages"].as_array().unwrap()), missed);
    assert_eq!(h["more"], false);
    // With a limit, `more` says there is another page.
    let h = v
        .request(json!({"action": "history", "after": last, "limit": 2}))
        .await;
    assert_eq!(ids(h["messages"].as_array().unwrap()), missed[..2]);
    assert_eq!(h["more"], true);
}

#[tokio::test]
async fn history_survives_a_redis_flush_through_the_archive() {
    let (_redis, port) = own_redis().await;
    let url = format!("redis://127.0.0.1:{port}");
    let s = Stack::new(&[("REDIS_URL", &url)]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(o.say_ok(&format!("durable {i}")).await);
    }
    o.take("message", 5).await;

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();

    let (status, page) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat?limit=3"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(page["messages"].as_array().unwrap()), sent[2..]);
    let before = page["next_before"].as_str().unwrap();
    assert_eq!(before, sent[2]);
    let (_, older) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat?before={before}&limit=3"),
            None,
            None,
        )
        .await;
    assert_eq!(ids(older["messages"].as_array().unwrap()), sent[..2]);
    assert!(older.get("next_before").is_none());

    // The old connection's registration went with Redis: it is told to reconnect and closed.
    let r = o.say("still there?").await;
    assert_eq!(r["code"], "reconnect", "{r}");
    assert!(o.closed().await);

    // The resume path too, and new messages keep ids after the old ones.
    let mut o = s.join(&owner, &ch).await;
    let h = o
        .request(json!({"action": "history", "after": sent[1]}))
        .await;
    assert_eq!(ids(h["messages"].as_array().unwrap()), sent[2..]);
    let next = o.say_ok("after the flush").await;
    assert!(id_key(&next) > id_key(&sent[4]));
    let got = o.take("message", 1).await;
    assert_eq!(
        got[0]["id"], next,
        "only the new message is delivered, not old history"
    );

    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/channels/{ch}/chat?before=zzz"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn batches_deliver_every_message_once_in_order_under_load() {
    let s = Stack::new(&[("LAIT_CHAT_FLUSH_WINDOW_MS", "50")]).await;
    let (mut senders, mut readers) = s.busy_room(4, 5).await;
    // Senders fire without waiting for acks, all at once.
    let per = 25;
    let mut requests = Vec::new();
    for (i, c) in senders.iter_mut().enumerate() {
        let mut mine = Vec::new();
        for j in 0..per {
            let text = format!("{i}:{j}");
            mine.push((
                c.submit(json!({"action": "send", "text": text})).await,
                text,
            ));
        }
        requests.push(mine);
    }
    let total = per * senders.len();
    let mut reference = None;
    let mut id_of = std::collections::HashMap::new();
    for r in readers.iter_mut().chain(senders.iter_mut()) {
        let got = r.take("message", total).await;
        for e in &got {
            id_of.insert(e["text"].as_str().unwrap().to_owned(), e["id"].clone());
        }
        assert_in_order_once(&ids(&got), &mut reference);
        assert!(r.quiet(Duration::from_millis(200)).await);
        assert!(
            r.frames < total,
            "batched: {} frames for {total} messages",
            r.frames
        );
    }
    // Each send is acked exactly once, with the id its message was delivered under.
    for (c, mine) in senders.iter_mut().zip(&requests) {
        for (rid, text) in mine {
            let ack = c.reply_to(rid).await;
            assert_eq!(ack["type"], "ack", "{ack}");
            assert_eq!(ack["id"], id_of[text], "{text}");
        }
        assert!(c.quiet(Duration::from_millis(200)).await);
        assert!(c.replies.is_empty(), "no second ack: {:?}", c.replies);
    }
}

#[tokio::test]
async fn a_dead_flusher_loses_nothing() {
    let (_redis, port) = own_redis().await;
    let url = format!("redis://127.0.0.1:{port}");
    let s = Stack::new(&[("REDIS_URL", &url)]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut anon = s.connect(&ch, None).await.unwrap();

    // A flusher that took the lock and died: the lock stays until its TTL.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("chat:{{{ch}}}:flush"))
        .arg("dead")
        .arg("PX")
        .arg(800)
        .query_async(&mut c)
        .await
        .unwrap();
    let rid = o
        .submit(json!({"action": "send", "text": "stranded"}))
        .await;
    assert!(
        anon.quiet(Duration::from_millis(300)).await,
        "held by the dead lock"
    );
    // Not archived yet, so not acked yet either.
    assert!(o.replies.iter().all(|r| r["request_id"] != rid));
    tokio::time::sleep(Duration::from_millis(600)).await;

    // The periodic sweep (a schedule on AWS, a timer in lait-local) finds it.
    assert_eq!(s.sweep().await, 1);
    let got = anon.take("message", 1).await;
    let ack = o.reply_to(&rid).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(got[0]["id"], ack["id"]);
    assert_eq!(s.sweep().await, 0, "nothing left");

    // Or the next message does, carrying the stranded one with it.
    let _: () = redis::cmd("SET")
        .arg(format!("chat:{{{ch}}}:flush"))
        .arg("dead")
        .arg("PX")
        .arg(300)
        .query_async(&mut c)
        .await
        .unwrap();
    let held = o.submit(json!({"action": "send", "text": "held"})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = o.say_ok("carrier").await;
    let a = o.reply_to(&held).await["id"].as_str().unwrap().to_owned();
    let got = anon.take("message", 2).await;
    assert_eq!(ids(&got), [a, b]);
}

/// The flush window spaces a room's batches; it does not delay a quiet room's message.
#[tokio::test]
async fn a_quiet_room_sends_at_once_and_a_busy_one_in_batches() {
    let s = Stack::new(&[("LAIT_CHAT_FLUSH_WINDOW_MS", "600")]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut anon = s.connect(&ch, None).await.unwrap();

    let t0 = tokio::time::Instant::now();
    o.submit(json!({"action": "send", "text": "first"})).await;
    anon.take("message", 1).await;
    let first = t0.elapsed();
    assert!(
        first < Duration::from_millis(400),
        "quiet room waited {first:?}"
    );
    assert_eq!(anon.frames, 1);

    // Three more right away: they wait for the rest of the window and go out as one batch.
    for text in ["a", "b", "c"] {
        o.submit(json!({"action": "send", "text": text})).await;
    }
    let got = anon.take("message", 3).await;
    let second = t0.elapsed();
    assert_eq!(texts(&got), ["a", "b", "c"]);
    assert_eq!(anon.frames, 2, "one batch for the three");
    assert!(
        second >= Duration::from_millis(550),
        "the next round waited out the window: {second:?}"
    );
}

/// The archive is written before anyone sees or is acked a message: while DynamoDB fails, the
/// message waits in the stream; once it is back, the next flush stores, delivers and acks it.
#[tokio::test]
async fn messages_wait_for_the_archive_and_are_acked_once_stored() {
    let (_redis, redis_port) = own_redis().await;
    let (_moto, moto_port) = own_moto().await;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let moto_url = format!("http://127.0.0.1:{moto_port}");
    let overrides = [
        ("REDIS_URL", redis_url.as_str()),
        ("AWS_ENDPOINT_URL", moto_url.as_str()),
    ];
    let s = Stack::new(&overrides).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut anon = s.connect(&ch, None).await.unwrap();
    let first = o.say_ok("stored").await;
    anon.take("message", 1).await;

    // The archive table goes away (an outage as the client sees it).
    let mut env = env_with(&overrides);
    let deps = lait_shared::runtime::Deps::load(&mut env).await;
    let table = deps.stores.table("chat");
    deps.dynamodb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let rid = o.submit(json!({"action": "send", "text": "waiting"})).await;
    assert!(
        anon.quiet(Duration::from_millis(500)).await,
        "nothing is delivered unarchived"
    );
    assert!(
        o.replies.iter().all(|r| r["request_id"] != rid),
        "nothing is acked unarchived"
    );

    // Back: the sweep (or the next sender) picks the room up from the same cursor.
    init_stores(moto_port);
    assert_eq!(s.sweep().await, 1);
    let got = anon.take("message", 1).await;
    assert_eq!(got[0]["text"], "waiting");
    let ack = o.reply_to(&rid).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["id"], got[0]["id"]);
    assert!(id_key(&first) < id_key(ack["id"].as_str().unwrap()));

    // It is in the archive: with Redis gone, history still has it.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    let (status, page) = s
        .call(Method::GET, &format!("/api/channels/{ch}/chat"), None, None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(texts(page["messages"].as_array().unwrap()), ["waiting"]);
}

#[tokio::test]
async fn oversized_frames_close_only_their_connection() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let ch = owner.channel_id.clone();
    let mut o = s.join(&owner, &ch).await;
    let mut big = s.connect(&ch, None).await.unwrap();
    let mut other = s.connect(&ch, None).await.unwrap();

    // 200 KB: over API Gateway's 128 KB message limit (and 32 KB frames), closed with 1009.
    let payload = json!({"action": "send", "text": "x".repeat(200 * 1024)}).to_string();
    let _ = big.ws.send(Message::text(payload)).await;
    let mut code = None;
    while let Ok(Some(msg)) = tokio::time::timeout(WAIT, big.ws.next()).await {
        match msg {
            Ok(Message::Close(Some(f))) => {
                code = Some(u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1009));
    // Everyone else carries on.
    let id = o.say_ok("still here").await;
    assert_eq!(other.take("message", 1).await[0]["id"], id);
}

#[tokio::test]
async fn replay_of_a_live_and_chat_settings() {
    let s = Stack::new(&[]).await;
    let owner = s.user().await;
    let viewer = s.user().await;
    let ch = owner.channel_id.clone();
    let path = format!("/api/channels/{ch}/chat/settings");
    let (status, body) = s.call(Method::GET, &path, Some(&owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"slow_seconds": 0, "messages_per_second": 1.0, "burst": 5, "filter_action": "mask"})
    );
    let (status, body) = s
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"burst": 0, "messages_per_second": 99})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    let (status, _) = s
        .call(
            Method::PATCH,
            &path,
            Some(&viewer),
            Some(json!({"burst": 2})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = s.call(Method::GET, &path, None, None).await;
    assert_eq!(status, 401);

    // Word list CRUD.
    let words = format!("/api/channels/{ch}/chat/words");
    let (status, body) = s
        .call(
            Method::POST,
            &words,
            Some(&owner),
            Some(json!({"word": "Spoiler"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["words"], json!(["spoiler"]));
    let (status, _) = s
        .call(
            Method::POST,
            &words,
            Some(&owner),
            Some(json!({"word": "!!"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("{words}/spoiler"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("{words}/spoiler"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Chat during a live is archived in the live's partition and replayed in order.
    let mut o = s.join(&owner, &ch).await;
    o.say_ok("before the live").await;
    let live_id = s.go_live(&owner).await;
    let mut during = Vec::new();
    for i in 0..3 {
        during.push(o.say_ok(&format!("live {i}")).await);
    }
    let (status, _) = s
        .signed(
            "/internal/media/unpublish",
            json!({"live_id": live_id, "duration_secs": 5.0}),
        )
        .await;
    assert_eq!(status, 204);
    o.say_ok("after the live").await;
    let (status, page) = s
        .call(
            Method::GET,
            &format!("/api/lives/{live_id}/chat?limit=2"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["channel_id"], ch);
    assert_eq!(ids(page["messages"].as_array().unwrap()), during[..2]);
    let next = page["next_after"].as_str().unwrap();
    let (_, rest) = s
        .call(
            Method::GET,
            &format!("/api/lives/{live_id}/chat?after={next}&limit=2"),
            None,
            None,
        )
        .await;
    assert_eq!(ids(rest["messages"].as_array().unwrap()), during[2..]);
    assert!(rest.get("next_after").is_none());

    // Replay of a live that does not exist.
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/lives/{}/chat", uuid::Uuid::now_v7()),
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_flusher_out_of_time_hands_over_without_losing_anything() {
    // Budget 0: every flusher sends one batch and hands the room over, as one near its Lambda
    // timeout does.
    let (_redis, port) = own_redis().await;
    let url = format!("redis://127.0.0.1:{port}");
    let s = Stack::new(&[("REDIS_URL", &url), ("LAIT_CHAT_FLUSH_BUDGET_MS", "0")]).await;
    let (mut senders, mut readers) = s.busy_room(2, 2).await;
    async fn wave(senders: &mut [Client], from: usize) {
        for (i, c) in senders.iter_mut().enumerate() {
            for j in from..from + 10 {
                c.send_raw(&json!({"action": "send", "text": format!("{i}-{j}")}).to_string())
                    .await;
            }
        }
    }
    // The first wave goes out through the senders' own flushers: each sends one round and
    // hands the room over.
    wave(&mut senders, 0).await;
    let mut after_first = Vec::new();
    for r in readers.iter_mut() {
        let n = r.arrived("message", Duration::from_secs(2)).await;
        assert!(n > 0, "the first wave's first round went out");
        after_first.push(n);
    }
    // More of the room goes out only if the room was handed over: a flusher that kept the lock
    // (or dropped the room) would leave all of the second wave to the sweep.
    wave(&mut senders, 10).await;
    for (r, n) in readers.iter_mut().zip(after_first) {
        let m = r.arrived("message", Duration::from_secs(2)).await;
        assert!(
            m > n,
            "the second wave went out before the sweep ({n} then {m})"
        );
    }
    // Whatever arrived during the last batch is the sweep's (a schedule on AWS).
    s.sweep().await;
    let mut reference = None;
    for r in readers.iter_mut() {
        let got = ids(&r.take("message", 40).await);
        assert_in_order_once(&got, &mut reference);
        assert!(r.quiet(Duration::from_millis(200)).await);
    }
}
