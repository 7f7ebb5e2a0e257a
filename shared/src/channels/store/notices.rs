//! A channel's notices.

use super::{ChannelsStore, channel_pk};
use crate::{
    channels::model::*,
    domain::ids::{ChannelId, NoticeId},
    stores::dynamo::{self, Page, Paging, Partition, StoreError, key, or_conflict},
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
        let put = self.table.put_when(item).condition_expression(cond);
        or_conflict(put.send().await)?;
        Ok(())
    }

    pub async fn notice(
        &self,
        channel: &ChannelId,
        id: &NoticeId,
    ) -> anyhow::Result<Option<NoticeRecord>> {
        let sk = format!("NOTICE#{id}");
        self.table.get_as(key(channel_pk(channel), sk)).await
    }

    pub async fn delete_notice(&self, channel: &ChannelId, id: &NoticeId) -> anyhow::Result<bool> {
        let sk = format!("NOTICE#{id}");
        self.table.delete(key(channel_pk(channel), sk)).await
    }

    /// Newest first.
    pub async fn notices(
        &self,
        channel: &ChannelId,
        paging: &Paging,
    ) -> Result<Page<NoticeRecord>, StoreError> {
        let part = Partition::prefixed(channel_pk(channel), "NOTICE#");
        self.table.page(part, paging).await
    }
}
