//! Chat's domain types: message ids, users as chat shows them, events, tickets, settings.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use serde_with::{DeserializeFromStr, SerializeDisplay};
use utoipa::ToSchema;

use crate::{
    clock::Timestamp,
    domain::ids::{ChannelId, ConnectionId, LiveId, UserId},
};

/// A chat event's id: the channel's Redis stream id `<unix ms>-<seq>`, so ids are monotonic per
/// channel and carry their time.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, SerializeDisplay, DeserializeFromStr,
)]
pub struct MessageId {
    pub ms: u64,
    pub seq: u64,
}

impl MessageId {
    pub const ZERO: MessageId = MessageId { ms: 0, seq: 0 };
    /// The last id there can be (nothing follows it).
    pub const MAX: MessageId = MessageId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// A fixed-width form that sorts like the id, for DynamoDB sort keys.
    pub fn sort_key(&self) -> String {
        format!("{:013}-{:010}", self.ms, self.seq)
    }

    pub fn from_sort_key(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl FromStr for MessageId {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: &str = "expected a message id like 1732590000000-0";
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(BAD);
        }
        Ok(Self {
            ms: ms.parse().map_err(|_| BAD)?,
            seq: seq.parse().map_err(|_| BAD)?,
        })
    }
}

impl utoipa::PartialSchema for MessageId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .examples([serde_json::json!("1732590000000-0")])
            .description(Some("Monotonic per channel: `<unix ms>-<sequence>`"))
            .into()
    }
}

impl ToSchema for MessageId {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Badge {
    Owner,
    Moderator,
}

/// The author of a message as chat shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatUser {
    pub id: UserId,
    pub nickname: String,
    /// Always sent (empty for a viewer).
    #[serde(default)]
    #[schema(required = true)]
    pub badges: Vec<Badge>,
}

impl ChatUser {
    pub fn is_staff(&self) -> bool {
        !self.badges.is_empty()
    }
}

/// What a connection may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    pub send: bool,
    pub moderate: bool,
}

/// A single-use permission to open one chat connection, kept in Redis for 60 s.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    pub channel_id: ChannelId,
    pub user: ChatUser,
    pub capabilities: Capabilities,
}

/// An open chat connection, registered at `$connect`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    pub channel_id: ChannelId,
    /// `None`: anonymous, read-only.
    pub user: Option<ChatUser>,
    pub capabilities: Capabilities,
}

/// Where a sent message's ack goes. The ack is posted by the flusher once the message is
/// archived, so an acked message survives losing Redis.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckTo {
    #[serde(rename = "c")]
    pub connection_id: ConnectionId,
    #[serde(rename = "r")]
    pub request_id: Option<super::protocol::RequestId>,
}

/// Kept beside a message in the stream for the flusher; never sent to the room.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// The live the message was sent during (its archive partition).
    #[serde(rename = "l")]
    pub live_id: Option<LiveId>,
    #[serde(rename = "a")]
    pub ack: Option<AckTo>,
}

/// What happened in a room. Stored in the room's stream (without `id`, which is the stream id)
/// and sent to clients with `id` and `channel_id` added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    Message {
        user: ChatUser,
        text: String,
        /// RFC 3339, milliseconds.
        ts: Timestamp,
    },
    /// A message was deleted by a moderator: hide it.
    Deleted {
        message_id: MessageId,
    },
    /// Chat was cleared: hide everything before this event.
    Cleared,
    SlowMode {
        seconds: u32,
    },
    /// A user was banned: hide their messages.
    UserBanned {
        user_id: UserId,
    },
    UserTimedOut {
        user_id: UserId,
        seconds: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: MessageId,
    pub channel_id: ChannelId,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    pub fn is_message(&self) -> bool {
        matches!(self.body, EventBody::Message { .. })
    }
}

/// A chat message as history returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub user: ChatUser,
    pub text: String,
    pub ts: Timestamp,
}

impl ChatMessage {
    pub fn from_event(e: Event) -> Option<Self> {
        match e.body {
            EventBody::Message { user, text, ts } => Some(Self {
                id: e.id,
                channel_id: e.channel_id,
                user,
                text,
                ts,
            }),
            _ => None,
        }
    }
}

/// What happens to a message with a forbidden word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FilterAction {
    /// Deliver it with the words replaced by `*`.
    #[default]
    Mask,
    /// Refuse it (`filtered` error to the sender).
    Reject,
}

/// Default token bucket: 1 message per second, bursts of 5.
pub const DEFAULT_RATE: f64 = 1.0;
pub const DEFAULT_BURST: u32 = 5;
/// Limits for a channel's own settings.
pub const MAX_RATE: f64 = 50.0;
pub const MIN_RATE: f64 = 0.05;
pub const MAX_BURST: u32 = 100;
pub const MAX_SLOW_SECONDS: u32 = 3600;
/// Longest timeout (two weeks, like Twitch).
pub const MAX_TIMEOUT_SECONDS: u32 = 14 * 24 * 3600;

fn default_rate() -> f64 {
    DEFAULT_RATE
}
fn default_burst() -> u32 {
    DEFAULT_BURST
}

/// A channel's chat settings (DynamoDB, cached in Redis).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatSettings {
    /// Seconds between two messages of one user; 0 = off. Owner and moderators are exempt.
    #[serde(default)]
    pub slow_seconds: u32,
    /// Token bucket refill rate per user.
    #[serde(default = "default_rate")]
    pub messages_per_second: f64,
    /// Token bucket size per user.
    #[serde(default = "default_burst")]
    pub burst: u32,
    #[serde(default)]
    pub filter_action: FilterAction,
    /// The channel's own forbidden words (the global list always applies).
    #[serde(default)]
    pub words: Vec<String>,
    /// Bumped on every word-list change, so cached automata know when to rebuild.
    #[serde(default)]
    pub words_version: u64,
    /// Messages before this id were cleared.
    pub cleared_before: Option<MessageId>,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            slow_seconds: 0,
            messages_per_second: DEFAULT_RATE,
            burst: DEFAULT_BURST,
            filter_action: FilterAction::Mask,
            words: Vec::new(),
            words_version: 0,
            cleared_before: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_parse_sort_and_round_trip() {
        let a: MessageId = "1732590000000-0".parse().unwrap();
        let b: MessageId = "1732590000000-12".parse().unwrap();
        let c: MessageId = "1732590000001".parse().unwrap();
        assert!(a < b && b < c);
        assert!(a.sort_key() < b.sort_key() && b.sort_key() < c.sort_key());
        assert_eq!(MessageId::from_sort_key(&b.sort_key()), Some(b));
        assert_eq!(b.to_string(), "1732590000000-12");
        for bad in [
            "",
            "-",
            "a-1",
            "1-",
            "1-2-3",
            "+",
            "99999999999999999999999",
        ] {
            assert!(bad.parse::<MessageId>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"1732590000000-0\"");
        assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), a);
    }

    #[test]
    fn events_serialize_flat() {
        let e = Event {
            id: MessageId { ms: 5, seq: 1 },
            channel_id: ChannelId::new(),
            body: EventBody::Deleted {
                message_id: MessageId { ms: 4, seq: 0 },
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "deleted");
        assert_eq!(v["id"], "5-1");
        assert_eq!(v["message_id"], "4-0");
    }
}
