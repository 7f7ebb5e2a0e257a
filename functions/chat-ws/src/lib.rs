//! chat-ws: the WebSocket API's integration. One handler for `$connect`, `$disconnect` and every
//! routed action; replies and room fan-out go through the `@connections` management API, the
//! same on AWS and under lait-local. The protocol is in docs/chat-protocol.md.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{FutureExt, future::BoxFuture};
use lait_shared::{
    chat::{
        Chat, ChatConfig, ChatError, DEFAULT_HISTORY, MAX_HISTORY, ModAction, Outbox, Payload,
        PostError,
        model::{AckTo, MessageId},
    },
    config::Env,
    domain::ids::UserId,
    runtime::Deps,
    ws::{self, WsEvent, WsHandler, WsResponse},
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

mod outbox;
pub use outbox::ApiOutbox;

pub struct State {
    pub deps: Deps,
    pub chat: Chat,
    /// Management API endpoint override (lait-local); on AWS it is derived from each event.
    callback_url: Option<String>,
    outboxes: Mutex<HashMap<String, Arc<dyn Outbox>>>,
}

impl State {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        Self {
            chat: Chat::new(&deps, ChatConfig::read(env)),
            deps,
            callback_url: env.optional("LAIT_WS_CALLBACK_URL"),
            outboxes: Mutex::default(),
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

    /// The management API at `endpoint`; one outbox (client, pool, credentials) per endpoint,
    /// built once per process.
    pub fn outbox_at(&self, endpoint: &str) -> Arc<dyn Outbox> {
        let mut outboxes = self.outboxes.lock().unwrap_or_else(|p| p.into_inner());
        outboxes
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(ApiOutbox::new(&self.deps.sdk, endpoint)))
            .clone()
    }

    /// The outbox at the configured `LAIT_WS_CALLBACK_URL`, for work without an event (the sweep).
    pub fn callback_outbox(&self) -> Option<Arc<dyn Outbox>> {
        self.callback_url.as_deref().map(|u| self.outbox_at(u))
    }
}

/// Routes declared on the WebSocket API besides `$connect`, `$disconnect` and `$default`.
pub const ROUTES: &[&str] = &[
    "send", "history", "delete", "timeout", "ban", "unban", "slow", "clear", "ping",
];

const MODERATION: &[&str] = &["delete", "timeout", "ban", "unban", "slow", "clear"];

pub struct Handler(pub State);

/// A client frame: a JSON object with `action`, optional `request_id` echoed in the answer.
struct Frame {
    action: String,
    request_id: Option<Value>,
    body: Map<String, Value>,
}

impl Frame {
    fn parse(route: &str, raw: Option<&str>) -> Result<Self, (Option<Value>, ChatError)> {
        let bad = |m: &str| (None, ChatError::BadRequest(m.to_owned()));
        let value: Value = serde_json::from_str(raw.unwrap_or("")).map_err(|_| {
            bad("frames must be JSON objects like {\"action\":\"send\",\"text\":\"hi\"}")
        })?;
        let Value::Object(body) = value else {
            return Err(bad("frames must be JSON objects"));
        };
        // Echo only short scalar ids, so an answer never grows with what a client sent.
        let request_id = body
            .get("request_id")
            .filter(|v| v.is_number() || v.as_str().is_some_and(|s| s.len() <= 64))
            .cloned();
        if route == ws::DEFAULT {
            let err = match body.get("action") {
                None => ChatError::BadRequest("missing field action".into()),
                Some(Value::String(a)) => ChatError::BadRequest(format!("unknown action {a:?}")),
                Some(_) => ChatError::BadRequest("action must be a string".into()),
            };
            return Err((request_id, err));
        }
        Ok(Self {
            action: route.to_owned(),
            request_id,
            body,
        })
    }

    fn optional<T: DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, ChatError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| ChatError::BadRequest(format!("{name} must be {what}"))),
        }
    }

    fn required<T: DeserializeOwned>(&self, name: &str, what: &str) -> Result<T, ChatError> {
        self.optional(name, what)?
            .ok_or_else(|| ChatError::BadRequest(format!("missing field {name}")))
    }

    fn user_id(&self) -> Result<UserId, ChatError> {
        let raw: String = self.required("user_id", "a user id")?;
        raw.parse()
            .map_err(|_| ChatError::BadRequest("user_id must be a user id".into()))
    }

    fn message_id(&self, name: &str) -> Result<Option<MessageId>, ChatError> {
        let raw: Option<String> = self.optional(name, "a message id")?;
        raw.map(|r| {
            r.parse()
                .map_err(|_| ChatError::BadRequest(format!("{name} must be a message id")))
        })
        .transpose()
    }

    fn mod_action(&self) -> Result<ModAction, ChatError> {
        Ok(match self.action.as_str() {
            "delete" => ModAction::Delete {
                message_id: self
                    .message_id("message_id")?
                    .ok_or_else(|| ChatError::BadRequest("missing field message_id".into()))?,
            },
            "timeout" => ModAction::Timeout {
                user_id: self.user_id()?,
                seconds: self
                    .optional("seconds", "a number of seconds")?
                    .unwrap_or(600),
            },
            "ban" => ModAction::Ban {
                user_id: self.user_id()?,
                reason: self
                    .optional::<String>("reason", "a string")?
                    .map(|r| lait_shared::domain::clean_text(&r, false))
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            },
            "unban" => ModAction::Unban {
                user_id: self.user_id()?,
            },
            "slow" => ModAction::Slow {
                seconds: self.required("seconds", "a number of seconds (0 = off)")?,
            },
            "clear" => ModAction::Clear,
            other => return Err(ChatError::BadRequest(format!("unknown action {other:?}"))),
        })
    }
}

impl Handler {
    fn query<'a>(event: &'a WsEvent, name: &str) -> Option<&'a str> {
        event
            .query_string_parameters
            .first(name)
            .filter(|v| !v.is_empty())
    }

    async fn on_connect(&self, event: &WsEvent, id: &str) -> WsResponse {
        let chat = &self.0.chat;
        match chat
            .connect(
                id,
                Self::query(event, "channel"),
                Self::query(event, "ticket"),
            )
            .await
        {
            Ok(_) => ws::response(200, None),
            Err(e) => {
                let status = match &e {
                    ChatError::BadRequest(_) => 400,
                    ChatError::NotFound(_) => 404,
                    ChatError::Forbidden(_) | ChatError::Banned => 403,
                    ChatError::Internal(err) => {
                        tracing::error!(connection_id = id, error = %err, "$connect failed");
                        500
                    }
                    _ => 403,
                };
                ws::response(status, Some(e.message()))
            }
        }
    }

    async fn on_message(&self, out: &Arc<dyn Outbox>, id: &str, route: &str, body: Option<&str>) {
        let frame = match Frame::parse(route, body) {
            Ok(f) => f,
            Err((request_id, e)) => return self.reply_error(out, id, None, request_id, &e).await,
        };
        match self.act(out, id, &frame).await {
            Ok(Some(answer)) => self.reply(out, id, answer).await,
            Ok(None) => {}
            Err(e) => {
                self.reply_error(out, id, Some(&frame.action), frame.request_id.clone(), &e)
                    .await
            }
        }
    }

    /// Does what a frame asks; `Some(answer)` is posted to the sender.
    async fn act(
        &self,
        out: &Arc<dyn Outbox>,
        id: &str,
        f: &Frame,
    ) -> Result<Option<Value>, ChatError> {
        let chat = &self.0.chat;
        let with_request_id = |mut v: Value| {
            if let Some(r) = &f.request_id {
                v["request_id"] = r.clone();
            }
            v
        };
        // Every action, ping included, needs the registration: a connection Redis forgot gets
        // `reconnect` and is closed, so the client reconnects, re-registers and resumes.
        let conn = match chat.connection(id).await {
            Err(ChatError::Unregistered) => {
                self.reply_error(
                    out,
                    id,
                    Some(&f.action),
                    f.request_id.clone(),
                    &ChatError::Unregistered,
                )
                .await;
                if let Err(PostError::Other(e)) = out.close(id).await {
                    tracing::warn!(connection_id = id, error = %e, "closing an unregistered connection failed");
                }
                return Ok(None);
            }
            other => other?,
        };
        if f.action == "ping" {
            return Ok(Some(with_request_id(json!({"type": "pong"}))));
        }
        let ch = conn.channel_id;
        if MODERATION.contains(&f.action.as_str()) {
            // Permission first: a non-moderator learns nothing about the frame's fields.
            let m = chat
                .moderator(&ch, conn.user.as_ref().map(|u| &u.id))
                .await?;
            let action = f.mod_action()?;
            chat.moderate(&m, action, out).await?;
            return Ok(Some(with_request_id(
                json!({"type": "ack", "action": f.action}),
            )));
        }
        match f.action.as_str() {
            "send" => {
                let text: String = f.required("text", "a string")?;
                let ack = AckTo {
                    connection_id: id.to_owned(),
                    request_id: f.request_id.clone(),
                };
                chat.send(&conn, &text, Some(ack)).await?;
                // The message is accepted; the flusher acks it once archived. A failed flush
                // leaves it in the stream for the next flusher or the sweep, so it is not this
                // sender's error.
                if let Err(e) = chat.flush(&ch, out, true).await {
                    tracing::error!(channel_id = %ch, error = %e, "chat flush failed; left for the next flusher");
                }
                Ok(None)
            }
            "history" => {
                let limit: Option<usize> = f.optional("limit", "a number")?;
                if limit.is_some_and(|l| l == 0 || l > MAX_HISTORY) {
                    return Err(ChatError::BadRequest(format!(
                        "limit must be between 1 and {MAX_HISTORY}"
                    )));
                }
                let (messages, more) = match f.message_id("after")? {
                    Some(after) => {
                        chat.history_after(&ch, after, limit.unwrap_or(MAX_HISTORY))
                            .await?
                    }
                    None => (
                        chat.history_before(&ch, None, limit.unwrap_or(DEFAULT_HISTORY))
                            .await?,
                        false,
                    ),
                };
                Ok(Some(with_request_id(
                    json!({"type": "history", "messages": messages, "more": more}),
                )))
            }
            other => Err(ChatError::BadRequest(format!("unknown action {other:?}"))),
        }
    }

    async fn reply(&self, out: &Arc<dyn Outbox>, id: &str, answer: Value) {
        match out.post(id, &Payload::new(answer.to_string())).await {
            Ok(()) | Err(PostError::Gone) => {}
            Err(PostError::Other(e)) => {
                tracing::warn!(connection_id = id, error = %e, "reply failed")
            }
        }
    }

    async fn reply_error(
        &self,
        out: &Arc<dyn Outbox>,
        id: &str,
        action: Option<&str>,
        request_id: Option<Value>,
        e: &ChatError,
    ) {
        if let ChatError::Internal(err) = e {
            tracing::error!(connection_id = id, error = %err, "chat action failed");
        }
        let mut v = json!({"type": "error", "code": e.code(), "message": e.message()});
        if let Some(a) = action {
            v["action"] = json!(a);
        }
        if let Some(r) = request_id {
            v["request_id"] = r;
        }
        if let Some(ms) = e.retry_after_ms() {
            v["retry_after_ms"] = json!(ms);
        }
        self.reply(out, id, v).await;
    }

    async fn dispatch(&self, event: WsEvent) -> WsResponse {
        let route = event.request_context.route_key.clone().unwrap_or_default();
        let Some(id) = event.request_context.connection_id.clone() else {
            tracing::warn!("event without a connection id");
            return ws::response(400, None);
        };
        match route.as_str() {
            ws::CONNECT => self.on_connect(&event, &id).await,
            ws::DISCONNECT => {
                if let Err(e) = self.0.chat.disconnect(&id).await {
                    tracing::warn!(connection_id = id, error = %e, "$disconnect cleanup failed");
                }
                ws::response(200, None)
            }
            _ => {
                let Some(endpoint) = self.0.endpoint(&event) else {
                    tracing::warn!("event without a management endpoint; dropped");
                    return ws::response(200, None);
                };
                let out = self.0.outbox_at(&endpoint);
                self.on_message(&out, &id, &route, event.body.as_deref())
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
