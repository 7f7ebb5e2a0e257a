//! The `@connections` management API (post, get, delete), as API Gateway answers it.

use super::*;

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

pub(super) async fn post_to_connection(
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
    if !gw.limits.post_latency.is_zero() {
        tokio::time::sleep(gw.limits.post_latency).await;
    }
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

pub(super) async fn get_connection(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    let Some(conn) = gw.lookup(&id) else {
        return gone();
    };
    let last_active = Timestamp::from_unix_ms(conn.last_active_ms.load(Ordering::Relaxed));
    let body = json!({
        "connectedAt": conn.connected_at.to_string(),
        "lastActiveAt": last_active.to_string(),
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) async fn delete_connection(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
) -> Response {
    let Some(conn) = gw.lookup(&id) else {
        return gone();
    };
    let _ = conn.tx.send(Command::Close).await;
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn staged(
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
