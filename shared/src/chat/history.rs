//! History: the resume path and scroll-back from the stream, completed from the archive; one
//! live's chat for VOD replay.

use std::collections::BTreeMap;

use super::{Chat, ChatError, MAX_HISTORY, model::*, store::Range};
use crate::domain::ids::{ChannelId, LiveId};

impl Chat {
    /// Messages after `after` (the resume path), oldest first; `more` when the answer was cut at
    /// `limit`. Served from the stream, completed from the archive when the stream does not reach
    /// back far enough (trimmed, or Redis lost it).
    pub async fn history_after(
        &self,
        ch: &ChannelId,
        after: MessageId,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, bool), ChatError> {
        let limit = limit.clamp(1, MAX_HISTORY);
        let room = self.room(ch).await?;
        let after = after.max(room.settings.cleared_before.unwrap_or(MessageId::ZERO));
        let mut found: BTreeMap<MessageId, ChatMessage> = BTreeMap::new();
        let hot = self.hot.after(ch, after, self.config.history_len).await?;
        let covered = matches!(self.hot.first_id(ch).await?, Some(first) if first <= after);
        found.extend(
            hot.into_iter()
                .filter_map(ChatMessage::from_event)
                .map(|m| (m.id, m)),
        );
        if !covered {
            let cold = self
                .store
                .channel_messages(
                    ch,
                    Range::After(after),
                    limit + 1,
                    room.settings.cleared_before,
                )
                .await?;
            found.extend(cold.into_iter().map(|m| (m.id, m)));
        }
        let more = found.len() > limit;
        Ok((found.into_values().take(limit).collect(), more))
    }

    /// Up to `limit` newest messages before `before` (or the newest), oldest first.
    pub async fn history_before(
        &self,
        ch: &ChannelId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let limit = limit.clamp(1, MAX_HISTORY);
        let room = self.room(ch).await?;
        let cleared = room.settings.cleared_before;
        let mut found: BTreeMap<MessageId, ChatMessage> = BTreeMap::new();
        // Events are interleaved with messages; read a little more than asked.
        let hot = self.hot.before(ch, before, limit + limit / 2 + 10).await?;
        found.extend(
            hot.into_iter()
                .filter_map(ChatMessage::from_event)
                .filter(|m| cleared.is_none_or(|c| m.id >= c))
                .map(|m| (m.id, m)),
        );
        if found.len() < limit {
            let from = found.keys().next().copied().or(before);
            let cold = self
                .store
                .channel_messages(ch, Range::Before(from), limit - found.len(), cleared)
                .await?;
            found.extend(cold.into_iter().map(|m| (m.id, m)));
        }
        let skip = found.len().saturating_sub(limit);
        Ok(found.into_values().skip(skip).collect())
    }

    /// One live's chat for VOD replay, oldest first.
    pub async fn live_history(
        &self,
        live: &LiveId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<(ChannelId, Vec<ChatMessage>), ChatError> {
        let record = self
            .channels
            .live(live)
            .await?
            .ok_or_else(|| ChatError::NotFound("no such live".into()))?;
        let ch = record.channel_id;
        let room = self.room(&ch).await?;
        let messages = self
            .store
            .live_messages(
                &ch,
                live,
                after,
                limit.clamp(1, MAX_HISTORY),
                room.settings.cleared_before,
            )
            .await?;
        Ok((ch, messages))
    }
}
