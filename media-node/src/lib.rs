//! The media-node agent: nginx-rtmp's `on_publish` / `on_publish_done` hooks, the ffmpeg ladder,
//! the spool → S3 uploader, thumbnails, VOD playlists and heartbeats.
//!
//! Flow of one live: OBS publishes `rtmp://node/live/<stream key>` → nginx asks `/hooks/publish`
//! → the agent asks channels (signed `/internal/media/publish`) → on 200 the agent answers nginx
//! with a redirect that renames the stream to the live id (so the key never reaches ffmpeg's
//! command line, a file name or S3) → the agent probes the publisher (`nginx`) and starts ffmpeg
//! pulling `rtmp://127.0.0.1/live/<live id>` (`ffmpeg`, `ladder`) → each finished segment is
//! renamed into the spool, one inotify event (`recorder`) → the uploader measures it from its
//! timestamps (`ts`), puts it, then that rendition's live playlist (`lait_shared::hls`), then the
//! master (`upload`) → a heartbeat marks the live ready to list → on `on_publish_done` the agent
//! stops ffmpeg, drains the queue, writes the VOD playlists and calls `/internal/media/unpublish`
//! (`live`).
//!
//! Capacity (`capacity`): a node takes at most `LAIT_MAX_LIVES` lives; beyond that, or while it
//! drains after SIGTERM, a publisher is turned away before any live starts (channels records why
//! for the studio), `/ready` tells the load balancer to send new publishers elsewhere, and ECS
//! task protection keeps a node with lives out of scale-in and deploys.

pub mod capacity;
pub mod ctx;
pub mod ffmpeg;
pub mod finish;
pub mod ladder;
pub mod live;
pub mod nginx;
pub mod recorder;
pub mod sigv4;
pub mod ts;
pub mod upload;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use backon::{ExponentialBuilder, Retryable};
use lait_shared::{
    auth::secret,
    channels::{NodeRefusal, PublishRequest, PublishResponse, model::StreamKey},
    clock::Timestamp,
    config::Env,
    domain::ids::LiveId,
    signing,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the channels function's internal routes (lait-local locally).
    pub channels_url: String,
    pub media_secret: Vec<u8>,
    /// Where nginx's hooks reach the agent (loopback).
    pub bind: SocketAddr,
    /// nginx-rtmp's RTMP port (ffmpeg pulls from it on loopback).
    pub rtmp_port: u16,
    /// nginx's HTTP port on loopback: `/stat` and `/control`.
    pub nginx_http_port: u16,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub node_id: String,
    pub media_bucket: String,
    pub heartbeat_every: Duration,
    /// Least seconds a live playlist lists (never below 3 × target duration + one segment).
    pub window_secs: f64,
    pub ffmpeg: String,
    /// SigV4-sign the hook calls with the node's AWS identity (API Gateway with IAM auth).
    pub channels_sigv4: bool,
    /// The per-boot secret in nginx's hook URLs (`/hooks/<token>/…`): without it nothing else
    /// on the host can start or end a live through the agent.
    pub hook_token: String,
    /// Most lives at once (`LAIT_MAX_LIVES`, from the capacity bench for the node's size);
    /// 0 or unset: no limit.
    pub max_lives: Option<usize>,
    /// Where the load balancer's health check asks `GET /ready` (all interfaces on ECS).
    pub ready_bind: Option<SocketAddr>,
    /// After SIGTERM, how long lives may go on until their publishers leave before they are
    /// ended (ECS's stop timeout, 120 s at most, must cover this and closing the recordings).
    pub drain: Duration,
    /// The ECS agent's endpoint (`ECS_AGENT_URI`, set in every ECS task): task protection.
    pub ecs_agent_uri: Option<String>,
}

impl Config {
    pub fn read(env: &mut Env) -> Self {
        let secret: String = env.required("LAIT_MEDIA_SECRET");
        Self {
            channels_url: env
                .or("LAIT_CHANNELS_URL", "http://127.0.0.1:8080".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            media_secret: secret.into_bytes(),
            bind: env.or("LAIT_AGENT_BIND", SocketAddr::from(([127, 0, 0, 1], 1936))),
            rtmp_port: env.or("LAIT_RTMP_PORT", 1935),
            nginx_http_port: env.or("LAIT_NGINX_HTTP_PORT", 1937),
            spool_dir: env.or("LAIT_SPOOL_DIR", PathBuf::from("/var/spool/lait")),
            spool_max_bytes: env.or("LAIT_SPOOL_MAX_BYTES", 2u64 << 30),
            node_id: env.or("LAIT_NODE_ID", "local".to_owned()),
            media_bucket: env.required("LAIT_MEDIA_BUCKET"),
            heartbeat_every: env.secs_or("LAIT_HEARTBEAT_SECS", Duration::from_secs(10)),
            window_secs: env.or("LAIT_PLAYLIST_WINDOW_SECS", 0.0),
            ffmpeg: env.or("LAIT_FFMPEG", "ffmpeg".to_owned()),
            channels_sigv4: env.or("LAIT_CHANNELS_SIGV4", false),
            hook_token: {
                let token: String = env.required("LAIT_HOOK_TOKEN");
                if !token.is_empty() && token.len() < 32 {
                    env.problem("LAIT_HOOK_TOKEN", "must be at least 32 characters");
                }
                token
            },
            max_lives: env.optional::<usize>("LAIT_MAX_LIVES").filter(|&n| n > 0),
            ready_bind: env.optional("LAIT_READY_BIND"),
            drain: env.secs_or("LAIT_DRAIN_SECS", Duration::ZERO),
            ecs_agent_uri: env.optional("ECS_AGENT_URI"),
        }
    }
}

/// The agent's shared state.
#[derive(Clone)]
pub struct Agent {
    pub config: Arc<Config>,
    pub http: reqwest::Client,
    pub s3: aws_sdk_s3::Client,
    sigv4: Option<sigv4::SigV4>,
    /// Lives from their start until their recording is closed (each removes itself).
    lives: Arc<Mutex<HashMap<LiveId, live::Handle>>>,
    pub capacity: Arc<capacity::Capacity>,
    /// SHA-256 of the stream key → live: nginx-rtmp names the stream by its original name (the
    /// key) in `on_publish_done`, despite the rename.
    by_key: Arc<Mutex<HashMap<String, LiveId>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("channels answered {0}")]
    Status(StatusCode),
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    #[error("SigV4: {0}")]
    Signing(String),
}

impl CallError {
    /// Worth asking again: no answer, or channels (or the API in front of it) was unavailable.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status(s) => s.is_server_error() || *s == StatusCode::TOO_MANY_REQUESTS,
            Self::Signing(_) => false,
        }
    }
}

impl Agent {
    /// The agent from the environment and the AWS SDK's configuration (the main of the binary).
    pub fn from_env(env: &mut Env, sdk: &aws_config::SdkConfig) -> Self {
        let config = Config::read(env);
        let sigv4 = if config.channels_sigv4 {
            let signer = sigv4::SigV4::from_sdk(sdk);
            if signer.is_none() {
                env.problem("LAIT_CHANNELS_SIGV4", "needs AWS credentials and a region");
            }
            signer
        } else {
            None
        };
        let mut agent = Self::new(config, lait_shared::stores::aws::s3(sdk));
        agent.sigv4 = sigv4;
        agent
    }

    pub fn new(config: Config, s3: aws_sdk_s3::Client) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("reqwest client");
        Self {
            capacity: Arc::new(capacity::Capacity::new(config.max_lives)),
            config: Arc::new(config),
            http,
            s3,
            sigv4: None,
            lives: Arc::default(),
            by_key: Arc::default(),
        }
    }

    /// A signed call to channels' internal routes.
    pub async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<Option<T>, CallError> {
        let body = serde_json::to_vec(body).expect("serializable");
        let url = format!("{}{path}", self.config.channels_url);
        let mut headers: Vec<(String, String)> = signing::headers(
            &self.config.media_secret,
            Timestamp::now(),
            "POST",
            path,
            &body,
        )
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        headers.push((header::CONTENT_TYPE.to_string(), "application/json".into()));
        if let Some(signer) = &self.sigv4 {
            let signed = signer
                .headers("POST", &url, &headers, &body, std::time::SystemTime::now())
                .await
                .map_err(|e| CallError::Signing(e.to_string()))?;
            headers.extend(signed);
        }
        let mut req = self.http.post(url).timeout(timeout);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let res = req.body(body).send().await?;
        let status = res.status();
        if !status.is_success() {
            return Err(CallError::Status(
                StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            ));
        }
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(res.json().await?))
    }

    pub fn router(self) -> Router {
        // nginx-rtmp's hooks; not part of the HTTP API.
        #[allow(clippy::disallowed_methods)]
        Router::new()
            .route("/hooks/{token}/publish", post(on_publish))
            .route("/hooks/{token}/publish_done", post(on_publish_done))
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                hook_token,
            ))
            .with_state(self)
    }

    /// Number of lives this node is running.
    pub fn running(&self) -> usize {
        self.lives.lock().map(|l| l.len()).unwrap_or(0)
    }

    pub(crate) fn live_started(&self, live_id: LiveId, handle: live::Handle) {
        if let Ok(mut lives) = self.lives.lock() {
            lives.insert(live_id, handle);
        }
        self.capacity.changed.notify_waiters();
    }

    /// A live's task ended (its recording is closed): its place is free.
    pub(crate) fn live_finished(&self, live_id: &LiveId) {
        if let Ok(mut lives) = self.lives.lock() {
            lives.remove(live_id);
        }
        self.capacity.changed.notify_waiters();
    }

    /// Stops every live (agent shutdown) and waits until each is finished cleanly (VOD,
    /// unpublish).
    pub async fn shutdown(&self) {
        if let Ok(lives) = self.lives.lock() {
            for h in lives.values() {
                h.stop(live::Stop::Now);
            }
        }
        while self.running() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM: takes no new publisher and lets the lives run until their publishers leave, for
    /// `drain` at most; then ends what is left.
    pub async fn drain(&self) {
        self.capacity.start_draining();
        let until = tokio::time::Instant::now() + self.config.drain;
        if self.running() > 0 && !self.config.drain.is_zero() {
            tracing::info!(
                lives = self.running(),
                drain_secs = self.config.drain.as_secs(),
                "draining: no new publishers; lives go on until their publishers leave"
            );
        }
        while self.running() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tracing::info!(lives = self.running(), "shutting down: finishing lives");
        self.shutdown().await;
    }
}

/// Only nginx, which was given the per-boot token, may call the hooks; anything else is a 404
/// (and is not told whether the path exists).
async fn hook_token(
    State(agent): State<Agent>,
    Path(params): Path<HashMap<String, String>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = params.get("token").map(String::as_str).unwrap_or_default();
    if !secret::same(given, &agent.config.hook_token) {
        tracing::warn!("a hook call without the hook token was refused");
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(req).await
}

/// nginx-rtmp's notify form (only the fields we use).
#[derive(Debug, Deserialize)]
struct Notify {
    name: String,
    #[serde(default)]
    addr: String,
}

/// How long the agent takes at most to answer nginx's `on_publish`, calls to channels included
/// (nginx waits up to its `netcall_timeout`, 10 s in nginx.conf.template; OBS waits longer).
const PUBLISH_DEADLINE: Duration = Duration::from_secs(6);
/// One publish call at most: a slow answer (a cold function, a store under load) is asked for
/// again, which is safe because the node chose the live's id.
const PUBLISH_ATTEMPT: Duration = Duration::from_secs(3);

async fn on_publish(State(agent): State<Agent>, Form(n): Form<Notify>) -> Response {
    let admission = match agent.admit() {
        Ok(admission) => admission,
        Err(reason) => return turn_away(&agent, &n, reason).await,
    };
    let call = PublishRequest {
        stream_key: StreamKey::presented(&n.name),
        node_id: agent.config.node_id.clone(),
        client_addr: n.addr.clone(),
        live_id: Some(LiveId::new()),
        refused: None,
    };
    let started = std::time::Instant::now();
    let mut attempts = 0u32;
    let attempt = || {
        attempts += 1;
        let left = PUBLISH_DEADLINE.saturating_sub(started.elapsed());
        agent.call::<PublishResponse>("/internal/media/publish", &call, left.min(PUBLISH_ATTEMPT))
    };
    let res = attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1))
                .without_max_times(),
        )
        .when(|e| {
            e.is_transient() && started.elapsed() + Duration::from_millis(500) < PUBLISH_DEADLINE
        })
        .notify(|e, _| tracing::warn!(client = %n.addr, error = %e, "publish call failed; asking again"))
        .await;
    let took_ms = started.elapsed().as_millis() as u64;
    let info = match res {
        Ok(Some(info)) => info,
        Ok(None) => return StatusCode::FORBIDDEN.into_response(),
        Err(e) => {
            tracing::info!(client = %n.addr, error = %e, took_ms, attempts, "publish refused");
            return StatusCode::FORBIDDEN.into_response();
        }
    };
    let live_id = info.live_id;
    tracing::info!(%live_id, channel_id = %info.channel_id, took_ms, attempts, "publish accepted");
    live::start(agent.clone(), info);
    drop(admission);
    if let Ok(mut by_key) = agent.by_key.lock() {
        by_key.insert(secret::sha256_hex(&n.name), live_id);
    }
    // Rename the stream to the live id: from here on nginx, ffmpeg and the spool only see it.
    let mut res = StatusCode::FOUND.into_response();
    res.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&live_id.to_string()).expect("uuid is a header value"),
    );
    res
}

async fn on_publish_done(State(agent): State<Agent>, Form(n): Form<Notify>) -> StatusCode {
    let by_key = agent
        .by_key
        .lock()
        .ok()
        .and_then(|mut m| m.remove(&secret::sha256_hex(&n.name)));
    // Only a stream this agent accepted, by the key it was published with: a live id (or any
    // other name) ends nothing.
    let Some(live_id) = by_key else {
        return StatusCode::OK;
    };
    // The live finishes on its own task (the ladder encodes the rest, the recording is closed)
    // and then frees its place.
    if let Some(h) = agent
        .lives
        .lock()
        .ok()
        .as_ref()
        .and_then(|l| l.get(&live_id))
    {
        h.stop(live::Stop::Drain);
    }
    StatusCode::OK
}

/// Refuses a publisher this node cannot take, telling channels why (it checks the key, so only
/// the channel's owner learns it, in the studio). One quick call: the refusal stands whatever
/// channels answers, and OBS reconnects through the load balancer to a node with room.
async fn turn_away(agent: &Agent, n: &Notify, reason: NodeRefusal) -> Response {
    let call = PublishRequest {
        stream_key: StreamKey::presented(&n.name),
        node_id: agent.config.node_id.clone(),
        client_addr: n.addr.clone(),
        live_id: None,
        refused: Some(reason),
    };
    let told = agent
        .call::<PublishResponse>("/internal/media/publish", &call, Duration::from_secs(2))
        .await;
    tracing::info!(client = %n.addr, ?reason, lives = agent.running(), capacity = ?agent.config.max_lives, recorded = matches!(told, Err(CallError::Status(StatusCode::SERVICE_UNAVAILABLE))), "publish refused: {}", reason.describe());
    StatusCode::FORBIDDEN.into_response()
}

/// Serves the hooks (and `/ready`) until SIGINT/SIGTERM, then drains (see [`Agent::drain`]); a
/// second signal ends the lives at once.
pub async fn serve(agent: Agent) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(&agent.config.spool_dir).await?;
    finish::recover(&agent).await;
    let listener = tokio::net::TcpListener::bind(agent.config.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, capacity = ?agent.config.max_lives, "media agent listening");
    let router = agent.clone().router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    if let Some(bind) = agent.config.ready_bind {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let router = agent.clone().ready_router();
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    if let Some(uri) = agent.config.ecs_agent_uri.clone() {
        tokio::spawn(capacity::protect(agent.clone(), uri));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        r = server => { r??; return Ok(()); }
    }
    tokio::select! {
        () = agent.drain() => {}
        _ = tokio::signal::ctrl_c() => agent.shutdown().await,
        _ = term.recv() => agent.shutdown().await,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef-per-boot";

    fn agent() -> Agent {
        let mut env = Env::from_pairs([
            (
                "LAIT_MEDIA_SECRET",
                "a media secret of at least thirty-two bytes",
            ),
            ("LAIT_MEDIA_BUCKET", "media"),
            // Nothing listens here: a call that reaches channels fails, and is refused (403).
            ("LAIT_CHANNELS_URL", "http://127.0.0.1:1"),
            ("LAIT_HOOK_TOKEN", TOKEN),
        ]);
        let config = Config::read(&mut env);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .build(),
        );
        Agent::new(env.finish(config).unwrap(), s3)
    }

    async fn hook(agent: &Agent, path: &str, name: &str) -> StatusCode {
        let req = axum::http::Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "call=publish&name={name}&addr=127.0.0.1"
            )))
            .unwrap();
        agent.clone().router().oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn hooks_answer_only_with_the_per_boot_token() {
        let agent = agent();
        // Defect: anyone on the host could POST the hooks. Without the token: 404, before any
        // work (no call to channels, no live touched).
        for path in [
            "/hooks/publish".to_owned(),
            "/hooks/publish_done".to_owned(),
            "/hooks/wrong-token-of-the-same-length-as-it-is/publish".to_owned(),
            format!("/hooks/{}x/publish_done", TOKEN),
        ] {
            assert_eq!(
                hook(&agent, &path, "lait_key").await,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        // With it, the hook runs: channels is unreachable here, so the publish is refused.
        let publish = format!("/hooks/{TOKEN}/publish");
        assert_eq!(
            hook(&agent, &publish, "lait_key").await,
            StatusCode::FORBIDDEN
        );
        let done = format!("/hooks/{TOKEN}/publish_done");
        assert_eq!(
            hook(&agent, &done, &LiveId::new().to_string()).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_full_or_draining_node_turns_publishers_away_and_tells_the_load_balancer() {
        let mut agent = agent();
        agent.capacity = Arc::new(capacity::Capacity::new(Some(1)));
        let ready = |agent: &Agent| {
            let req = axum::http::Request::get("/ready")
                .body(Body::empty())
                .unwrap();
            let router = agent.clone().ready_router();
            async move { router.oneshot(req).await.unwrap().status() }
        };
        assert_eq!(ready(&agent).await, StatusCode::OK);
        // A place held (a live running, or being asked for): full, and the hook refuses at once.
        let held = agent.admit().unwrap();
        assert!(matches!(agent.admit(), Err(NodeRefusal::NodeFull)));
        assert_eq!(ready(&agent).await, StatusCode::SERVICE_UNAVAILABLE);
        let publish = format!("/hooks/{TOKEN}/publish");
        assert_eq!(
            hook(&agent, &publish, "lait_key").await,
            StatusCode::FORBIDDEN
        );
        drop(held);
        assert_eq!(ready(&agent).await, StatusCode::OK);
        // SIGTERM: no new publisher, whatever the room.
        agent.capacity.start_draining();
        assert!(matches!(agent.admit(), Err(NodeRefusal::NodeDraining)));
        assert_eq!(ready(&agent).await, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn the_hook_token_is_required_and_long() {
        for token in [None, Some("short")] {
            let mut pairs = vec![
                (
                    "LAIT_MEDIA_SECRET",
                    "a media secret of at least thirty-two bytes",
                ),
                ("LAIT_MEDIA_BUCKET", "media"),
            ];
            pairs.extend(token.map(|t| ("LAIT_HOOK_TOKEN", t)));
            let mut env = Env::from_pairs(pairs);
            let config = Config::read(&mut env);
            let err = env.finish(config).unwrap_err().to_string();
            assert!(err.contains("LAIT_HOOK_TOKEN"), "{err}");
        }
    }
}
