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
use crate::{
    config::StoreConfig,
    domain::ids::{ChannelId, LiveId, UserId},
    stores::dynamo::{self, StoreError, Table, key, or_conflict, s},
};

#[derive(Clone)]
pub struct ChannelsStore {
    pub(super) table: Table,
}

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
    pub key: String,
    pub hash: String,
    pub created_at: String,
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
}
