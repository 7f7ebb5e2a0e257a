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
//!   connection age (close 1001).
//! - `$disconnect` runs after the connection is gone, so posting to it answers 410.

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
use lait_shared::ws::{self, WsEvent, WsHandler, WsResponse};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::sync::mpsc;

/// API Gateway's WebSocket limits.
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub max_frame: usize,
    pub max_message: usize,
    pub idle_timeout: Duration,
    pub max_age: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_frame: 32 * 1024,
            max_message: 128 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_age: Duration::from_secs(2 * 3600),
        }
    }
}

/// What the management API asks of a connection.
enum Command {
    Send(Message),
    Close,
}

struct Connection {
    tx: mpsc::Sender<Command>,
    connected_at: OffsetDateTime,
    /// Unix milliseconds of the last client frame.
    last_active_ms: AtomicI64,
    source_ip: String,
    user_agent: Option<String>,
}

#[derive(Clone)]
pub struct Gateway {
    handler: Arc<dyn WsHandler>,
    connections: Arc<RwLock<HashMap<String, Arc<Connection>>>>,
    limits: WsLimits,
    /// `requestContext.domainName`, e.g. `127.0.0.1:8080`.
    domain: String,
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
            limits,
            domain: domain.into(),
        }
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

    fn lookup(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections.read().ok()?.get(id).cloned()
    }

    fn context(
        &self,
        connection_id: &str,
        route: &str,
        event_type: &str,
        connected_at: i64,
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
            "connectedAt": connected_at,
            "requestId": uuid::Uuid::new_v4().to_string(),
            "extendedRequestId": uuid::Uuid::new_v4().to_string(),
            "requestTime": request_time(now),
            "requestTimeEpoch": lait_shared::clock::now_ms(),
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

async fn upgrade(
    State(gw): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let connection_id = Alphanumeric.sample_string(&mut rand::rng(), 16);
    let connected_at = lait_shared::clock::now_ms();
    let source_ip = peer.ip().to_string();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let mut context = gw.context(&connection_id, ws::CONNECT, "CONNECT", connected_at);
    context["identity"] = json!({"sourceIp": source_ip, "userAgent": user_agent});
    let (single_headers, multi_headers) = headers_json(&headers);
    let (single_query, multi_query) = query_json(query.as_deref());
    let event = json!({
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    let res = gw.invoke(event).await;
    let status = status_of(&res);
    if !status.is_success() {
        tracing::info!(%connection_id, %status, "$connect refused");
        return status.into_response();
    }

    let conn_id = connection_id.clone();
    let mut upgrade = upgrade
        .max_frame_size(gw.limits.max_frame)
        .max_message_size(gw.limits.max_message)
        // tungstenite zero-fills its whole read buffer before every read attempt, and this loop
        // re-polls the read side after every frame it sends: with the 128 KiB default that
        // memset was the largest single cost of chat fan-out.
        .read_buffer_size(READ_BUFFER);
    // A subprotocol chosen by the integration is echoed, as API Gateway does.
    if let Some(proto) = res
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
    {
        upgrade = upgrade.protocols([proto.to_owned()]);
    }
    upgrade
        .on_failed_upgrade(|e| tracing::warn!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            run_connection(gw, socket, conn_id, connected_at, source_ip, user_agent)
        })
}

/// Why a connection ended, for `$disconnect`.
struct Ending {
    code: u16,
    reason: &'static str,
}

async fn run_connection(
    gw: Gateway,
    socket: WebSocket,
    id: String,
    connected_at: i64,
    source_ip: String,
    user_agent: Option<String>,
) {
    let (tx, mut rx) = mpsc::channel::<Command>(256);
    let conn = Arc::new(Connection {
        tx,
        connected_at: OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(connected_at) * 1_000_000,
        )
        .unwrap_or_else(|_| OffsetDateTime::now_utc()),
        last_active_ms: AtomicI64::new(connected_at),
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
    });
    if let Ok(mut map) = gw.connections.write() {
        map.insert(id.clone(), conn.clone());
    }
    tracing::debug!(connection_id = %id, "connected");

    // Like API Gateway, each message is its own integration invocation, running concurrently with
    // the connection's other messages (no ordering between them), bounded per connection. A slow
    // invocation (a room's flusher) never holds back the next message.
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<(String, bool)>();
    let invoker = {
        let gw = gw.clone();
        let id = id.clone();
        let identity = json!({"sourceIp": source_ip, "userAgent": user_agent});
        tokio::spawn(async move {
            let permits = Arc::new(tokio::sync::Semaphore::new(INVOCATIONS_PER_CONNECTION));
            let mut running = tokio::task::JoinSet::new();
            while let Some((body, binary)) = events_rx.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                while running.try_join_next().is_some() {}
                let route = if binary {
                    ws::DEFAULT
                } else {
                    ws::select_route(gw.handler.routes(), &body)
                };
                let mut context = gw.context(&id, route, "MESSAGE", connected_at);
                context["messageId"] = json!(uuid::Uuid::new_v4().to_string());
                context["identity"] = identity.clone();
                let event = json!({
                    "requestContext": context,
                    "body": body,
                    "isBase64Encoded": binary,
                });
                let gw = gw.clone();
                let id = id.clone();
                running.spawn(async move {
                    let res = gw.invoke(event).await;
                    if !status_of(&res).is_success() {
                        tracing::warn!(connection_id = %id, status = res.status_code, route, "integration error");
                    }
                    drop(permit);
                });
            }
            while running.join_next().await.is_some() {}
        })
    };

    let (mut sink, mut stream) = socket.split();
    let deadline = tokio::time::sleep(gw.limits.max_age);
    tokio::pin!(deadline);
    // One idle timer, pushed back lazily when it fires: re-arming a timer on every frame cost
    // more than the frame itself under fan-out.
    let idle = tokio::time::sleep(gw.limits.idle_timeout);
    tokio::pin!(idle);
    let mut last_activity = tokio::time::Instant::now();
    let ending = loop {
        tokio::select! {
            frame = stream.next() => {
                last_activity = tokio::time::Instant::now();
                conn.last_active_ms.store(lait_shared::clock::now_ms(), Ordering::Relaxed);
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let _ = events_tx.send((text.to_string(), false));
                    }
                    Some(Ok(Message::Binary(data))) => {
                        use base64::Engine;
                        let body = base64::engine::general_purpose::STANDARD.encode(&data);
                        let _ = events_tx.send((body, true));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        break Ending { code: frame.map(|f| f.code).unwrap_or(close_code::STATUS), reason: "Client closed the connection" };
                    }
                    Some(Err(e)) => {
                        let too_big = is_capacity_error(&e);
                        if too_big {
                            let _ = sink.send(close(close_code::SIZE, "Message too big")).await;
                            break Ending { code: close_code::SIZE, reason: "Message too big" };
                        }
                        break Ending { code: close_code::ABNORMAL, reason: "Connection error" };
                    }
                    None => break Ending { code: close_code::ABNORMAL, reason: "Client went away" },
                }
            }
            cmd = rx.recv() => match cmd {
                Some(Command::Send(msg)) => {
                    last_activity = tokio::time::Instant::now();
                    if sink.send(msg).await.is_err() {
                        break Ending { code: close_code::ABNORMAL, reason: "Connection error" };
                    }
                }
                Some(Command::Close) | None => {
                    let _ = sink.send(close(close_code::NORMAL, "")).await;
                    break Ending { code: close_code::NORMAL, reason: "Connection deleted" };
                }
            },
            _ = &mut idle => {
                let due = last_activity + gw.limits.idle_timeout;
                if due > tokio::time::Instant::now() {
                    idle.as_mut().reset(due);
                    continue;
                }
                let _ = sink.send(close(close_code::AWAY, "Going away")).await;
                break Ending { code: close_code::AWAY, reason: "Idle timeout" };
            }
            _ = &mut deadline => {
                let _ = sink.send(close(close_code::AWAY, "Going away")).await;
                break Ending { code: close_code::AWAY, reason: "Maximum connection duration reached" };
            }
        }
    };

    if let Ok(mut map) = gw.connections.write() {
        map.remove(&id);
    }
    // Messages already received are still delivered, then `$disconnect` comes last.
    drop(events_tx);
    let _ = invoker.await;
    let _ = sink.close().await;
    tracing::debug!(connection_id = %id, code = ending.code, reason = ending.reason, "disconnected");

    let mut context = gw.context(&id, ws::DISCONNECT, "DISCONNECT", connected_at);
    context["disconnectStatusCode"] = json!(ending.code);
    context["disconnectReason"] = json!(ending.reason);
    context["identity"] = json!({"sourceIp": conn.source_ip, "userAgent": conn.user_agent});
    let (single_headers, multi_headers) = headers_json(&HeaderMap::new());
    let event = json!({
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    gw.invoke(event).await;
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn is_capacity_error(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&dyn std::error::Error> = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(t, tokio_tungstenite::tungstenite::Error::Capacity(_));
        }
        source = s.source();
    }
    false
}

// ---- @connections management API ----

fn aws_error(status: StatusCode, error_type: &'static str, message: Option<&str>) -> Response {
    let mut res = (status, json!({ "message": message }).to_string()).into_response();
    let headers = res.headers_mut();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn gone() -> Response {
    aws_error(StatusCode::GONE, "GoneException", None)
}

async fn post_to_connection(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    // Read with the WebSocket message limit, not the HTTP API's body limit.
    let Ok(body) = axum::body::to_bytes(body, gw.limits.max_message).await else {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            Some("Message too long"),
        );
    };
    let Some(conn) = gw.lookup(&id) else {
        return gone();
    };
    let msg = match std::str::from_utf8(&body) {
        Ok(text) => Message::Text(text.into()),
        Err(_) => Message::Binary(body),
    };
    // The queue has room almost always; only a full one needs a (timed) wait.
    let cmd = match conn.tx.try_send(Command::Send(msg)) {
        Ok(()) => return StatusCode::OK.into_response(),
        Err(mpsc::error::TrySendError::Closed(_)) => return gone(),
        Err(mpsc::error::TrySendError::Full(cmd)) => cmd,
    };
    match tokio::time::timeout(SEND_TIMEOUT, conn.tx.send(cmd)).await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        // Closed while we were sending, or a client that stopped reading: it is gone for us.
        _ => gone(),
    }
}

async fn get_connection(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    let Some(conn) = gw.lookup(&id) else {
        return gone();
    };
    let last_active = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(conn.last_active_ms.load(Ordering::Relaxed)) * 1_000_000,
    )
    .unwrap_or(conn.connected_at);
    let body = json!({
        "connectedAt": conn.connected_at.format(&Rfc3339).unwrap_or_default(),
        "lastActiveAt": last_active.format(&Rfc3339).unwrap_or_default(),
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn delete_connection(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    let Some(conn) = gw.lookup(&id) else {
        return gone();
    };
    let _ = conn.tx.send(Command::Close).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn staged(
    State(gw): State<Gateway>,
    Path((stage, id)): Path<(String, String)>,
    method: http::Method,
    body: Body,
) -> Response {
    if stage != STAGE {
        return aws_error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            Some("Forbidden"),
        );
    }
    match method {
        http::Method::POST => post_to_connection(State(gw), Path(id), body).await,
        http::Method::GET => get_connection(State(gw), Path(id)).await,
        http::Method::DELETE => delete_connection(State(gw), Path(id)).await,
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
