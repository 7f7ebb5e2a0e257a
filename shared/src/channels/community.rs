//! What happens around a channel besides streaming: follows, moderators, notices and the VOD
//! list. The HTTP routes call these; ownership is checked before (the `OwnedChannel` extractor)
//! or here where only the domain knows who may.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Channels, LiveSummary, model::*};
use crate::{
    FieldError,
    clock::Timestamp,
    domain::ids::{ChannelId, LiveId, NoticeId, UserId},
    error::{ApiError, ApiResult},
    stores::dynamo::{Page, StoreError},
};

// A channel in the caller's "following" list (no doc comment: it would change the API schema).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowedChannel {
    pub id: ChannelId,
    pub name: String,
    pub image_url: Option<String>,
    /// The current live, if any.
    pub live: Option<LiveSummary>,
}

/// Live ones first (most viewers first), then by name.
pub fn sort_following(list: &mut [FollowedChannel]) {
    list.sort_by(|a, b| {
        let viewers = |f: &FollowedChannel| f.live.as_ref().map(|l| l.viewer_count);
        b.live
            .is_some()
            .cmp(&a.live.is_some())
            .then(viewers(b).cmp(&viewers(a)))
            .then(a.name.cmp(&b.name))
    });
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModeratorView {
    pub id: UserId,
    pub nickname: String,
}

// A notice's fields as a client sends them: `post_notice` needs title and body, `edit_notice`
// takes what is there.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NoticeInput {
    /// 1 to 100 characters.
    pub title: Option<String>,
    /// 1 to 5000 characters.
    pub body: Option<String>,
    /// Who may comment: all, followers or none (default all).
    pub comments: Option<CommentPolicy>,
}

/// Checked title and body: each present one (or, when `required`, each absent one) that fails is
/// one field error, all reported together.
fn notice_fields(
    input: &NoticeInput,
    required: bool,
) -> ApiResult<(Option<String>, Option<String>)> {
    let check = |field: &str, raw: Option<&str>, max, newlines| match raw {
        Some(v) => text(field, v, max, newlines).map(Some),
        None if required => text(field, "", max, newlines).map(Some),
        None => Ok(None),
    };
    let title = check("title", input.title.as_deref(), 100, false);
    let body = check("body", input.body.as_deref(), 5000, true);
    match (title, body) {
        (Ok(t), Ok(b)) => Ok((t, b)),
        (t, b) => Err(ApiError::validation(
            [t.err(), b.err()]
                .into_iter()
                .flatten()
                .collect::<Vec<FieldError>>(),
        )),
    }
}

impl Channels {
    /// Follow (idempotent); 404 for a channel that does not exist.
    pub async fn follow(&self, user: &UserId, channel: &ChannelId) -> ApiResult<()> {
        match self.store.follow(user, channel).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict) => Err(ApiError::not_found("no such channel")),
            Err(e) => Err(e.into()),
        }
    }

    /// Unfollow (idempotent).
    pub async fn unfollow(&self, user: &UserId, channel: &ChannelId) -> ApiResult<()> {
        self.store.unfollow(user, channel).await?;
        Ok(())
    }

    pub async fn is_following(&self, user: &UserId, channel: &ChannelId) -> ApiResult<bool> {
        Ok(self.store.is_following(user, channel).await?)
    }

    /// The channels `user` follows with their lives, in [`sort_following`] order.
    pub async fn following(&self, user: &UserId) -> ApiResult<Vec<FollowedChannel>> {
        let ids = self.store.following(user).await?;
        let channels = self.store.channels(&ids).await?;
        let lives = self.lives().await?;
        let mut out: Vec<FollowedChannel> = channels
            .into_iter()
            .map(|c| FollowedChannel {
                live: lives.iter().find(|l| l.channel.id == c.id).cloned(),
                image_url: c.image_key.as_deref().map(|k| self.media_url(k)),
                id: c.id,
                name: c.name,
            })
            .collect();
        sort_following(&mut out);
        Ok(out)
    }

    /// The moderator list, for the owner and moderators only (403 otherwise).
    pub async fn moderators(
        &self,
        channel: &ChannelRecord,
        viewer: &UserId,
    ) -> ApiResult<Vec<ModeratorView>> {
        if !self.can_moderate(channel, viewer).await? {
            return Err(ApiError::forbidden(
                "only the owner and moderators see the moderator list",
            ));
        }
        let mut out = Vec::new();
        for m in self.store.moderators(&channel.id).await? {
            if let Some(u) = self.users.get(&m).await? {
                out.push(ModeratorView {
                    id: u.id,
                    nickname: u.nickname,
                });
            }
        }
        Ok(out)
    }

    /// Appoints `target` on the owner's `channel` (idempotent).
    pub async fn add_moderator(&self, channel: &ChannelRecord, target: &UserId) -> ApiResult<()> {
        if self.users.get(target).await?.is_none() {
            return Err(ApiError::not_found("no such user"));
        }
        if *target == channel.owner_id {
            return Err(ApiError::field(
                "user_id",
                "the owner already has every right",
            ));
        }
        self.store
            .add_moderator(&channel.id, target, &channel.owner_id)
            .await?;
        Ok(())
    }

    pub async fn remove_moderator(
        &self,
        channel: &ChannelRecord,
        target: &UserId,
    ) -> ApiResult<()> {
        self.store.remove_moderator(&channel.id, target).await?;
        Ok(())
    }

    /// A channel's notices, newest first.
    pub async fn notices(
        &self,
        channel: &ChannelId,
        paging: &crate::stores::dynamo::Paging,
    ) -> ApiResult<Page<NoticeRecord>> {
        let channel = self.channel(channel).await?;
        Ok(self.store.notices(&channel.id, paging).await?)
    }

    pub async fn notice(&self, channel: &ChannelId, id: &NoticeId) -> ApiResult<NoticeRecord> {
        self.store
            .notice(channel, id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such notice"))
    }

    /// A notice by the owner of `channel`.
    pub async fn post_notice(
        &self,
        channel: &ChannelRecord,
        input: NoticeInput,
    ) -> ApiResult<NoticeRecord> {
        let (title, body) = notice_fields(&input, true)?;
        let now = Timestamp::now();
        let notice = NoticeRecord {
            id: NoticeId::new(),
            channel_id: channel.id,
            author_id: channel.owner_id,
            title: title.unwrap_or_default(),
            body: body.unwrap_or_default(),
            comments: input.comments.unwrap_or(CommentPolicy::All),
            created_at: now,
            updated_at: now,
        };
        self.store.put_notice(&notice, true).await?;
        Ok(notice)
    }

    /// The owner's notice, loaded for an edit: 404 unknown, 403 not the caller's channel.
    pub async fn owned_notice(
        &self,
        channel: &ChannelId,
        id: &NoticeId,
        user: &UserId,
    ) -> ApiResult<NoticeRecord> {
        let notice = self.notice(channel, id).await?;
        self.owned(&notice.channel_id, user).await?;
        Ok(notice)
    }

    pub async fn edit_notice(
        &self,
        mut notice: NoticeRecord,
        input: NoticeInput,
    ) -> ApiResult<NoticeRecord> {
        let (title, body) = notice_fields(&input, false)?;
        if let Some(t) = title {
            notice.title = t;
        }
        if let Some(b) = body {
            notice.body = b;
        }
        if let Some(c) = input.comments {
            notice.comments = c;
        }
        notice.updated_at = Timestamp::now();
        self.store.put_notice(&notice, false).await?;
        Ok(notice)
    }

    pub async fn delete_notice(&self, notice: &NoticeRecord) -> ApiResult<()> {
        if !self
            .store
            .delete_notice(&notice.channel_id, &notice.id)
            .await?
        {
            return Err(ApiError::not_found("no such notice"));
        }
        Ok(())
    }

    /// The owner's profile (gone only if the account was deleted).
    pub async fn owner(
        &self,
        channel: &ChannelRecord,
    ) -> ApiResult<Option<crate::accounts::store::UserRecord>> {
        Ok(self.users.get(&channel.owner_id).await?)
    }

    /// Whether the channel's current live is playable (what viewers see as "live").
    pub async fn is_playing(&self, channel: &ChannelRecord) -> ApiResult<bool> {
        Ok(match &channel.current_live_id {
            Some(id) => self.store.live(id).await?.is_some_and(|l| l.ready),
            None => false,
        })
    }

    /// A live (or ended broadcast) by id: 404 when unknown.
    pub async fn live(&self, id: &LiveId) -> ApiResult<LiveRecord> {
        self.store
            .live(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no such live"))
    }

    /// A channel's broadcasts that kept a recording, newest first.
    pub async fn vods(
        &self,
        channel: &ChannelId,
        paging: &crate::stores::dynamo::Paging,
    ) -> ApiResult<Page<LiveRecord>> {
        let channel = self.channel(channel).await?;
        Ok(self.store.vods(&channel.id, paging).await?)
    }

    /// Drops a VOD from its channel's list (its media is deleted by the caller first).
    pub async fn forget_vod(&self, live: &LiveRecord) -> ApiResult<()> {
        self.store.forget_vod(&live.id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn followed(name: &str, viewers: Option<u64>) -> FollowedChannel {
        FollowedChannel {
            id: ChannelId::new(),
            name: name.into(),
            image_url: None,
            live: viewers.map(|viewer_count| LiveSummary {
                id: LiveId::new(),
                channel: super::super::ChannelSummary {
                    id: ChannelId::new(),
                    name: name.into(),
                    image_url: None,
                    category: None,
                },
                title: String::new(),
                category: None,
                started_at: Timestamp::now(),
                viewer_count,
                thumbnail_url: None,
                playlist_url: String::new(),
                low_latency: false,
            }),
        }
    }

    #[test]
    fn following_lists_live_first_by_viewers_then_names() {
        let mut list = vec![
            followed("b", None),
            followed("c", Some(5)),
            followed("a", None),
            followed("d", Some(50)),
        ];
        sort_following(&mut list);
        let names: Vec<&str> = list.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["d", "c", "a", "b"]);
    }

    #[test]
    fn a_new_notice_names_every_missing_field() {
        let err = notice_fields(&NoticeInput::default(), true).unwrap_err();
        let fields: Vec<String> = err.errors.iter().map(|e| e.field.clone()).collect();
        assert_eq!(fields, ["title", "body"]);
        let (t, b) = notice_fields(&NoticeInput::default(), false).unwrap();
        assert_eq!((t, b), (None, None));
    }
}
