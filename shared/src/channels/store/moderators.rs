//! A channel's moderators.

use super::{ChannelsStore, channel_pk};
use crate::clock::Timestamp;
use crate::{
    domain::ids::{ChannelId, UserId},
    stores::dynamo::{Item, Partition, key, s},
};

fn moderator_key(channel: &ChannelId, user: &UserId) -> Item {
    key(channel_pk(channel), format!("MOD#{user}"))
}

impl ChannelsStore {
    pub async fn add_moderator(
        &self,
        channel: &ChannelId,
        user: &UserId,
        by: &UserId,
    ) -> anyhow::Result<()> {
        let mut item = moderator_key(channel, user);
        item.extend([
            ("user_id".to_owned(), s(user.to_string())),
            ("added_by".to_owned(), s(by.to_string())),
            ("added_at".to_owned(), s(Timestamp::now())),
        ]);
        self.table.put(item).await
    }

    pub async fn remove_moderator(&self, channel: &ChannelId, user: &UserId) -> anyhow::Result<()> {
        self.table.delete(moderator_key(channel, user)).await?;
        Ok(())
    }

    pub async fn is_moderator(&self, channel: &ChannelId, user: &UserId) -> anyhow::Result<bool> {
        Ok(self
            .table
            .get(moderator_key(channel, user))
            .await?
            .is_some())
    }

    pub async fn moderators(&self, channel: &ChannelId) -> anyhow::Result<Vec<UserId>> {
        let part = Partition::prefixed(channel_pk(channel), "MOD#");
        Ok(self
            .table
            .all(part)
            .await?
            .iter()
            .filter_map(|i| i.get("user_id")?.as_s().ok()?.parse().ok())
            .collect())
    }
}
