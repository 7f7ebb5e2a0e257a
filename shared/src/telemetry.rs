//! Tracing set-up: JSON lines on Lambda (CloudWatch parses them), readable lines locally.
//! Each request runs inside a `request` span carrying its request id (see `http::finish`), so every
//! event logged while serving it carries the id too.
//!
//! Whatever `RUST_LOG` says, TRACE events of the AWS SDK are dropped: at that level the SDK logs
//! whole responses, and DynamoDB responses hold password and refresh-token hashes.

use tracing::{Level, Metadata};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::filter_fn,
    fmt::{self, MakeWriter},
    prelude::*,
};

/// True when running inside AWS Lambda.
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

const DEFAULT_FILTER: &str = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Whether an event may be logged at all (the secret guard).
pub fn allowed(meta: &Metadata<'_>) -> bool {
    let sdk = ["aws_smithy_", "aws_sdk_", "aws_runtime", "aws_sigv4"]
        .iter()
        .any(|p| meta.target().starts_with(p));
    !(sdk && *meta.level() == Level::TRACE)
}

/// Installs the global subscriber. `RUST_LOG` overrides the default filter. Safe to call twice
/// (tests): the second call does nothing.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = on_lambda() || std::env::var("LAIT_LOG_FORMAT").as_deref() == Ok("json");
    init_with(filter, std::io::stdout, json);
}

/// [`init`] with an explicit filter and writer (tests capture logs with it).
pub fn init_with<W>(filter: EnvFilter, writer: W, json: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = if json {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .with_writer(writer)
            .boxed()
    } else {
        fmt::layer()
            .compact()
            .with_ansi(false)
            .with_writer(writer)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer.with_filter(filter_fn(allowed)))
        .try_init();
}

/// A log sink in memory, for tests that assert on what was logged.
#[derive(Clone, Default)]
pub struct MemoryWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryWriter {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for MemoryWriter {
    type Writer = MemoryWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
