//! The lives directory (`GET /api/lives`): every live now with its channel and viewer count,
//! cached briefly per process and rebuilt once when a live starts or ends.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use serde::{Deserialize, Serialize};

use super::{ChannelSummary, Channels, LiveSummary, model::*};
use crate::media_keys::{self, LiveKeys};
use crate::{clock::Timestamp, domain::ids::ChannelId, error::ApiError, search::Kind};

/// The directory snapshot of this process, and a lock so one request rebuilds it at a time.
/// A snapshot is only valid for the generation it was built in: every publish or end bumps the
/// generation, so a rebuild that raced with it can never be served as fresh.
struct Snapshot {
    at: Instant,
    generation: u64,
    lives: Arc<Vec<LiveSummary>>,
}

#[derive(Default)]
pub(super) struct LivesCache {
    current: Mutex<Option<Snapshot>>,
    generation: std::sync::atomic::AtomicU64,
    refresh: tokio::sync::Mutex<()>,
}

/// The shared copy in Redis, with when and in which (Redis-wide) generation it was built.
#[derive(Serialize, Deserialize)]
struct SharedLives {
    built: Timestamp,
    generation: u64,
    lives: Vec<LiveSummary>,
}

const LIVES_GENERATION_KEY: &str = "cache:lives:gen";

const LIVES_CACHE_KEY: &str = "cache:lives";

impl Channels {
    pub(super) async fn on_live_change(&self) {
        use std::sync::atomic::Ordering;
        self.lives_cache.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut conn) = self.redis.conn().await {
            let _ = redis::cmd("INCR")
                .arg(LIVES_GENERATION_KEY)
                .query_async::<()>(&mut conn)
                .await;
        }
    }

    fn cached_lives(&self) -> Option<(bool, Arc<Vec<LiveSummary>>)> {
        use std::sync::atomic::Ordering;
        let current = self
            .lives_cache
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let snap = current.as_ref()?;
        if snap.generation != self.lives_cache.generation.load(Ordering::SeqCst) {
            return None;
        }
        Some((
            snap.at.elapsed() < self.config.lives_cache_ttl,
            snap.lives.clone(),
        ))
    }

    /// Every live now, most viewers first, then newest. Served from this process's snapshot
    /// (at most `lives_cache_ttl` old), refreshed by one request at a time while the others keep
    /// answering from the stale snapshot; a refresh reads the shared snapshot in Redis, and only
    /// when that is stale too, the table. So the directory costs no table read per request and a
    /// burst of requests at expiry does not stampede the stores.
    pub async fn lives(&self) -> Result<Arc<Vec<LiveSummary>>, ApiError> {
        match self.cached_lives() {
            Some((true, list)) => return Ok(list),
            Some((false, stale)) => {
                let Ok(_refreshing) = self.lives_cache.refresh.try_lock() else {
                    return Ok(stale);
                };
                return self.refresh_lives().await;
            }
            None => {}
        }
        let _refreshing = self.lives_cache.refresh.lock().await;
        if let Some((true, list)) = self.cached_lives() {
            return Ok(list);
        }
        self.refresh_lives().await
    }

    async fn refresh_lives(&self) -> Result<Arc<Vec<LiveSummary>>, ApiError> {
        use std::sync::atomic::Ordering;
        let local_generation = self.lives_cache.generation.load(Ordering::SeqCst);
        let mut conn = self.redis.conn().await?;
        let (shared, generation): (Option<String>, Option<u64>) = redis::cmd("MGET")
            .arg(LIVES_CACHE_KEY)
            .arg(LIVES_GENERATION_KEY)
            .query_async(&mut conn)
            .await?;
        let generation = generation.unwrap_or(0);
        let fresh = shared
            .and_then(|c| serde_json::from_str::<SharedLives>(&c).ok())
            .filter(|s| {
                s.generation == generation
                    && Timestamp::now().since(s.built) < self.config.lives_cache_ttl
            });
        let list = match fresh {
            Some(s) => s.lives,
            None => {
                let lives = self.build_lives().await?;
                let shared = SharedLives {
                    built: Timestamp::now(),
                    generation,
                    lives,
                };
                let json = serde_json::to_string(&shared).map_err(ApiError::internal)?;
                redis::cmd("SET")
                    .arg(LIVES_CACHE_KEY)
                    .arg(json)
                    .arg("PX")
                    .arg((self.config.lives_cache_ttl.as_millis() as u64).max(1) * 10)
                    .query_async::<()>(&mut conn)
                    .await?;
                shared.lives
            }
        };
        let list = Arc::new(list);
        let snapshot = Snapshot {
            at: Instant::now(),
            generation: local_generation,
            lives: list.clone(),
        };
        *self
            .lives_cache
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(snapshot);
        Ok(list)
    }

    async fn build_lives(&self) -> Result<Vec<LiveSummary>, ApiError> {
        // Listed means playable: a live whose playlists are not in the bucket yet stays out.
        let lives: Vec<LiveRecord> = self
            .store
            .lives_now()
            .await?
            .into_iter()
            .filter(|l| l.ready)
            .collect();
        if lives.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<ChannelId> = lives.iter().map(|l| l.channel_id).collect();
        let channels = self.store.channels(&ids).await?;
        let viewers = self.viewer_counts(&ids).await?;
        let mut out: Vec<LiveSummary> = lives
            .into_iter()
            .zip(viewers)
            .filter_map(|(live, viewer_count)| {
                let c = channels.iter().find(|c| c.id == live.channel_id)?;
                Some(self.summary(&live, c, viewer_count))
            })
            .collect();
        out.sort_by(|a, b| {
            b.viewer_count
                .cmp(&a.viewer_count)
                .then(b.started_at.cmp(&a.started_at))
        });
        Ok(out)
    }

    /// Viewer counts per channel, kept in Redis by chat (`viewers:<channel>`).
    pub async fn viewer_counts(&self, channels: &[ChannelId]) -> Result<Vec<u64>, ApiError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = channels.iter().map(|c| format!("viewers:{c}")).collect();
        let mut conn = self.redis.conn().await?;
        let counts: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        Ok(counts.into_iter().map(|c| c.unwrap_or(0)).collect())
    }

    pub fn summary(&self, live: &LiveRecord, c: &ChannelRecord, viewer_count: u64) -> LiveSummary {
        LiveSummary {
            id: live.id,
            channel: ChannelSummary {
                id: c.id,
                name: c.name.clone(),
                image_url: c.image_key.as_deref().map(|k| self.media_url(k)),
                category: c.category,
            },
            title: live.title.clone(),
            category: live.category,
            started_at: live.started_at,
            viewer_count,
            thumbnail_url: live
                .thumbnail
                .then(|| self.media_url(&media_keys::latest_thumbnail(&c.id))),
            playlist_url: self.media_url(&LiveKeys::new(c.id, live.id).master()),
            low_latency: live.low_latency,
        }
    }

    pub async fn update_live(
        &self,
        live: &LiveRecord,
        title: Option<&str>,
        category: Option<Category>,
    ) -> Result<LiveRecord, ApiError> {
        let updated = self.store.update_live(&live.id, title, category).await?;
        if updated.status == LiveStatus::Live {
            if title.is_some() {
                let _ = self
                    .search
                    .put(
                        Kind::Live,
                        &live.id.to_string(),
                        &live.channel_id.to_string(),
                        &updated.title,
                    )
                    .await;
            }
            self.on_live_change().await;
        }
        Ok(updated)
    }
}
