//! The channels table.
//!
//! Items (pk / sk):
//! - `CHANNEL#<id>` / `META`: [`ChannelRecord`] (`current_live_id` set while live: the one-live-
//!   per-channel lock)
//! - `CHANNEL#<id>` / `STREAMKEY`: the key itself, readable by the owner route only; no GSI keys,
//!   so it is in no index
//! - `SKEY#<sha256>` / `KEY`: key hash → channel (the lookup used by publish)
//! - `CHANNEL#<id>` / `MOD#<user>`: moderators
//! - `CHANNEL#<id>` / `NOTICE#<id>`: notices (ids are UUIDv7, so sk order is time order)
//! - `FOLLOW#<user>` / `<channel>`: follows (gsi1: `FOLLOWERS#<channel>` / `<user>`)
//! - `LIVE#<id>` / `META`: [`LiveRecord`]; gsi1 `LIVE` / `<started>#<id>` only while live (the
//!   sparse "live now" index); gsi2 `VODS#<channel>` / `<started>` once it has a VOD
//! - `OWNER#<user>` / `CHANNEL`: the user's channel (written at sign-up)

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

use super::model::*;
use crate::{
    config::StoreConfig,
    domain::ids::{ChannelId, LiveId, NoticeId, UserId},
    stores::dynamo::{
        self, Item, Page, StoreError, applied, failed_conditions, is_conditional, key, n, put_new,
        query_page, s,
    },
};

#[derive(Clone)]
pub struct ChannelsStore {
    ddb: Client,
    table: String,
}

fn channel_pk(id: &ChannelId) -> String {
    format!("CHANNEL#{id}")
}
fn live_pk(id: &LiveId) -> String {
    format!("LIVE#{id}")
}
/// A heartbeat stores the latest health; `ready` and `thumbnail` only ever turn on.
fn heartbeat_update(health: &Health) -> String {
    let mut e = String::from("SET last_heartbeat = :now, health = :h");
    if health.ready {
        e.push_str(", ready = :t");
    }
    if health.thumbnail {
        e.push_str(", thumbnail = :t");
    }
    e
}

fn skey_pk(hash: &str) -> String {
    format!("SKEY#{hash}")
}

/// A stored stream key.
#[derive(Clone, Serialize, Deserialize)]
pub struct StreamKeyRecord {
    pub key: String,
    pub hash: String,
    pub created_at: String,
}

impl ChannelsStore {
    pub fn new(ddb: Client, stores: &StoreConfig) -> Self {
        Self {
            ddb,
            table: stores.table("channels"),
        }
    }

    async fn get_item(&self, pk: String, sk: &str) -> anyhow::Result<Option<Item>> {
        Ok(self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await?
            .item)
    }

    pub async fn channel(&self, id: &ChannelId) -> anyhow::Result<Option<ChannelRecord>> {
        self.get_item(channel_pk(id), "META")
            .await?
            .map(dynamo::from_item)
            .transpose()
    }

    pub async fn channel_of(&self, owner: &UserId) -> anyhow::Result<Option<ChannelId>> {
        Ok(self
            .get_item(format!("OWNER#{owner}"), "CHANNEL")
            .await?
            .and_then(|i| i.get("channel_id")?.as_s().ok()?.parse().ok()))
    }

    /// Several channels at once (missing ones are skipped).
    pub async fn channels(&self, ids: &[ChannelId]) -> anyhow::Result<Vec<ChannelRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let mut keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder();
            for id in chunk {
                keys = keys.keys(key(channel_pk(id), "META"));
            }
            let mut request = Some(std::collections::HashMap::from([(
                self.table.clone(),
                keys.build()?,
            )]));
            while let Some(req) = request.take().filter(|r| !r.is_empty()) {
                let res = self
                    .ddb
                    .batch_get_item()
                    .set_request_items(Some(req))
                    .send()
                    .await?;
                if let Some(items) = res.responses.and_then(|mut r| r.remove(&self.table)) {
                    for item in items {
                        out.push(dynamo::from_item(item)?);
                    }
                }
                request = res.unprocessed_keys;
            }
        }
        Ok(out)
    }

    pub async fn update_channel(
        &self,
        id: &ChannelId,
        patch: &ChannelPatch,
    ) -> Result<ChannelRecord, StoreError> {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut values: Vec<(&str, AttributeValue)> = Vec::new();
        let mut field = |name: &'static str,
                         placeholder: &'static str,
                         value: &Option<Option<String>>| match value {
            Some(Some(v)) => {
                sets.push(format!("{name} = {placeholder}"));
                values.push((placeholder, s(v.clone())));
            }
            Some(None) => removes.push(name.to_owned()),
            None => {}
        };
        field("#name", ":name", &patch.name.clone().map(Some));
        field("description", ":desc", &patch.description.clone().map(Some));
        field("category", ":cat", &patch.category);
        field("stream_title", ":st", &patch.stream_title);
        field("stream_category", ":sc", &patch.stream_category);
        field("image_key", ":img", &patch.image_key.clone().map(Some));
        if let Some(ll) = patch.low_latency {
            sets.push("low_latency = :ll".into());
            values.push((":ll", AttributeValue::Bool(ll)));
        }
        let mut expr = String::new();
        if !sets.is_empty() {
            expr.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        if expr.is_empty() {
            return self.channel(id).await?.ok_or(StoreError::Conflict);
        }
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(id), "META")))
            .update_expression(expr.trim())
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        if patch.name.is_some() {
            req = req.expression_attribute_names("#name", "name");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(out) => Ok(dynamo::from_item(out.attributes.unwrap_or_default())?),
            Err(e) if is_conditional(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    // ---- stream keys ----

    pub async fn stream_key(&self, channel: &ChannelId) -> anyhow::Result<Option<StreamKeyRecord>> {
        self.get_item(channel_pk(channel), "STREAMKEY")
            .await?
            .map(dynamo::from_item)
            .transpose()
    }

    fn key_items(
        &self,
        channel: &ChannelId,
        record: &StreamKeyRecord,
    ) -> anyhow::Result<(Item, Item)> {
        let mut stored = dynamo::to_item(record)?;
        stored.extend(key(channel_pk(channel), "STREAMKEY"));
        let mut lookup = key(skey_pk(&record.hash), "KEY");
        lookup.insert("channel_id".into(), s(channel.to_string()));
        Ok((stored, lookup))
    }

    /// Sets the first key of a channel unless it has one; returns the key in force.
    pub async fn ensure_stream_key(
        &self,
        channel: &ChannelId,
        fresh: StreamKeyRecord,
    ) -> anyhow::Result<StreamKeyRecord> {
        if let Some(existing) = self.stream_key(channel).await? {
            return Ok(existing);
        }
        let (stored, lookup) = self.key_items(channel, &fresh)?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(put_new(&self.table, stored)?)
            .transact_items(put_new(&self.table, lookup)?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(fresh),
            // A concurrent first request won; use its key.
            Err(e) if failed_conditions(&e).is_some() => self
                .stream_key(channel)
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream key vanished")),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the key: the old lookup item goes in the same transaction, so the old key stops
    /// resolving at once.
    pub async fn rotate_stream_key(
        &self,
        channel: &ChannelId,
        old: &StreamKeyRecord,
        next: &StreamKeyRecord,
    ) -> Result<(), StoreError> {
        let (stored, lookup) = self.key_items(channel, next)?;
        let replace = Put::builder()
            .table_name(&self.table)
            .set_item(Some(stored))
            .condition_expression("#h = :old")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":old", s(old.hash.clone()))
            .build()
            .map_err(anyhow::Error::from)?;
        let drop_old = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(skey_pk(&old.hash), "KEY")))
            .build()
            .map_err(anyhow::Error::from)?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(replace).build())
            .transact_items(TransactWriteItem::builder().delete(drop_old).build())
            .transact_items(put_new(&self.table, lookup)?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if failed_conditions(&e).is_some() => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::Other(e.into())),
        }
    }

    pub async fn channel_by_key_hash(&self, hash: &str) -> anyhow::Result<Option<ChannelId>> {
        Ok(self
            .get_item(skey_pk(hash), "KEY")
            .await?
            .and_then(|i| i.get("channel_id")?.as_s().ok()?.parse().ok()))
    }

    // ---- lives ----

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
        let lock = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(&live.channel_id), "META")))
            .update_expression("SET current_live_id = :lid")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(current_live_id)")
            .expression_attribute_values(":lid", s(live.id.to_string()))
            .build()
            .map_err(anyhow::Error::from)?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(put_new(&self.table, self.live_item(live)?)?)
            .transact_items(TransactWriteItem::builder().update(lock).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if failed_conditions(&e).is_some_and(|f| !f.is_empty()) => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(StoreError::Other(e.into())),
        }
    }

    pub async fn live(&self, id: &LiveId) -> anyhow::Result<Option<LiveRecord>> {
        self.get_item(live_pk(id), "META")
            .await?
            .map(dynamo::from_item)
            .transpose()
    }

    /// Records a heartbeat of a running live (and `ready` once the node says so); returns the
    /// record as it was before, `None` if it is not live (anymore).
    pub async fn heartbeat(
        &self,
        id: &LiveId,
        health: &Health,
        now: i64,
    ) -> anyhow::Result<Option<LiveRecord>> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(live_pk(id), "META")))
            .update_expression(heartbeat_update(health))
            .set_expression_attribute_values(
                (health.ready || health.thumbnail)
                    .then(|| [(":t".to_owned(), AttributeValue::Bool(true))].into()),
            )
            .condition_expression("#st = :live")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now", n(now))
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
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(live_pk(id), "META")))
            .condition_expression("#st = :live")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":ended", s("ended"))
            .expression_attribute_values(":live", s("live"))
            .expression_attribute_values(":at", s(end.ended_at.clone()))
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
        let update = update
            .update_expression(format!("SET {} REMOVE gsi1pk, gsi1sk", set.join(", ")))
            .build()
            .map_err(anyhow::Error::from)?;
        let unlock = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(&live.channel_id), "META")))
            .update_expression("REMOVE current_live_id")
            .condition_expression("current_live_id = :lid")
            .expression_attribute_values(":lid", s(id.to_string()))
            .build()
            .map_err(anyhow::Error::from)?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().update(unlock).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(self.live(id).await?),
            Err(e) if failed_conditions(&e).is_some() => Ok(None),
            Err(e) => Err(e.into()),
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
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(live_pk(&live.id), "META")))
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
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s("LIVE"));
        dynamo::query_all(query)
            .await?
            .into_iter()
            .map(dynamo::from_item)
            .collect()
    }

    pub async fn update_live(
        &self,
        id: &LiveId,
        title: Option<&str>,
        category: Option<&str>,
    ) -> Result<LiveRecord, StoreError> {
        let mut sets = Vec::new();
        let mut req = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(live_pk(id), "META")))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        if let Some(t) = title {
            sets.push("title = :t");
            req = req.expression_attribute_values(":t", s(t));
        }
        if let Some(c) = category {
            sets.push("category = :c");
            req = req.expression_attribute_values(":c", s(c));
        }
        if sets.is_empty() {
            return self.live(id).await?.ok_or(StoreError::Conflict);
        }
        match req
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => Ok(dynamo::from_item(out.attributes.unwrap_or_default())?),
            Err(e) if is_conditional(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// A channel's VODs, newest first.
    pub async fn vods(
        &self,
        channel: &ChannelId,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<LiveRecord>, StoreError> {
        let pk = format!("VODS#{channel}");
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", s(pk.clone()));
        query_page(query, cursor, "gsi2pk", &pk, limit).await
    }

    /// Drops a VOD from its channel's list.
    pub async fn forget_vod(&self, id: &LiveId) -> anyhow::Result<()> {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(live_pk(id), "META")))
            .update_expression("REMOVE gsi2pk, gsi2sk, vod_key SET vod_deleted = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await?;
        Ok(())
    }

    // ---- follows ----

    /// `true` if the follow is new.
    pub async fn follow(&self, user: &UserId, channel: &ChannelId) -> Result<bool, StoreError> {
        let mut item = key(format!("FOLLOW#{user}"), channel.to_string());
        item.extend([
            ("gsi1pk".to_owned(), s(format!("FOLLOWERS#{channel}"))),
            ("gsi1sk".to_owned(), s(user.to_string())),
            ("followed_at".to_owned(), s(crate::clock::now_rfc3339())),
        ]);
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(channel), "META")))
            .update_expression("ADD follower_count :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(anyhow::Error::from)?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(put_new(&self.table, item)?)
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => match failed_conditions(&e) {
                Some(f) if f.contains(&0) => Ok(false),
                Some(f) if f.contains(&1) => Err(StoreError::Conflict),
                _ => Err(StoreError::Other(e.into())),
            },
        }
    }

    pub async fn unfollow(&self, user: &UserId, channel: &ChannelId) -> anyhow::Result<bool> {
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("FOLLOW#{user}"), channel.to_string())))
            .condition_expression("attribute_exists(pk)")
            .build()?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(channel), "META")))
            .update_expression("ADD follower_count :minus")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":minus", n(-1))
            .build()?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(del).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn is_following(&self, user: &UserId, channel: &ChannelId) -> anyhow::Result<bool> {
        Ok(self
            .get_item(format!("FOLLOW#{user}"), &channel.to_string())
            .await?
            .is_some())
    }

    pub async fn following(&self, user: &UserId) -> anyhow::Result<Vec<ChannelId>> {
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("FOLLOW#{user}")));
        Ok(dynamo::query_all(query)
            .await?
            .iter()
            .filter_map(|i| i.get("sk")?.as_s().ok()?.parse::<ChannelId>().ok())
            .collect())
    }

    // ---- moderators ----

    pub async fn add_moderator(
        &self,
        channel: &ChannelId,
        user: &UserId,
        by: &UserId,
    ) -> anyhow::Result<()> {
        let mut item = key(channel_pk(channel), format!("MOD#{user}"));
        item.extend([
            ("user_id".to_owned(), s(user.to_string())),
            ("added_by".to_owned(), s(by.to_string())),
            ("added_at".to_owned(), s(crate::clock::now_rfc3339())),
        ]);
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    pub async fn remove_moderator(&self, channel: &ChannelId, user: &UserId) -> anyhow::Result<()> {
        self.ddb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(channel), format!("MOD#{user}"))))
            .send()
            .await?;
        Ok(())
    }

    pub async fn is_moderator(&self, channel: &ChannelId, user: &UserId) -> anyhow::Result<bool> {
        Ok(self
            .get_item(channel_pk(channel), &format!("MOD#{user}"))
            .await?
            .is_some())
    }

    pub async fn moderators(&self, channel: &ChannelId) -> anyhow::Result<Vec<UserId>> {
        let page = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :mod)")
            .expression_attribute_values(":pk", s(channel_pk(channel)))
            .expression_attribute_values(":mod", s("MOD#"))
            .send()
            .await?;
        Ok(page
            .items()
            .iter()
            .filter_map(|i| i.get("user_id")?.as_s().ok()?.parse().ok())
            .collect())
    }

    // ---- notices ----

    pub async fn put_notice(&self, notice: &NoticeRecord, create: bool) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(notice)?;
        item.extend(key(
            channel_pk(&notice.channel_id),
            format!("NOTICE#{}", notice.id),
        ));
        let cond = if create {
            "attribute_not_exists(pk)"
        } else {
            "attribute_exists(pk)"
        };
        match self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(cond)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conditional(&e) => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn notice(
        &self,
        channel: &ChannelId,
        id: &NoticeId,
    ) -> anyhow::Result<Option<NoticeRecord>> {
        self.get_item(channel_pk(channel), &format!("NOTICE#{id}"))
            .await?
            .map(dynamo::from_item)
            .transpose()
    }

    pub async fn delete_notice(&self, channel: &ChannelId, id: &NoticeId) -> anyhow::Result<bool> {
        let res = self
            .ddb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(channel_pk(channel), format!("NOTICE#{id}"))))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        applied(res)
    }

    /// Newest first.
    pub async fn notices(
        &self,
        channel: &ChannelId,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<NoticeRecord>, StoreError> {
        let pk = channel_pk(channel);
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :n)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":n", s("NOTICE#"));
        query_page(query, cursor, "pk", &pk, limit).await
    }
}
