//! Channel, live, notice records and the rules on their fields.

use serde::{Deserialize, Serialize};

use crate::{
    clock::Timestamp,
    domain::{
        ids::{ChannelId, LiveId, NoticeId, UserId},
        text,
    },
    error::FieldError,
};

/// The fixed category list; stored and sent as its kebab-case name (`just-chatting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    JustChatting,
    Games,
    Music,
    Art,
    Sports,
    Education,
    Tech,
    Food,
    Travel,
    Other,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Self::JustChatting,
        Self::Games,
        Self::Music,
        Self::Art,
        Self::Sports,
        Self::Education,
        Self::Tech,
        Self::Food,
        Self::Travel,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JustChatting => "just-chatting",
            Self::Games => "games",
            Self::Music => "music",
            Self::Art => "art",
            Self::Sports => "sports",
            Self::Education => "education",
            Self::Tech => "tech",
            Self::Food => "food",
            Self::Travel => "travel",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Category {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub owner_id: UserId,
    pub name: String,
    /// The skeleton [`name`](Self::name) is claimed under (none on channels made before claims).
    pub name_key: Option<String>,
    #[serde(default)]
    pub description: String,
    pub category: Option<Category>,
    pub image_key: Option<String>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub follower_count: i64,
    pub current_live_id: Option<LiveId>,
    /// "Next stream" defaults, copied onto a live when it starts.
    pub stream_title: Option<String>,
    pub stream_category: Option<Category>,
    /// The low-latency ladder profile (shorter segments).
    #[serde(default)]
    pub low_latency: bool,
}

/// Fields to change; `Some(None)` clears an optional one.
#[derive(Debug, Default, Clone)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<Option<Category>>,
    pub stream_title: Option<Option<String>>,
    pub stream_category: Option<Option<Category>>,
    pub image_key: Option<String>,
    pub low_latency: Option<bool>,
}

/// A stream key: the secret a publisher sends as OBS's "Stream Key".
// Stores keep it on one item that is not indexed and look it up by `hash()`; `Debug` never shows
// it, so no log line can.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct StreamKey(String);

impl StreamKey {
    /// A new key: a recognizable prefix (for secret scanners) and 256 random bits.
    pub fn generate() -> Self {
        Self(format!("lait_{}", crate::auth::secret::random(32)))
    }

    /// What a publisher sent (surrounding spaces are not part of a key).
    pub fn presented(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    /// Its SHA-256 (surrounding spaces dropped), the only form that is indexed or compared.
    pub fn hash(&self) -> String {
        crate::auth::secret::sha256_hex(self.0.trim())
    }

    /// The key itself, for its owner's eyes and the publisher's request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKey(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    Live,
    Ended,
}

/// Stream health reported by the media node.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    #[serde(default)]
    pub bitrate_kbps: f64,
    #[serde(default)]
    pub fps: f64,
    #[serde(default)]
    pub keyframe_interval: f64,
    #[serde(default)]
    pub dropped_frames: u64,
    #[serde(default)]
    pub upload_lag_ms: u64,
    /// The master playlist and a segment of every rendition are in the media bucket.
    #[serde(default)]
    pub ready: bool,
    /// The live's first thumbnail is in the media bucket.
    #[serde(default)]
    pub thumbnail: bool,
    /// The top rendition is the publisher's own video, not re-encoded (an H.264 source at the
    /// top rung's height with a keyframe at least every segment).
    #[serde(default)]
    pub passthrough: bool,
    /// Why the node cannot carry this stream (e.g. audio-only), when it cannot.
    pub error: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveRecord {
    pub id: LiveId,
    pub channel_id: ChannelId,
    pub title: String,
    pub category: Option<Category>,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub status: LiveStatus,
    pub node_id: String,
    /// Hash of the stream key that started it: a rotation makes it stale.
    pub key_hash: String,
    #[serde(with = "crate::clock::unix_secs")]
    pub last_heartbeat: Timestamp,
    pub health: Option<Health>,
    pub vod_key: Option<String>,
    pub duration_secs: Option<f64>,
    pub end_reason: Option<String>,
    #[serde(default)]
    pub low_latency: bool,
    /// Playable: listed in the directory only once true (set by the media node's heartbeat).
    #[serde(default)]
    pub ready: bool,
    /// A thumbnail is in the media bucket: until then the directory gives no thumbnail URL (a
    /// card shows a placeholder, not a 404). Sticky, like `ready`.
    #[serde(default)]
    pub thumbnail: bool,
}

/// How a live ended.
#[derive(Debug, Clone)]
pub struct LiveEnd {
    pub ended_at: Timestamp,
    pub reason: String,
    pub vod_key: Option<String>,
    pub duration_secs: Option<f64>,
}

/// Who may comment on a notice (kept from the seed for parity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommentPolicy {
    All,
    Followers,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoticeRecord {
    pub id: NoticeId,
    pub channel_id: ChannelId,
    pub author_id: UserId,
    pub title: String,
    pub body: String,
    pub comments: CommentPolicy,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Free text under the [text policy](crate::domain::text), something visible, `1..=max` characters.
pub fn text(field: &str, raw: &str, max: usize, newlines: bool) -> Result<String, FieldError> {
    let t = text::free_text(raw, newlines);
    if !text::has_visible(&t) {
        return Err(FieldError::new(field, "must not be empty"));
    }
    at_most(field, t, max)
}

fn at_most(field: &str, t: String, max: usize) -> Result<String, FieldError> {
    if t.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(t)
}

/// A name people find a channel by: an identifier under the [text policy](crate::domain::text)
/// (no invisible or direction-control characters, a letter or digit), `1..=max` characters.
pub fn name(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let t = text::identifier(raw).map_err(|e| FieldError::new(field, e.to_string()))?;
    at_most(field, t, max)
}

/// Like [`text`] but empty is allowed.
pub fn optional_text(
    field: &str,
    raw: &str,
    max: usize,
    newlines: bool,
) -> Result<String, FieldError> {
    at_most(field, text::free_text(raw, newlines), max)
}

/// A category named in request field `field` (the body keeps it a string, so the error can list
/// the choices).
pub fn category(field: &str, raw: &str) -> Result<Category, FieldError> {
    raw.parse().map_err(|()| {
        let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        FieldError::new(field, format!("must be one of: {}", all.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_rules() {
        assert_eq!(text("title", "  hi\u{0}  ", 10, false).unwrap(), "hi");
        assert!(text("title", "   ", 10, false).is_err());
        assert!(text("title", &"가".repeat(11), 10, false).is_err());
        assert!(text("title", &"가".repeat(10), 10, false).is_ok());
        assert_eq!(optional_text("d", "", 5, true).unwrap(), "");
        assert_eq!(category("category", "games"), Ok(Category::Games));
        for c in Category::ALL {
            assert_eq!(c.to_string().parse(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(category("category", "nope").unwrap_err().field, "category");
    }

    #[test]
    fn stream_keys_stay_out_of_debug_output_and_match_as_presented() {
        let key = StreamKey::generate();
        assert!(key.expose().starts_with("lait_"));
        assert!(key.expose().len() >= "lait_".len() + 43, "256 bits");
        assert_ne!(key, StreamKey::generate());
        let request = crate::channels::PublishRequest {
            stream_key: key.clone(),
            node_id: "n1".into(),
            client_addr: String::new(),
            live_id: None,
            refused: None,
        };
        assert!(!format!("{request:?}").contains(key.expose()));
        let sent = StreamKey::presented(&format!("  {} \n", key.expose()));
        assert_eq!(sent.hash(), key.hash());
        let json = serde_json::to_value(&key).unwrap();
        assert_eq!(json, key.expose());
    }
}
