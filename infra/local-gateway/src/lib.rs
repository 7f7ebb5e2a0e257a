//! lait-local: the local API Gateway. One process mounting every function's Router under its HTTP
//! API routes, emulating the WebSocket API and its `@connections` management API, serving the web
//! app and standing in for the CDN on `/media/*`.

pub mod gateway;
pub mod health;
pub mod media;
pub mod web;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderValue, Method, header},
    routing::{any, get},
};
use lait_shared::{config::Env, runtime::Deps};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

pub use gateway::{Gateway, WsLimits};

/// lait-local's own settings.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub bind: SocketAddr,
    pub web_dir: PathBuf,
    /// What the web app reads from `/config.json`.
    pub web: web::WebConfig,
    pub ws: WsLimits,
    /// Origins allowed to call `/api` cross-origin (the web app itself is same-origin).
    pub cors_origins: Vec<String>,
    /// How often the reaper looks for lives without heartbeats.
    pub reaper_every: Duration,
}

impl LocalConfig {
    pub fn read(env: &mut Env) -> Self {
        let defaults = WsLimits::default();
        let cors_origins = env.list_or("LAIT_CORS_ORIGINS", &[]);
        for origin in &cors_origins {
            // The seed's origins had trailing slashes and never matched; refuse them up front.
            if origin.ends_with('/') || HeaderValue::from_str(origin).is_err() {
                env.problem(
                    "LAIT_CORS_ORIGINS",
                    format!(
                        "{origin:?} is not an origin (scheme://host[:port], no trailing slash)"
                    ),
                );
            }
        }
        Self {
            bind: env.or("LAIT_BIND", SocketAddr::from(([127, 0, 0, 1], 8080))),
            web_dir: env.or("LAIT_WEB_DIR", PathBuf::from("web/dist")),
            web: web::WebConfig::read(env),
            ws: WsLimits {
                idle_timeout: env.secs_or("LAIT_WS_IDLE_TIMEOUT_SECS", defaults.idle_timeout),
                max_age: env.secs_or("LAIT_WS_MAX_AGE_SECS", defaults.max_age),
                post_latency: Duration::from_millis(env.or("LAIT_WS_POST_LATENCY_MS", 0u64)),
                connect_rate: env.or("LAIT_WS_CONNECT_RATE", defaults.connect_rate),
                ..defaults
            },
            cors_origins,
            reaper_every: env.secs_or("LAIT_REAPER_INTERVAL_SECS", Duration::from_secs(5)),
        }
    }
}

/// Every function's state, built from one environment.
pub struct App {
    pub config: LocalConfig,
    pub deps: Deps,
    pub auth: lait_auth::State,
    pub channels: lait_channels::State,
    pub chat_api: lait_chat_api::State,
    pub chat_ws: lait_chat_ws::State,
}

impl App {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        let mut config = LocalConfig::read(env);
        let auth = lait_auth::State::new(env, deps.clone());
        config.web.kakao = auth.kakao.is_some();
        Self {
            config,
            auth,
            channels: lait_channels::State::new(env, deps.clone()),
            chat_api: lait_chat_api::State::new(env, deps.clone()),
            chat_ws: lait_chat_ws::State::new(env, deps.clone()),
            deps,
        }
    }

    /// The whole local gateway, for a server listening on `addr`.
    // The emulator's own paths (/health, /media, /ws, /@connections, /api/openapi.json) are not
    // routes of the HTTP API, so they are not in its spec.
    #[allow(clippy::disallowed_methods)]
    pub fn router(self, addr: SocketAddr) -> (Router, Gateway) {
        let base = format!("http://{addr}");
        let chat_ws = self.chat_ws.with_callback_url(&base);
        let gateway = Gateway::new(
            Arc::new(lait_chat_ws::Handler(chat_ws)),
            self.config.ws.clone(),
            addr.to_string(),
        );

        let mut api = Router::new()
            .merge(lait_auth::router(self.auth))
            .merge(lait_channels::router(self.channels))
            .merge(lait_chat_api::router(self.chat_api))
            .route("/api/openapi.json", get(|| async { axum::Json(openapi()) }))
            // Unmatched `/api/*` paths get a problem+json 404, not the web app.
            .route("/api/{*rest}", any(lait_shared::http::not_found));
        if let Some(cors) = api_cors(&self.config.cors_origins) {
            // The 405 fallback is set first so the CORS layer wraps it: set later (by
            // `http::layers`) it would replace the layered one and answer preflights with 405.
            api = api
                .method_not_allowed_fallback(lait_shared::http::method_not_allowed)
                .layer(cors);
        }

        let media = Router::new()
            .route("/media/{*key}", get(media::get_object))
            .layer(
                CorsLayer::new()
                    .allow_origin(Any)
                    .allow_methods([Method::GET, Method::HEAD])
                    .expose_headers([header::CONTENT_LENGTH, header::ETAG]),
            )
            .route("/health", get(health::health))
            .with_state(self.deps.clone());

        let site = web::router(&self.config.web_dir, self.config.web.clone());

        let router = Router::new().merge(api).merge(media).merge(site);
        // The WebSocket and @connections emulation is API Gateway itself, not a function behind
        // it: it skips the functions' layers (request ids, tracing, body limit), which would also
        // cost every fan-out PostToConnection call.
        let router = web::common_headers(
            lait_shared::http::layers(router, &self.deps.http).merge(gateway.clone().router()),
        );
        (router, gateway)
    }

    /// Binds, serves until Ctrl-C / SIGTERM, then stops (open WebSockets get a short grace).
    pub async fn serve(self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.config.bind).await?;
        let addr = listener.local_addr()?;
        // The reaper: API Gateway has a schedule for it; locally a timer.
        tokio::spawn(lait_channels::reaper_loop(
            self.channels.reaper(),
            self.config.reaper_every,
        ));
        // Chat's sweep (rooms whose flusher died): also a schedule on AWS.
        tokio::spawn(chat_sweep_loop(
            self.chat_api.chat.clone(),
            self.chat_ws.outbox_at(&format!("http://{addr}")),
            self.config.reaper_every,
        ));
        let (router, gateway) = self.router(addr);
        tracing::info!("lait-local listening on http://{addr}");
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        });
        let server = tokio::spawn(async move { server.await });
        shutdown_signal().await;
        tracing::info!("shutting down");
        // WebSockets first, while the @connections API still answers their last invocations:
        // each is closed with 1001 and gets its $disconnect (at most 3 s for all).
        let closed = gateway.go_away(Duration::from_secs(3)).await;
        tracing::info!(websockets = closed, "websockets closed");
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
        Ok(())
    }
}

/// Flushes chat rooms left with undelivered messages by a flusher that died.
pub async fn chat_sweep_loop(
    chat: Arc<lait_shared::chat::Chat>,
    out: Arc<dyn lait_shared::chat::Outbox>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match chat.sweep(&out).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(rooms = n, "chat sweep flushed stranded messages"),
            Err(e) => tracing::warn!(error = %e, "chat sweep failed"),
        }
    }
}

/// The OpenAPI document as `web/openapi.json` holds it: pretty JSON, one trailing newline.
pub fn openapi_json() -> String {
    let mut json = serde_json::to_string_pretty(&openapi()).expect("the spec serializes");
    json.push('\n');
    json
}

/// Every route each function serves, keyed by its Lambda binary, as a deployment must list
/// them: `METHOD /path` from each function's OpenAPI (channels' internal hooks too), then
/// chat-ws's WebSocket route keys. `lait-openapi --routes` prints them, and
/// tests/e2e/template_routes.py holds template.yaml to exactly this list.
pub fn routes() -> Vec<(&'static str, String)> {
    let http = [
        ("auth", vec![lait_auth::openapi()]),
        (
            "channels",
            vec![lait_channels::openapi(), lait_channels::internal_openapi()],
        ),
        ("chat-api", vec![lait_chat_api::openapi()]),
    ];
    let mut out = Vec::new();
    for (binary, docs) in http {
        for doc in docs {
            for (path, item) in doc.paths.paths {
                let ops = [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("DELETE", &item.delete),
                    ("PATCH", &item.patch),
                    ("HEAD", &item.head),
                    ("OPTIONS", &item.options),
                ];
                for (method, op) in ops {
                    if op.is_some() {
                        out.push((binary, format!("{method} {path}")));
                    }
                }
            }
        }
    }
    let ws = ["$connect", "$disconnect", "$default"]
        .into_iter()
        .chain(lait_shared::chat::protocol::Action::ROUTES);
    out.extend(ws.map(|key| ("chat-ws", key.to_owned())));
    out
}

/// The OpenAPI document of every function's routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    lait_shared::openapi::document([
        lait_auth::openapi(),
        lait_channels::openapi(),
        lait_chat_api::openapi(),
    ])
}

fn api_cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(Duration::from_secs(600)),
    )
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
