//! Moderation: who may moderate (checked against the stores, not the ticket), the actions, and
//! the audit log.

use std::{sync::Arc, time::Duration};

use backon::{ConstantBuilder, Retryable};

use super::{
    Chat, ChatError, Outbox, PostError, Room,
    model::*,
    protocol::ClientFrame,
    store::{AuditEntry, Ban},
};
use crate::{
    clock::Timestamp,
    domain::ids::{ChannelId, UserId},
};

/// A deleted message the stream had but gsi1 does not show yet.
#[derive(Debug, thiserror::Error)]
#[error("not indexed yet")]
struct NotIndexedYet;

/// A moderation action, parsed from a client frame.
#[derive(Debug, Clone)]
pub enum ModAction {
    Delete { message_id: MessageId },
    Timeout { user_id: UserId, seconds: u32 },
    Ban { user_id: UserId, reason: String },
    Unban { user_id: UserId },
    Slow { seconds: u32 },
    Clear,
}

impl ModAction {
    fn name(&self) -> &'static str {
        match self {
            Self::Delete { .. } => "delete",
            Self::Timeout { .. } => "timeout",
            Self::Ban { .. } => "ban",
            Self::Unban { .. } => "unban",
            Self::Slow { .. } => "slow",
            Self::Clear => "clear",
        }
    }
}

impl TryFrom<ClientFrame> for ModAction {
    type Error = ChatError;
    fn try_from(frame: ClientFrame) -> Result<Self, ChatError> {
        Ok(match frame {
            ClientFrame::Delete { message_id } => Self::Delete { message_id },
            ClientFrame::Timeout { user_id, seconds } => Self::Timeout { user_id, seconds },
            ClientFrame::Ban { user_id, reason } => Self::Ban {
                user_id,
                reason: reason
                    .map(|r| crate::domain::text::free_text(&r, false))
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            },
            ClientFrame::Unban { user_id } => Self::Unban { user_id },
            ClientFrame::Slow { seconds } => Self::Slow { seconds },
            ClientFrame::Clear => Self::Clear,
            ClientFrame::Send { .. } | ClientFrame::History { .. } | ClientFrame::Ping => {
                return Err(ChatError::BadRequest("not a moderation action".into()));
            }
        })
    }
}

/// Someone allowed to moderate a channel, checked against the stores (not the ticket).
#[derive(Debug, Clone)]
pub struct Moderator {
    pub channel_id: ChannelId,
    pub user_id: UserId,
    pub is_owner: bool,
    pub room: Room,
}

impl Chat {
    /// Checks that `user` may moderate `ch`: the owner, or one of its moderators now (not as of
    /// the ticket).
    pub async fn moderator(
        &self,
        ch: &ChannelId,
        user: Option<&UserId>,
    ) -> Result<Moderator, ChatError> {
        let user = user.ok_or_else(|| ChatError::Forbidden("sign in to moderate".into()))?;
        let room = self.room(ch).await?;
        let is_owner = room.owner_id == *user;
        if !is_owner && !self.channels.is_moderator(ch, user).await? {
            return Err(ChatError::Forbidden(
                "only the owner and moderators may do this".into(),
            ));
        }
        Ok(Moderator {
            channel_id: *ch,
            user_id: *user,
            is_owner,
            room,
        })
    }

    /// Whether `actor` may act on `target`: nobody acts on the owner or themselves, and only the
    /// owner acts on a moderator.
    async fn check_target(&self, actor: &Moderator, target: &UserId) -> Result<(), ChatError> {
        if *target == actor.room.owner_id {
            return Err(ChatError::Forbidden(
                "the channel owner cannot be moderated".into(),
            ));
        }
        if *target == actor.user_id {
            return Err(ChatError::BadRequest("you cannot moderate yourself".into()));
        }
        if !actor.is_owner
            && self
                .channels
                .is_moderator(&actor.channel_id, target)
                .await?
        {
            return Err(ChatError::Forbidden(
                "only the owner can moderate a moderator".into(),
            ));
        }
        Ok(())
    }

    async fn audit(
        &self,
        m: &Moderator,
        action: &str,
        target: Option<UserId>,
        message: Option<MessageId>,
        detail: String,
    ) -> Result<(), ChatError> {
        let entry = AuditEntry {
            action: action.to_owned(),
            actor: m.user_id,
            target_user: target,
            message_id: message,
            detail,
            at: Timestamp::now(),
        };
        Ok(self.store.audit(&m.channel_id, &entry).await?)
    }

    /// Carries out a moderation action, audits it and flushes the room's resulting events.
    pub async fn moderate(
        &self,
        m: &Moderator,
        action: ModAction,
        out: &Arc<dyn Outbox>,
    ) -> Result<(), ChatError> {
        let ch = m.channel_id;
        let name = action.name();
        match action {
            ModAction::Delete { message_id } => {
                let in_stream = match self.hot.get(&ch, message_id).await? {
                    Some(e) if e.is_message() => self.hot.remove(&ch, message_id).await?,
                    _ => false,
                };
                // The archive is found through gsi1, which DynamoDB updates asynchronously: a
                // message sent a moment ago may not be indexed yet.
                let archived = (|| async {
                    let found = self.store.mark_deleted(&ch, message_id).await?;
                    if !found && in_stream {
                        return Err(anyhow::Error::new(NotIndexedYet));
                    }
                    Ok(found)
                })
                .retry(
                    ConstantBuilder::default()
                        .with_delay(Duration::from_millis(200))
                        .with_max_times(5),
                )
                .when(|e| e.is::<NotIndexedYet>())
                .await;
                let archived = match archived {
                    Ok(found) => found,
                    Err(e) if e.is::<NotIndexedYet>() => false,
                    Err(e) => return Err(e.into()),
                };
                if in_stream && !archived {
                    tracing::warn!(channel_id = %ch, message_id = %message_id, "deleted message not found in the archive");
                }
                if !in_stream && !archived {
                    return Err(ChatError::NotFound("no such message".into()));
                }
                self.hot
                    .append(&ch, &EventBody::Deleted { message_id })
                    .await?;
                self.audit(m, name, None, Some(message_id), String::new())
                    .await?;
            }
            ModAction::Timeout { user_id, seconds } => {
                self.check_target(m, &user_id).await?;
                if seconds == 0 || seconds > MAX_TIMEOUT_SECONDS {
                    return Err(ChatError::BadRequest(format!(
                        "seconds must be between 1 and {MAX_TIMEOUT_SECONDS}"
                    )));
                }
                self.hot.set_timeout(&ch, &user_id, seconds).await?;
                self.hot
                    .append(&ch, &EventBody::UserTimedOut { user_id, seconds })
                    .await?;
                self.audit(m, name, Some(user_id), None, format!("{seconds} s"))
                    .await?;
            }
            ModAction::Ban { user_id, reason } => {
                self.check_target(m, &user_id).await?;
                let target = self
                    .users
                    .get(&user_id)
                    .await?
                    .ok_or_else(|| ChatError::NotFound("no such user".into()))?;
                let ban = Ban {
                    user_id,
                    nickname: target.nickname,
                    reason: reason.clone(),
                    by: m.user_id,
                    at: Timestamp::now(),
                };
                self.store.put_ban(&ch, &ban).await?;
                self.hot.cache_ban(&ch, &user_id, true).await?;
                for conn in self.hot.user_connections(&ch, &user_id).await? {
                    match out.close(&conn).await {
                        Ok(()) | Err(PostError::Gone) => {}
                        Err(PostError::Other(e)) => {
                            tracing::warn!(connection_id = conn.as_str(), error = %e, "closing a banned user's connection failed")
                        }
                    }
                    self.hot.leave(&conn).await?;
                }
                self.hot
                    .append(&ch, &EventBody::UserBanned { user_id })
                    .await?;
                self.audit(m, name, Some(user_id), None, reason).await?;
            }
            ModAction::Unban { user_id } => {
                if !self.store.delete_ban(&ch, &user_id).await? {
                    return Err(ChatError::NotFound("that user is not banned".into()));
                }
                self.hot.cache_ban(&ch, &user_id, false).await?;
                self.hot.clear_timeout(&ch, &user_id).await?;
                self.audit(m, name, Some(user_id), None, String::new())
                    .await?;
                return Ok(());
            }
            ModAction::Slow { seconds } => {
                if seconds > MAX_SLOW_SECONDS {
                    return Err(ChatError::BadRequest(format!(
                        "seconds must be between 0 (off) and {MAX_SLOW_SECONDS}"
                    )));
                }
                self.store
                    .update_settings::<ChatError>(&ch, |s| {
                        s.slow_seconds = seconds;
                        Ok(())
                    })
                    .await??;
                self.invalidate(&ch).await?;
                self.hot
                    .append(&ch, &EventBody::SlowMode { seconds })
                    .await?;
                self.audit(m, name, None, None, format!("{seconds} s"))
                    .await?;
            }
            ModAction::Clear => {
                let id = self.hot.append(&ch, &EventBody::Cleared).await?;
                self.store
                    .update_settings::<ChatError>(&ch, |s| {
                        s.cleared_before = Some(id);
                        Ok(())
                    })
                    .await??;
                self.invalidate(&ch).await?;
                self.hot.trim_before(&ch, id).await?;
                self.audit(m, name, None, None, String::new()).await?;
            }
        }
        // The action is done and its event stored; a failed flush leaves the event for the
        // next flusher or the sweep rather than failing the moderator's request.
        if let Err(e) = self.flush(&ch, out, false).await {
            tracing::error!(channel_id = %ch, error = %e, "chat flush failed; left for the next flusher");
        }
        Ok(())
    }

    /// Changes chat settings (REST), recording the change in the audit log.
    pub(super) async fn update_settings(
        &self,
        m: &Moderator,
        what: &str,
        change: impl Fn(&mut ChatSettings) -> Result<(), ChatError>,
    ) -> Result<ChatSettings, ChatError> {
        let settings = self.store.update_settings(&m.channel_id, change).await??;
        self.invalidate(&m.channel_id).await?;
        self.audit(m, "settings", None, None, what.to_owned())
            .await?;
        Ok(settings)
    }
}

impl Chat {
    /// The channel's bans, for its moderators.
    pub async fn bans(
        &self,
        m: &Moderator,
        paging: &crate::stores::dynamo::Paging,
    ) -> Result<crate::stores::dynamo::Page<Ban>, crate::stores::dynamo::StoreError> {
        self.store.bans(&m.channel_id, paging).await
    }

    /// The moderation audit log, newest first: the owner's only.
    pub async fn audit_log(
        &self,
        m: &Moderator,
        paging: &crate::stores::dynamo::Paging,
    ) -> Result<crate::stores::dynamo::Page<AuditEntry>, crate::ApiError> {
        if !m.is_owner {
            return Err(crate::ApiError::forbidden(
                "only the channel owner reads the audit log",
            ));
        }
        Ok(self.store.audit_log(&m.channel_id, paging).await?)
    }
}
