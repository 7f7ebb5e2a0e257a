//! Everything that can go wrong in a chat action, and how a client (WebSocket or REST) is told.

use http::StatusCode;

use super::{protocol::ErrorCode, text::TextError};
use crate::error::ApiError;

/// Everything that can go wrong in a chat action, as a client is told.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("you are banned from this chat")]
    Banned,
    /// The connection's registration is gone (Redis lost it): the client must reconnect.
    #[error("this connection is no longer registered; reconnect and resume")]
    Unregistered,
    #[error("you are timed out")]
    TimedOut { retry_ms: u64 },
    #[error("slow mode is on")]
    SlowMode { retry_ms: u64 },
    #[error("you already sent this message")]
    Duplicate { retry_ms: u64 },
    #[error("too many messages")]
    RateLimited { retry_ms: u64 },
    #[error("the message contains a forbidden word")]
    Filtered,
    #[error("the message is longer than 500 characters")]
    TooLong,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<redis::RedisError> for ChatError {
    fn from(e: redis::RedisError) -> Self {
        Self::Internal(e.into())
    }
}

/// `retry_after_ms` of an `unavailable` error.
const UNAVAILABLE_RETRY_MS: u64 = crate::error::UNAVAILABLE_RETRY_SECS * 1000;

impl ChatError {
    /// A failure caused by a store that could not be reached (Redis or DynamoDB down, cut or
    /// too slow): the action may succeed in a moment.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Internal(e) => crate::stores::unreachable(e.as_ref()),
            _ => false,
        }
    }

    /// The `code` of the error event.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Banned => ErrorCode::Banned,
            Self::Unregistered => ErrorCode::Reconnect,
            Self::TimedOut { .. } => ErrorCode::TimedOut,
            Self::SlowMode { .. } => ErrorCode::SlowMode,
            Self::Duplicate { .. } => ErrorCode::Duplicate,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Filtered => ErrorCode::Filtered,
            Self::TooLong => ErrorCode::TooLong,
            Self::Internal(_) if self.is_unavailable() => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status of this error, for REST answers and the `$connect` handshake alike.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Filtered | Self::TooLong => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) | Self::Banned => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unregistered => StatusCode::CONFLICT,
            Self::TimedOut { .. }
            | Self::SlowMode { .. }
            | Self::Duplicate { .. }
            | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) if self.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::TimedOut { retry_ms }
            | Self::SlowMode { retry_ms }
            | Self::Duplicate { retry_ms }
            | Self::RateLimited { retry_ms } => Some(*retry_ms),
            Self::Internal(_) if self.is_unavailable() => Some(UNAVAILABLE_RETRY_MS),
            _ => None,
        }
    }

    /// The message shown to the client (internal errors say nothing more).
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) if self.is_unavailable() => {
                "chat is temporarily unavailable; try again shortly".into()
            }
            Self::Internal(_) => "something went wrong; try again".into(),
            other => other.to_string(),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        let detail = e.message();
        match e.status() {
            StatusCode::BAD_REQUEST => ApiError::bad_request(detail),
            StatusCode::FORBIDDEN => ApiError::forbidden(detail),
            StatusCode::NOT_FOUND => ApiError::not_found(detail),
            StatusCode::CONFLICT => ApiError::conflict("reconnect"),
            StatusCode::TOO_MANY_REQUESTS => {
                let ms = e.retry_after_ms().unwrap_or(1000);
                ApiError::rate_limited(ms.div_ceil(1000).max(1))
            }
            _ => match e {
                ChatError::Internal(err) => ApiError::internal(err),
                other => ApiError::internal(anyhow::anyhow!(other.to_string())),
            },
        }
    }
}

impl From<TextError> for ChatError {
    fn from(e: TextError) -> Self {
        match e {
            TextError::Empty => Self::BadRequest("text must not be empty".into()),
            TextError::TooLong => Self::TooLong,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_outage_is_unavailable_with_a_retry_and_a_bug_internal() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let down = ChatError::from(redis::RedisError::from(refused));
        assert_eq!(down.code(), ErrorCode::Unavailable);
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.retry_after_ms(), Some(2000));
        assert_eq!(
            ApiError::from(down).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );

        let bug = ChatError::Internal(anyhow::anyhow!("an unexpected state"));
        assert_eq!(bug.code(), ErrorCode::Internal);
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(bug.retry_after_ms(), None);
    }
}
