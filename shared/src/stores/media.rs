//! The media bucket (live and VOD playlists and segments, thumbnails, images): the few S3 calls
//! the control plane makes, so callers say what they want and not how S3 pages or signs.

use std::time::Duration;

use aws_sdk_s3::{
    presigning::PresigningConfig,
    types::{Delete, ObjectIdentifier},
};
use bytes::Bytes;

use crate::{ApiResult, error::ApiError, runtime::Clients};

#[derive(Clone)]
pub struct MediaBucket {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

/// What a HEAD says of an object.
#[derive(Debug)]
pub struct ObjectHead {
    pub content_type: String,
    pub content_length: Option<u64>,
}

impl MediaBucket {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }

    pub fn of(clients: &Clients) -> Self {
        Self::new(clients.s3.clone(), &clients.stores.media_bucket)
    }

    /// Every key under `prefix`, all listing pages.
    pub async fn keys_under(&self, prefix: &str) -> ApiResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = (self.s3.list_objects_v2().bucket(&self.bucket))
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(ApiError::internal)?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Deletes every object under `prefix` (a batch is at most 1,000 keys).
    pub async fn delete_prefix(&self, prefix: &str) -> ApiResult<()> {
        for batch in self.keys_under(prefix).await?.chunks(1000) {
            let ids = batch
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(ApiError::internal)?;
            let delete = (Delete::builder().set_objects(Some(ids)).quiet(true).build())
                .map_err(ApiError::internal)?;
            let call = self.s3.delete_objects().bucket(&self.bucket);
            call.delete(delete)
                .send()
                .await
                .map_err(ApiError::internal)?;
        }
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> ApiResult<()> {
        let call = self.s3.delete_object().bucket(&self.bucket).key(key);
        call.send().await.map_err(ApiError::internal)?;
        Ok(())
    }

    /// Writes an HLS playlist that may still change for a minute (a VOD closed by the reaper).
    pub async fn put_playlist(&self, key: &str, text: String) -> ApiResult<()> {
        (self.s3.put_object().bucket(&self.bucket).key(key))
            .body(text.into_bytes().into())
            .content_type("application/vnd.apple.mpegurl")
            .cache_control("public, max-age=60")
            .send()
            .await
            .map_err(ApiError::internal)?;
        Ok(())
    }

    /// The object's type and size; `None` when there is no such object.
    pub async fn head(&self, key: &str) -> ApiResult<Option<ObjectHead>> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => Ok(Some(ObjectHead {
                content_type: h.content_type().unwrap_or_default().to_owned(),
                content_length: h.content_length().and_then(|l| u64::try_from(l).ok()),
            })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// The object's first `n` bytes (fewer when it is shorter).
    pub async fn first_bytes(&self, key: &str, n: u64) -> ApiResult<Bytes> {
        let first = (self.s3.get_object().bucket(&self.bucket).key(key))
            .range(format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await
            .map_err(ApiError::internal)?;
        let body = first.body.collect().await.map_err(ApiError::internal)?;
        Ok(body.into_bytes())
    }

    /// A presigned PUT of `key` for `ttl`, with the type and length signed in (S3 refuses any
    /// other), stored as immutable (each upload gets a new key).
    pub async fn presign_put(
        &self,
        key: &str,
        (content_type, content_length): (&str, u64),
        ttl: Duration,
    ) -> ApiResult<String> {
        let req = (self.s3.put_object().bucket(&self.bucket).key(key))
            .content_type(content_type)
            .content_length(content_length as i64)
            .cache_control("public, max-age=31536000, immutable")
            .presigned(PresigningConfig::expires_in(ttl).map_err(ApiError::internal)?)
            .await
            .map_err(ApiError::internal)?;
        Ok(req.uri().to_owned())
    }
}
