//! The chat WebSocket protocol (docs/chat-protocol.md) as types: what a client sends
//! ([`ClientFrame`]) and what it receives ([`ServerFrame`]). Their JSON Schema is part of the
//! OpenAPI document, so the web client's TypeScript types are generated from these definitions.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{
    MAX_HISTORY,
    model::{ChatMessage, Event, MessageId},
};
use crate::domain::ids::UserId;

/// What a client may attach to a frame to match the answer: a string of at most 64 characters or
/// a number, echoed as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RequestId {
    #[schema(value_type = f64)]
    Number(serde_json::Number),
    Text(String),
}

impl RequestId {
    pub const MAX_LEN: usize = 64;

    /// Reads a frame's `request_id`, dropping anything that is not a short scalar, so an answer
    /// never grows with what a client sent and a bad id never costs the frame.
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => Some(Self::Number(n)),
            serde_json::Value::String(s) if s.chars().count() <= Self::MAX_LEN => {
                Some(Self::Text(s))
            }
            _ => None,
        })
    }
}

/// Every action a client frame can name; each is a route of the WebSocket API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Send,
    History,
    Delete,
    Timeout,
    Ban,
    Unban,
    Slow,
    Clear,
    Ping,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Self::Send,
        Self::History,
        Self::Delete,
        Self::Timeout,
        Self::Ban,
        Self::Unban,
        Self::Slow,
        Self::Clear,
        Self::Ping,
    ];
    /// The WebSocket API's routes besides `$connect`, `$disconnect` and `$default`.
    pub const ROUTES: [&'static str; 9] = [
        "send", "history", "delete", "timeout", "ban", "unban", "slow", "clear", "ping",
    ];

    pub fn as_str(self) -> &'static str {
        Self::ROUTES[self as usize]
    }

    /// Needs the owner's or a moderator's rights, checked before the frame's fields are read.
    pub fn is_moderation(self) -> bool {
        !matches!(self, Self::Send | Self::History | Self::Ping)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

/// How many messages a `history` frame asks for: 1 to [`MAX_HISTORY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(value_type = u32, minimum = 1, maximum = 500)]
pub struct HistoryLimit(usize);

impl HistoryLimit {
    pub fn new(n: usize) -> Option<Self> {
        (1..=MAX_HISTORY).contains(&n).then_some(Self(n))
    }
    pub fn get(self) -> usize {
        self.0
    }
}

impl<'de> Deserialize<'de> for HistoryLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(usize::deserialize(d)?).ok_or_else(|| {
            serde::de::Error::custom(format!("limit must be between 1 and {MAX_HISTORY}"))
        })
    }
}

fn default_timeout() -> u32 {
    600
}

/// A frame a client sends; `action` selects the WebSocket API route.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Say something (signed in).
    Send {
        text: String,
    },
    /// The messages after `after` (resume), or the newest `limit` (default 50).
    History {
        after: Option<MessageId>,
        limit: Option<HistoryLimit>,
    },
    /// Hide a message (owner, moderators).
    Delete {
        message_id: MessageId,
    },
    /// Mute a user for `seconds` (1 to 1,209,600; default 600).
    Timeout {
        user_id: UserId,
        #[serde(default = "default_timeout")]
        seconds: u32,
    },
    /// Ban a user from the channel's chat.
    Ban {
        user_id: UserId,
        /// At most 200 characters.
        reason: Option<String>,
    },
    Unban {
        user_id: UserId,
    },
    /// Slow mode: one message per `seconds` per user (0 = off, at most 3600).
    Slow {
        seconds: u32,
    },
    /// Hide everything said so far.
    Clear,
    Ping,
}

/// A client frame with its `request_id`, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: Option<RequestId>,
    pub action: Action,
    raw: String,
}

/// Why a frame cannot be read; `request_id` is kept when it could be.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    pub request_id: Option<RequestId>,
    pub message: String,
}

impl Request {
    /// Reads what every frame carries — it is a JSON object with a known `action` — and keeps
    /// the rest for [`Request::frame`], so rights can be checked before any field is looked at.
    pub fn parse(raw: Option<&str>) -> Result<Self, FrameError> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(default, deserialize_with = "RequestId::lenient")]
            request_id: Option<RequestId>,
            #[serde(default)]
            action: Option<serde_json::Value>,
        }
        let raw = raw.unwrap_or_default();
        let not_an_object = || FrameError {
            request_id: None,
            message: "frames must be JSON objects like {\"action\":\"send\",\"text\":\"hi\"}"
                .into(),
        };
        // serde reads a struct from an array too (`[1, 2]`); a frame is an object.
        if !raw.trim_start().starts_with('{') {
            return Err(not_an_object());
        }
        let env: Envelope = serde_json::from_str(raw).map_err(|_| not_an_object())?;
        let fail = |message: String| FrameError {
            request_id: env.request_id.clone(),
            message,
        };
        let action = match &env.action {
            None | Some(serde_json::Value::Null) => Err(fail("missing field action".into())),
            Some(serde_json::Value::String(a)) => a
                .parse()
                .map_err(|()| fail(format!("unknown action {a:?}"))),
            Some(_) => Err(fail("action must be a string".into())),
        }?;
        Ok(Self {
            request_id: env.request_id,
            action,
            raw: raw.to_owned(),
        })
    }

    /// The whole frame, its fields checked.
    pub fn frame(&self) -> Result<ClientFrame, String> {
        serde_json::from_str(&self.raw).map_err(|e| {
            // serde's wording without the position: "missing field `text`".
            let msg = e.to_string();
            match msg.find(" at line ") {
                Some(i) => msg[..i].to_owned(),
                None => msg,
            }
        })
    }
}

/// The `code` of an error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Forbidden,
    NotFound,
    Banned,
    TimedOut,
    RateLimited,
    SlowMode,
    Duplicate,
    Filtered,
    TooLong,
    /// The server lost this connection's registration; it closes the connection: reconnect and
    /// resume.
    Reconnect,
    /// A store is unreachable for now: try again after `retry_after_ms`.
    Unavailable,
    Internal,
}

/// A frame the server sends.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Everything that happened in the room since the previous batch, in id order.
    Batch {
        messages: Vec<Event>,
    },
    /// The answer to `history`, oldest first; `more`: ask again after the last id.
    History {
        messages: Vec<ChatMessage>,
        more: bool,
        request_id: Option<RequestId>,
    },
    /// An action succeeded; for `send`, `id` is the stored message's id.
    Ack {
        action: Action,
        id: Option<MessageId>,
        request_id: Option<RequestId>,
    },
    Pong {
        request_id: Option<RequestId>,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// The action refused, when the frame named a known one.
        action: Option<Action>,
        /// When the same frame may succeed (rate limits, slow mode, timeouts, duplicates).
        retry_after_ms: Option<u64>,
        request_id: Option<RequestId>,
    },
}

impl ServerFrame {
    /// The frame as one WebSocket message.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The opening of every batch frame, for the splitter that writes batches byte by byte.
pub(super) const BATCH_HEAD: &str = r#"{"type":"batch","messages":["#;

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &str) -> Result<Request, FrameError> {
        Request::parse(Some(raw))
    }

    #[test]
    fn every_action_is_a_route_and_parses_back() {
        for (a, name) in Action::ALL.into_iter().zip(Action::ROUTES) {
            assert_eq!(a.as_str(), name);
            assert_eq!(name.parse::<Action>(), Ok(a));
            assert_eq!(serde_json::to_value(a).unwrap(), name);
        }
        assert!(Action::Ban.is_moderation() && !Action::Send.is_moderation());
    }

    #[test]
    fn the_envelope_is_read_before_the_fields() {
        // A ban without a user id still has a known action, so rights come first.
        let r = req(r#"{"action":"ban","request_id":"r1"}"#).unwrap();
        assert_eq!(r.action, Action::Ban);
        assert_eq!(r.request_id, Some(RequestId::Text("r1".into())));
        assert!(r.frame().unwrap_err().contains("user_id"));

        let e = req(r#"{"action":"fly","request_id":7}"#).unwrap_err();
        assert_eq!(e.message, r#"unknown action "fly""#);
        assert_eq!(e.request_id, Some(RequestId::Number(7.into())));
        assert_eq!(
            req(r#"{"text":"x"}"#).unwrap_err().message,
            "missing field action"
        );
        assert_eq!(
            req(r#"{"action":3}"#).unwrap_err().message,
            "action must be a string"
        );
        for bad in ["{not json", "[1,2]", "\"send\"", ""] {
            assert!(
                req(bad)
                    .unwrap_err()
                    .message
                    .starts_with("frames must be JSON objects")
            );
        }
    }

    #[test]
    fn request_ids_are_echoed_only_when_short_scalars() {
        let long = "x".repeat(65);
        for (raw, want) in [
            (r#"{"action":"ping","request_id":1.5}"#.to_owned(), true),
            (
                format!(r#"{{"action":"ping","request_id":"{}"}}"#, &long[1..]),
                true,
            ),
            (
                format!(r#"{{"action":"ping","request_id":"{long}"}}"#),
                false,
            ),
            (
                r#"{"action":"ping","request_id":{"a":1}}"#.to_owned(),
                false,
            ),
            (r#"{"action":"ping","request_id":[1]}"#.to_owned(), false),
        ] {
            let r = req(&raw).unwrap();
            assert_eq!(r.request_id.is_some(), want, "{raw}");
            r.frame().unwrap();
        }
        let pong = ServerFrame::Pong {
            request_id: req(r#"{"action":"ping","request_id":1.5}"#)
                .unwrap()
                .request_id,
        };
        assert_eq!(pong.to_json(), r#"{"type":"pong","request_id":1.5}"#);
    }

    #[test]
    fn fields_are_typed() {
        let frame = |raw: &str| req(raw).unwrap().frame();
        assert_eq!(
            frame(r#"{"action":"send","text":"hi"}"#),
            Ok(ClientFrame::Send { text: "hi".into() })
        );
        assert!(frame(r#"{"action":"send"}"#).unwrap_err().contains("text"));
        assert!(frame(r#"{"action":"send","text":5}"#).is_err());
        assert!(frame(r#"{"action":"history","after":"yesterday"}"#).is_err());
        assert_eq!(
            frame(r#"{"action":"history","limit":0}"#).unwrap_err(),
            "limit must be between 1 and 500"
        );
        assert!(frame(r#"{"action":"history","limit":501}"#).is_err());
        assert_eq!(
            frame(r#"{"action":"history","limit":500}"#),
            Ok(ClientFrame::History {
                after: None,
                limit: HistoryLimit::new(500)
            })
        );
        let u = UserId::new();
        assert_eq!(
            frame(&format!(r#"{{"action":"timeout","user_id":"{u}"}}"#)),
            Ok(ClientFrame::Timeout {
                user_id: u,
                seconds: 600
            })
        );
        assert!(frame(r#"{"action":"slow","seconds":-1}"#).is_err());
        assert!(frame(r#"{"action":"delete","message_id":"nope"}"#).is_err());
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Ack {
                action: Action::Send,
                id: Some(MessageId { ms: 5, seq: 1 }),
                request_id: Some(RequestId::Text("r1".into())),
            },
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "too many messages".into(),
                action: Some(Action::Send),
                retry_after_ms: Some(840),
                request_id: None,
            },
            ServerFrame::History {
                messages: vec![],
                more: false,
                request_id: None,
            },
        ];
        for f in frames {
            let json = f.to_json();
            assert_eq!(
                serde_json::from_str::<ServerFrame>(&json).unwrap(),
                f,
                "{json}"
            );
        }
        let v: serde_json::Value = serde_json::from_str(
            &ServerFrame::Ack {
                action: Action::Clear,
                id: None,
                request_id: None,
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(v, serde_json::json!({"type": "ack", "action": "clear"}));
    }

    /// Every JSON example in docs/chat-protocol.md is a frame these types read.
    #[test]
    fn the_protocol_docs_examples_parse() {
        let doc = include_str!("../../../docs/chat-protocol.md");
        let mut blocks = Vec::new();
        let mut rest = doc;
        while let Some(start) = rest.find("```json\n") {
            let body = &rest[start + 8..];
            let end = body.find("```").expect("closed code block");
            blocks.push(&body[..end]);
            rest = &body[end..][3..];
        }
        let (mut client, mut server) = (0, 0);
        for block in blocks {
            // A block is one frame over several lines, or one frame per line.
            let values: Vec<serde_json::Value> = match serde_json::from_str(block) {
                Ok(v) => vec![v],
                Err(_) => block
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                    .collect(),
            };
            for v in values {
                if v.get("action").is_some() && v.get("type").is_none() {
                    let raw = v.to_string();
                    let r = Request::parse(Some(&raw)).unwrap();
                    r.frame().unwrap_or_else(|e| panic!("{raw}: {e}"));
                    client += 1;
                } else {
                    serde_json::from_value::<ServerFrame>(v.clone())
                        .unwrap_or_else(|e| panic!("{v}: {e}"));
                    server += 1;
                }
            }
        }
        assert!(
            client >= 7 && server >= 2,
            "{client} client, {server} server examples"
        );
    }

    #[test]
    fn batch_head_matches_the_type() {
        let json = ServerFrame::Batch { messages: vec![] }.to_json();
        assert!(json.starts_with(BATCH_HEAD), "{json}");
    }
}
