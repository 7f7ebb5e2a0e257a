//! Identifiers: UUID v7 (time-ordered, so ids sort by creation) behind newtypes so a user id can
//! never be passed where a channel id is expected.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A channel (one per user).
    ChannelId
);
id_type!(
    /// A refresh-token family: one login session and all its rotations.
    FamilyId
);
id_type!(
    /// One broadcast session of a channel.
    LiveId
);
id_type!(
    /// A channel notice.
    NoticeId
);

/// A WebSocket connection, as API Gateway names it (opaque; lait-local mints its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_creation() {
        let a = UserId::new();
        // UUIDv7 from one process is strictly increasing, also within one millisecond (uuid's
        // counter): "newest first" listings rely on it.
        let many: Vec<UserId> = (0..2000).map(|_| UserId::new()).collect();
        assert!(a < many[0]);
        assert!(many.windows(2).all(|w| w[0] < w[1]), "ids out of order");
        let same_ms = many
            .windows(2)
            .filter(|w| w[0].as_uuid().get_timestamp() == w[1].as_uuid().get_timestamp())
            .count();
        assert!(same_ms > 0, "the case this guards was not exercised");
        assert_eq!(a.to_string().parse::<UserId>().unwrap(), a);
        assert!("not-an-id".parse::<UserId>().is_err());
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }
}
