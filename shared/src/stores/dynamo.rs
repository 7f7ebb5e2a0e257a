//! Small helpers over the DynamoDB SDK: item (de)serialization through serde_dynamo, and reading
//! which part of a transaction was cancelled.

use aws_sdk_dynamodb::{
    error::SdkError, operation::transact_write_items::TransactWriteItemsError,
    types::AttributeValue,
};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn to_item<T: Serialize>(value: &T) -> anyhow::Result<Item> {
    Ok(serde_dynamo::to_item(value)?)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> anyhow::Result<T> {
    Ok(serde_dynamo::from_item(item)?)
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

/// The primary key of an item in a pk/sk table.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// Every item a query matches, following `LastEvaluatedKey` page by page.
pub async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> anyhow::Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = query.clone().set_exclusive_start_key(start).send().await?;
        out.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// A transaction `Put` that must create the item.
pub fn put_new(
    table: &str,
    item: Item,
) -> anyhow::Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()?,
        )
        .build())
}

/// For a cancelled transaction, the indexes of the items whose condition failed.
/// `Ok(None)` means the error was something else.
pub fn failed_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<usize>> {
    let SdkError::ServiceError(e) = err else {
        return None;
    };
    let TransactWriteItemsError::TransactionCanceledException(ex) = e.err() else {
        return None;
    };
    Some(
        ex.cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect(),
    )
}

/// Opaque pagination cursor from a `LastEvaluatedKey` (string attributes only, as all our keys).
pub fn encode_cursor(last: Option<&Item>) -> Option<String> {
    use base64::Engine;
    let last = last?;
    let map: std::collections::BTreeMap<&str, &str> = last
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    let json = serde_json::to_vec(&map).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// The `ExclusiveStartKey` of a cursor; `None` if it is not one of ours or belongs to another
/// partition (`pk_attr` must equal `pk`).
pub fn decode_cursor(cursor: &str, pk_attr: &str, pk: &str) -> Option<Item> {
    use base64::Engine;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(&json).ok()?;
    if map.get(pk_attr).map(String::as_str) != Some(pk) || map.len() > 4 {
        return None;
    }
    Some(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// What a store call reports beyond a plain failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed")]
    Conflict,
    /// A pagination cursor that is not one of this listing's.
    #[error("bad cursor")]
    BadCursor,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(e: SdkError<E, R>) -> Self {
        StoreError::Other(e.into())
    }
}

pub fn is_conditional<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

impl From<StoreError> for crate::ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::conflict("the resource changed or is busy; retry"),
            StoreError::BadCursor => Self::bad_request("invalid cursor"),
            StoreError::Other(e) => Self::internal(e),
        }
    }
}

/// Whether a conditional write applied: `false` when its condition failed.
pub fn applied<T, E, R>(res: Result<T, SdkError<E, R>>) -> anyhow::Result<bool>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e) if is_conditional(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// One page of a listing.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The items a listing pages through: one partition of the table or of an index, optionally only
/// the sort keys (`sk`) that start with a prefix.
pub struct Partition<'a> {
    index: Option<&'a str>,
    pk_attr: &'a str,
    pk: String,
    sk_prefix: Option<&'a str>,
}

impl<'a> Partition<'a> {
    /// Every item of the table's partition `pk`.
    pub fn of(pk: String) -> Self {
        Self {
            index: None,
            pk_attr: "pk",
            pk,
            sk_prefix: None,
        }
    }

    /// The items of partition `pk` whose `sk` starts with `prefix`.
    pub fn prefixed(pk: String, prefix: &'a str) -> Self {
        Self {
            sk_prefix: Some(prefix),
            ..Self::of(pk)
        }
    }

    /// Partition `pk_attr = pk` of index `index`.
    pub fn in_index(index: &'a str, pk_attr: &'a str, pk: String) -> Self {
        Self {
            index: Some(index),
            pk_attr,
            ..Self::of(pk)
        }
    }
}

/// One page of `part`, newest first, resumed from `cursor`.
pub async fn page<T: serde::de::DeserializeOwned>(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    part: Partition<'_>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<T>, StoreError> {
    let condition = match part.sk_prefix {
        Some(_) => format!("{} = :pk AND begins_with(sk, :prefix)", part.pk_attr),
        None => format!("{} = :pk", part.pk_attr),
    };
    let mut query = ddb
        .query()
        .table_name(table)
        .set_index_name(part.index.map(str::to_owned))
        .key_condition_expression(condition)
        .expression_attribute_values(":pk", s(&part.pk));
    if let Some(prefix) = part.sk_prefix {
        query = query.expression_attribute_values(":prefix", s(prefix));
    }
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    query_page(query, cursor, part.pk_attr, &part.pk, limit).await
}

/// One page of a query, newest first, resumed from `cursor` (which must belong to the partition
/// `pk_attr = pk`).
async fn query_page<T: DeserializeOwned>(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    cursor: Option<&str>,
    pk_attr: &str,
    pk: &str,
    limit: i32,
) -> Result<Page<T>, StoreError> {
    let start = cursor
        .map(|c| decode_cursor(c, pk_attr, pk).ok_or(StoreError::BadCursor))
        .transpose()?;
    let page = query
        .scan_index_forward(false)
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .await?;
    let items = page
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        next: encode_cursor(page.last_evaluated_key.as_ref()),
    })
}
