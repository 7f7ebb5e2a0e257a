//! Lait's shared library: configuration, the problem+json error type, HTTP plumbing, telemetry and
//! store clients. Domain logic added by later features lives here too, free of Lambda and HTTP.

pub mod accounts;
pub mod auth;
pub mod channels;
pub mod chat;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod hls;
pub mod http;
pub mod media_keys;
pub mod openapi;
pub mod ratelimit;
pub mod runtime;
pub mod search;
pub mod signing;
pub mod stores;
pub mod telemetry;
pub mod uploads;
pub mod ws;

pub use error::{ApiError, ApiResult, FieldError};
/// Omits `None` fields when serializing (what every stored record and optional answer field wants),
/// so each struct says it once instead of on every field.
pub use serde_with::skip_serializing_none;
