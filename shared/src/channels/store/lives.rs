//! Lives and VODs: the live record, heartbeats, the end, the VOD index.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{ChannelsStore, channel_pk, heartbeat_update, live_pk};
use crate::{
    channels::model::*,
    clock::Timestamp,
    domain::ids::{ChannelId, LiveId},
    stores::dynamo::{
        self, Item, Page, Paging, Partition, StoreError, TxError, applied, is_conditional, key, n,
        or_conflict, s, tx_update,
    },
};

impl ChannelsStore {
    fn live_item(&self, live: &LiveRecord) -> anyhow::Result<Item> {
        let mut item = dynamo::to_item(live)?;
        item.extend(key(live_pk(&live.id), "META"));
        if live.status == LiveStatus::Live {
            item.insert("gsi1pk".into(), s("LIVE"));
            item.insert(
                "gsi1sk".into(),
                s(format!("{}#{}", live.started_at, live.id)),
            );
        }
        Ok(item)
    }

    /// Records a new live and takes the channel's one-live lock, atomically.
    pub async fn start_live(&self, live: &LiveRecord) -> Result<(), StoreError> {
        let lock = self
            .table
            .tx_update(key(channel_pk(&live.channel_id), "META"))
            .update_expression("SET current_live_id = :lid")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(current_live_id)")
            .expression_attribute_values(":lid", s(live.id.to_string()));
        let items = vec![self.table.put_new(self.live_item(live)?)?, tx_update(lock)?];
        // Refused: the channel is gone or already live.
        Ok(self.table.transact(items).await?)
    }

    pub async fn live(&self, id: &LiveId) -> anyhow::Result<Option<LiveRecord>> {
        self.table.get_as(key(live_pk(id), "META")).await
    }

    /// Records a heartbeat of a running live (and `ready` once the node says so); returns the
    /// record as it was before, `None` if it is not live (anymore).
    pub async fn heartbeat(
        &self,
        id: &LiveId,
        health: &Health,
        now: Timestamp,
    ) -> anyhow::Result<Option<LiveRecord>> {
        let res = self
            .table
            .update(key(live_pk(id), "META"))
            .update_expression(heartbeat_update(health))
            .set_expression_attribute_values(
                (health.ready || health.thumbnail)
                    .then(|| [(":t".to_owned(), AttributeValue::Bool(true))].into()),
            )
            .condition_expression("#st = :live")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", n(now.unix_secs()))
            .expression_attribute_values(":h", AttributeValue::M(dynamo::to_item(health)?))
            .expression_attribute_values(":live", s("live"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(dynamo::from_item(out.attributes.unwrap_or_default())?)),
            Err(e) if is_conditional(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a live (idempotent): status, end time, VOD; leaves the "live now" index; frees the
    /// channel's lock. `None` if it was not live.
    pub async fn end_live(&self, id: &LiveId, end: &LiveEnd) -> anyhow::Result<Option<LiveRecord>> {
        let Some(live) = self.live(id).await? else {
            return Ok(None);
        };
        if live.status != LiveStatus::Live {
            return Ok(None);
        }
        let mut set = vec!["#st = :ended", "ended_at = :at", "end_reason = :why"];
        let mut update = self
            .table
            .tx_update(key(live_pk(id), "META"))
            .condition_expression("#st = :live")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":ended", s("ended"))
            .expression_attribute_values(":live", s("live"))
            .expression_attribute_values(":at", s(end.ended_at))
            .expression_attribute_values(":why", s(end.reason.clone()));
        if let Some(vod) = &end.vod_key {
            set.extend([
                "vod_key = :vod",
                "duration_secs = :dur",
                "gsi2pk = :vpk",
                "gsi2sk = :vsk",
            ]);
            update = update
                .expression_attribute_values(":vod", s(vod.clone()))
                .expression_attribute_values(":dur", n(end.duration_secs.unwrap_or(0.0)))
                .expression_attribute_values(":vpk", s(format!("VODS#{}", live.channel_id)))
                .expression_attribute_values(":vsk", s(format!("{}#{}", live.started_at, live.id)));
        }
        let update =
            update.update_expression(format!("SET {} REMOVE gsi1pk, gsi1sk", set.join(", ")));
        let unlock = self
            .table
            .tx_update(key(channel_pk(&live.channel_id), "META"))
            .update_expression("REMOVE current_live_id")
            .condition_expression("current_live_id = :lid")
            .expression_attribute_values(":lid", s(id.to_string()));
        match self
            .table
            .transact(vec![tx_update(update)?, tx_update(unlock)?])
            .await
        {
            Ok(()) => Ok(self.live(id).await?),
            Err(TxError::Refused(_)) => Ok(None),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// Gives an ended live without a recording its VOD (the media node ends a live as soon as
    /// its publisher leaves and writes the VOD once the ladder has encoded the rest). False when
    /// the live is not ended or already has one.
    pub async fn attach_vod(
        &self,
        live: &LiveRecord,
        vod_key: &str,
        duration_secs: f64,
    ) -> anyhow::Result<bool> {
        let res = self
            .table
            .update(key(live_pk(&live.id), "META"))
            .update_expression(
                "SET vod_key = :vod, duration_secs = :dur, gsi2pk = :vpk, gsi2sk = :vsk",
            )
            .condition_expression("#st = :ended AND attribute_not_exists(vod_key)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":ended", s("ended"))
            .expression_attribute_values(":vod", s(vod_key))
            .expression_attribute_values(":dur", n(duration_secs))
            .expression_attribute_values(":vpk", s(format!("VODS#{}", live.channel_id)))
            .expression_attribute_values(":vsk", s(format!("{}#{}", live.started_at, live.id)))
            .send()
            .await;
        applied(res)
    }

    /// Every live now (the sparse index).
    pub async fn lives_now(&self) -> anyhow::Result<Vec<LiveRecord>> {
        let part = Partition::in_index("gsi1", "gsi1pk", "LIVE".to_owned());
        self.table
            .all(part)
            .await?
            .into_iter()
            .map(dynamo::from_item)
            .collect()
    }

    pub async fn update_live(
        &self,
        id: &LiveId,
        title: Option<&str>,
        category: Option<Category>,
    ) -> Result<LiveRecord, StoreError> {
        let mut sets = Vec::new();
        let mut req = self
            .table
            .update(key(live_pk(id), "META"))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        if let Some(t) = title {
            sets.push("title = :t");
            req = req.expression_attribute_values(":t", s(t));
        }
        if let Some(c) = category {
            sets.push("category = :c");
            req = req.expression_attribute_values(":c", s(c.as_str()));
        }
        if sets.is_empty() {
            return self.live(id).await?.ok_or(StoreError::Conflict);
        }
        let req = req.update_expression(format!("SET {}", sets.join(", ")));
        let out = or_conflict(req.send().await)?;
        Ok(dynamo::from_item(out.attributes.unwrap_or_default())?)
    }

    /// A channel's VODs, newest first.
    pub async fn vods(
        &self,
        channel: &ChannelId,
        paging: &Paging,
    ) -> Result<Page<LiveRecord>, StoreError> {
        let part = Partition::in_index("gsi2", "gsi2pk", format!("VODS#{channel}"));
        self.table.page(part, paging).await
    }

    /// Drops a VOD from its channel's list.
    pub async fn forget_vod(&self, id: &LiveId) -> anyhow::Result<()> {
        self.table
            .update(key(live_pk(id), "META"))
            .update_expression("REMOVE gsi2pk, gsi2sk, vod_key SET vod_deleted = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await?;
        Ok(())
    }
}
