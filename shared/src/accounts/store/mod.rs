//! The users table: accounts, their unique claims (email, nickname, external identity), and
//! refresh-token families. Signup also writes the user's channel into the channels table, in the
//! same transaction.
//!
//! Items (pk / sk):
//! - `USER#<id>` / `PROFILE`: the account ([`UserRecord`])
//! - `EMAIL#<email>` / `UNIQUE`, `NICK#<key>` / `UNIQUE`, `IDENT#<provider>#<subject>` / `UNIQUE`:
//!   uniqueness claims holding `user_id`, written with `attribute_not_exists` in the same
//!   transaction as the account, so two signups can never both win (no Scan, no read-then-write).
//! - `FAMILY#<id>` / `FAMILY`: a login session (gsi1: `USERFAM#<user>` / `<created>#<id>`)
//! - `REFRESH#<sha256>` / `REFRESH`: one refresh token, by hash; `used_at` set when rotated.

mod sessions;

pub use sessions::{RefreshRecord, RotateError};

use aws_sdk_dynamodb::{Client, types::TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::user::{Bio, Email, Nickname};
use crate::channels::store::name_claim_pk;
use crate::clock::Timestamp;
use crate::stores::dynamo::{self, Item, Table, TxError, b, key, n, s, tx_update};
use crate::{
    config::StoreConfig,
    domain::ids::{ChannelId, FamilyId, UserId},
};

/// An account as stored.
#[serde_with::skip_serializing_none]
#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Option<String>,
    pub nickname: String,
    pub nickname_key: String,
    pub password_hash: Option<String>,
    #[serde(default)]
    pub bio: String,
    pub avatar_key: Option<String>,
    pub channel_id: ChannelId,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No email, no hash: records may end up in error messages.
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    pub fn new(email: Option<&Email>, nickname: &Nickname, password_hash: Option<String>) -> Self {
        Self {
            id: UserId::new(),
            email: email.map(|e| e.as_str().to_owned()),
            nickname: nickname.as_str().to_owned(),
            nickname_key: nickname.key(),
            password_hash,
            bio: String::new(),
            avatar_key: None,
            channel_id: ChannelId::new(),
            created_at: Timestamp::now(),
        }
    }
}

/// An account at an external OAuth2/OIDC provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub provider: String,
    pub subject: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the nickname is taken")]
    NicknameTaken,
    #[error("the external account is already linked")]
    IdentityTaken,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

fn user_pk(id: &UserId) -> String {
    format!("USER#{id}")
}
fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}
fn nick_pk(key: &str) -> String {
    format!("NICK#{key}")
}
fn ident_pk(i: &ExternalIdentity) -> String {
    format!("IDENT#{}#{}", i.provider, i.subject)
}
fn family_pk(f: &FamilyId) -> String {
    format!("FAMILY#{f}")
}
fn refresh_pk(hash: &str) -> String {
    format!("REFRESH#{hash}")
}

const UNIQUE: &str = "UNIQUE";

#[derive(Clone)]
pub struct UsersStore {
    users: Table,
    channels: Table,
}

fn claim(table: &Table, pk: String, user: &UserId) -> anyhow::Result<TransactWriteItem> {
    let mut item = key(pk, UNIQUE);
    item.insert("user_id".into(), s(user.to_string()));
    table.put_new(item)
}

impl UsersStore {
    pub fn new(ddb: Client, stores: &StoreConfig) -> Self {
        Self {
            users: Table::new(ddb.clone(), stores, "users"),
            channels: Table::new(ddb, stores, "channels"),
        }
    }

    /// Creates the account, its unique claims and its channel in one transaction.
    pub async fn create(
        &self,
        user: &UserRecord,
        identity: Option<&ExternalIdentity>,
    ) -> Result<(), ClaimError> {
        let mut profile = dynamo::to_item(user)?;
        profile.extend(key(user_pk(&user.id), "PROFILE"));

        // The channel starts with the owner's nickname; the channels feature owns its other fields.
        let mut channel = key(format!("CHANNEL#{}", user.channel_id), "META");
        channel.extend([
            ("id".to_owned(), s(user.channel_id.to_string())),
            ("owner_id".to_owned(), s(user.id.to_string())),
            ("name".to_owned(), s(user.nickname.clone())),
            ("name_key".to_owned(), s(user.nickname_key.clone())),
            ("description".to_owned(), s("")),
            ("created_at".to_owned(), s(user.created_at)),
        ]);
        let mut owner = key(format!("OWNER#{}", user.id), "CHANNEL");
        owner.insert("channel_id".into(), s(user.channel_id.to_string()));
        // The channel's name is claimed too: a channel renamed to look like this nickname
        // holds it, and then the nickname is taken.
        let mut name = key(name_claim_pk(&user.nickname_key), "UNIQUE");
        name.insert("channel_id".into(), s(user.channel_id.to_string()));

        // Order matters: a refusal names the items by index.
        let mut items = vec![
            self.users.put_new(profile)?,
            claim(&self.users, nick_pk(&user.nickname_key), &user.id)?,
            self.channels.put_new(channel)?,
            self.channels.put_new(owner)?,
            self.channels.put_new(name)?,
        ];
        let mut email_at = None;
        if let Some(e) = &user.email {
            items.push(claim(&self.users, email_pk(e), &user.id)?);
            email_at = Some(items.len() - 1);
        }
        let mut ident_at = None;
        if let Some(i) = identity {
            items.push(claim(&self.users, ident_pk(i), &user.id)?);
            ident_at = Some(items.len() - 1);
        }

        match self.users.transact(items).await {
            Ok(()) => Ok(()),
            Err(e) if email_at.is_some_and(|i| e.refused(i)) => Err(ClaimError::EmailTaken),
            Err(e) if e.refused(1) || e.refused(4) => Err(ClaimError::NicknameTaken),
            Err(e) if ident_at.is_some_and(|i| e.refused(i)) => Err(ClaimError::IdentityTaken),
            Err(e) => Err(ClaimError::Store(
                anyhow::Error::new(e).context("creating a user"),
            )),
        }
    }

    pub async fn get(&self, id: &UserId) -> anyhow::Result<Option<UserRecord>> {
        self.users.get_as(key(user_pk(id), "PROFILE")).await
    }

    async fn claimed_by(&self, pk: String) -> anyhow::Result<Option<UserId>> {
        let item = self.users.get(key(pk, UNIQUE)).await?;
        Ok(item.and_then(|i| {
            i.get("user_id")
                .and_then(|v| v.as_s().ok())
                .and_then(|v| v.parse().ok())
        }))
    }

    pub async fn id_by_email(&self, email: &Email) -> anyhow::Result<Option<UserId>> {
        self.claimed_by(email_pk(email.as_str())).await
    }

    pub async fn id_by_identity(
        &self,
        identity: &ExternalIdentity,
    ) -> anyhow::Result<Option<UserId>> {
        self.claimed_by(ident_pk(identity)).await
    }

    /// Links an external identity to an existing account.
    pub async fn link_identity(
        &self,
        user: &UserId,
        identity: &ExternalIdentity,
    ) -> Result<(), ClaimError> {
        match self
            .users
            .transact(vec![claim(&self.users, ident_pk(identity), user)?])
            .await
        {
            Ok(()) => Ok(()),
            Err(TxError::Refused(_)) => Err(ClaimError::IdentityTaken),
            Err(TxError::Other(e)) => Err(ClaimError::Store(e)),
        }
    }

    /// Changes nickname and/or bio. A new nickname moves its unique claim in the same transaction.
    pub async fn update_profile(
        &self,
        current: &UserRecord,
        nickname: Option<&Nickname>,
        bio: Option<&Bio>,
    ) -> Result<UserRecord, ClaimError> {
        let mut next = current.clone();
        if let Some(nick) = nickname {
            next.nickname = nick.as_str().to_owned();
            next.nickname_key = nick.key();
        }
        if let Some(bio) = bio {
            next.bio = bio.as_str().to_owned();
        }
        let update = self
            .users
            .tx_update(key(user_pk(&current.id), "PROFILE"))
            .update_expression("SET nickname = :nick, nickname_key = :key, bio = :bio")
            // Guards against a concurrent nickname change.
            .condition_expression("nickname_key = :old")
            .expression_attribute_values(":nick", s(next.nickname.clone()))
            .expression_attribute_values(":key", s(next.nickname_key.clone()))
            .expression_attribute_values(":bio", s(next.bio.clone()))
            .expression_attribute_values(":old", s(current.nickname_key.clone()));
        let mut items = vec![tx_update(update)?];
        if next.nickname_key != current.nickname_key {
            items.push(claim(
                &self.users,
                nick_pk(&next.nickname_key),
                &current.id,
            )?);
            // The old claim goes only if it is still ours.
            let drop_old = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(self.users.name())
                .set_key(Some(key(nick_pk(&current.nickname_key), UNIQUE)))
                .condition_expression("user_id = :me")
                .expression_attribute_values(":me", s(current.id.to_string()))
                .build()
                .map_err(anyhow::Error::from)?;
            items.push(TransactWriteItem::builder().delete(drop_old).build());
        }
        match self.users.transact(items).await {
            Ok(()) => Ok(next),
            Err(e) if e.refused(1) || e.refused(4) => Err(ClaimError::NicknameTaken),
            Err(e) => Err(ClaimError::Store(
                anyhow::Error::new(e).context("updating a profile"),
            )),
        }
    }

    pub async fn set_avatar(&self, id: &UserId, avatar_key: &str) -> anyhow::Result<()> {
        self.users
            .update(key(user_pk(id), "PROFILE"))
            .update_expression("SET avatar_key = :k")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":k", s(avatar_key))
            .send()
            .await?;
        Ok(())
    }
}
