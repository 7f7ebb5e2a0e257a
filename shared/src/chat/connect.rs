//! Tickets and connections: who may join a room, with which badges and capabilities.

use super::{Chat, ChatError, model::*};
use crate::domain::ids::{ChannelId, ConnectionId, UserId};

impl Chat {
    /// A ticket for `user` to join `ch`'s chat; returns the secret.
    /// A ticket for `user` to join `ch`, and what it grants (the client shows its badges and
    /// moderation tools from it).
    pub async fn issue_ticket(
        &self,
        user: &UserId,
        ch: &ChannelId,
    ) -> Result<(String, Ticket), ChatError> {
        let room = self.room(ch).await?;
        if self.is_banned(ch, user).await? {
            return Err(ChatError::Banned);
        }
        let record = self
            .users
            .get(user)
            .await?
            .ok_or_else(|| ChatError::Forbidden("no such user".into()))?;
        let mut badges = Vec::new();
        if room.owner_id == *user {
            badges.push(Badge::Owner);
        } else if self.channels.is_moderator(ch, user).await? {
            badges.push(Badge::Moderator);
        }
        let ticket = Ticket {
            channel_id: *ch,
            capabilities: Capabilities {
                send: true,
                moderate: !badges.is_empty(),
            },
            user: ChatUser {
                id: *user,
                nickname: record.nickname,
                badges,
            },
        };
        let id = self.hot.put_ticket(&ticket, self.config.ticket_ttl).await?;
        Ok((id, ticket))
    }

    /// `$connect`: validates the ticket (if any) and registers the connection.
    pub async fn connect(
        &self,
        connection_id: &ConnectionId,
        channel: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<Connection, ChatError> {
        let ch: ChannelId = channel
            .ok_or_else(|| ChatError::BadRequest("the channel query parameter is required".into()))?
            .parse()
            .map_err(|_| ChatError::BadRequest("channel must be a channel id".into()))?;
        let conn = match ticket {
            None => {
                self.room(&ch).await?;
                Connection {
                    channel_id: ch,
                    user: None,
                    capabilities: Capabilities::default(),
                }
            }
            Some(secret) => {
                let t = self.hot.take_ticket(secret).await?.ok_or_else(|| {
                    ChatError::Forbidden("unknown, used or expired ticket".into())
                })?;
                if t.channel_id != ch {
                    return Err(ChatError::Forbidden(
                        "the ticket is for another channel".into(),
                    ));
                }
                if self.is_banned(&ch, &t.user.id).await? {
                    return Err(ChatError::Banned);
                }
                Connection {
                    channel_id: ch,
                    user: Some(t.user),
                    capabilities: t.capabilities,
                }
            }
        };
        self.hot.join(connection_id, &conn).await?;
        Ok(conn)
    }

    pub async fn disconnect(&self, connection_id: &ConnectionId) -> Result<(), ChatError> {
        self.hot.leave(connection_id).await?;
        Ok(())
    }

    pub async fn connection(&self, connection_id: &ConnectionId) -> Result<Connection, ChatError> {
        self.hot
            .connection(connection_id)
            .await?
            .ok_or(ChatError::Unregistered)
    }
}
