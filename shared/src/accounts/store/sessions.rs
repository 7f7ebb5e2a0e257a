//! Login sessions in the users table: refresh-token families and their rotating tokens
//! (`FAMILY#…`, `REFRESH#<sha256>`).

use super::*;

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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub family_id: FamilyId,
    pub user_id: UserId,
    pub expires_at: i64,
    // Absent, not NULL: rotation's condition is `attribute_not_exists(used_at)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<i64>,
}

impl UsersStore {
    fn refresh_item(&self, r: &RefreshRecord) -> anyhow::Result<Item> {
        let mut item = dynamo::to_item(r)?;
        item.extend(key(refresh_pk(&r.token_hash), "REFRESH"));
        Ok(item)
    }

    /// Starts a login session with its first refresh token.
    pub async fn start_session(&self, first: &RefreshRecord) -> anyhow::Result<()> {
        let now = now_rfc3339();
        let mut family = key(family_pk(&first.family_id), "FAMILY");
        family.extend([
            ("user_id".to_owned(), s(first.user_id.to_string())),
            ("revoked".to_owned(), b(false)),
            ("created_at".to_owned(), s(now.clone())),
            ("expires_at".to_owned(), n(first.expires_at)),
            ("gsi1pk".to_owned(), s(format!("USERFAM#{}", first.user_id))),
            ("gsi1sk".to_owned(), s(format!("{now}#{}", first.family_id))),
        ]);
        self.ddb
            .transact_write_items()
            .transact_items(put_new(&self.users, family)?)
            .transact_items(put_new(&self.users, self.refresh_item(first)?)?)
            .send()
            .await?;
        Ok(())
    }

    pub async fn refresh_record(&self, token_hash: &str) -> anyhow::Result<Option<RefreshRecord>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.users)
            .set_key(Some(key(refresh_pk(token_hash), "REFRESH")))
            .consistent_read(true)
            .send()
            .await?;
        out.item.map(dynamo::from_item).transpose()
    }

    /// Marks `old` used and stores `next` in the same family, atomically; fails if `old` was
    /// already used (reuse) or the family is revoked.
    pub async fn rotate(
        &self,
        old: &RefreshRecord,
        next: &RefreshRecord,
    ) -> Result<(), RotateError> {
        let now = now_secs();
        let mark_used = Update::builder()
            .table_name(&self.users)
            .set_key(Some(key(refresh_pk(&old.token_hash), "REFRESH")))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(anyhow::Error::from)?;
        let extend_family = Update::builder()
            .table_name(&self.users)
            .set_key(Some(key(family_pk(&old.family_id), "FAMILY")))
            .update_expression("SET expires_at = :exp")
            .condition_expression("revoked = :false AND expires_at > :now")
            .expression_attribute_values(":exp", n(next.expires_at))
            .expression_attribute_values(":false", b(false))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(anyhow::Error::from)?;
        let res = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_used).build())
            .transact_items(TransactWriteItem::builder().update(extend_family).build())
            .transact_items(put_new(&self.users, self.refresh_item(next)?)?)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.contains(&0) => Err(RotateError::Reused),
                Some(failed) if failed.contains(&1) => Err(RotateError::Revoked),
                _ => Err(RotateError::Store(
                    anyhow::Error::new(err).context("rotating a refresh token"),
                )),
            },
        }
    }

    /// Revokes one session; its refresh tokens stop working.
    pub async fn revoke_family(&self, family: &FamilyId) -> anyhow::Result<()> {
        let res = self
            .ddb
            .update_item()
            .table_name(&self.users)
            .set_key(Some(key(family_pk(family), "FAMILY")))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", b(true))
            .return_values(ReturnValue::None)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every session of a user (live or not), newest last.
    pub async fn families(&self, user: &UserId) -> anyhow::Result<Vec<FamilyId>> {
        let query = self
            .ddb
            .query()
            .table_name(&self.users)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(format!("USERFAM#{user}")));
        Ok(dynamo::query_all(query)
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
        let out = self
            .ddb
            .get_item()
            .table_name(&self.users)
            .set_key(Some(key(family_pk(family), "FAMILY")))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item.is_some_and(|i| {
            matches!(
                i.get("revoked"),
                Some(aws_sdk_dynamodb::types::AttributeValue::Bool(false))
            )
        }))
    }
}
