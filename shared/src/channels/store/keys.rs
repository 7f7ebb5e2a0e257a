//! Stream keys: the key itself (owner only) and its hash → channel lookup.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use super::{ChannelsStore, StreamKeyRecord, channel_pk, skey_pk};
use crate::{
    domain::ids::ChannelId,
    stores::dynamo::{self, Item, StoreError, failed_conditions, key, put_new, s},
};

impl ChannelsStore {
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
}
