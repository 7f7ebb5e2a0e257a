//! lait-local as a whole, against the real stores: health
//! with dependencies going away, the local CDN, the web app and the problem+json fallbacks.

mod common;

use common::*;
use serde_json::Value;

async fn get_json(url: &str) -> (u16, Value) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Each dependency's status in a health report: redis, dynamodb, s3.
fn statuses(health: &Value) -> [&str; 3] {
    ["redis", "dynamodb", "s3"].map(|dep| {
        health["dependencies"][dep]["status"]
            .as_str()
            .unwrap_or_default()
    })
}

/// Starts lait-local with `overrides`, checks it healthy, then kills `dependency` (which those
/// overrides point at); the app and its health report after.
async fn health_after_killing(mut dependency: Proc, overrides: &[(&str, &str)]) -> (Server, Value) {
    let app = start_app(overrides).await;
    let (status, body) = get_json(&app.url("/health")).await;
    assert_eq!(status, 200, "{body}");

    dependency.kill();
    let (status, body) = get_json(&app.url("/health")).await;
    assert_eq!(status, 503, "{body}");
    (app, body)
}

#[tokio::test]
async fn health_reports_every_dependency_up() {
    let app = start_app(&[]).await;
    let (status, body) = get_json(&app.url("/health")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(statuses(&body), ["up", "up", "up"], "{body}");
    for dep in ["redis", "dynamodb", "s3"] {
        assert!(body["dependencies"][dep]["latency_ms"].as_f64().unwrap() >= 0.0);
    }
}

#[tokio::test]
async fn health_names_redis_when_it_dies() {
    let (redis, port) = own_redis().await;
    let url = format!("redis://127.0.0.1:{port}");
    let (app, body) = health_after_killing(redis, &[("REDIS_URL", &url)]).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(statuses(&body), ["down", "up", "up"]);
    assert!(body["dependencies"]["redis"]["error"].is_string());
    // The gateway itself keeps serving.
    let (status, _) = get_json(&app.url("/api/nope")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn health_names_moto_when_it_dies() {
    let (moto, port) = own_moto().await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let (_app, body) = health_after_killing(moto, &[("AWS_ENDPOINT_URL", &endpoint)]).await;
    assert_eq!(statuses(&body), ["up", "down", "down"]);
}

/// A DynamoDB that accepts connections and never answers (a partition, a stalled endpoint): a
/// request that needs it is a 503 problem+json within the SDK timeouts, not held open.
#[tokio::test]
async fn a_silent_dynamodb_is_a_503_within_the_timeouts() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let app = start_app(&[("AWS_ENDPOINT_URL", &endpoint)]).await;
    let started = std::time::Instant::now();
    let channel = uuid::Uuid::now_v7();
    let res = reqwest::get(app.url(&format!("/api/channels/{channel}")))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "urn:lait:problem:unavailable", "{body}");
    assert!(took < std::time::Duration::from_secs(9), "{took:?}");
}

#[tokio::test]
async fn missing_tables_make_dynamodb_down() {
    let app = start_app(&[("LAIT_TABLE_PREFIX", "missing-")]).await;
    let (status, body) = get_json(&app.url("/health")).await;
    assert_eq!(status, 503);
    let err = body["dependencies"]["dynamodb"]["error"].as_str().unwrap();
    assert!(err.contains("missing-users"), "{err}");
}

#[tokio::test]
async fn media_is_served_from_s3_with_stored_headers_and_cors() {
    let app = start_app(&[]).await;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = lait_shared::stores::aws::s3(&sdk);
    let bucket = require_env("LAIT_MEDIA_BUCKET");
    let key = format!("live/test-{}/master.m3u8", uuid::Uuid::new_v4());
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"#EXTM3U\n".to_vec().into())
        .content_type("application/vnd.apple.mpegurl")
        .cache_control("max-age=1")
        .send()
        .await
        .unwrap();

    let res = reqwest::Client::new()
        .get(app.url(&format!("/media/{key}")))
        .header("origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for (name, stored) in [
        ("content-type", "application/vnd.apple.mpegurl"),
        ("cache-control", "max-age=1"),
        ("access-control-allow-origin", "*"),
    ] {
        assert_eq!(res.headers()[name], stored, "{name}");
    }
    assert_eq!(res.text().await.unwrap(), "#EXTM3U\n");

    let res = reqwest::get(app.url("/media/live/nothing-here.ts"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn web_app_and_api_fallbacks() {
    let dir = std::env::temp_dir().join(format!("lait-web-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>lait</h1>").unwrap();
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/index-abc123.js"), "export {}").unwrap();
    let app = start_app(&[("LAIT_WEB_DIR", dir.to_str().unwrap())]).await;

    // Every app route gets index.html, never cached, with the browser security headers.
    for path in ["/", "/c/abc", "/v/abc/", "/studio"] {
        let res = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(res.text().await.unwrap(), "<h1>lait</h1>");
    }
    // Hashed assets are cached for good; a missing one is not cached as the app shell.
    let res = reqwest::get(app.url("/assets/index-abc123.js"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let res = reqwest::get(app.url("/assets/gone-123.js")).await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    // Where the bundle finds the API, the WebSocket API and the CDN.
    let res = reqwest::get(app.url("/config.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let config: Value = res.json().await.unwrap();
    assert_eq!(
        config,
        serde_json::json!({"api_base": "", "ws_url": "/ws", "cdn_base": "/media", "kakao": false})
    );
    // API responses are not sniffed either.
    let res = reqwest::get(app.url("/api/lives")).await.unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let res = reqwest::get(app.url("/api/does-not-exist")).await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().contains_key("x-request-id"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bad_json_and_big_bodies_are_problems_through_the_gateway() {
    let app = start_app(&[]).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(app.url("/api/auth/signup"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let res = post(r#"{"email": "a@b.co", "#.into()).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "urn:lait:problem:invalid-json");

    let res = post(r#"{"email": "a@b.co", "nickname": ["x"], "password": "x"}"#.into())
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "nickname");

    let big = format!(r#"{{"email": "{}"}}"#, "a".repeat(1 << 20));
    let res = post(big).await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 413);
}
