//! Follows, and each channel's follower count.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use super::{ChannelsStore, channel_pk};
use crate::{
    domain::ids::{ChannelId, UserId},
    stores::dynamo::{self, StoreError, failed_conditions, key, n, put_new, s},
};

impl ChannelsStore {
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
}
