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

use aws_sdk_dynamodb::{
    Client,
    types::{Delete, ReturnValue, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};

use super::user::{Bio, Email, Nickname};
use crate::clock::{now_rfc3339, now_secs};
use crate::stores::dynamo::{self, Item, b, failed_conditions, key, n, put_new, s};
use crate::{
    config::StoreConfig,
    domain::ids::{ChannelId, FamilyId, UserId},
};

/// An account as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub nickname: String,
    pub nickname_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub bio: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_key: Option<String>,
    pub channel_id: ChannelId,
    pub created_at: String,
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
            created_at: now_rfc3339(),
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
    ddb: Client,
    users: String,
    channels: String,
}

fn claim(table: &str, pk: String, user: &UserId) -> anyhow::Result<TransactWriteItem> {
    let mut item = key(pk, UNIQUE);
    item.insert("user_id".into(), s(user.to_string()));
    put_new(table, item)
}

impl UsersStore {
    pub fn new(ddb: Client, stores: &StoreConfig) -> Self {
        Self {
            ddb,
            users: stores.table("users"),
            channels: stores.table("channels"),
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
            ("description".to_owned(), s("")),
            ("created_at".to_owned(), s(user.created_at.clone())),
        ]);
        let mut owner = key(format!("OWNER#{}", user.id), "CHANNEL");
        owner.insert("channel_id".into(), s(user.channel_id.to_string()));

        // Order matters: failed_conditions reports indexes.
        let mut items = vec![
            put_new(&self.users, profile)?,
            claim(&self.users, nick_pk(&user.nickname_key), &user.id)?,
            put_new(&self.channels, channel)?,
            put_new(&self.channels, owner)?,
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

        match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if email_at.is_some_and(|i| failed.contains(&i)) => {
                    Err(ClaimError::EmailTaken)
                }
                Some(failed) if failed.contains(&1) => Err(ClaimError::NicknameTaken),
                Some(failed) if ident_at.is_some_and(|i| failed.contains(&i)) => {
                    Err(ClaimError::IdentityTaken)
                }
                _ => Err(ClaimError::Store(
                    anyhow::Error::new(err).context("creating a user"),
                )),
            },
        }
    }

    pub async fn get(&self, id: &UserId) -> anyhow::Result<Option<UserRecord>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.users)
            .set_key(Some(key(user_pk(id), "PROFILE")))
            .send()
            .await?;
        out.item.map(dynamo::from_item).transpose()
    }

    async fn claimed_by(&self, pk: String) -> anyhow::Result<Option<UserId>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.users)
            .set_key(Some(key(pk, UNIQUE)))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item.and_then(|i| {
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
        let TransactWriteItem { put, .. } = claim(&self.users, ident_pk(identity), user)?;
        let put = put.expect("claim builds a put");
        let res = self
            .ddb
            .put_item()
            .table_name(&self.users)
            .set_item(Some(put.item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(ClaimError::IdentityTaken)
            }
            Err(e) => Err(ClaimError::Store(e.into())),
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
        let update = Update::builder()
            .table_name(&self.users)
            .set_key(Some(key(user_pk(&current.id), "PROFILE")))
            .update_expression("SET nickname = :nick, nickname_key = :key, bio = :bio")
            // Guards against a concurrent nickname change.
            .condition_expression("nickname_key = :old")
            .expression_attribute_values(":nick", s(next.nickname.clone()))
            .expression_attribute_values(":key", s(next.nickname_key.clone()))
            .expression_attribute_values(":bio", s(next.bio.clone()))
            .expression_attribute_values(":old", s(current.nickname_key.clone()))
            .build()
            .map_err(anyhow::Error::from)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if next.nickname_key != current.nickname_key {
            items.push(claim(
                &self.users,
                nick_pk(&next.nickname_key),
                &current.id,
            )?);
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.users)
                            .set_key(Some(key(nick_pk(&current.nickname_key), UNIQUE)))
                            .condition_expression("user_id = :me")
                            .expression_attribute_values(":me", s(current.id.to_string()))
                            .build()
                            .map_err(anyhow::Error::from)?,
                    )
                    .build(),
            );
        }
        match self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(next),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.contains(&1) => Err(ClaimError::NicknameTaken),
                _ => Err(ClaimError::Store(
                    anyhow::Error::new(err).context("updating a profile"),
                )),
            },
        }
    }

    pub async fn set_avatar(&self, id: &UserId, avatar_key: &str) -> anyhow::Result<()> {
        self.ddb
            .update_item()
            .table_name(&self.users)
            .set_key(Some(key(user_pk(id), "PROFILE")))
            .update_expression("SET avatar_key = :k")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":k", s(avatar_key))
            .send()
            .await?;
        Ok(())
    }
}
