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

/// Unix seconds now.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 now.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
