//! Small helpers over the DynamoDB SDK: item (de)serialization through serde_dynamo, and reading
//! which part of a transaction was cancelled, and [`Table`]: the operations every store repeats.

use super::cursor::Cursors;
use crate::config::StoreConfig;
use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::{
        put_item::builders::PutItemFluentBuilder, query::builders::QueryFluentBuilder,
        transact_write_items::TransactWriteItemsError,
        update_item::builders::UpdateItemFluentBuilder,
    },
    types::{
        AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update,
        builders::UpdateBuilder,
    },
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

pub fn n(v: impl Numeric) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// What [`n`] takes: numbers only (a `Timestamp` writes RFC 3339 text, so it must say which
/// number it is, e.g. `unix_secs()`).
pub trait Numeric: ToString {}
impl Numeric for i32 {}
impl Numeric for i64 {}
impl Numeric for u32 {}
impl Numeric for u64 {}
impl Numeric for usize {}
impl Numeric for f64 {}

pub fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

/// The primary key of an item in a pk/sk table.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// For a cancelled transaction, the indexes of the items whose condition failed.
/// `Ok(None)` means the error was something else.
fn failed_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<usize>> {
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

/// The cursor of a `LastEvaluatedKey` (string attributes only, as all our keys), sealed for the
/// listing `pk`.
pub fn encode_cursor(cursors: &Cursors, pk: &str, last: Option<&Item>) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> = last?
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    let json = serde_json::to_vec(&map).ok()?;
    Some(cursors.seal(pk, &json))
}

/// The `ExclusiveStartKey` of a cursor; `None` unless it was sealed for this listing (and so
/// names `pk_attr = pk`).
pub fn decode_cursor(cursors: &Cursors, cursor: &str, pk_attr: &str, pk: &str) -> Option<Item> {
    let json = cursors.open(pk, cursor)?;
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
    /// A unique name another item holds (the message says which).
    #[error("{0}")]
    Taken(&'static str),
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
            StoreError::Taken(what) => Self::conflict(what),
            StoreError::BadCursor => Self::bad_request("invalid cursor"),
            StoreError::Other(e) => Self::internal(e),
        }
    }
}

/// A conditional write's result, its condition failing being a conflict.
pub fn or_conflict<T, E, R>(res: Result<T, SdkError<E, R>>) -> Result<T, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(out) => Ok(out),
        Err(e) if is_conditional(&e) => Err(StoreError::Conflict),
        Err(e) => Err(e.into()),
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

/// Where a listing resumes (the previous page's opaque `next`) and how many items it returns.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub cursor: Option<String>,
    pub limit: usize,
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

/// A cancelled or failed transaction.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The conditions of these items (by index in the transaction) failed.
    #[error("transaction refused by the conditions of items {0:?}")]
    Refused(Vec<usize>),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl TxError {
    /// Whether item `i`'s condition failed.
    pub fn refused(&self, i: usize) -> bool {
        matches!(self, Self::Refused(failed) if failed.contains(&i))
    }
}

/// One table and the operations every store repeats; a store reaches for [`Table::client`] only
/// for what is particular to it.
#[derive(Clone)]
pub struct Table {
    ddb: Client,
    name: String,
    cursors: Cursors,
}

impl Table {
    /// The logical table `name` (`users`, `channels`, `chat`) of `stores`.
    pub fn new(ddb: Client, stores: &StoreConfig, name: &str) -> Self {
        Self {
            ddb,
            name: stores.table(name),
            cursors: stores.cursors.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.ddb
    }

    /// An `UpdateItem` of the item at `key`, to be given its expression and sent.
    pub fn update(&self, key: Item) -> UpdateItemFluentBuilder {
        self.ddb
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key))
    }

    /// A `PutItem` of `item`, to be given its condition and sent.
    pub fn put_when(&self, item: Item) -> PutItemFluentBuilder {
        self.ddb
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
    }

    /// A `Query` of this table, to be given its key condition and sent.
    pub fn query(&self) -> QueryFluentBuilder {
        self.ddb.query().table_name(&self.name)
    }

    /// A transaction's `Update` of the item at `key`, to be given its expression and built with
    /// [`tx_update`].
    pub fn tx_update(&self, key: Item) -> UpdateBuilder {
        Update::builder().table_name(&self.name).set_key(Some(key))
    }

    /// One item, read strongly consistent (a store reads what it has just written).
    pub async fn get(&self, key: Item) -> anyhow::Result<Option<Item>> {
        Ok(self
            .ddb
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await?
            .item)
    }

    /// One item, deserialized.
    pub async fn get_as<T: DeserializeOwned>(&self, key: Item) -> anyhow::Result<Option<T>> {
        self.get(key).await?.map(from_item).transpose()
    }

    /// Writes an item (replacing one with the same key).
    pub async fn put(&self, item: Item) -> anyhow::Result<()> {
        self.put_when(item).send().await?;
        Ok(())
    }

    /// Deletes the item at `key`; whether there was one.
    pub async fn delete(&self, key: Item) -> anyhow::Result<bool> {
        let out = self
            .ddb
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key))
            .return_values(ReturnValue::AllOld)
            .send()
            .await?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    fn partition_query(&self, part: &Partition<'_>) -> QueryFluentBuilder {
        let condition = match part.sk_prefix {
            Some(_) => format!("{} = :pk AND begins_with(sk, :prefix)", part.pk_attr),
            None => format!("{} = :pk", part.pk_attr),
        };
        let query = self
            .query()
            .set_index_name(part.index.map(str::to_owned))
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", s(&part.pk));
        match part.sk_prefix {
            Some(prefix) => query.expression_attribute_values(":prefix", s(prefix)),
            None => query,
        }
    }

    /// Every item of `part`, in key order, following `LastEvaluatedKey` page by page.
    pub async fn all(&self, part: Partition<'_>) -> anyhow::Result<Vec<Item>> {
        let query = self.partition_query(&part);
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

    /// One page of `part`, newest first, resumed from `cursor`.
    pub async fn page<T: DeserializeOwned>(
        &self,
        part: Partition<'_>,
        paging: &Paging,
    ) -> Result<Page<T>, StoreError> {
        let limit = i32::try_from(paging.limit).unwrap_or(i32::MAX);
        let (query, cursor) = (self.partition_query(&part), paging.cursor.as_deref());
        let start = cursor
            .map(|c| {
                decode_cursor(&self.cursors, c, part.pk_attr, &part.pk).ok_or(StoreError::BadCursor)
            })
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
            next: encode_cursor(&self.cursors, &part.pk, page.last_evaluated_key.as_ref()),
        })
    }

    /// A transaction's `Put` that must create the item.
    pub fn put_new(&self, item: Item) -> anyhow::Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction's `Delete` (of an item that must exist when `must_exist`).
    pub fn tx_delete(&self, key: Item, must_exist: bool) -> anyhow::Result<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.name)
            .set_key(Some(key))
            .set_condition_expression(must_exist.then(|| "attribute_exists(pk)".to_owned()))
            .build()?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Runs a transaction (its items may name other tables too).
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let res = self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => match failed_conditions(&e) {
                Some(failed) => Err(TxError::Refused(failed)),
                None => Err(TxError::Other(e.into())),
            },
        }
    }
}

impl From<TxError> for StoreError {
    /// A refused transaction is a conflict: something changed in between.
    fn from(e: TxError) -> Self {
        match e {
            TxError::Refused(_) => StoreError::Conflict,
            TxError::Other(e) => StoreError::Other(e),
        }
    }
}

/// A transaction item from an `Update` made by [`Table::tx_update`].
pub fn tx_update(update: UpdateBuilder) -> anyhow::Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder().update(update.build()?).build())
}
