//! Search over channel names and live titles, without scanning a table per request.
//!
//! A character n-gram index in Redis: every indexed text (NFKC, lower-cased) adds its document id
//! to one set per unigram and bigram. A query intersects the sets of its bigrams (its unigram when
//! it is one character long), then confirms the substring on the candidates' stored text. Bigrams
//! suit Korean, where a word is two or three syllables and spaces are few; English works the same.
//! Ranking: live first, then names that start with the query, then shorter texts.

use std::collections::BTreeSet;

use redis::AsyncCommands;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::stores::redis::Redis;

const LIVE_CHANNELS: &str = "search:live";
/// Present while the index holds every channel of the table; the reaper rebuilds the index when
/// it is missing (`channels::reindex`): after a Redis loss, or a write whose outcome is unknown.
pub const WHOLE: &str = "search:built";

fn normalize(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

fn grams(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: BTreeSet<String> = chars.iter().map(|c| c.to_string()).collect();
    out.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
    out
}

fn query_grams(q: &str) -> Vec<String> {
    let chars: Vec<char> = q.chars().collect();
    if chars.len() == 1 {
        return vec![q.to_owned()];
    }
    chars
        .windows(2)
        .map(|w| w.iter().collect::<String>())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Channel,
    Live,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Channel => "channel",
            Kind::Live => "live",
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hit {
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Channel id or live id.
    pub id: String,
    pub channel_id: String,
    /// The matched channel name or live title.
    pub text: String,
    pub live: bool,
}

#[derive(Clone)]
pub struct SearchIndex {
    redis: Redis,
}

fn doc_key(doc: &str) -> String {
    format!("search:doc:{doc}")
}

fn gram_key(g: &str) -> String {
    format!("search:g:{g}")
}

impl SearchIndex {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    /// Indexes (or re-indexes) a channel name or a live title.
    pub async fn put(
        &self,
        kind: Kind,
        id: &str,
        channel_id: &str,
        text: &str,
    ) -> redis::RedisResult<()> {
        let doc = format!("{}:{id}", kind.prefix());
        let mut conn = self.redis.conn().await?;
        let old: Option<String> = conn.hget(doc_key(&doc), "norm").await?;
        let norm = normalize(text);
        let new_grams = grams(&norm);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(old) = old {
            for g in grams(&old).difference(&new_grams) {
                pipe.srem(gram_key(g), &doc).ignore();
            }
        }
        for g in &new_grams {
            pipe.sadd(gram_key(g), &doc).ignore();
        }
        pipe.hset_multiple(
            doc_key(&doc),
            &[
                ("text", text),
                ("norm", norm.as_str()),
                ("channel_id", channel_id),
                ("id", id),
            ],
        )
        .ignore();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Removes a document (an ended live's title).
    pub async fn remove(&self, kind: Kind, id: &str) -> redis::RedisResult<()> {
        let doc = format!("{}:{id}", kind.prefix());
        let mut conn = self.redis.conn().await?;
        let old: Option<String> = conn.hget(doc_key(&doc), "norm").await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for g in grams(&old.unwrap_or_default()) {
            pipe.srem(gram_key(&g), &doc).ignore();
        }
        pipe.del(doc_key(&doc)).ignore();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Called when a write the index follows (a sign-up, a rename) failed: if the store did not
    /// answer ([`crate::stores::unreachable`]) the write may have happened anyway, unknown to the
    /// index, so the index is marked stale for the reaper to rebuild. Best effort.
    pub async fn after_failed_write(&self, e: &anyhow::Error) {
        if !crate::stores::unreachable(e.as_ref()) {
            return;
        }
        tracing::warn!("a write's outcome is unknown; the search index will be rebuilt");
        if let Ok(mut conn) = self.redis.conn().await {
            let _: redis::RedisResult<()> = conn.del(WHOLE).await;
        }
    }

    /// Marks a channel live or not (for ranking and the `live` flag).
    pub async fn set_live(&self, channel_id: &str, live: bool) -> redis::RedisResult<()> {
        let mut conn = self.redis.conn().await?;
        let mut cmd = redis::cmd(if live { "SADD" } else { "SREM" });
        cmd.arg(LIVE_CHANNELS)
            .arg(channel_id)
            .query_async::<()>(&mut conn)
            .await
    }

    pub async fn search(&self, query: &str, limit: usize) -> redis::RedisResult<Vec<Hit>> {
        let q = normalize(query.trim());
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = query_grams(&q).iter().map(|g| gram_key(g)).collect();
        let mut conn = self.redis.conn().await?;
        let docs: Vec<String> = redis::cmd("SINTER")
            .arg(&keys)
            .query_async(&mut conn)
            .await?;
        let live: BTreeSet<String> = redis::cmd("SMEMBERS")
            .arg(LIVE_CHANNELS)
            .query_async(&mut conn)
            .await?;
        let mut hits = Vec::new();
        // Candidates are few (they share every bigram); confirm each.
        for doc in docs.iter().take(500) {
            let fields: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(doc_key(doc))
                .arg(&["text", "norm", "channel_id", "id"])
                .query_async(&mut conn)
                .await?;
            let [Some(text), Some(norm), Some(channel_id), Some(id)] =
                <[Option<String>; 4]>::try_from(fields).unwrap_or_default()
            else {
                continue;
            };
            if !norm.contains(&q) {
                continue;
            }
            let kind = if doc.starts_with("live:") {
                Kind::Live
            } else {
                Kind::Channel
            };
            let is_live = kind == Kind::Live || live.contains(&channel_id);
            hits.push((
                norm.starts_with(&q),
                Hit {
                    kind,
                    id,
                    channel_id,
                    text,
                    live: is_live,
                },
            ));
        }
        hits.sort_by(|(pa, a), (pb, b)| {
            b.live
                .cmp(&a.live)
                .then(pb.cmp(pa))
                .then(a.text.chars().count().cmp(&b.text.chars().count()))
                .then(a.text.cmp(&b.text))
        });
        Ok(hits.into_iter().map(|(_, h)| h).take(limit).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_and_queries() {
        let g = grams(&normalize("Lait 라잇"));
        assert!(g.contains("라잇") && g.contains("l") && g.contains("ai"));
        assert_eq!(query_grams("라"), ["라"]);
        assert_eq!(query_grams("라잇방"), ["라잇", "잇방"]);
        // Fullwidth letters fold to ASCII.
        assert_eq!(normalize("ＬＡＩＴ"), "lait");
    }
}
