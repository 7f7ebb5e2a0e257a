//! How many lives this node takes and whether it is stopping, and who is told: the publisher
//! (refused before any live starts, with the reason recorded for its studio), the load balancer
//! (`GET /ready` answers 503 when full or draining, so new publishers go to a node with room) and
//! ECS (task scale-in protection while a live runs, so neither scale-in nor a deploy stops it).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use lait_shared::channels::NodeRefusal;
use serde_json::json;
use tokio::sync::Notify;

use crate::Agent;

/// The node's admission state. Lives count from the moment their publish is admitted until their
/// recording is closed (the ladder still encodes the tail after the publisher left).
#[derive(Debug, Default)]
pub struct Capacity {
    /// Most lives at once; `None`: no limit (a developer's machine).
    pub max: Option<usize>,
    /// Publishes admitted whose live has not started yet.
    pending: AtomicUsize,
    draining: AtomicBool,
    /// Something changed (a live started or finished, draining began): protection re-checks.
    pub changed: Notify,
}

/// A publish admitted against the capacity; given back when dropped (the live then counts).
pub struct Admission(Arc<Capacity>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl Capacity {
    pub fn new(max: Option<usize>) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Why a new publisher cannot be taken now with `running` lives, if it cannot.
    pub fn refusal(&self, running: usize) -> Option<NodeRefusal> {
        if self.draining() {
            return Some(NodeRefusal::NodeDraining);
        }
        let busy = running + self.pending.load(Ordering::SeqCst);
        self.max
            .is_some_and(|max| busy >= max)
            .then_some(NodeRefusal::NodeFull)
    }
}

impl Agent {
    /// Takes a place for a new publisher, or says why there is none. Checked and taken under the
    /// lives lock, so two publishers at once cannot both take the last place.
    pub fn admit(&self) -> Result<Admission, NodeRefusal> {
        let lives = self.lives.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(refusal) = self.capacity.refusal(lives.len()) {
            return Err(refusal);
        }
        self.capacity.pending.fetch_add(1, Ordering::SeqCst);
        Ok(Admission(self.capacity.clone()))
    }

    /// The load balancer's health check: 200 while a publisher would be taken.
    pub fn ready_router(self) -> Router {
        // A health check, not part of the HTTP API.
        #[allow(clippy::disallowed_methods)]
        Router::new().route("/ready", get(ready)).with_state(self)
    }
}

async fn ready(State(agent): State<Agent>) -> impl IntoResponse {
    let lives = agent.running();
    let capacity = agent.capacity.max;
    match agent.capacity.refusal(lives) {
        None => (
            StatusCode::OK,
            Json(json!({"lives": lives, "capacity": capacity})),
        ),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"lives": lives, "capacity": capacity, "refusing": reason})),
        ),
    }
}

/// How long a protection lasts unless renewed (ECS allows up to 48 h); renewed at half of it.
const PROTECTION_MINUTES: u64 = 60;

/// Keeps ECS task scale-in protection on while the node carries a live and off otherwise, through
/// the ECS agent's endpoint (`$ECS_AGENT_URI/task-protection/v1/state`). A protected task is
/// skipped by scale-in and outlives a deployment until its lives end.
pub async fn protect(agent: Agent, ecs_agent_uri: String) {
    let url = format!(
        "{}/task-protection/v1/state",
        ecs_agent_uri.trim_end_matches('/')
    );
    let mut state: Option<(bool, Instant)> = None;
    loop {
        let changed = agent.capacity.changed.notified();
        let want = agent.running() > 0 && !agent.capacity.draining();
        let renew = Duration::from_secs(PROTECTION_MINUTES * 60 / 2);
        let due = match state {
            Some((on, at)) => on != want || (on && at.elapsed() >= renew),
            None => true,
        };
        if due {
            let body = if want {
                json!({"ProtectionEnabled": true, "ExpiresInMinutes": PROTECTION_MINUTES})
            } else {
                json!({"ProtectionEnabled": false})
            };
            match agent.http.put(&url).json(&body).send().await {
                Ok(res) if res.status().is_success() => {
                    tracing::info!(
                        protected = want,
                        lives = agent.running(),
                        "task scale-in protection set"
                    );
                    state = Some((want, Instant::now()));
                }
                Ok(res) => {
                    tracing::warn!(status = %res.status(), "task scale-in protection refused")
                }
                Err(e) => tracing::warn!(error = %e, "task scale-in protection failed"),
            }
        }
        // Asked again on any change, and every few seconds after a failure or for renewal.
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_with_admissions_in_flight_and_given_back() {
        let cap = Arc::new(Capacity::new(Some(2)));
        assert_eq!(cap.refusal(0), None);
        cap.pending.fetch_add(1, Ordering::SeqCst);
        let first = Admission(cap.clone());
        // One live running and one publish being asked for: the node is full.
        assert_eq!(cap.refusal(1), Some(NodeRefusal::NodeFull));
        drop(first);
        assert_eq!(cap.refusal(1), None);
        assert_eq!(cap.refusal(2), Some(NodeRefusal::NodeFull));
        // No limit: never full, but draining refuses all the same.
        let open = Capacity::new(None);
        assert_eq!(open.refusal(1000), None);
        open.start_draining();
        assert_eq!(open.refusal(0), Some(NodeRefusal::NodeDraining));
        cap.start_draining();
        assert_eq!(cap.refusal(0), Some(NodeRefusal::NodeDraining));
    }
}
