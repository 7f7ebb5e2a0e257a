//! Store clients, all built from the standard environment so the same binary talks to moto,
//! LocalStack or AWS by configuration alone.

pub mod aws;
pub mod cursor;
pub mod dynamo;
pub mod media;
pub mod redis;

/// Logical DynamoDB tables (full names are `LAIT_TABLE_PREFIX` + name). Their key schemas live in
/// `localstack/init/ready.d/10-lait-resources.py` (local) and `template.yaml` (AWS).
pub const TABLES: &[&str] = &["users", "channels", "chat"];

/// Whether an error (or one of its causes) means a store could not be reached or did not answer
/// in time: Redis refused, dropped or timed out a connection (or is failing over), or an AWS call
/// could not be sent (connection refused, reset, connect or read timeout) or ran out of its
/// timeouts. The caller's request may succeed in a moment: a 503, not a 500.
pub fn unreachable(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(r) = e.downcast_ref::<::redis::RedisError>()
            && redis_unreachable(r)
        {
            return true;
        }
        if e.is::<aws_sdk_dynamodb::error::ConnectorError>() {
            return true;
        }
        // `SdkError::TimeoutError`, whatever the operation's error type (its source, the
        // runtime's timeout error, is private): named by its display (a unit test pins it).
        if e.to_string() == AWS_TIMEOUT {
            return true;
        }
        cause = e.source();
    }
    false
}

/// What `SdkError::TimeoutError` displays.
const AWS_TIMEOUT: &str = "request has timed out";

fn redis_unreachable(e: &::redis::RedisError) -> bool {
    use ::redis::{ErrorKind, ServerErrorKind as S};
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                S::BusyLoading | S::MasterDown | S::ReadOnly | S::TryAgain | S::ClusterDown
            )
        )
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::{
        config::http::HttpResponse,
        error::{ConnectorError, SdkError},
        operation::get_item::GetItemError,
    };

    use super::unreachable;

    type GetItem = SdkError<GetItemError, HttpResponse>;

    fn chain(e: impl Into<anyhow::Error>) -> bool {
        let e = e.into().context("loading the channel");
        let cause: &(dyn std::error::Error + 'static) = e.as_ref();
        unreachable(cause)
    }

    #[test]
    fn store_outages_are_told_from_failures() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(chain(GetItem::dispatch_failure(ConnectorError::io(
            refused.into()
        ))));
        assert!(chain(GetItem::timeout_error("operation timeout after 5s")));
        assert!(chain(::redis::RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(chain(::redis::RedisError::from(std::io::Error::from(
            std::io::ErrorKind::TimedOut
        ))));
        // A refused write or a bad request is not an outage.
        assert!(!chain(GetItem::construction_failure("missing key")));
        assert!(!chain(::redis::RedisError::from((
            ::redis::ErrorKind::Server(::redis::ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ))));
        assert!(!chain(anyhow::anyhow!("a bug")));
    }
}
