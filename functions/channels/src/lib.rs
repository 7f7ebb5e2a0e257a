//! channels: channels, stream keys, lives, VODs, follows, moderators, notices, search (public,
//! under `/api`), and the media node's signed hooks (under `/internal/media`, not routed by the
//! public API).

mod internal;
mod reaper;
mod routes;
mod views;

use std::sync::Arc;

use axum::extract::FromRef;
use lait_shared::{
    auth::Authenticator,
    channels::{Channels, ChannelsConfig},
    config::Env,
    ratelimit::Limit,
    runtime::Deps,
    stores::media::MediaBucket,
};
use utoipa_axum::router::OpenApiRouter;

pub use reaper::{Reaper, reap, reaper_loop, reindex};

#[derive(Clone)]
pub struct State {
    pub deps: Deps,
    pub channels: Channels,
    pub media: MediaBucket,
    pub config: Arc<FnConfig>,
}

#[derive(Debug, Clone)]
pub struct FnConfig {
    /// Shared secrets of the media nodes' request signatures: the current one and, while a
    /// rotation reaches the nodes, the one it replaces (`LAIT_MEDIA_SECRET_PREVIOUS`).
    pub media_secrets: Vec<Vec<u8>>,
    pub search_limit: Limit,
}

impl State {
    pub fn new(env: &mut Env, deps: Deps) -> Self {
        let current: String = env.required("LAIT_MEDIA_SECRET");
        let previous: Option<String> = env.optional("LAIT_MEDIA_SECRET_PREVIOUS");
        let mut media_secrets = Vec::new();
        for (name, secret) in [
            ("LAIT_MEDIA_SECRET", current),
            ("LAIT_MEDIA_SECRET_PREVIOUS", previous.unwrap_or_default()),
        ] {
            if secret.is_empty() {
                continue;
            }
            if secret.len() < 32 {
                env.problem(name, "must be at least 32 bytes");
            }
            media_secrets.push(secret.into_bytes());
        }
        let Reaper { channels, media } = Reaper::with(ChannelsConfig::read(env), &deps.clients());
        let config = FnConfig {
            media_secrets,
            search_limit: env.or("LAIT_SEARCH_LIMIT", Limit::new(30, 60)),
        };
        Self {
            deps,
            channels,
            media,
            config: Arc::new(config),
        }
    }

    /// The reaper of this function's stores (lait-local runs it on a timer).
    pub fn reaper(&self) -> Reaper {
        Reaper {
            channels: self.channels.clone(),
            media: self.media.clone(),
        }
    }
}

impl FromRef<State> for Authenticator {
    fn from_ref(s: &State) -> Self {
        s.deps.auth.clone()
    }
}

impl FromRef<State> for Channels {
    fn from_ref(s: &State) -> Self {
        s.channels.clone()
    }
}

/// Public routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<State> {
    OpenApiRouter::new()
        .merge(routes::channels::routes())
        .merge(routes::follows::routes())
        .merge(routes::moderators::routes())
        .merge(routes::lives::routes())
        .merge(routes::vods::routes())
        .merge(routes::search::routes())
        .merge(routes::notices::routes())
}

lait_shared::http_function!(routes, internal: internal::routes);
