//! AWS clients from the standard environment (`AWS_REGION`, credentials chain, `AWS_ENDPOINT_URL`
//! and the per-service `AWS_ENDPOINT_URL_<SERVICE>`). No "local mode": an endpoint override is the
//! only difference between moto and AWS.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

/// Loads the shared SDK configuration. `endpoint` is the value of `AWS_ENDPOINT_URL` as read by
/// the caller's config (the same variable aws-config would read itself).
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// True when S3 is reached through an endpoint override (emulators need path-style addressing,
/// since `<bucket>.127.0.0.1` does not resolve).
fn s3_endpoint_overridden(sdk: &SdkConfig) -> bool {
    sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
}

pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(s3_endpoint_overridden(sdk))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// How long a DynamoDB call may take. The SDK sets no limit but a 3.1 s connect timeout, so a
/// path that drops packets (a partition, a stalled endpoint) held a request for as long as the
/// caller waited (lait-local: forever; Lambda: until its 10 s timeout, with no answer of ours).
/// Now an attempt gets 5 s and the call with its retries 8 s, under the Lambda timeout; then it
/// fails as unreachable and the client gets a 503 (`ApiError::internal`). DynamoDB answers in
/// milliseconds; the margin is for moto, which serves one request at a time: a 2 s attempt
/// timed out under a 200-client reconnect on 2 busy cores (tests/e2e/chat_faults.py).
pub fn dynamodb_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(dynamodb_timeouts())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}
