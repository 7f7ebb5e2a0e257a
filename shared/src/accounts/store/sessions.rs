//! Login sessions in the users table: refresh-token families and their rotating tokens
//! (`FAMILY#…`, `REFRESH#<sha256>`).

use super::*;
use crate::stores::dynamo::Partition;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The presented token was already rotated: someone replayed it.
    #[error("refresh token reused")]
    Reused,
    /// The session was revoked (logout, reuse) or expired.
    #[error("session revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// A stored refresh token.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub family_id: FamilyId,
    pub user_id: UserId,
    #[serde(with = "crate::clock::unix_secs")]
    pub expires_at: Timestamp,
    // Absent, not NULL: rotation's condition is `attribute_not_exists(used_at)`.
    #[serde(with = "crate::clock::unix_secs::option", default)]
    pub used_at: Option<Timestamp>,
}

impl UsersStore {
    fn refresh_item(&self, r: &RefreshRecord) -> anyhow::Result<Item> {
        let mut item = dynamo::to_item(r)?;
        item.extend(key(refresh_pk(&r.token_hash), "REFRESH"));
        Ok(item)
    }

    /// Starts a login session with its first refresh token.
    pub async fn start_session(&self, first: &RefreshRecord) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let mut family = key(family_pk(&first.family_id), "FAMILY");
        family.extend([
            ("user_id".to_owned(), s(first.user_id.to_string())),
            ("revoked".to_owned(), b(false)),
            ("created_at".to_owned(), s(now)),
            ("expires_at".to_owned(), n(first.expires_at.unix_secs())),
            ("gsi1pk".to_owned(), s(format!("USERFAM#{}", first.user_id))),
            ("gsi1sk".to_owned(), s(format!("{now}#{}", first.family_id))),
        ]);
        let items = vec![
            self.users.put_new(family)?,
            self.users.put_new(self.refresh_item(first)?)?,
        ];
        Ok(self.users.transact(items).await?)
    }

    pub async fn refresh_record(&self, token_hash: &str) -> anyhow::Result<Option<RefreshRecord>> {
        self.users
            .get_as(key(refresh_pk(token_hash), "REFRESH"))
            .await
    }

    /// Marks `old` used and stores `next` in the same family, atomically; fails if `old` was
    /// already used (reuse) or the family is revoked.
    pub async fn rotate(
        &self,
        old: &RefreshRecord,
        next: &RefreshRecord,
    ) -> Result<(), RotateError> {
        let now = Timestamp::now().unix_secs();
        let mark_used = self
            .users
            .tx_update(key(refresh_pk(&old.token_hash), "REFRESH"))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", n(now));
        let extend_family = self
            .users
            .tx_update(key(family_pk(&old.family_id), "FAMILY"))
            .update_expression("SET expires_at = :exp")
            .condition_expression("revoked = :false AND expires_at > :now")
            .expression_attribute_values(":exp", n(next.expires_at.unix_secs()))
            .expression_attribute_values(":false", b(false))
            .expression_attribute_values(":now", n(now));
        let items = vec![
            tx_update(mark_used)?,
            tx_update(extend_family)?,
            self.users.put_new(self.refresh_item(next)?)?,
        ];
        match self.users.transact(items).await {
            Ok(()) => Ok(()),
            Err(e) if e.refused(0) => Err(RotateError::Reused),
            Err(e) if e.refused(1) => Err(RotateError::Revoked),
            Err(e) => Err(RotateError::Store(
                anyhow::Error::new(e).context("rotating a refresh token"),
            )),
        }
    }

    /// Revokes one session; its refresh tokens stop working.
    pub async fn revoke_family(&self, family: &FamilyId) -> anyhow::Result<()> {
        let res = self
            .users
            .update(key(family_pk(family), "FAMILY"))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", b(true))
            .send()
            .await;
        // Not applied: there is no such session, which is as revoked as it gets.
        dynamo::applied(res).map(drop)
    }

    /// Every session of a user (live or not), newest last.
    pub async fn families(&self, user: &UserId) -> anyhow::Result<Vec<FamilyId>> {
        let part = Partition::in_index("gsi1", "gsi1pk", format!("USERFAM#{user}"));
        Ok(self
            .users
            .all(part)
            .await?
            .iter()
            .filter_map(|i| {
                i.get("pk")?
                    .as_s()
                    .ok()?
                    .strip_prefix("FAMILY#")?
                    .parse::<FamilyId>()
                    .ok()
            })
            .collect())
    }

    /// True when the session exists and is not revoked.
    pub async fn family_active(&self, family: &FamilyId) -> anyhow::Result<bool> {
        let item = self.users.get(key(family_pk(family), "FAMILY")).await?;
        Ok(item.is_some_and(|i| {
            matches!(
                i.get("revoked"),
                Some(aws_sdk_dynamodb::types::AttributeValue::Bool(false))
            )
        }))
    }
}
