//! Browser uploads straight to the media bucket through presigned PUT URLs (avatars, channel
//! images), then a confirm step that checks what actually arrived before the profile points at it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    ApiResult,
    domain::ids::{ChannelId, UserId},
    error::{ApiError, FieldError},
    media_keys,
    stores::media::MediaBucket,
};

/// The file a browser is about to upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UploadRequest {
    /// image/jpeg, image/png or image/webp
    #[schema(pattern = "^image/(jpeg|png|webp)$")]
    pub content_type: String,
    /// Bytes; at most 2 MB.
    #[schema(minimum = 1, maximum = 2_097_152)]
    pub content_length: u64,
}

/// An upload the browser has finished.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UploadConfirm {
    /// The `key` of the presigned upload.
    pub key: String,
}

/// What may be uploaded for an image slot.
#[derive(Debug, Clone, Copy)]
pub struct ImagePolicy {
    pub max_bytes: u64,
    /// Longest side in pixels, as the file's own header says (a small file may still declare a
    /// huge image that would cost every viewer's browser to decode).
    pub max_side: usize,
}

pub const AVATAR: ImagePolicy = ImagePolicy {
    max_bytes: 2 * 1024 * 1024,
    max_side: 4096,
};

/// Where an image goes and what it may be: a user's avatar or a channel's image.
#[derive(Debug, Clone)]
pub struct ImageSlot {
    policy: ImagePolicy,
    /// Uploads are `<prefix>/<uuid>.<ext>`; a confirm names a key under it.
    prefix: String,
}

impl ImageSlot {
    pub fn avatar(user: &UserId) -> Self {
        Self {
            policy: AVATAR,
            prefix: media_keys::avatars(user),
        }
    }

    pub fn channel_image(channel: &ChannelId) -> Self {
        Self {
            policy: AVATAR,
            prefix: media_keys::channel_images(channel),
        }
    }

    /// A presigned PUT for a new upload (see [`ImagePolicy::presign`]).
    pub async fn presign(
        &self,
        media: &MediaBucket,
        upload: &UploadRequest,
    ) -> ApiResult<PresignedUpload> {
        self.policy.presign(media, &self.prefix, upload).await
    }

    /// Checks a finished upload (see [`ImagePolicy::confirm`]).
    pub async fn confirm(&self, media: &MediaBucket, key: &str) -> ApiResult<()> {
        self.policy.confirm(media, &self.prefix, key).await
    }
}

const TYPES: &[(&str, &str, imagesize::ImageType)] = &[
    ("image/jpeg", "jpg", imagesize::ImageType::Jpeg),
    ("image/png", "png", imagesize::ImageType::Png),
    ("image/webp", "webp", imagesize::ImageType::Webp),
];
/// How much of an upload is read to tell its type and size (a JPEG's frame header may follow
/// its metadata).
const SNIFF_BYTES: u64 = 64 * 1024;
const URL_TTL: Duration = Duration::from_secs(300);

/// A presigned upload, as sent to the browser.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresignedUpload {
    /// PUT the file here, with exactly the headers below.
    pub upload_url: String,
    pub method: &'static str,
    pub headers: UploadHeaders,
    /// Object key to confirm once uploaded.
    pub key: String,
    pub expires_in: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadHeaders {
    #[serde(rename = "content-type")]
    pub content_type: String,
    #[serde(rename = "content-length")]
    pub content_length: u64,
}

impl ImagePolicy {
    fn extension(content_type: &str) -> Option<&'static str> {
        TYPES
            .iter()
            .find(|(t, _, _)| *t == content_type)
            .map(|(_, e, _)| *e)
    }

    /// Whether the file's first bytes are an image of the declared type with sides in bounds.
    pub fn content_ok(&self, content_type: &str, head: &[u8]) -> bool {
        let declared = TYPES.iter().find(|(t, _, _)| *t == content_type);
        let (Some((_, _, kind)), Ok(found)) = (declared, imagesize::image_type(head)) else {
            return false;
        };
        found == *kind
            && imagesize::blob_size(head).is_ok_and(|size| {
                (1..=self.max_side).contains(&size.width)
                    && (1..=self.max_side).contains(&size.height)
            })
    }

    /// Checks the declared type and size; returns the file extension.
    pub fn check(&self, content_type: &str, content_length: u64) -> Result<&'static str, ApiError> {
        let mut errors = Vec::new();
        let ext = Self::extension(content_type);
        if ext.is_none() {
            errors.push(FieldError::new(
                "content_type",
                "must be image/jpeg, image/png or image/webp",
            ));
        }
        if content_length == 0 || content_length > self.max_bytes {
            errors.push(FieldError::new(
                "content_length",
                format!("must be between 1 and {} bytes", self.max_bytes),
            ));
        }
        match ext {
            Some(ext) if errors.is_empty() => Ok(ext),
            _ => Err(ApiError::validation(errors)),
        }
    }

    /// A presigned PUT for `<prefix>/<random>.<ext>` with type and length signed in.
    async fn presign(
        &self,
        media: &MediaBucket,
        prefix: &str,
        upload: &UploadRequest,
    ) -> Result<PresignedUpload, ApiError> {
        let (content_type, content_length) = (upload.content_type.as_str(), upload.content_length);
        let ext = self.check(content_type, content_length)?;
        let key = format!("{prefix}/{}.{ext}", uuid::Uuid::new_v4());
        let upload_url = media
            .presign_put(&key, (content_type, content_length), URL_TTL)
            .await?;
        Ok(PresignedUpload {
            upload_url,
            method: "PUT",
            headers: UploadHeaders {
                content_type: content_type.to_owned(),
                content_length,
            },
            key,
            expires_in: URL_TTL.as_secs(),
        })
    }

    /// Checks an uploaded object under `prefix`; deletes it and answers 400 if it breaks the policy.
    async fn confirm(&self, media: &MediaBucket, prefix: &str, key: &str) -> Result<(), ApiError> {
        if !key.starts_with(&format!("{prefix}/")) || key.contains("..") {
            return Err(ApiError::field("key", "is not an upload of yours"));
        }
        let Some(head) = media.head(key).await? else {
            return Err(ApiError::field("key", "nothing was uploaded there"));
        };
        let declared = head.content_type.as_str();
        let ok = Self::extension(declared).is_some()
            && head
                .content_length
                .is_some_and(|l| l > 0 && l <= self.max_bytes)
            // The bytes must be what the type says: an HTML page declared image/png is refused.
            && self.content_ok(declared, &media.first_bytes(key, SNIFF_BYTES).await?);
        if !ok {
            media.delete(key).await?;
            return Err(ApiError::field(
                "key",
                "the uploaded file is not an allowed image",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG's signature and IHDR chunk: enough to tell its type and size.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn content_must_be_the_declared_image_within_bounds() {
        assert!(AVATAR.content_ok("image/png", &png(64, 64)));
        assert!(AVATAR.content_ok("image/png", &png(4096, 1)));
        // Declared PNG, but HTML; or a JPEG; or a PNG declared as WebP.
        assert!(!AVATAR.content_ok("image/png", b"<!doctype html><script>alert(1)</script>"));
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF\0";
        assert!(!AVATAR.content_ok("image/png", jpeg));
        assert!(!AVATAR.content_ok("image/webp", &png(64, 64)));
        // A signature alone, no header: no size, refused.
        assert!(!AVATAR.content_ok("image/png", b"\x89PNG\r\n\x1a\n"));
        // Too large a side, or none.
        assert!(!AVATAR.content_ok("image/png", &png(4097, 10)));
        assert!(!AVATAR.content_ok("image/png", &png(0, 10)));
        assert!(!AVATAR.content_ok("image/gif", b"GIF89a\x01\0\x01\0"));
    }

    #[test]
    fn policy() {
        assert_eq!(AVATAR.check("image/png", 10).unwrap(), "png");
        let err = AVATAR.check("image/gif", 10).unwrap_err();
        assert_eq!(err.errors[0].field, "content_type");
        assert_eq!(
            AVATAR
                .check("image/png", 3 * 1024 * 1024)
                .unwrap_err()
                .errors[0]
                .field,
            "content_length"
        );
        assert!(AVATAR.check("image/png", 0).is_err());
    }

    /// The document states the policy (so a fuzzer's valid requests get past it): what it allows
    /// is what `check` allows.
    #[test]
    fn the_documented_bounds_are_the_policy() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(UploadRequest::schema()).unwrap();
        let length = &schema["properties"]["content_length"];
        assert_eq!(length["minimum"], 1);
        assert_eq!(length["maximum"], AVATAR.max_bytes);
        let pattern = schema["properties"]["content_type"]["pattern"]
            .as_str()
            .unwrap();
        for (t, _, _) in TYPES {
            assert!(
                pattern.contains(&t["image/".len()..]),
                "{pattern} lacks {t}"
            );
        }
        assert_eq!(pattern.matches('|').count() + 1, TYPES.len(), "{pattern}");
    }
}
