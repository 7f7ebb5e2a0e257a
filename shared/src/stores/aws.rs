//! AWS clients from the standard environment (`AWS_REGION`, credentials chain, `AWS_ENDPOINT_URL`
//! and the per-service `AWS_ENDPOINT_URL_<SERVICE>`). No "local mode": an endpoint override is the
//! only difference between moto and AWS.

use aws_config::{BehaviorVersion, SdkConfig};

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

pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}
