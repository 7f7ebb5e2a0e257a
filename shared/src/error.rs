//! The one error type of every HTTP function, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers return `Result<_, ApiError>`; extractor rejections, the 404/405 fallbacks and the
//! body limit all end up here too, so a client sees one error shape everywhere.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of a 503: a store outage is usually seconds (a failover, a restart).
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field (`nickname`, `items[2].name`, or `.` for the whole body).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What went wrong, as far as a client needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    InvalidJson,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    BadGateway,
    Unavailable,
    Internal,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::BadRequest | Kind::InvalidJson | Kind::Validation => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::BadGateway => StatusCode::BAD_GATEWAY,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable slug; the problem `type` is `urn:lait:problem:<slug>`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad-request",
            Kind::InvalidJson => "invalid-json",
            Kind::Validation => "validation",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::Conflict => "conflict",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::RateLimited => "rate-limited",
            Kind::BadGateway => "bad-gateway",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::BadRequest => "Bad request",
            Kind::InvalidJson => "Invalid JSON body",
            Kind::Validation => "Validation failed",
            Kind::Unauthorized => "Authentication required",
            Kind::Forbidden => "Forbidden",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::Conflict => "Conflict",
            Kind::PayloadTooLarge => "Request body too large",
            Kind::UnsupportedMediaType => "Unsupported media type",
            Kind::RateLimited => "Too many requests",
            Kind::BadGateway => "Upstream service failed",
            Kind::Unavailable => "Service unavailable",
            Kind::Internal => "Internal server error",
        }
    }
}

/// An error answer. Build it with the constructors; add context with [`ApiError::with_detail`].
#[derive(Debug)]
pub struct ApiError {
    pub kind: Kind,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// Seconds, for 429/503.
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` challenge, for 401.
    pub challenge: Option<String>,
    /// Never sent to the client; logged for 5xx.
    source: Option<anyhow::Error>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'static str,
    status: u16,
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            challenge: None,
            source: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest).with_detail(detail)
    }

    /// One or more fields failed domain validation (400, each field named).
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(Kind::Validation).with_detail("one or more fields are invalid");
        e.errors = errors;
        e
    }

    /// Two fields parsed together: both values, or a 400 naming every field that failed.
    pub fn both<A, B>(a: Result<A, FieldError>, b: Result<B, FieldError>) -> Result<(A, B), Self> {
        match (a, b) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            (a, b) => Err(Self::validation(
                [a.err(), b.err()].into_iter().flatten().collect(),
            )),
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// Malformed or mistyped JSON (400), naming the field when one is known.
    pub fn invalid_json(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let detail = if field == "." {
            message.clone()
        } else {
            format!("{field}: {message}")
        };
        let mut e = Self::new(Kind::InvalidJson).with_detail(detail);
        e.errors = vec![FieldError { field, message }];
        e
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(Kind::Unauthorized).with_detail(detail);
        e.challenge = Some("Bearer".to_owned());
        e
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden).with_detail(detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Kind::NotFound).with_detail(detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(Kind::Conflict).with_detail(detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(Kind::PayloadTooLarge).with_detail(format!(
            "the request body exceeds the limit of {limit} bytes"
        ))
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e =
            Self::new(Kind::RateLimited).with_detail(format!("try again in {retry_after_secs} s"));
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// A dependency is down for now (503, with `Retry-After`): the same request may succeed in a
    /// moment.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(Kind::Unavailable).with_detail(detail);
        e.retry_after = Some(UNAVAILABLE_RETRY_SECS);
        e
    }

    /// An unexpected failure: logged with its cause, answered without it. When the cause is a
    /// store that could not be reached or did not answer in time
    /// ([`crate::stores::unreachable`]), it is a 503 saying so, not a 500.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let source = source.into();
        let cause: &(dyn std::error::Error + 'static) = source.as_ref();
        let mut e = if crate::stores::unreachable(cause) {
            Self::unavailable("a data store is temporarily unreachable; try again shortly")
        } else {
            Self::new(Kind::Internal)
        };
        e.source = Some(source);
        e
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind.title())?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

// Store failures are the server's fault; `?` on them yields a logged 500. Rejections get their own
// conversions (see `http`), so there is deliberately no blanket impl over every error type.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::internal(e)
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            match &self.source {
                Some(src) => tracing::error!(error = format!("{src:#}"), "request failed"),
                None => tracing::warn!(detail = self.detail.as_deref(), "request failed"),
            }
        }
        let body = ProblemBody {
            type_: format!("urn:lait:problem:{}", self.kind.slug()),
            title: self.kind.title(),
            status: status.as_u16(),
            detail: self.detail.as_deref(),
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (status, json).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_store_is_a_503_with_retry_after_and_a_bug_a_500() {
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e = ApiError::from(anyhow::Error::from(refused).context("reading the room"));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let res = e.into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);

        let bug = ApiError::internal(anyhow::anyhow!("an unexpected state"));
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(bug.retry_after.is_none());
    }

    #[test]
    fn both_names_every_field_that_failed() {
        let bad = |f: &str| Err::<(), _>(FieldError::new(f, "bad"));
        assert_eq!(
            ApiError::both(Ok::<_, FieldError>(1), Ok::<_, FieldError>(2)).ok(),
            Some((1, 2))
        );
        let one = ApiError::both(bad("a"), Ok::<_, FieldError>(2)).unwrap_err();
        assert_eq!(
            one.errors
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            ["a"]
        );
        let two = ApiError::both(bad("a"), bad("b")).unwrap_err();
        assert_eq!(
            two.errors
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
