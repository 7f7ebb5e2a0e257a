//! Sending: the text parsed, filtered (global and the channel's list) and admitted (rate,
//! slow mode, duplicates, bans and timeouts) into the room's stream.

use super::{
    Chat, ChatError,
    filter::{self, Verdict},
    hot::{Admission, Refusal},
    model::*,
    text::ChatText,
};
use crate::clock::Timestamp;

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
        let text_hash = crate::auth::secret::sha256_hex(duplicate_key(&text));
        let exempt = user.is_staff();
        let body = EventBody::Message {
            user: user.clone(),
            text,
            ts: Timestamp::now(),
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

/// What "the same message again" means: the folded text (case, spacing and look-alike tricks
/// ignored); for a message without letters or digits (emoji, punctuation), which folds to
/// nothing, the text itself with its whitespace collapsed, so `👍` after `🎉` is not a repeat.
fn duplicate_key(text: &str) -> String {
    let folded = filter::fold(text).text;
    if !folded.is_empty() {
        return folded;
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::duplicate_key;

    #[test]
    fn texts_without_letters_are_repeats_only_of_themselves() {
        let keys: Vec<String> = ["😀🎉🚀", "👍", "!!!", "???", "ㅋㅋㅋ"]
            .iter()
            .map(|t| duplicate_key(t))
            .collect();
        for (i, a) in keys.iter().enumerate() {
            assert!(!a.is_empty());
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(duplicate_key(" !!!  "), duplicate_key("!!!"));
        assert_eq!(duplicate_key("👍 👍"), duplicate_key("👍  👍"));
        // Letters still fold: case and spacing do not make a new message.
        assert_eq!(duplicate_key("same thing"), duplicate_key("SAME  thing"));
    }
}
