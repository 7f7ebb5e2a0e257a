//! Chat's DynamoDB side (`<prefix>chat`): the durable message archive, channel chat settings,
//! bans and the moderation audit log.
//!
//! | item      | pk                          | sk               | gsi1pk / gsi1sk           |
//! |-----------|-----------------------------|------------------|---------------------------|
//! | message   | `CHAT#<channel>#<live\|none>` | `MSG#<id key>`   | `CHATCH#<channel>` / id key |
//! | settings  | `CHSET#<channel>`           | `SETTINGS`       |                           |
//! | ban       | `CHSET#<channel>`           | `BAN#<user>`     |                           |
//! | audit     | `CHAUDIT#<channel>`         | `<uuid v7>`      |                           |
//!
//! Messages are partitioned per live (VOD replay reads one partition in order) and indexed per
//! channel on gsi1 (channel history across lives). The id key is [`MessageId::sort_key`].

use std::time::Duration;

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, PutRequest, WriteRequest},
};
use backon::{ExponentialBuilder, Retryable};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::model::{ChatMessage, ChatSettings, ChatUser, MessageId};
use crate::clock::Timestamp;
use crate::{
    config::StoreConfig,
    domain::ids::{ChannelId, LiveId, UserId},
    stores::dynamo::{self, Item, Page, Paging, Partition, StoreError, Table, key, s},
};

/// DynamoDB's limit of items per `BatchWriteItem`.
const BATCH_WRITE_MAX: usize = 25;
/// `BatchWriteItem` calls of one archive write in flight at once.
const ARCHIVE_CONCURRENCY: usize = 8;
/// Calls per chunk while DynamoDB leaves items unprocessed (throttling).
const ARCHIVE_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
#[error("{0} messages left unprocessed (throttled)")]
struct Unprocessed(usize);

/// Audit entries are kept for a year.
const AUDIT_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArchivedMessage {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    id: MessageId,
    channel_id: ChannelId,
    live_id: Option<LiveId>,
    user: ChatUser,
    text: String,
    ts: Timestamp,
    #[serde(default)]
    deleted: bool,
}

impl ArchivedMessage {
    fn into_message(self) -> ChatMessage {
        ChatMessage {
            id: self.id,
            channel_id: self.channel_id,
            user: self.user,
            text: self.text,
            ts: self.ts,
        }
    }
}

/// A ban as the owner's list shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ban {
    pub user_id: UserId,
    #[serde(default)]
    pub nickname: String,
    #[serde(default)]
    pub reason: String,
    /// Who banned them.
    pub by: UserId,
    pub at: Timestamp,
}

/// One moderation action.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub action: String,
    pub actor: UserId,
    pub target_user: Option<UserId>,
    pub message_id: Option<MessageId>,
    /// Action-specific detail (reason, seconds, words…).
    #[serde(default)]
    pub detail: String,
    pub at: Timestamp,
}

fn message_pk(ch: &ChannelId, live: Option<&LiveId>) -> String {
    match live {
        Some(l) => format!("CHAT#{ch}#{l}"),
        None => format!("CHAT#{ch}#none"),
    }
}
fn channel_index(ch: &ChannelId) -> String {
    format!("CHATCH#{ch}")
}
fn settings_pk(ch: &ChannelId) -> String {
    format!("CHSET#{ch}")
}
fn ban_key(ch: &ChannelId, user: &UserId) -> Item {
    key(settings_pk(ch), format!("BAN#{user}"))
}
fn audit_pk(ch: &ChannelId) -> String {
    format!("CHAUDIT#{ch}")
}

/// Direction of a history read.
#[derive(Debug, Clone, Copy)]
pub enum Range {
    /// Newest first, strictly before the id (or from the newest).
    Before(Option<MessageId>),
    /// Oldest first, strictly after the id.
    After(MessageId),
}

#[derive(Clone)]
pub struct ChatStore {
    table: Table,
}

impl ChatStore {
    pub fn new(ddb: Client, stores: &StoreConfig) -> Self {
        Self {
            table: Table::new(ddb, stores, "chat"),
        }
    }

    // ---- archive ----

    fn archived(msg: &ChatMessage, live: Option<&LiveId>) -> ArchivedMessage {
        ArchivedMessage {
            pk: message_pk(&msg.channel_id, live),
            sk: format!("MSG#{}", msg.id.sort_key()),
            gsi1pk: channel_index(&msg.channel_id),
            gsi1sk: msg.id.sort_key(),
            id: msg.id,
            channel_id: msg.channel_id,
            live_id: live.copied(),
            user: msg.user.clone(),
            text: msg.text.clone(),
            ts: msg.ts,
            deleted: false,
        }
    }

    /// Writes messages with `BatchWriteItem` (25 a call, a few calls at once), retrying what
    /// DynamoDB leaves unprocessed. Re-writing a message is harmless (same key and content), so
    /// a flusher that dies half-way and its successor may both write.
    pub async fn archive(&self, msgs: &[(ChatMessage, Option<LiveId>)]) -> anyhow::Result<()> {
        let mut requests = Vec::with_capacity(msgs.len());
        for (msg, live) in msgs {
            let item = dynamo::to_item(&Self::archived(msg, live.as_ref()))?;
            requests.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                    .build(),
            );
        }
        let chunks: Vec<Vec<WriteRequest>> = requests
            .chunks(BATCH_WRITE_MAX)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.write_all(chunk))
            .buffer_unordered(ARCHIVE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    /// One BatchWriteItem, then again with what DynamoDB left unprocessed (throttling), with
    /// backoff; an SDK error is not retried here (the SDK retried it already).
    async fn write_all(&self, chunk: Vec<WriteRequest>) -> anyhow::Result<()> {
        let pending = std::sync::Mutex::new(chunk);
        let attempt = || async {
            let batch = std::mem::take(&mut *pending.lock().unwrap_or_else(|p| p.into_inner()));
            let left = self
                .table
                .client()
                .batch_write_item()
                .request_items(self.table.name(), batch)
                .send()
                .await?
                .unprocessed_items
                .and_then(|mut m| m.remove(self.table.name()))
                .unwrap_or_default();
            if left.is_empty() {
                return Ok(());
            }
            let n = left.len();
            *pending.lock().unwrap_or_else(|p| p.into_inner()) = left;
            Err(anyhow::Error::new(Unprocessed(n)))
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(25))
                    .with_max_times(ARCHIVE_ATTEMPTS as usize - 1),
            )
            .when(|e| e.is::<Unprocessed>())
            .await
    }

    /// Up to `limit` visible messages of a channel (deleted ones and those before
    /// `cleared_before` skipped), in the range's order.
    pub async fn channel_messages(
        &self,
        ch: &ChannelId,
        range: Range,
        limit: usize,
        cleared_before: Option<MessageId>,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let mut q = self
            .table
            .query()
            .index_name("gsi1")
            .expression_attribute_values(":pk", s(channel_index(ch)));
        q = match range {
            Range::Before(Some(b)) => q
                .key_condition_expression("gsi1pk = :pk AND gsi1sk < :id")
                .expression_attribute_values(":id", s(b.sort_key()))
                .scan_index_forward(false),
            Range::Before(None) => q
                .key_condition_expression("gsi1pk = :pk")
                .scan_index_forward(false),
            Range::After(a) => q
                .key_condition_expression("gsi1pk = :pk AND gsi1sk > :id")
                .expression_attribute_values(":id", s(a.sort_key()))
                .scan_index_forward(true),
        };
        self.collect(q, limit, cleared_before).await
    }

    /// Visible messages of one live, oldest first, after `after`.
    pub async fn live_messages(
        &self,
        ch: &ChannelId,
        live: &LiveId,
        after: Option<MessageId>,
        limit: usize,
        cleared_before: Option<MessageId>,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let q = self
            .table
            .query()
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":pk", s(message_pk(ch, Some(live))))
            .expression_attribute_values(
                ":after",
                s(format!(
                    "MSG#{}",
                    after.unwrap_or(MessageId::ZERO).sort_key()
                )),
            )
            .scan_index_forward(true);
        self.collect(q, limit, cleared_before).await
    }

    async fn collect(
        &self,
        q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: usize,
        cleared_before: Option<MessageId>,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let mut out = Vec::new();
        let mut start = None;
        // Deleted messages are filtered after the read, so a page may come back short; a few
        // more pages fill it (bounded: a channel that deleted everything is not scanned whole).
        for _ in 0..5 {
            let page = q
                .clone()
                .limit((limit + 10).min(1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in page.items.unwrap_or_default() {
                let m: ArchivedMessage = dynamo::from_item(item)?;
                if m.deleted || cleared_before.is_some_and(|c| m.id < c) {
                    continue;
                }
                out.push(m.into_message());
                if out.len() == limit {
                    return Ok(out);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Marks a message deleted; false if it is not archived.
    pub async fn mark_deleted(&self, ch: &ChannelId, id: MessageId) -> anyhow::Result<bool> {
        let found = self
            .table
            .query()
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk = :id")
            .expression_attribute_values(":pk", s(channel_index(ch)))
            .expression_attribute_values(":id", s(id.sort_key()))
            .send()
            .await?;
        let Some(item) = found.items.unwrap_or_default().into_iter().next() else {
            return Ok(false);
        };
        let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned()) else {
            return Ok(false);
        };
        self.table
            .update(Item::from([("pk".to_owned(), pk), ("sk".to_owned(), sk)]))
            .update_expression("SET deleted = :t")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await?;
        Ok(true)
    }

    // ---- settings ----

    async fn settings_item(&self, ch: &ChannelId) -> anyhow::Result<Option<Item>> {
        self.table.get(key(settings_pk(ch), "SETTINGS")).await
    }

    pub async fn settings(&self, ch: &ChannelId) -> anyhow::Result<ChatSettings> {
        Ok(match self.settings_item(ch).await? {
            Some(item) => dynamo::from_item(item)?,
            None => ChatSettings::default(),
        })
    }

    /// Read-modify-write of a channel's settings with optimistic concurrency (`rev`), so two
    /// moderators editing at once never lose each other's change. `change` may refuse (`Err`).
    pub async fn update_settings<E>(
        &self,
        ch: &ChannelId,
        change: impl Fn(&mut ChatSettings) -> Result<(), E>,
    ) -> anyhow::Result<Result<ChatSettings, E>> {
        for _ in 0..5 {
            let item = self.settings_item(ch).await?;
            let rev = item
                .as_ref()
                .and_then(|i| i.get("rev")?.as_n().ok()?.parse::<u64>().ok());
            let mut settings: ChatSettings = match item {
                Some(i) => dynamo::from_item(i)?,
                None => ChatSettings::default(),
            };
            if let Err(e) = change(&mut settings) {
                return Ok(Err(e));
            }
            let mut new = dynamo::to_item(&settings)?;
            new.extend(key(settings_pk(ch), "SETTINGS"));
            new.insert("rev".into(), dynamo::n(rev.unwrap_or(0) + 1));
            let put = self.table.put_when(new);
            let put = match rev {
                Some(r) => put
                    .condition_expression("rev = :rev")
                    .expression_attribute_values(":rev", dynamo::n(r)),
                None => put.condition_expression("attribute_not_exists(pk)"),
            };
            // Not applied: another edit came first; read it and try again.
            if dynamo::applied(put.send().await)? {
                return Ok(Ok(settings));
            }
        }
        anyhow::bail!("chat settings of {ch} kept changing under us")
    }

    // ---- bans ----

    pub async fn put_ban(&self, ch: &ChannelId, ban: &Ban) -> anyhow::Result<()> {
        let mut item = dynamo::to_item(ban)?;
        item.extend(ban_key(ch, &ban.user_id));
        self.table.put(item).await
    }

    /// Lifts a ban; false if there was none.
    pub async fn delete_ban(&self, ch: &ChannelId, user: &UserId) -> anyhow::Result<bool> {
        self.table.delete(ban_key(ch, user)).await
    }

    pub async fn is_banned(&self, ch: &ChannelId, user: &UserId) -> anyhow::Result<bool> {
        Ok(self.table.get(ban_key(ch, user)).await?.is_some())
    }

    pub async fn bans(&self, ch: &ChannelId, paging: &Paging) -> Result<Page<Ban>, StoreError> {
        let part = Partition::prefixed(settings_pk(ch), "BAN#");
        self.table.page(part, paging).await
    }

    // ---- audit ----

    pub async fn audit(&self, ch: &ChannelId, entry: &AuditEntry) -> anyhow::Result<()> {
        let mut item = dynamo::to_item(entry)?;
        item.extend(key(audit_pk(ch), uuid::Uuid::now_v7().to_string()));
        item.insert(
            "expires_at".into(),
            dynamo::n((Timestamp::now() + AUDIT_TTL).unix_secs()),
        );
        self.table.put(item).await
    }

    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        ch: &ChannelId,
        paging: &Paging,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let part = Partition::of(audit_pk(ch));
        self.table.page(part, paging).await
    }
}
