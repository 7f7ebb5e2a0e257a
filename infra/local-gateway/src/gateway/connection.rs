//! One client WebSocket: the `$connect` handshake before the upgrade, frames in and out under
//! API Gateway's limits, `$disconnect` after.

use super::*;

pub(super) async fn upgrade(
    State(gw): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if gw.closing.load(Ordering::Acquire) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    // Throttled before `$connect` runs, as API Gateway does: the integration never sees it.
    if !gw.admit_connect() {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    let connection_id = Alphanumeric.sample_string(&mut rand::rng(), 16);
    let connected_at = Timestamp::now();
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
    connected_at: Timestamp,
    source_ip: String,
    user_agent: Option<String>,
) {
    gw.running.fetch_add(1, Ordering::AcqRel);
    let _running = Running(gw.running.clone());
    let (tx, mut rx) = mpsc::channel::<Command>(256);
    let conn = Arc::new(Connection {
        tx,
        connected_at,
        last_active_ms: AtomicI64::new(connected_at.unix_ms()),
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
                conn.last_active_ms.store(Timestamp::now().unix_ms(), Ordering::Relaxed);
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
                Some(Command::GoAway) => {
                    let _ = sink.send(close(close_code::AWAY, "Going away")).await;
                    break Ending { code: close_code::AWAY, reason: "Going away" };
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

/// Counts a connection as running until its task ends (`$disconnect` included).
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
