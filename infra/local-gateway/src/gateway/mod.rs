//! The WebSocket half of API Gateway: terminates client WebSockets on `/ws`, turns them into
//! `$connect` / message / `$disconnect` events for a [`WsHandler`], and serves the `@connections`
//! management API that the handler uses to talk back.
//!
//! Behaviour copied from API Gateway because chat-ws relies on it:
//! - `$connect` runs before the upgrade; a non-2xx answer refuses the upgrade with that status, and
//!   the connection is not reachable through `@connections` until `$connect` has succeeded (410).
//! - A message's route is `$request.body.action` if declared, else `$default`. Integration
//!   responses to messages are not forwarded (one-way routes): replies go through `@connections`.
//!   Messages of one connection are invoked concurrently, so their handling is not ordered.
//! - Limits: 32 KB frames, 128 KB messages (close 1009), idle timeout (close 1001), maximum
//!   connection age (close 1001), new connections per second (429 before `$connect`).
//! - `$disconnect` runs after the connection is gone, so posting to it answers 410.
//!
//! `connection.rs` runs one client WebSocket; `management.rs` is the `@connections` API.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{
        ConnectInfo, Path, RawQuery, State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code},
    },
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use futures::{SinkExt, StreamExt};
use lait_shared::{
    clock::Timestamp,
    ws::{self, WsEvent, WsHandler, WsResponse},
};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;

mod connection;
mod management;

use self::{connection::upgrade, management::*};

/// API Gateway's WebSocket limits.
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub max_frame: usize,
    pub max_message: usize,
    pub idle_timeout: Duration,
    pub max_age: Duration,
    /// How long each `@connections` post takes before it is answered (0: at once). API Gateway's
    /// is ~10–30 ms from a function; tests raise it to make a big room's round slow.
    pub post_latency: Duration,
    /// New connections admitted per second (a token bucket holding one second's worth): API
    /// Gateway's account default is 500; past it a connect is answered 429.
    pub connect_rate: u32,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_frame: 32 * 1024,
            max_message: 128 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_age: Duration::from_secs(2 * 3600),
            post_latency: Duration::ZERO,
            connect_rate: 500,
        }
    }
}

/// What the management API (or the gateway itself) asks of a connection.
enum Command {
    Send(Message),
    Close,
    /// The gateway is stopping: close with 1001, as API Gateway's own going away does.
    GoAway,
}

struct Connection {
    tx: mpsc::Sender<Command>,
    connected_at: Timestamp,
    /// Unix milliseconds of the last client frame.
    last_active_ms: AtomicI64,
    source_ip: String,
    user_agent: Option<String>,
}

#[derive(Clone)]
pub struct Gateway {
    handler: Arc<dyn WsHandler>,
    connections: Arc<RwLock<HashMap<String, Arc<Connection>>>>,
    /// Connections whose task (and so whose `$disconnect`) has not finished.
    running: Arc<std::sync::atomic::AtomicUsize>,
    /// Set by [`Gateway::go_away`]: new connections are refused (503).
    closing: Arc<std::sync::atomic::AtomicBool>,
    limits: WsLimits,
    /// `requestContext.domainName`, e.g. `127.0.0.1:8080`.
    domain: String,
    connects: Arc<std::sync::Mutex<ConnectBucket>>,
}

/// The new-connection rate limit: tokens refill at `connect_rate` a second, up to one second's.
#[derive(Debug)]
struct ConnectBucket {
    tokens: f64,
    at: std::time::Instant,
}

impl ConnectBucket {
    fn take(&mut self, rate: u32) -> bool {
        let now = std::time::Instant::now();
        let rate = f64::from(rate.max(1));
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

const STAGE: &str = "local";
const API_ID: &str = "lait-local";
/// How long a `@connections` POST waits for a client that does not read before giving up.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Integration invocations in flight per connection (API Gateway's are bounded by Lambda
/// concurrency; a bound keeps one client from spawning without limit here).
const INVOCATIONS_PER_CONNECTION: usize = 16;
/// Read chunk of a WebSocket; bigger messages take several reads.
const READ_BUFFER: usize = 4096;

fn request_time(t: OffsetDateTime) -> String {
    // API Gateway's format: 26/Nov/2026:01:02:03 +0000
    let f = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    t.format(&f).unwrap_or_default()
}

impl Gateway {
    pub fn new(handler: Arc<dyn WsHandler>, limits: WsLimits, domain: impl Into<String>) -> Self {
        Self {
            handler,
            connections: Arc::default(),
            running: Arc::default(),
            closing: Arc::default(),
            connects: Arc::new(std::sync::Mutex::new(ConnectBucket {
                tokens: f64::from(limits.connect_rate.max(1)),
                at: std::time::Instant::now(),
            })),
            limits,
            domain: domain.into(),
        }
    }

    /// Whether a new connection is admitted now (API Gateway's connections-per-second quota).
    fn admit_connect(&self) -> bool {
        let mut bucket = self.connects.lock().unwrap_or_else(|p| p.into_inner());
        bucket.take(self.limits.connect_rate)
    }

    /// `/ws` and the `@connections` API.
    #[allow(clippy::disallowed_methods)] // emulator routes, not HTTP API routes
    pub fn router(self) -> Router {
        Router::new()
            .route("/ws", get(upgrade))
            .route(
                "/@connections/{id}",
                get(get_connection)
                    .post(post_to_connection)
                    .delete(delete_connection),
            )
            // The SDK may send the stage in the path when its endpoint includes one.
            .route("/{stage}/@connections/{id}", any(staged))
            .with_state(self)
    }

    /// Number of open connections (for tests and logs).
    pub fn open_connections(&self) -> usize {
        self.connections.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Refuses new connections (503), closes every open one with 1001 "Going away" (what a
    /// client sees when API Gateway drops it) and waits, at most `grace`, until each one's
    /// `$disconnect` has run: clients reconnect at once (to the next instance), and their
    /// registrations are gone (a restarted lait-local otherwise found a whole audience of dead
    /// connections in every room). Returns how many were open.
    pub async fn go_away(&self, grace: Duration) -> usize {
        self.closing.store(true, Ordering::Release);
        let open: Vec<Arc<Connection>> = self
            .connections
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for c in &open {
            let _ = c.tx.send(Command::GoAway).await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.running.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        open.len()
    }

    fn lookup(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections.read().ok()?.get(id).cloned()
    }

    fn context(
        &self,
        connection_id: &str,
        route: &str,
        event_type: &str,
        connected_at: Timestamp,
    ) -> Value {
        let now = OffsetDateTime::now_utc();
        json!({
            "routeKey": route,
            "eventType": event_type,
            "messageDirection": "IN",
            "stage": STAGE,
            "apiId": API_ID,
            "domainName": self.domain,
            "connectionId": connection_id,
            "connectedAt": connected_at.unix_ms(),
            "requestId": uuid::Uuid::new_v4().to_string(),
            "extendedRequestId": uuid::Uuid::new_v4().to_string(),
            "requestTime": request_time(now),
            "requestTimeEpoch": now.unix_timestamp_nanos() / 1_000_000,
        })
    }

    async fn invoke(&self, event: Value) -> WsResponse {
        match serde_json::from_value::<WsEvent>(event) {
            Ok(event) => self.handler.handle(event).await,
            Err(e) => {
                // A bug in this emulator, not in the caller's input.
                tracing::error!(error = %e, "could not build a WebSocket event");
                ws::response(500, None)
            }
        }
    }
}

fn headers_json(headers: &HeaderMap) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi: serde_json::Map<String, Value> = serde_json::Map::new();
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        single.insert(name.as_str().to_owned(), json!(v));
        match multi.get_mut(name.as_str()) {
            Some(Value::Array(list)) => list.push(json!(v)),
            _ => {
                multi.insert(name.as_str().to_owned(), json!([v]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

fn query_json(raw: Option<&str>) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi: serde_json::Map<String, Value> = serde_json::Map::new();
    for (k, v) in form_urlencoded_pairs(raw.unwrap_or("")) {
        single.insert(k.clone(), json!(v));
        match multi.get_mut(&k) {
            Some(Value::Array(list)) => list.push(json!(v)),
            _ => {
                multi.insert(k, json!([v]));
            }
        }
    }
    if single.is_empty() {
        // API Gateway sends no query fields at all when the URL has none.
        return (Value::Null, Value::Null);
    }
    (Value::Object(single), Value::Object(multi))
}

fn form_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default()
}

fn status_of(res: &WsResponse) -> StatusCode {
    u16::try_from(res.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}
