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
        model::AckTo,
        protocol::{Action, ClientFrame, HistoryLimit, Request, RequestId, ServerFrame},
    },
    config::Env,
    domain::ids::ConnectionId,
    runtime::{Clients, Deps},
    ws::{self, WsEvent, WsHandler, WsResponse},
};

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
            chat: Chat::new(&deps.clients(), ChatConfig::read(env)),
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
}

/// What the scheduled sweep needs: the chat stores and the management API at
/// `LAIT_WS_CALLBACK_URL` (a scheduled event names no endpoint). No token secrets.
pub struct Sweeper {
    pub chat: Chat,
    pub outbox: Arc<dyn Outbox>,
}

impl Sweeper {
    pub fn new(env: &mut Env, clients: Clients) -> Self {
        let url: String = env.required("LAIT_WS_CALLBACK_URL");
        Self {
            chat: Chat::new(&clients, ChatConfig::read(env)),
            outbox: Arc::new(ApiOutbox::new(&clients.sdk, &url)),
        }
    }
}

pub struct Handler(pub State);

impl Handler {
    fn query<'a>(event: &'a WsEvent, name: &str) -> Option<&'a str> {
        event
            .query_string_parameters
            .first(name)
            .filter(|v| !v.is_empty())
    }

    async fn on_connect(&self, event: &WsEvent, id: &ConnectionId) -> WsResponse {
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
                if let ChatError::Internal(err) = &e {
                    tracing::error!(connection_id = id.as_str(), error = %err, "$connect failed");
                }
                ws::response(e.status().as_u16(), Some(e.message()))
            }
        }
    }

    async fn on_message(&self, out: &Arc<dyn Outbox>, id: &ConnectionId, body: Option<&str>) {
        let req = match Request::parse(body) {
            Ok(r) => r,
            Err(e) => {
                let err = ChatError::BadRequest(e.message);
                return self.reply_error(out, id, None, e.request_id, &err).await;
            }
        };
        match self.act(out, id, &req).await {
            Ok(Some(answer)) => self.reply(out, id, &answer).await,
            Ok(None) => {}
            Err(e) => {
                self.reply_error(out, id, Some(req.action), req.request_id.clone(), &e)
                    .await
            }
        }
    }

    /// Does what a frame asks; `Some(answer)` is posted to the sender.
    async fn act(
        &self,
        out: &Arc<dyn Outbox>,
        id: &ConnectionId,
        req: &Request,
    ) -> Result<Option<ServerFrame>, ChatError> {
        let chat = &self.0.chat;
        let request_id = req.request_id.clone();
        // Every action, ping included, needs the registration: a connection Redis forgot gets
        // `reconnect` and is closed, so the client reconnects, re-registers and resumes.
        let conn = match chat.connection(id).await {
            Err(ChatError::Unregistered) => {
                let e = ChatError::Unregistered;
                self.reply_error(out, id, Some(req.action), request_id, &e)
                    .await;
                if let Err(PostError::Other(e)) = out.close(id).await {
                    tracing::warn!(connection_id = id.as_str(), error = %e, "closing an unregistered connection failed");
                }
                return Ok(None);
            }
            other => other?,
        };
        let ch = conn.channel_id;
        if req.action.is_moderation() {
            // Permission first: a non-moderator learns nothing about the frame's fields.
            let m = chat
                .moderator(&ch, conn.user.as_ref().map(|u| &u.id))
                .await?;
            let action = ModAction::try_from(req.frame().map_err(ChatError::BadRequest)?)?;
            chat.moderate(&m, action, out).await?;
            return Ok(Some(ServerFrame::Ack {
                action: req.action,
                id: None,
                request_id,
            }));
        }
        match req.frame().map_err(ChatError::BadRequest)? {
            ClientFrame::Ping => Ok(Some(ServerFrame::Pong { request_id })),
            ClientFrame::Send { text } => {
                let ack = AckTo {
                    connection_id: id.clone(),
                    request_id,
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
            ClientFrame::History { after, limit } => {
                let (messages, more) = match after {
                    Some(after) => {
                        let limit = limit.map_or(MAX_HISTORY, HistoryLimit::get);
                        chat.history_after(&ch, after, limit).await?
                    }
                    None => {
                        let limit = limit.map_or(DEFAULT_HISTORY, HistoryLimit::get);
                        (chat.history_before(&ch, None, limit).await?, false)
                    }
                };
                Ok(Some(ServerFrame::History {
                    messages,
                    more,
                    request_id,
                }))
            }
            // Moderation frames were answered above.
            _ => Err(ChatError::BadRequest("unexpected frame".into())),
        }
    }

    async fn reply(&self, out: &Arc<dyn Outbox>, id: &ConnectionId, answer: &ServerFrame) {
        match out.post(id, &Payload::new(answer.to_json())).await {
            Ok(()) | Err(PostError::Gone) => {}
            Err(PostError::Other(e)) => {
                tracing::warn!(connection_id = id.as_str(), error = %e, "reply failed")
            }
        }
    }

    async fn reply_error(
        &self,
        out: &Arc<dyn Outbox>,
        id: &ConnectionId,
        action: Option<Action>,
        request_id: Option<RequestId>,
        e: &ChatError,
    ) {
        if let ChatError::Internal(err) = e {
            tracing::error!(connection_id = id.as_str(), error = %err, "chat action failed");
        }
        let frame = ServerFrame::Error {
            code: e.code(),
            message: e.message(),
            action,
            retry_after_ms: e.retry_after_ms(),
            request_id,
        };
        self.reply(out, id, &frame).await;
    }

    async fn dispatch(&self, event: WsEvent) -> WsResponse {
        let route = event.request_context.route_key.clone().unwrap_or_default();
        let Some(id) = event
            .request_context
            .connection_id
            .clone()
            .map(ConnectionId::new)
        else {
            tracing::warn!("event without a connection id");
            return ws::response(400, None);
        };
        match route.as_str() {
            ws::CONNECT => self.on_connect(&event, &id).await,
            ws::DISCONNECT => {
                if let Err(e) = self.0.chat.disconnect(&id).await {
                    tracing::warn!(connection_id = id.as_str(), error = %e, "$disconnect cleanup failed");
                }
                ws::response(200, None)
            }
            // Every other route (an action's, or `$default`) carries a frame; the frame's own
            // `action` says what it is, so `$default` gets the same answer a typo deserves.
            _ => {
                let Some(endpoint) = self.0.endpoint(&event) else {
                    tracing::warn!("event without a management endpoint; dropped");
                    return ws::response(200, None);
                };
                let out = self.0.outbox_at(&endpoint);
                self.on_message(&out, &id, event.body.as_deref()).await;
                ws::response(200, None)
            }
        }
    }
}

impl WsHandler for Handler {
    fn routes(&self) -> &[&'static str] {
        &Action::ROUTES
    }

    fn handle(&self, event: WsEvent) -> BoxFuture<'_, WsResponse> {
        self.dispatch(event).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sweep_boots_without_token_secrets_but_needs_its_endpoint() {
        let store_env = [
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("LAIT_MEDIA_BUCKET", "media"),
            ("AWS_REGION", "us-east-1"),
        ];
        let mut env = Env::from_pairs(
            store_env
                .into_iter()
                .chain([("LAIT_WS_CALLBACK_URL", "http://127.0.0.1:1")]),
        );
        let clients = Clients::load(&mut env).await;
        let sweeper = Sweeper::new(&mut env, clients);
        assert!(env.finish(sweeper).is_ok());

        let mut env = Env::from_pairs(store_env);
        let clients = Clients::load(&mut env).await;
        let sweeper = Sweeper::new(&mut env, clients);
        let names: Vec<String> = env
            .finish(sweeper)
            .err()
            .expect("no endpoint")
            .problems
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["LAIT_WS_CALLBACK_URL"]);
    }
}
