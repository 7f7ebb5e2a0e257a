//! `/media/*`: the local stand-in for the CDN. Objects are read from the media bucket and served
//! with the Content-Type and Cache-Control they were stored with, as CloudFront would.

use aws_sdk_s3::{error::SdkError, operation::get_object::GetObjectError};
use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use lait_shared::{ApiError, runtime::Deps};

pub async fn get_object(
    State(deps): State<Deps>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let out = deps
        .s3
        .get_object()
        .bucket(&deps.stores.media_bucket)
        .key(&key)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
            return Err(ApiError::not_found("no such media object"));
        }
        Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => {
            return Err(ApiError::not_found("no such media object"));
        }
        Err(e) => {
            tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), "media read failed");
            return Err(ApiError::unavailable("the media store is unavailable"));
        }
    };
    let mut res = StatusCode::OK.into_response();
    let headers = res.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, out.content_type()),
        (header::CACHE_CONTROL, out.cache_control()),
        (header::ETAG, out.e_tag()),
    ];
    for (name, value) in pairs {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    if let Some(len) = out.content_length() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("reading media body: {e}")))?
        .into_bytes();
    *res.body_mut() = Body::from(bytes);
    Ok(res)
}
