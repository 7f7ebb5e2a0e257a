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
//! - `CHNAME#<skeleton>` / `UNIQUE`: a channel name's claim, keyed by its confusable skeleton so
//!   look-alike names cannot both exist (written at sign-up, moved by a rename)

mod follows;
mod keys;
mod lives;
mod moderators;
mod notices;

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, ReturnValue},
};
use serde::{Deserialize, Serialize};

use super::model::*;
use crate::clock::Timestamp;
use crate::{
    config::StoreConfig,
    domain::ids::{ChannelId, LiveId, UserId},
    stores::dynamo::{self, StoreError, Table, key, or_conflict, s},
};

#[derive(Clone)]
pub struct ChannelsStore {
    pub(super) table: Table,
}

/// The claim on a channel name's skeleton (see [`crate::domain::text::skeleton_key`]).
pub fn name_claim_pk(name_key: &str) -> String {
    format!("CHNAME#{name_key}")
}

pub const NAME_TAKEN: &str = "that channel name is taken (or looks like one that is)";

pub(super) fn channel_pk(id: &ChannelId) -> String {
    format!("CHANNEL#{id}")
}
pub(super) fn live_pk(id: &LiveId) -> String {
    format!("LIVE#{id}")
}
/// A heartbeat stores the latest health; `ready` and `thumbnail` only ever turn on.
pub(super) fn heartbeat_update(health: &Health) -> String {
    let mut e = String::from("SET last_heartbeat = :now, health = :h");
    if health.ready {
        e.push_str(", ready = :t");
    }
    if health.thumbnail {
        e.push_str(", thumbnail = :t");
    }
    e
}

pub(super) fn skey_pk(hash: &str) -> String {
    format!("SKEY#{hash}")
}

/// A stored stream key.
#[derive(Clone, Serialize, Deserialize)]
pub struct StreamKeyRecord {
    pub key: StreamKey,
    pub hash: String,
    pub created_at: Timestamp,
}

impl ChannelsStore {
    pub fn new(ddb: Client, stores: &StoreConfig) -> Self {
        Self {
            table: Table::new(ddb, stores, "channels"),
        }
    }

    pub async fn channel(&self, id: &ChannelId) -> anyhow::Result<Option<ChannelRecord>> {
        self.table.get_as(key(channel_pk(id), "META")).await
    }

    pub async fn channel_of(&self, owner: &UserId) -> anyhow::Result<Option<ChannelId>> {
        Ok(self
            .table
            .get(key(format!("OWNER#{owner}"), "CHANNEL"))
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
            let name = self.table.name();
            let mut request = Some(std::collections::HashMap::from([(
                name.to_owned(),
                keys.build()?,
            )]));
            while let Some(req) = request.take().filter(|r| !r.is_empty()) {
                let res = self
                    .table
                    .client()
                    .batch_get_item()
                    .set_request_items(Some(req))
                    .send()
                    .await?;
                if let Some(items) = res.responses.and_then(|mut r| r.remove(name)) {
                    for item in items {
                        out.push(dynamo::from_item(item)?);
                    }
                }
                request = res.unprocessed_keys;
            }
        }
        Ok(out)
    }

    /// Applies `patch` to `current`. A new name whose skeleton differs moves the channel's name
    /// claim in the same transaction: the update, the new claim and the old claim's release all
    /// happen or none does.
    pub async fn update_channel(
        &self,
        current: &ChannelRecord,
        patch: &ChannelPatch,
    ) -> Result<ChannelRecord, StoreError> {
        let id = &current.id;
        let new_key = patch
            .name
            .as_deref()
            .map(crate::domain::text::skeleton_key)
            .filter(|k| current.name_key.as_ref() != Some(k));
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
        field("name_key", ":nkey", &new_key.clone().map(Some));
        field("description", ":desc", &patch.description.clone().map(Some));
        let name_of = |c: &Option<Option<Category>>| c.map(|c| c.map(|c| c.as_str().to_owned()));
        field("category", ":cat", &name_of(&patch.category));
        field("stream_title", ":st", &patch.stream_title);
        field("stream_category", ":sc", &name_of(&patch.stream_category));
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
        if let Some(new_key) = new_key {
            return self.rename(current, expr.trim(), values, &new_key).await;
        }
        let mut req = self
            .table
            .update(key(channel_pk(id), "META"))
            .update_expression(expr.trim())
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        if patch.name.is_some() {
            req = req.expression_attribute_names("#name", "name");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        let out = or_conflict(req.send().await)?;
        Ok(dynamo::from_item(out.attributes.unwrap_or_default())?)
    }

    /// The update of [`Self::update_channel`] with the name claim moved to `new_key`.
    async fn rename(
        &self,
        current: &ChannelRecord,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
        new_key: &str,
    ) -> Result<ChannelRecord, StoreError> {
        let mut update = self
            .table
            .tx_update(key(channel_pk(&current.id), "META"))
            .update_expression(expr)
            .expression_attribute_names("#name", "name");
        // Refused when another rename got in first (channels made before claims have no key).
        update = match &current.name_key {
            Some(old) => update
                .condition_expression("name_key = :oldkey")
                .expression_attribute_values(":oldkey", s(old.clone())),
            None => update
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(name_key)"),
        };
        for (k, v) in values {
            update = update.expression_attribute_values(k, v);
        }
        let mut claim = key(name_claim_pk(new_key), "UNIQUE");
        claim.insert("channel_id".into(), s(current.id.to_string()));
        let mut items = vec![dynamo::tx_update(update)?, self.table.put_new(claim)?];
        if let Some(old) = &current.name_key {
            items.push(
                self.table
                    .tx_delete(key(name_claim_pk(old), "UNIQUE"), false)?,
            );
        }
        match self.table.transact(items).await {
            Err(e) if e.refused(1) => return Err(StoreError::Taken(NAME_TAKEN)),
            res => res?,
        }
        self.channel(&current.id).await?.ok_or(StoreError::Conflict)
    }
}
