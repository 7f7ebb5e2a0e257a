//! Follows, and each channel's follower count.

use super::{ChannelsStore, channel_pk};
use crate::clock::Timestamp;
use crate::{
    domain::ids::{ChannelId, UserId},
    stores::dynamo::{Partition, StoreError, TxError, key, n, s, tx_update},
};

fn follow_key(user: &UserId, channel: &ChannelId) -> crate::stores::dynamo::Item {
    key(format!("FOLLOW#{user}"), channel.to_string())
}

impl ChannelsStore {
    /// The channel's follower count moved by `delta`, in a transaction (the channel must exist).
    fn count_follower(
        &self,
        channel: &ChannelId,
        delta: i64,
    ) -> anyhow::Result<aws_sdk_dynamodb::types::TransactWriteItem> {
        tx_update(
            self.table
                .tx_update(key(channel_pk(channel), "META"))
                .update_expression("ADD follower_count :delta")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":delta", n(delta)),
        )
    }

    /// `true` if the follow is new.
    pub async fn follow(&self, user: &UserId, channel: &ChannelId) -> Result<bool, StoreError> {
        let mut item = follow_key(user, channel);
        item.extend([
            ("gsi1pk".to_owned(), s(format!("FOLLOWERS#{channel}"))),
            ("gsi1sk".to_owned(), s(user.to_string())),
            ("followed_at".to_owned(), s(Timestamp::now())),
        ]);
        let items = vec![self.table.put_new(item)?, self.count_follower(channel, 1)?];
        match self.table.transact(items).await {
            Ok(()) => Ok(true),
            Err(e) if e.refused(0) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn unfollow(&self, user: &UserId, channel: &ChannelId) -> anyhow::Result<bool> {
        let items = vec![
            self.table.tx_delete(follow_key(user, channel), true)?,
            self.count_follower(channel, -1)?,
        ];
        match self.table.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Refused(_)) => Ok(false),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    pub async fn is_following(&self, user: &UserId, channel: &ChannelId) -> anyhow::Result<bool> {
        Ok(self.table.get(follow_key(user, channel)).await?.is_some())
    }

    pub async fn following(&self, user: &UserId) -> anyhow::Result<Vec<ChannelId>> {
        let part = Partition::of(format!("FOLLOW#{user}"));
        Ok(self
            .table
            .all(part)
            .await?
            .iter()
            .filter_map(|i| i.get("sk")?.as_s().ok()?.parse::<ChannelId>().ok())
            .collect())
    }
}
