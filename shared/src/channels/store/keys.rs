//! Stream keys: the key itself (owner only) and its hash → channel lookup.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::{ChannelsStore, StreamKeyRecord, channel_pk, skey_pk};
use crate::{
    domain::ids::ChannelId,
    stores::dynamo::{self, Item, StoreError, TxError, key, s},
};

impl ChannelsStore {
    pub async fn stream_key(&self, channel: &ChannelId) -> anyhow::Result<Option<StreamKeyRecord>> {
        self.table
            .get_as(key(channel_pk(channel), "STREAMKEY"))
            .await
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
        let items = vec![self.table.put_new(stored)?, self.table.put_new(lookup)?];
        match self.table.transact(items).await {
            Ok(()) => Ok(fresh),
            // A concurrent first request won; use its key.
            Err(TxError::Refused(_)) => self
                .stream_key(channel)
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream key vanished")),
            Err(TxError::Other(e)) => Err(e),
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
            .table_name(self.table.name())
            .set_item(Some(stored))
            .condition_expression("#h = :old")
            .expression_attribute_names("#h", "hash")
            .expression_attribute_values(":old", s(old.hash.clone()))
            .build()
            .map_err(anyhow::Error::from)?;
        let items = vec![
            TransactWriteItem::builder().put(replace).build(),
            self.table
                .tx_delete(key(skey_pk(&old.hash), "KEY"), false)?,
            self.table.put_new(lookup)?,
        ];
        Ok(self.table.transact(items).await?)
    }

    pub async fn channel_by_key_hash(&self, hash: &str) -> anyhow::Result<Option<ChannelId>> {
        Ok(self
            .table
            .get(key(skey_pk(hash), "KEY"))
            .await?
            .and_then(|i| i.get("channel_id")?.as_s().ok()?.parse().ok()))
    }
}
