//! The table of keys in DynamoDB. Every write is conditional on what it read, and
//! every operation is one round trip where the API allows it.
//!
//! - [`schema`]: table, index and attribute names, and what each function may touch.
//! - `row`: the row ([`KeyRow`]) and the domain's `ProviderKey` built from it.
//! - `configs`: a user's configurations (store, create, list, update the settings).
//! - `keys`: the provider's keys besides the primary (add, list); `deletes`: one
//!   key, the only key, every key; `key_changes`: a key's label, priority and
//!   expiry, and making it the primary.
//! - `sealed`: what the code that opens keys reads and writes (the sealed key, a
//!   reported outcome, a recorded key test); `uses`: a recorded use, across the
//!   provider's keys.
//! - `ratelimit`: the per-user allowance of key tests.
//! - `scan`: whole-table pages (maintenance, stats, rewrap).
//! - behind the `operator` feature (apikeys-admin and the tests): `operator`, the
//!   writes of import and rewrap; `migrate`, the copy of a single-key table.
//!
//! This file holds what they share: the repository, its error, the decoding of
//! items and the one helper every conditional update goes through.

mod configs;
mod deletes;
mod error;
mod key_changes;
mod keys;
#[cfg(feature = "operator")]
mod migrate;
#[cfg(feature = "operator")]
mod operator;
mod ratelimit;
mod ring;
mod row;
mod scan;
pub mod schema;
mod sealed;
mod tokens;
mod transact;
mod use_tokens;
mod uses;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Value};

pub use configs::{StoreWrite, Stored};
pub use deletes::PrimaryDelete;
pub use error::RepoError;
pub use key_changes::{KeyChanges, MadePrimary};
pub use keys::{Added, KeyWrite, MAX_KEYS_PER_PROVIDER};
#[cfg(feature = "operator")]
pub use migrate::{single_key_slot, Copied, RawPage};
pub use ratelimit::{Allowance, MAX_KEY_TESTS_PER_MINUTE};
pub use row::KeyRow;
pub use scan::{Pages, ScanPage, SCAN_PAGE_ITEMS};
pub use schema::MIGRATED_VERSION;
pub use schema::{BY_USER_INDEX, NON_KEY_VIEW_ATTRIBUTES};
pub use sealed::{Reported, ReportedOutcome};
pub use tokens::{month_of, month_total, MonthTotal, Spent, MONTH_USAGE};
pub use uses::{UseMark, UseRecord, USE_TOKENS};

/// A DynamoDB item: attributes by name.
pub type Item = HashMap<String, AttributeValue>;

/// Whether a write failed only because its condition did not hold: an expected
/// outcome (absent, inactive, changed meanwhile, over the limit), never an error.
fn is_condition_failure<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// What a conditional update did.
#[derive(Debug)]
pub(crate) enum Written {
    /// The condition held and the item was written; the answer's attributes, as
    /// `ReturnValues` asked (empty for NONE).
    Applied(Item),
    /// The condition did not hold; the item as it was, where the request asked for
    /// it (`ReturnValuesOnConditionCheckFailure`) and the backend sent it.
    Refused(Option<Item>),
}

impl Written {
    /// The answer of an applied write; `None` when it was refused.
    pub(crate) fn applied(self) -> Option<Item> {
        match self {
            Self::Applied(out) => Some(out),
            Self::Refused(_) => None,
        }
    }
}

/// A configuration together with its sealed key, for the code that opens keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedConfig {
    /// The item.
    pub item: KeyRow,
    /// The stored `apiKey`: an `akv1` envelope (or a legacy value before rewrap).
    pub envelope: String,
    /// Where the use that returned it left its token (a recorded use only).
    pub use_mark: Option<UseMark>,
}

/// Read and write access to the provider configuration table.
#[derive(Debug, Clone)]
pub struct KeyTable {
    client: Client,
    table: String,
}

impl KeyTable {
    /// A repository over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The whole item under `pk` (a strongly consistent read), if any: for the
    /// writes whose refusal carries no copy of the item (dynalite).
    pub(crate) async fn read_item(
        &self,
        operation: &'static str,
        pk: &str,
        sk: &str,
    ) -> Result<Option<Item>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::TABLE_KEY, s(pk))
            .key(schema::SORT_KEY, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk(operation, e))?;
        Ok(out.item)
    }

    /// Every item of a provider's partition, ciphertext included (a strongly
    /// consistent Query; at most five keys): for the code that picks or moves keys.
    pub(crate) async fn partition(
        &self,
        operation: &'static str,
        pk: &str,
    ) -> Result<Vec<Item>, RepoError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .select(aws_sdk_dynamodb::types::Select::AllAttributes)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .send()
            .await
            .map_err(|e| RepoError::sdk(operation, e))?;
        Ok(out.items.unwrap_or_default())
    }

    /// Sends one UpdateItem of the item under (`pk`, `sk`): `build` adds the
    /// expressions to the chain every write shares. A failed condition is
    /// [`Written::Refused`].
    pub(crate) async fn update(
        &self,
        operation: &'static str,
        pk: impl Into<String>,
        sk: &str,
        build: impl FnOnce(UpdateItemFluentBuilder) -> UpdateItemFluentBuilder,
    ) -> Result<Written, RepoError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::TABLE_KEY, s(pk))
            .key(schema::SORT_KEY, s(sk));
        match build(request).send().await {
            Ok(out) => Ok(Written::Applied(out.attributes.unwrap_or_default())),
            Err(err) if is_condition_failure(&err) => {
                let item = match err.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(e) => e.item,
                    _ => None,
                };
                Ok(Written::Refused(item))
            }
            Err(err) => Err(RepoError::sdk(operation, err)),
        }
    }
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Milliseconds since the epoch: how the rate limiter's grants and a key's
/// unavailability are stored.
pub(crate) fn epoch_ms(t: time::OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// A number attribute.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// `true`, as the `isActive` of an active configuration.
pub(crate) fn active() -> AttributeValue {
    AttributeValue::Bool(true)
}

/// Whether an item is an active configuration.
pub(crate) fn is_active(item: &Item) -> bool {
    matches!(item.get("isActive"), Some(AttributeValue::Bool(true)))
}

/// The settings object as stored: one string attribute holding its JSON text.
///
/// A map attribute would hold each number as a DynamoDB number, and backends differ
/// on which numbers they take and give back (moto stores `10^40` written out and then
/// fails every read of the item; DynamoDB refuses what dynalite refuses). As text,
/// whatever the API accepted reads back the same on every backend.
pub(crate) fn settings_value(settings: &Map<String, Value>) -> Result<AttributeValue, RepoError> {
    serde_json::to_string(settings)
        .map(AttributeValue::S)
        .map_err(|e| RepoError::new("encode settings", e.to_string()))
}

/// The settings of a stored attribute: JSON text (how they are written), or a map
/// (how items written before were stored; they keep reading).
pub(crate) fn settings_of(value: &AttributeValue) -> Result<Map<String, Value>, RepoError> {
    let decoded = match value {
        AttributeValue::S(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
        AttributeValue::Null(_) => Ok(Map::new()),
        other => serde_dynamo::from_attribute_value(other.clone()).map_err(|e| e.to_string()),
    };
    decoded.map_err(|e| RepoError::new("decode settings", e))
}

/// A whole item for a PutItem: every attribute of `item` but those that are absent,
/// the settings as [`settings_value`] stores them.
#[cfg(feature = "operator")]
pub(crate) fn row_of(item: &KeyRow) -> Result<Item, RepoError> {
    let mut attrs: Item =
        serde_dynamo::to_item(item).map_err(|e| RepoError::new("encode item", e.to_string()))?;
    attrs.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    attrs.insert("settings".to_owned(), settings_value(&item.settings)?);
    Ok(attrs)
}

/// A configuration item without its ciphertext. A deleted one gets its former id
/// and creation time back from where the delete kept them.
pub(crate) fn decode(operation: &'static str, mut item: Item) -> Result<KeyRow, RepoError> {
    item.remove(schema::CIPHERTEXT_ATTRIBUTE);
    for (live, kept) in [("id", "deletedId"), ("createdAt", "deletedCreatedAt")] {
        if let Some(value) = item.remove(kept) {
            item.entry(live.to_owned()).or_insert(value);
        }
    }
    let settings = item
        .remove("settings")
        .map(|v| settings_of(&v))
        .transpose()?;
    let mut row: KeyRow =
        serde_dynamo::from_item(item).map_err(|e| RepoError::new(operation, e.to_string()))?;
    row.settings = settings.unwrap_or_default();
    Ok(row)
}

/// A configuration item with its ciphertext, which it must hold.
pub(crate) fn decode_sealed(
    operation: &'static str,
    mut item: Item,
) -> Result<SealedConfig, RepoError> {
    let envelope = match item.remove(schema::CIPHERTEXT_ATTRIBUTE) {
        Some(AttributeValue::S(envelope)) => envelope,
        _ => return Err(RepoError::new(operation, "the item holds no apiKey string")),
    };
    Ok(SealedConfig {
        item: decode(operation, item)?,
        envelope,
        use_mark: None,
    })
}

/// The number attribute `name` of an item, when it is one.
pub(crate) fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tombstone() -> Item {
        HashMap::from([
            ("pk".to_owned(), s("u#openai")),
            ("userId".to_owned(), s("u")),
            ("provider".to_owned(), s("openai")),
            ("isActive".to_owned(), AttributeValue::Bool(false)),
            ("updatedAt".to_owned(), s("2025-01-02T00:00:00.000Z")),
            ("deletedAt".to_owned(), s("2025-01-02T00:00:00.000Z")),
            ("deletedId".to_owned(), s("old-id")),
            ("deletedCreatedAt".to_owned(), s("2025-01-01T00:00:00.000Z")),
            ("lastUsedAt".to_owned(), AttributeValue::Null(true)),
            ("version".to_owned(), n(3)),
        ])
    }

    #[test]
    fn a_deleted_item_decodes_with_its_former_id() {
        let item = decode("test", tombstone()).unwrap();
        assert_eq!(item.id, "old-id");
        assert_eq!(item.created_at, "2025-01-01T00:00:00.000Z");
        assert!(!item.is_active);
        // An attribute stored as NULL reads as absent.
        assert_eq!(item.last_used_at, None);
        assert_eq!(item.version, 3);
    }

    #[test]
    fn decoding_drops_the_ciphertext_and_sealed_decoding_requires_it() {
        let mut raw = tombstone();
        assert!(decode_sealed("test", raw.clone()).is_err());
        raw.insert("apiKey".into(), s("akv1.xyz"));
        let sealed = decode_sealed("test", raw.clone()).unwrap();
        assert_eq!(sealed.envelope, "akv1.xyz");
        assert!(decode("test", raw).is_ok());
    }
}
