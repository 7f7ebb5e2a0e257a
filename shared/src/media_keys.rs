//! The media bucket's layout, written once: where a live's segments and playlists, its VOD, the
//! thumbnails and uploaded images go. The media node writes these keys, channels reads and
//! deletes them, the CDN serves them; none of them holds a secret (no stream key, no token).

use std::fmt;

use crate::domain::ids::{ChannelId, LiveId, UserId};

/// A rendition's live playlist, beside its segments.
pub const LIVE_PLAYLIST: &str = "index.m3u8";
/// The multivariant playlist of a live.
pub const MASTER: &str = "master.m3u8";
/// A VOD's playlists: the master at the live's root, one per rendition in its folder.
pub const VOD: &str = "vod.m3u8";
/// The thumbnail kept with a recording.
pub const THUMBNAIL: &str = "thumb.jpg";

/// Everything of one live: `live/<channel>/<live>/…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveKeys {
    pub channel: ChannelId,
    pub live: LiveId,
}

impl LiveKeys {
    pub fn new(channel: ChannelId, live: LiveId) -> Self {
        Self { channel, live }
    }

    /// The folder, with its trailing slash.
    pub fn prefix(&self) -> String {
        format!("live/{}/{}/", self.channel, self.live)
    }

    /// `rest` inside the folder (`720p/seg_00001_1000ms.ts`, `master.m3u8`).
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix())
    }

    pub fn master(&self) -> String {
        self.key(MASTER)
    }

    pub fn vod(&self) -> String {
        self.key(VOD)
    }

    pub fn rendition_vod(&self, rendition: &str) -> String {
        self.key(&format!("{rendition}/{VOD}"))
    }

    pub fn thumbnail(&self) -> String {
        self.key(THUMBNAIL)
    }

    /// Whether `key` is one of this live's objects (no way out of the folder).
    pub fn owns(&self, key: &str) -> bool {
        key.starts_with(&self.prefix()) && !key.contains("..")
    }
}

impl fmt::Display for LiveKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix())
    }
}

/// A channel's rolling thumbnail while it is live (replaced every ~10 s).
pub fn latest_thumbnail(channel: &ChannelId) -> String {
    format!("thumbs/{channel}/latest.jpg")
}

/// Where a channel's uploaded images go (`<prefix>/<uuid>.<ext>`).
pub fn channel_images(channel: &ChannelId) -> String {
    format!("channels/{channel}")
}

/// Where a user's uploaded avatars go (`<prefix>/<uuid>.<ext>`).
pub fn avatars(user: &UserId) -> String {
    format!("avatars/{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owns_only_its_folder() {
        let k = LiveKeys::new(ChannelId::new(), LiveId::new());
        let other = LiveKeys::new(k.channel, LiveId::new());
        assert_eq!(
            k.master(),
            format!("live/{}/{}/master.m3u8", k.channel, k.live)
        );
        assert_eq!(
            k.rendition_vod("480p"),
            format!("live/{}/{}/480p/vod.m3u8", k.channel, k.live)
        );
        assert!(k.owns(&k.vod()) && k.owns(&k.key("720p/seg_00001_1000ms.ts")));
        assert!(!k.owns(&other.vod()));
        assert!(!k.owns(&k.key("../../x/vod.m3u8")));
        assert!(!k.owns(&format!("live/{}/{}", k.channel, k.live)));
    }
}
