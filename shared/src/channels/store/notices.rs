//! A channel's notices.

use super::{ChannelsStore, channel_pk};
use crate::{
    channels::model::*,
    domain::ids::{ChannelId, NoticeId},
    stores::dynamo::{self, Page, Partition, StoreError, applied, is_conditional, key},
};

impl ChannelsStore {
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
        limit: usize,
    ) -> Result<Page<NoticeRecord>, StoreError> {
        let part = Partition::prefixed(channel_pk(channel), "NOTICE#");
        dynamo::page(&self.ddb, &self.table, part, cursor, limit).await
    }
}
