//! Sending: the text parsed, filtered (global and the channel's list) and admitted (rate,
//! slow mode, duplicates, bans and timeouts) into the room's stream.

use super::{
    Chat, ChatError,
    filter::{self, Verdict},
    hot::{Admission, Refusal},
    model::*,
    text::ChatText,
};

impl Chat {
    /// Admits a message and appends it to the room's stream. It is not acked here: the flusher
    /// archives it, then posts the ack to `ack` (see [`Chat::flush`]).
    pub async fn send(
        &self,
        conn: &Connection,
        raw: &str,
        ack: Option<AckTo>,
    ) -> Result<MessageId, ChatError> {
        let user = conn
            .user
            .as_ref()
            .filter(|_| conn.capabilities.send)
            .ok_or_else(|| ChatError::Forbidden("sign in to chat".into()))?;
        let text = ChatText::parse(raw)?;
        let ch = conn.channel_id;
        let room = self.room(&ch).await?;
        let own = self.channel_filter(&ch, &room.settings);
        let mut filters = vec![filter::global()];
        filters.extend(own.as_deref());
        let text = match filter::check(text.as_str(), &filters) {
            Verdict::Clean => text.into_string(),
            Verdict::Matched { .. } if room.settings.filter_action == FilterAction::Reject => {
                return Err(ChatError::Filtered);
            }
            Verdict::Matched { masked } => masked,
        };
        let text_hash = crate::auth::secret::sha256_hex(&filter::fold(&text).text);
        let exempt = user.is_staff();
        let body = EventBody::Message {
            user: user.clone(),
            text,
            ts: crate::clock::now_rfc3339_ms(),
        };
        let slow = u64::from(room.settings.slow_seconds) * 1000;
        let admission = Admission {
            rate: room.settings.messages_per_second,
            burst: room.settings.burst,
            slow_ms: if exempt { 0 } else { slow },
            duplicate_ms: self.config.duplicate_window.as_millis() as u64,
        };
        let meta = EntryMeta {
            live_id: room.live_id,
            ack,
        };
        let id = self
            .hot
            .send(&ch, &user.id, &text_hash[..32], &body, &meta, admission)
            .await?
            .map_err(|r| match r {
                Refusal::Banned => ChatError::Banned,
                Refusal::TimedOut { retry_ms } => ChatError::TimedOut { retry_ms },
                Refusal::SlowMode { retry_ms } => ChatError::SlowMode { retry_ms },
                Refusal::Duplicate { retry_ms } => ChatError::Duplicate { retry_ms },
                Refusal::RateLimited { retry_ms } => ChatError::RateLimited { retry_ms },
            })?;
        Ok(id)
    }
}
