//! The search index rebuilt from the channels table when Redis lost it.
//!
//! The index (`crate::search`) lives in Redis only and is written as channels are created and
//! renamed and lives start: a Redis restart without persistence (or a flush) emptied it for good,
//! and search found nothing until each channel was renamed. A marker key says the index is
//! whole; the scheduled reaper looks for it every run and, when it is missing, scans the
//! channels table and indexes every channel name and every live title again. A write whose
//! outcome is unknown (the store did not answer: it may have happened) removes the marker too.

use std::{sync::LazyLock, time::Duration};

use redis::AsyncCommands;

use super::{Channels, model::*};
use crate::{
    search::{Kind, WHOLE as BUILT},
    stores::dynamo::{from_item, s},
};

/// One rebuild at a time.
const REBUILDING: &str = "search:rebuilding";
const REBUILD_LOCK: Duration = Duration::from_secs(120);

/// KEYS: built, rebuilding. Marks the index whole if the rebuild's lock survived.
static FINISH: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('DEL', KEYS[2]) == 1 then redis.call('SET', KEYS[1], '1') return 1 end
return 0",
    )
});
static ABANDON: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(r"return redis.call('DEL', KEYS[2])"));

impl Channels {
    /// Rebuilds the search index from the table if Redis lost it; how many channels it indexed
    /// (`None`: the index was whole, or another run is rebuilding it).
    pub async fn rebuild_search_if_lost(&self) -> anyhow::Result<Option<usize>> {
        let mut redis = self.redis.conn().await?;
        if redis.exists(BUILT).await? {
            return Ok(None);
        }
        let lock: Option<String> = redis::cmd("SET")
            .arg(REBUILDING)
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(REBUILD_LOCK.as_millis() as u64)
            .query_async(&mut redis)
            .await?;
        if lock.is_none() {
            return Ok(None);
        }
        let indexed = self.index_every_channel().await;
        // Whole only if this Redis saw the whole rebuild (the lock is still there).
        let finish = if indexed.is_ok() { &*FINISH } else { &*ABANDON };
        let _: i64 = finish
            .key(BUILT)
            .key(REBUILDING)
            .invoke_async(&mut redis)
            .await?;
        let indexed = indexed?;
        tracing::info!(channels = indexed, "search index rebuilt from the table");
        Ok(Some(indexed))
    }

    async fn index_every_channel(&self) -> anyhow::Result<usize> {
        let table = &self.store.table;
        let mut start = None;
        let mut indexed = 0;
        loop {
            let page = table
                .client()
                .scan()
                .table_name(table.name())
                .filter_expression("sk = :meta AND begins_with(pk, :channel)")
                .expression_attribute_values(":meta", s("META"))
                .expression_attribute_values(":channel", s("CHANNEL#"))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in page.items.unwrap_or_default() {
                let channel: ChannelRecord = from_item(item)?;
                let id = channel.id.to_string();
                self.search
                    .put(Kind::Channel, &id, &id, &channel.name)
                    .await?;
                if let Some(live_id) = channel.current_live_id
                    && let Some(live) = self.store.live(&live_id).await?
                    && live.status == LiveStatus::Live
                {
                    let live_id = live_id.to_string();
                    self.search
                        .put(Kind::Live, &live_id, &id, &live.title)
                        .await?;
                    self.search.set_live(&id, true).await?;
                }
                indexed += 1;
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(indexed);
            }
        }
    }
}
