//! chat-ws: the WebSocket API's integration. One handler for `$connect`, `$disconnect` and every
//! routed action; replies go back through the `@connections` management API, the same on AWS and
//! under lait-local.

use std::{collections::HashMap, sync::Mutex};

use aws_sdk_apigatewaymanagement::{Client as ManagementClient, primitives::Blob};
use futures::{FutureExt, future::BoxFuture};
use lait_shared::{
    config::Env,
    runtime::Deps,
    ws::{self, WsEvent, WsHandler, WsResponse},
};
use serde_json::json;

pub struct State {
    pub deps: Deps,
    /// Management API endpoint override (lait-local); on AWS it is derived from each event.
    callback_url: Option<String>,
    clients: Mutex<HashMap<String, ManagementClient>>,
}

impl State {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        Self {
            deps,
            callback_url: env.optional("LAIT_WS_CALLBACK_URL"),
            clients: Mutex::default(),
        }
    }

    /// Uses `url` for the management API instead of the event's domain and stage.
    pub fn with_callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }

    fn endpoint(&self, event: &WsEvent) -> Option<String> {
        if let Some(url) = &self.callback_url {
            return Some(url.clone());
        }
        let ctx = &event.request_context;
        let domain = ctx.domain_name.as_deref()?;
        let stage = ctx.stage.as_deref()?;
        Some(format!("https://{domain}/{stage}"))
    }

    /// One client per endpoint, built once per process.
    fn management(&self, endpoint: &str) -> ManagementClient {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.deps.sdk)
                    .endpoint_url(endpoint)
                    .build();
                ManagementClient::from_conf(conf)
            })
            .clone()
    }

    async fn post(&self, event: &WsEvent, payload: serde_json::Value) {
        let (Some(endpoint), Some(id)) = (
            self.endpoint(event),
            event.request_context.connection_id.as_deref(),
        ) else {
            tracing::warn!("event without endpoint or connection id; reply dropped");
            return;
        };
        let result = self
            .management(&endpoint)
            .post_to_connection()
            .connection_id(id)
            .data(Blob::new(payload.to_string()))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(connection_id = id, error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e), "post to connection failed");
        }
    }
}

/// Routes declared on the WebSocket API besides `$connect`, `$disconnect` and `$default`.
pub const ROUTES: &[&str] = &["ping"];

pub struct Handler(pub State);

impl Handler {
    async fn dispatch(&self, event: WsEvent) -> WsResponse {
        let route = event.request_context.route_key.clone().unwrap_or_default();
        match route.as_str() {
            ws::CONNECT | ws::DISCONNECT => ws::response(200, None),
            "ping" => {
                self.0.post(&event, json!({"type": "pong"})).await;
                ws::response(200, None)
            }
            _ => {
                self.0
                    .post(
                        &event,
                        json!({"type": "error", "code": "bad_request", "message": "unknown or missing action"}),
                    )
                    .await;
                ws::response(200, None)
            }
        }
    }
}

impl WsHandler for Handler {
    fn routes(&self) -> &[&'static str] {
        ROUTES
    }

    fn handle(&self, event: WsEvent) -> BoxFuture<'_, WsResponse> {
        self.dispatch(event).boxed()
    }
}
