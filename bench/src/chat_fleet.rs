//! A fleet of chat clients that behave as the web app's does (web/src/chat/client.ts), for fault
//! tests: N signed-in clients spread over K rooms, each sending a message every ~`--every-ms`
//! (±1/3, one send in flight at a time: the next waits for the answer), reconnecting with backoff
//! (1 s, 2 s, 4 s … 30 s, jittered) and resuming from the last id it saw (`history` `after`) when
//! its connection drops or the server answers `reconnect`. A ticket refused with anything but
//! 401/403/404 is retried (the network or a store is down), never taken as "read-only"; a
//! `history` answered `unavailable` is asked again on the same connection after
//! `retry_after_ms`; a send waiting for its answer is probed with a `ping` every 10 s.
//!
//! Driven by tests/e2e/chat_faults.py. It prints one JSON status line a second on stdout
//! (`ready`: clients connected and resumed now; `connections`: connections that became ready so
//! far, reconnections included). On `stop` (a line on stdin) it stops sending, waits
//! for the answers still due, lets the last batches arrive, reads every room's whole history over
//! REST (`GET /api/channels/{id}/chat`) and writes the report (`--report`): every send with its
//! outcome and times, every client's connection times, and, checked against the histories, the
//! acked messages missing from them and the messages each client never saw.
//!
//! Usage: chat-fleet --base URL --report PATH [--clients 200] [--rooms 4] [--every-ms 1500]
//!
//! One file of ~600 lines on purpose: a client's whole life (connect, resume, send, probe,
//! reconnect) reads top to bottom in [`Client`], beside the report it feeds.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use clap::Parser;
use futures::{SinkExt, StreamExt, stream};
use lait_bench::{Api, User, Ws, connect_async, format_id, parse_id};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::{sync::watch, time::Instant};
use tokio_tungstenite::tungstenite::Message;

/// A fleet of resilient chat clients, for fault tests.
#[derive(Parser)]
struct Args {
    /// lait-local's base URL.
    #[arg(long)]
    base: String,
    /// Clients.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Rooms: the channels of the first accounts; client i joins room i mod K.
    #[arg(long, default_value_t = 4)]
    rooms: usize,
    /// Accounts (default: one per client); client i is account i div K, so an account has at
    /// most one client per room (the rate limit is per account and room) and at least
    /// clients / rooms accounts are needed.
    #[arg(long)]
    accounts: Option<usize>,
    /// Mean time between a client's sends, in ms.
    #[arg(long, default_value_t = 1500)]
    every_ms: u64,
    /// While a send waits for its answer, a `ping` this often (the web client's probe: a lost
    /// registration answers it `reconnect`, which closes the connection).
    #[arg(long, default_value_t = 10_000)]
    probe_ms: u64,
    /// Where the JSON report goes.
    #[arg(long)]
    report: String,
}

type Id = (u64, u64);

fn now_ms() -> u64 {
    lait_shared::clock::Timestamp::now()
        .unix_ms()
        .unsigned_abs()
}

/// One send and what became of it.
#[derive(Serialize, Clone)]
struct SendLog {
    /// Unix ms.
    at: u64,
    /// `ack`, `error`, `dropped` (the connection closed before an answer) or `none`.
    outcome: &'static str,
    /// When the answer came (or the connection closed).
    answered: Option<u64>,
    /// The message id of an ack, the code of an error.
    value: Option<String>,
}

/// One client's run.
#[derive(Serialize, Default)]
struct ClientLog {
    room: usize,
    /// When each connection was open and resumed (unix ms).
    ready: Vec<u64>,
    /// When each connection ended, and why.
    closed: Vec<(u64, String)>,
    /// Connection attempts that failed before being ready: when, and at which step.
    failed: Vec<(u64, String)>,
    /// History requests answered `unavailable` and asked again on the same connection.
    history_again: u32,
    sends: Vec<SendLog>,
    #[serde(skip)]
    seen: BTreeSet<Id>,
}

#[derive(Default)]
struct Counters {
    open: AtomicU64,
    ready: AtomicU64,
    /// Connections that became ready, reconnections included.
    connections: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    inflight: AtomicU64,
}

struct Fleet {
    api: Api,
    rooms: Vec<String>,
    every: Duration,
    probe: Duration,
    counters: Counters,
    /// No new sends once set.
    stop_sending: AtomicBool,
    /// Connections close once this turns true.
    close: watch::Receiver<bool>,
}

/// How a connection attempt or session ended.
enum End {
    /// Never got ready: the step that failed.
    Failed(String),
    /// Was ready, then closed.
    Closed(String),
    /// Told to close.
    Done,
}

struct Client {
    fleet: Arc<Fleet>,
    index: usize,
    user: Arc<User>,
    log: ClientLog,
    /// The largest id delivered.
    last: Option<Id>,
    seq: u64,
    next_request: u64,
}

impl Client {
    fn room(&self) -> &str {
        &self.fleet.rooms[self.log.room]
    }

    async fn run(mut self) -> ClientLog {
        let mut attempt: u32 = 0;
        let mut close = self.fleet.close.clone();
        loop {
            match self.session().await {
                End::Done => break,
                End::Failed(why) => self.log.failed.push((now_ms(), why)),
                End::Closed(why) => {
                    self.log.closed.push((now_ms(), why));
                    attempt = 0;
                }
            }
            if *close.borrow() {
                break;
            }
            // The web client's backoff: full jitter around 1 s, 2 s, 4 s … 30 s.
            let base = 1000u64.saturating_mul(1 << attempt.min(5)).min(30_000);
            attempt += 1;
            let delay = base / 2 + rand::rng().random_range(0..=base / 2);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                _ = closed(&mut close) => break,
            }
        }
        self.log
    }

    fn request_id(&mut self) -> String {
        self.next_request += 1;
        format!("r{}", self.next_request)
    }

    /// Takes events in: every id it saw, and the largest (where it resumes from).
    fn deliver(&mut self, events: &[Value]) {
        for id in events
            .iter()
            .filter_map(|e| e["id"].as_str().and_then(parse_id))
        {
            self.log.seen.insert(id);
            self.last = Some(self.last.map_or(id, |l| l.max(id)));
        }
    }

    async fn session(&mut self) -> End {
        let ticket = match self.fleet.api.try_ticket(&self.user, self.room()).await {
            Ok(Ok(t)) => t,
            Ok(Err(status)) => return End::Failed(format!("ticket {status}")),
            Err(_) => return End::Failed("ticket unreachable".into()),
        };
        let url = self.fleet.api.ws(self.room(), Some(&ticket));
        let mut ws = match connect_async(&url).await {
            Ok((ws, _)) => ws,
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                return End::Failed(format!("handshake {}", res.status().as_u16()));
            }
            Err(_) => return End::Failed("handshake unreachable".into()),
        };
        self.fleet.counters.open.fetch_add(1, Ordering::Relaxed);
        let end = self.open(&mut ws).await;
        self.fleet.counters.open.fetch_sub(1, Ordering::Relaxed);
        let _ = ws.close(None).await;
        end
    }

    /// Resumes, then chats until the connection ends or the fleet closes.
    async fn open(&mut self, ws: &mut Ws) -> End {
        // Batches that arrive while resuming are held and delivered after the history.
        let mut held: Vec<Value> = Vec::new();
        let mut unavailable = 0;
        loop {
            let rid = self.request_id();
            let frame = match self.last {
                None => json!({"action": "history", "limit": 50, "request_id": rid}),
                Some(last) => {
                    json!({"action": "history", "after": format_id(last), "request_id": rid})
                }
            };
            if ws.send(Message::text(frame.to_string())).await.is_err() {
                return End::Failed("history send".into());
            }
            let answer = loop {
                let next = tokio::time::timeout(Duration::from_secs(30), ws.next()).await;
                let Ok(Some(Ok(msg))) = next else {
                    return End::Failed("history unanswered".into());
                };
                let Message::Text(text) = msg else { continue };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if v["type"] == "batch" {
                    held.extend(v["messages"].as_array().cloned().unwrap_or_default());
                } else if v["request_id"] == rid.as_str() {
                    break v;
                }
            };
            if answer["code"] == "unavailable" && unavailable < 4 {
                // A store briefly down: ask again on this connection (as the web client does).
                unavailable += 1;
                self.log.history_again += 1;
                let wait = answer["retry_after_ms"].as_u64().unwrap_or(2000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                continue;
            }
            if answer["type"] != "history" {
                let code = answer["code"].as_str().unwrap_or("?");
                return End::Failed(format!("history {code}"));
            }
            let messages = answer["messages"].as_array().cloned().unwrap_or_default();
            self.deliver(&messages);
            if self.last.is_none() || answer["more"] != true || messages.is_empty() {
                break;
            }
        }
        self.deliver(&held);
        self.log.ready.push(now_ms());
        let fleet = self.fleet.clone();
        fleet.counters.ready.fetch_add(1, Ordering::Relaxed);
        fleet.counters.connections.fetch_add(1, Ordering::Relaxed);
        let end = self.chat(ws).await;
        fleet.counters.ready.fetch_sub(1, Ordering::Relaxed);
        end
    }

    fn interval(&self) -> Duration {
        self.fleet
            .every
            .mul_f64(rand::rng().random_range(0.67..1.33))
    }

    async fn chat(&mut self, ws: &mut Ws) -> End {
        let fleet = self.fleet.clone();
        let counters = &fleet.counters;
        let mut close = fleet.close.clone();
        // The send waiting for its answer: (request id, index in the log, when to probe next).
        let mut inflight: Option<(String, usize, Instant)> = None;
        let mut due = Instant::now() + self.interval().mul_f64(rand::rng().random_range(0.0..1.0));
        let end = loop {
            let wake = match &inflight {
                Some((_, _, probe)) => *probe,
                None => due,
            };
            tokio::select! {
                frame = ws.next() => {
                    let Some(Ok(msg)) = frame else {
                        break End::Closed("connection lost".into());
                    };
                    let text = match msg {
                        Message::Text(t) => t,
                        Message::Close(f) => {
                            break End::Closed(format!("closed {}", f.map_or(1005, |f| u16::from(f.code))));
                        }
                        _ => continue,
                    };
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("batch") => {
                            let messages = v["messages"].as_array().cloned().unwrap_or_default();
                            self.deliver(&messages);
                        }
                        Some(kind @ ("ack" | "error")) => {
                            if v["code"] == "reconnect" {
                                // To a send or a probe: the server closes the connection;
                                // reconnect and resume.
                                self.answer(&v, kind);
                                break End::Closed("reconnect".into());
                            }
                            if self.answer(&v, kind) && inflight.as_ref().is_some_and(|(r, _, _)| v["request_id"] == r.as_str()) {
                                inflight = None;
                                counters.inflight.fetch_sub(1, Ordering::Relaxed);
                                due = due.max(Instant::now());
                            }
                        }
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if let Some((_, _, probe)) = &mut inflight {
                        // Still unanswered: is the connection still registered?
                        let rid = self.request_id();
                        if ws.send(Message::text(json!({"action": "ping", "request_id": rid}).to_string())).await.is_err() {
                            break End::Closed("send failed".into());
                        }
                        *probe = Instant::now() + fleet.probe;
                        continue;
                    }
                    if fleet.stop_sending.load(Ordering::Relaxed) {
                        due = Instant::now() + Duration::from_secs(3600);
                        continue;
                    }
                    let i = self.log.sends.len();
                    let rid = format!("s{i}");
                    self.seq += 1;
                    // Unique text: the duplicate window compares folded texts.
                    let text = format!("client {} says {} ({})", self.index, self.seq, uuid::Uuid::new_v4().simple());
                    let frame = json!({"action": "send", "text": text, "request_id": rid});
                    self.log.sends.push(SendLog { at: now_ms(), outcome: "none", answered: None, value: None });
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    if ws.send(Message::text(frame.to_string())).await.is_err() {
                        break End::Closed("send failed".into());
                    }
                    counters.inflight.fetch_add(1, Ordering::Relaxed);
                    inflight = Some((rid, i, Instant::now() + fleet.probe));
                    due = Instant::now() + self.interval();
                }
                _ = closed(&mut close) => break End::Done,
            }
        };
        if let Some((_, i, _)) = inflight {
            counters.inflight.fetch_sub(1, Ordering::Relaxed);
            let s = &mut self.log.sends[i];
            if s.answered.is_none() && !matches!(end, End::Done) {
                s.outcome = "dropped";
                s.answered = Some(now_ms());
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        end
    }

    /// Records the answer to a send; false if `v` answers something else (a probe).
    fn answer(&mut self, v: &Value, kind: &str) -> bool {
        let Some(i) = v["request_id"]
            .as_str()
            .and_then(|r| r.strip_prefix('s'))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return false;
        };
        let Some(s) = self.log.sends.get_mut(i) else {
            return false;
        };
        let counters = &self.fleet.counters;
        if s.answered.is_none() {
            s.answered = Some(now_ms());
            if kind == "ack" {
                s.outcome = "ack";
                s.value = v["id"].as_str().map(str::to_owned);
                counters.acked.fetch_add(1, Ordering::Relaxed);
            } else {
                s.outcome = "error";
                s.value = v["code"].as_str().map(str::to_owned);
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }
}

/// Resolves once the fleet closes.
async fn closed(close: &mut watch::Receiver<bool>) {
    let _ = close.wait_for(|c| *c).await;
}

/// Every message of a room, oldest first, through the REST history.
async fn room_history(api: &Api, channel: &str, retried: &mut u32) -> anyhow::Result<Vec<Id>> {
    let mut ids = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut url = format!("{}/api/channels/{channel}/chat?limit=500", api.base);
        if let Some(b) = &before {
            url.push_str(&format!("&before={b}"));
        }
        // A server still recovering may answer 503 for a moment: retried for up to 30 s.
        let mut tries = 0;
        let res = loop {
            let res = api.http.get(&url).send().await?;
            if res.status() != 503 || tries == 30 {
                break res;
            }
            tries += 1;
            *retried += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        anyhow::ensure!(res.status() == 200, "history: {}", res.status());
        let page: Value = res.json().await?;
        let messages = page["messages"].as_array().context("messages")?;
        let mut page_ids: Vec<Id> = messages
            .iter()
            .filter_map(|m| m["id"].as_str().and_then(parse_id))
            .collect();
        page_ids.append(&mut ids);
        ids = page_ids;
        match page["next_before"].as_str() {
            Some(b) => before = Some(b.to_owned()),
            None => return Ok(ids),
        }
    }
}

fn status_line(fleet: &Fleet, t0: Instant) -> Value {
    let c = &fleet.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    json!({
        "t": now_ms(), "elapsed_ms": t0.elapsed().as_millis() as u64,
        "ready": get(&c.ready), "open": get(&c.open), "connections": get(&c.connections), "sent": get(&c.sent),
        "acked": get(&c.acked), "errors": get(&c.errors), "dropped": get(&c.dropped),
        "inflight": get(&c.inflight),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.rooms >= 1 && a.clients >= a.rooms,
        "--clients must be at least --rooms"
    );
    let accounts = a.accounts.unwrap_or(a.clients);
    anyhow::ensure!(
        accounts >= a.rooms && accounts >= a.clients.div_ceil(a.rooms),
        "--accounts must be at least --rooms and --clients / --rooms"
    );
    let api = Api::new(&a.base);
    let t0 = Instant::now();
    let users: Vec<Arc<User>> = stream::iter(0..accounts)
        .map(|i| {
            let api = &api;
            async move { api.user("fleet", i).await.map(Arc::new) }
        })
        .buffered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let rooms: Vec<String> = users[..a.rooms]
        .iter()
        .map(|u| u.channel_id.clone())
        .collect();
    eprintln!(
        "chat-fleet: {} accounts in {:.1} s",
        users.len(),
        t0.elapsed().as_secs_f64()
    );
    let (close_tx, close_rx) = watch::channel(false);
    let fleet = Arc::new(Fleet {
        api,
        rooms: rooms.clone(),
        every: Duration::from_millis(a.every_ms),
        probe: Duration::from_millis(a.probe_ms),
        counters: Counters::default(),
        stop_sending: AtomicBool::new(false),
        close: close_rx,
    });
    println!(
        "{}",
        json!({"event": "start", "rooms": rooms, "clients": a.clients})
    );
    let mut tasks = Vec::new();
    for i in 0..a.clients {
        let client = Client {
            fleet: fleet.clone(),
            index: i,
            user: users[i / a.rooms].clone(),
            log: ClientLog {
                room: i % a.rooms,
                ..ClientLog::default()
            },
            last: None,
            seq: 0,
            next_request: 0,
        };
        tasks.push(tokio::spawn(client.run()));
    }

    // A status line a second until `stop` arrives on stdin (or stdin closes).
    // (A plain thread: the workspace's tokio is built without its stdin support.)
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel::<()>(1);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            match line {
                Ok(l) if l.trim() != "stop" => {}
                _ => break,
            }
        }
        let _ = stop_tx.blocking_send(());
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => println!("{}", status_line(&fleet, t0)),
            _ = stop_rx.recv() => break,
        }
    }
    fleet.stop_sending.store(true, Ordering::Relaxed);
    let stopped_at = now_ms();
    // The answers still due, then a moment for the last batches.
    let drain = Instant::now();
    while fleet.counters.inflight.load(Ordering::Relaxed) > 0
        && drain.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("{}", status_line(&fleet, t0));
    let _ = close_tx.send(true);
    let mut logs = Vec::new();
    for t in tasks {
        logs.push(t.await?);
    }

    // Against every room's history: acked messages missing from it, and, per client, the
    // messages of its room it never saw from its first one on.
    let mut histories = BTreeMap::new();
    let mut history_retries = 0;
    for (r, ch) in rooms.iter().enumerate() {
        histories.insert(r, room_history(&fleet.api, ch, &mut history_retries).await?);
    }
    let mut acked_missing = Vec::new();
    let mut unseen_total = 0usize;
    let mut clients_with_unseen = 0usize;
    let mut clients_behind = 0usize;
    let mut client_reports = Vec::new();
    for log in &logs {
        let history = &histories[&log.room];
        let stored: BTreeSet<Id> = history.iter().copied().collect();
        for s in &log.sends {
            if s.outcome == "ack"
                && let Some(id) = s.value.as_deref().and_then(parse_id)
                && !stored.contains(&id)
            {
                acked_missing.push(format_id(id));
            }
        }
        let first = log.seen.iter().next().copied();
        let unseen: Vec<String> = match first {
            Some(first) => history
                .iter()
                .filter(|id| **id >= first && !log.seen.contains(id))
                .map(|id| format_id(*id))
                .collect(),
            None => history.iter().map(|id| format_id(*id)).collect(),
        };
        if !unseen.is_empty() {
            clients_with_unseen += 1;
            unseen_total += unseen.len();
        }
        if history.last().is_some_and(|l| log.seen.last() != Some(l)) {
            clients_behind += 1;
        }
        // Seen but not in history: admitted, shown (the stream's part of a history answer), then
        // lost with Redis before the archive; never acked.
        let seen_not_stored = log.seen.iter().filter(|id| !stored.contains(id)).count();
        client_reports.push(json!({
            "room": log.room, "ready": log.ready, "closed": log.closed, "failed": log.failed,
            "history_again": log.history_again,
            "sends": log.sends, "seen": log.seen.len(), "unseen": unseen.iter().take(5).collect::<Vec<_>>(),
            "unseen_count": unseen.len(), "seen_not_stored": seen_not_stored,
        }));
    }
    let report = json!({
        "rooms": rooms,
        "stopped_at": stopped_at,
        "history": histories.values().map(Vec::len).collect::<Vec<_>>(),
        "history_retries": history_retries,
        "acked_missing": acked_missing,
        "clients_with_unseen": clients_with_unseen,
        "unseen_total": unseen_total,
        "clients_behind": clients_behind,
        "clients": client_reports,
    });
    std::fs::write(&a.report, serde_json::to_vec(&report)?)?;
    println!(
        "{}",
        json!({"event": "report", "path": a.report, "acked_missing": acked_missing.len(), "unseen_total": unseen_total})
    );
    Ok(())
}
