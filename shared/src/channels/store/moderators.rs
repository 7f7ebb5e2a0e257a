//! A channel's moderators.

use super::{ChannelsStore, channel_pk};
use crate::{
    domain::ids::{ChannelId, UserId},
    stores::dynamo::{key, s},
};

impl ChannelsStore {
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
}
