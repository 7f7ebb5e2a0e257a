//! The WebSocket API emulation against a recording handler: event shapes, route selection,
//! `$connect` refusal, API Gateway's limits, and the `@connections` API through the real SDK.

mod common;

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use aws_sdk_apigatewaymanagement::{
    operation::post_to_connection::PostToConnectionError, primitives::Blob,
};
use common::*;
use futures::{FutureExt, SinkExt, StreamExt, future::BoxFuture};
use lait_local::WsLimits;
use lait_shared::ws::{self, WsEvent, WsHandler, WsResponse};
use tokio::sync::mpsc;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

/// Records every event; refuses `$connect` when the query has `refuse=1`; on `$connect` it tries
/// to post to the new connection and records whether that was refused as `GoneException`.
struct Recorder {
    events: mpsc::UnboundedSender<WsEvent>,
    endpoint: OnceLock<String>,
    post_in_connect_gone: Arc<Mutex<Vec<bool>>>,
}

impl WsHandler for Recorder {
    fn routes(&self) -> &[&'static str] {
        &["send", "history"]
    }

    fn handle(&self, event: WsEvent) -> BoxFuture<'_, WsResponse> {
        async move {
            let route = event.request_context.route_key.clone().unwrap_or_default();
            let refuse = event.query_string_parameters.first("refuse") == Some("1");
            if route == ws::CONNECT
                && let Some(endpoint) = self.endpoint.get()
            {
                let client = management_client(endpoint).await;
                let id = event.request_context.connection_id.as_deref().unwrap();
                let gone = matches!(
                    post_to(&client, id, Blob::new("too early")).await,
                    Some(PostToConnectionError::GoneException(_))
                );
                self.post_in_connect_gone.lock().unwrap().push(gone);
            }
            let _ = self.events.send(event);
            if route == ws::CONNECT && refuse {
                ws::response(403, None)
            } else {
                ws::response(200, None)
            }
        }
        .boxed()
    }
}

/// Posts `data` to connection `id` through the SDK; the service's error, if any.
async fn post_to(
    sdk: &aws_sdk_apigatewaymanagement::Client,
    id: &str,
    data: Blob,
) -> Option<PostToConnectionError> {
    let res = sdk.post_to_connection().connection_id(id).data(data);
    res.send().await.err().map(|e| e.into_service_error())
}

struct Harness {
    server: Server,
    events: mpsc::UnboundedReceiver<WsEvent>,
    gone_in_connect: Arc<Mutex<Vec<bool>>>,
}

async fn harness(limits: WsLimits) -> Harness {
    let (tx, events) = mpsc::unbounded_channel();
    let gone_in_connect = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::new(Recorder {
        events: tx,
        endpoint: OnceLock::new(),
        post_in_connect_gone: gone_in_connect.clone(),
    });
    let server = start_gateway(recorder.clone(), limits).await;
    recorder.endpoint.set(server.url("")).unwrap();
    Harness {
        server,
        events,
        gone_in_connect,
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A harness with `limits` (the defaults, as `tweak` changes them) and a client connected to it;
/// the `$connect` event.
async fn connected(tweak: impl FnOnce(&mut WsLimits)) -> (Harness, Client, WsEvent) {
    let mut limits = WsLimits::default();
    tweak(&mut limits);
    let mut h = harness(limits).await;
    let (client, _) = connect_async(h.server.ws_url("")).await.unwrap();
    let connect = next_event(&mut h.events).await;
    (h, client, connect)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<WsEvent>) -> WsEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("handler alive")
}

async fn next_text<S>(ws: &mut S) -> String
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("stream open")
            .expect("frame ok");
        match msg {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Waits for the server's close frame and returns its code.
async fn close_code<S>(ws: &mut S) -> CloseCode
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("close within 10 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(Message::Close(None))) => return CloseCode::Status,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("error before close frame: {e}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

#[tokio::test]
async fn connect_message_disconnect_events_look_like_api_gateway() {
    let mut h = harness(WsLimits::default()).await;
    let mut req = h
        .server
        .ws_url("?channel=c1&ticket=t%201&tag=a&tag=b")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("user-agent", "lait-test/1".parse().unwrap());
    let (mut client, _) = connect_async(req).await.unwrap();

    let connect = next_event(&mut h.events).await;
    let ctx = &connect.request_context;
    assert_eq!(ctx.route_key.as_deref(), Some("$connect"));
    assert_eq!(ctx.event_type.as_deref(), Some("CONNECT"));
    let id = ctx.connection_id.clone().unwrap();
    assert_eq!(id.len(), 16);
    assert!(
        ctx.connected_at > 1_700_000_000_000,
        "connectedAt is epoch millis"
    );
    assert_eq!(ctx.identity.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(ctx.identity.user_agent.as_deref(), Some("lait-test/1"));
    assert_eq!(connect.query_string_parameters.first("channel"), Some("c1"));
    assert_eq!(connect.query_string_parameters.first("ticket"), Some("t 1"));
    assert_eq!(
        connect.multi_value_query_string_parameters.all("tag"),
        Some(vec!["a", "b"])
    );
    assert_eq!(connect.headers["user-agent"], "lait-test/1");
    assert!(connect.headers.contains_key("sec-websocket-key"));

    // Route selection on `$request.body.action`.
    for (body, route) in [
        (r#"{"action":"send","text":"hi"}"#, "send"),
        (r#"{"action":"history"}"#, "history"),
        (r#"{"action":"dance"}"#, "$default"),
        ("not json", "$default"),
    ] {
        client.send(Message::text(body)).await.unwrap();
        let ev = next_event(&mut h.events).await;
        assert_eq!(
            ev.request_context.route_key.as_deref(),
            Some(route),
            "{body}"
        );
        assert_eq!(ev.request_context.event_type.as_deref(), Some("MESSAGE"));
        assert_eq!(
            ev.request_context.connection_id.as_deref(),
            Some(id.as_str())
        );
        assert_eq!(ev.request_context.connected_at, ctx.connected_at);
        assert_eq!(ev.body.as_deref(), Some(body));
        assert!(!ev.is_base64_encoded);
    }
    client.send(Message::binary(vec![0u8, 1, 2])).await.unwrap();
    let ev = next_event(&mut h.events).await;
    assert!(ev.is_base64_encoded);
    assert_eq!(ev.body.as_deref(), Some("AAEC"));

    client.close(None).await.unwrap();
    let disconnect = next_event(&mut h.events).await;
    assert_eq!(
        disconnect.request_context.route_key.as_deref(),
        Some("$disconnect")
    );
    assert_eq!(
        disconnect.request_context.event_type.as_deref(),
        Some("DISCONNECT")
    );
    assert_eq!(
        disconnect.request_context.connection_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(h.server.state.open_connections(), 0);
}

#[tokio::test]
async fn non_2xx_connect_refuses_the_upgrade() {
    let mut h = harness(WsLimits::default()).await;
    let err = connect_async(h.server.ws_url("?refuse=1"))
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 403),
        other => panic!("expected an HTTP 403, got {other:?}"),
    }
    let ev = next_event(&mut h.events).await;
    assert_eq!(ev.request_context.route_key.as_deref(), Some("$connect"));
    assert_eq!(h.server.state.open_connections(), 0);
    // Nothing else was invoked for the refused connection.
    assert!(h.events.try_recv().is_err());
}

#[tokio::test]
async fn new_connections_past_the_rate_are_throttled_before_connect() {
    let mut h = harness(WsLimits {
        connect_rate: 5,
        ..WsLimits::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    for _ in 0..8 {
        match connect_async(h.server.ws_url("")).await {
            Ok((ws, _)) => {
                statuses.push(101);
                open.push(ws);
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                statuses.push(res.status().as_u16())
            }
            Err(e) => panic!("{e}"),
        }
    }
    // One second's worth at once, then 429 — and `$connect` ran only for the admitted ones.
    assert_eq!(
        statuses.iter().filter(|&&s| s == 101).count(),
        5,
        "{statuses:?}"
    );
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    for _ in 0..5 {
        let ev = next_event(&mut h.events).await;
        assert_eq!(ev.request_context.route_key.as_deref(), Some("$connect"));
    }
    assert!(h.events.try_recv().is_err());
    // The bucket refills at the rate: a moment later a connection is admitted again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(connect_async(h.server.ws_url("")).await.is_ok());
}

#[tokio::test]
async fn connections_api_round_trip_through_the_real_sdk() {
    let (mut h, mut client, connect) = connected(|_| {}).await;
    let id = connect.request_context.connection_id.unwrap();
    // API Gateway refuses PostToConnection while `$connect` runs.
    assert_eq!(*h.gone_in_connect.lock().unwrap(), [true]);

    let sdk = management_client(&h.server.url("")).await;
    let err = post_to(&sdk, &id, Blob::new(r#"{"type":"hello"}"#)).await;
    assert!(err.is_none(), "post to a live connection: {err:?}");
    assert_eq!(next_text(&mut client).await, r#"{"type":"hello"}"#);

    let info = sdk
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(info.identity().unwrap().source_ip(), Some("127.0.0.1"));
    let connected = info.connected_at().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - connected).abs() < 60,
        "connectedAt {connected} vs now {now}"
    );
    assert!(info.last_active_at().unwrap().secs() >= connected);

    // Too large for API Gateway's 128 KB message limit.
    let err = post_to(&sdk, &id, Blob::new(vec![b'x'; 129 * 1024])).await;
    assert!(
        matches!(
            err,
            Some(PostToConnectionError::PayloadTooLargeException(_))
        ),
        "{err:?}"
    );

    sdk.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(close_code(&mut client).await, CloseCode::Normal);
    let disconnect = next_event(&mut h.events).await;
    assert_eq!(
        disconnect.request_context.route_key.as_deref(),
        Some("$disconnect")
    );

    let err = post_to(&sdk, &id, Blob::new("late")).await;
    assert!(
        matches!(err, Some(PostToConnectionError::GoneException(_))),
        "{err:?}"
    );
    let err = sdk
        .get_connection()
        .connection_id("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 410);
}

#[tokio::test]
async fn frames_over_32_kb_close_with_1009() {
    let (mut h, mut client, _) = connected(|_| {}).await;
    // Just under the limit passes.
    let ok = format!(r#"{{"action":"send","text":"{}"}}"#, "a".repeat(30 * 1024));
    client.send(Message::text(ok)).await.unwrap();
    assert_eq!(
        next_event(&mut h.events)
            .await
            .request_context
            .route_key
            .as_deref(),
        Some("send")
    );
    client
        .send(Message::text("b".repeat(33 * 1024)))
        .await
        .unwrap();
    assert_eq!(close_code(&mut client).await, CloseCode::Size);
    let ev = next_event(&mut h.events).await;
    assert_eq!(ev.request_context.route_key.as_deref(), Some("$disconnect"));
    assert_eq!(ev.request_context.disconnect_status_code, Some(1009));
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let idle_timeout = Duration::from_millis(600);
    let (mut h, mut client, _) = connected(|l| l.idle_timeout = idle_timeout).await;
    // Activity keeps it open past the timeout...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.send(Message::text("{}")).await.unwrap();
        next_event(&mut h.events).await;
    }
    // ...silence closes it.
    assert_eq!(close_code(&mut client).await, CloseCode::Away);
    let ev = next_event(&mut h.events).await;
    assert_eq!(
        ev.request_context.disconnect_reason.as_deref(),
        Some("Idle timeout")
    );
}

#[tokio::test]
async fn connections_end_at_the_maximum_age() {
    let max_age = Duration::from_millis(800);
    let (mut h, mut client, _) = connected(|l| l.max_age = max_age).await;
    let started = std::time::Instant::now();
    let keepalive = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = client.send(Message::Ping(vec![].into())).await;
        }
    };
    // Keep-alive pings do not extend the maximum age.
    tokio::select! {
        _ = keepalive => unreachable!(),
        ev = next_event(&mut h.events) => {
            assert_eq!(ev.request_context.route_key.as_deref(), Some("$disconnect"));
            assert_eq!(
                ev.request_context.disconnect_reason.as_deref(),
                Some("Maximum connection duration reached")
            );
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn going_away_closes_every_connection_with_1001_and_disconnects_it() {
    let (mut h, mut client, _) = connected(|_| {}).await;
    let (mut other, _) = connect_async(h.server.ws_url("")).await.unwrap();
    next_event(&mut h.events).await;
    let gateway = h.server.state.clone();
    let stopping = tokio::spawn(async move { gateway.go_away(Duration::from_secs(5)).await });
    assert_eq!(close_code(&mut client).await, CloseCode::Away);
    assert_eq!(close_code(&mut other).await, CloseCode::Away);
    for _ in 0..2 {
        let ev = next_event(&mut h.events).await;
        assert_eq!(ev.request_context.route_key.as_deref(), Some("$disconnect"));
        assert_eq!(ev.request_context.disconnect_status_code, Some(1001));
    }
    assert_eq!(stopping.await.unwrap(), 2, "both were open");
    assert_eq!(h.server.state.open_connections(), 0);
    // A client coming back meanwhile is told to try elsewhere.
    let refused = connect_async(h.server.ws_url("")).await.unwrap_err();
    assert!(
        matches!(&refused, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 503),
        "{refused}"
    );
}
