//! Tracing set-up: JSON lines on Lambda (CloudWatch parses them), readable lines locally.
//! Each request runs inside a `request` span carrying its request id (see `http::finish`), so every
//! event logged while serving it carries the id too.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// True when running inside AWS Lambda.
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// Installs the global subscriber. `RUST_LOG` overrides the default filter. Safe to call twice
/// (tests): the second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn")
    });
    let registry = tracing_subscriber::registry().with(filter);
    let result = if on_lambda() || std::env::var("LAIT_LOG_FORMAT").as_deref() == Ok("json") {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .without_time(),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
    let _ = result;
}
