//! Several keys per provider, added and listed (their deletes are in `deletes`): the
//! primary at `primary` (what the single-key routes read and write), up to
//! [`MAX_KEYS_PER_PROVIDER`] − 1 others at `key#{id}`. The
//! primary counts the others in `keyCount`, and every change of that count is one
//! transaction with the write of the key, so the limit holds under concurrent adds
//! and the count never drifts.
//!
//! A transaction is one round trip (TransactWriteItems,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html>):
//! a cancelled one reports, per action, `ConditionalCheckFailed` or `None`, with the
//! item when `ReturnValuesOnConditionCheckFailure` asked for it.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, Select, TransactWriteItem, Update,
};
use serde_json::Value;

use super::schema::{extra_slot, BY_USER_INDEX, PRIMARY_SLOT, SORT_KEY, TABLE_KEY};
use super::transact::{send_transaction, transaction_error};
use super::KeyRow;
use super::{active, decode, is_active, n, s, Item, KeyTable, RepoError};
use crate::domain::{sort_keys, ProviderKey};
use crate::provider::ProviderId;

/// The most keys a user keeps for one provider, the primary included.
pub const MAX_KEYS_PER_PROVIDER: u64 = 5;

/// A key added beside the primary.
pub struct KeyWrite<'a> {
    /// The owner.
    pub user_id: &'a str,
    /// The provider.
    pub provider: ProviderId,
    /// The `akv1` envelope.
    pub envelope: &'a str,
    /// The masked key.
    pub key_hint: Option<&'a str>,
    /// The endpoint that belongs to the key.
    pub endpoint: Option<&'a Value>,
    /// When the key expires (stored form); `None`: never.
    pub key_expires_at: Option<&'a str>,
    /// The user's name for the key.
    pub label: Option<&'a str>,
    /// Its place in the use order after the primary (lower first).
    pub priority: u32,
    /// A key test made before storing: (time, status).
    pub validation: Option<(&'a str, &'a str)>,
    /// The write time.
    pub now: &'a str,
    /// The key's id.
    pub new_id: &'a str,
}

/// What adding a key did.
#[derive(Debug)]
pub enum Added {
    /// Stored beside the primary.
    Added(Box<KeyRow>),
    /// The provider has no active primary: the key is to be its primary (a store).
    NoPrimary,
    /// The provider holds [`MAX_KEYS_PER_PROVIDER`] keys already.
    Full,
}

/// Whether a cancelled transaction failed on the condition of its first action
/// (always the primary's), and the primary as it was when the backend sent it.
fn first_condition_failed(err: &TransactWriteItemsError) -> Option<Option<Item>> {
    let TransactWriteItemsError::TransactionCanceledException(e) = err else {
        return None;
    };
    let first = e.cancellation_reasons().first()?;
    (first.code() == Some("ConditionalCheckFailed")).then(|| first.item().cloned())
}

impl KeyTable {
    /// Stores a key beside the provider's primary in one transaction: the new item
    /// (never over an existing one) and the primary's count, which must be active and
    /// below the limit.
    pub async fn add_key(&self, w: &KeyWrite<'_>) -> Result<Added, RepoError> {
        let pk = KeyRow::key(w.user_id, w.provider);
        let mut item = Item::from([
            (TABLE_KEY.to_owned(), s(&pk)),
            (SORT_KEY.to_owned(), s(extra_slot(w.new_id))),
            ("userId".to_owned(), s(w.user_id)),
            ("provider".to_owned(), s(w.provider.as_str())),
            ("id".to_owned(), s(w.new_id)),
            ("apiKey".to_owned(), s(w.envelope)),
            ("isActive".to_owned(), active()),
            ("createdAt".to_owned(), s(w.now)),
            ("updatedAt".to_owned(), s(w.now)),
            ("keyStoredAt".to_owned(), s(w.now)),
            ("priority".to_owned(), n(w.priority)),
            ("usageCount".to_owned(), n(0)),
            ("version".to_owned(), n(1)),
            ("keyRevision".to_owned(), n(1)),
        ]);
        let optional = [
            ("keyHint", w.key_hint.map(s)),
            ("keyExpiresAt", w.key_expires_at.map(s)),
            ("label", w.label.map(s)),
            ("lastValidatedAt", w.validation.map(|(at, _)| s(at))),
            ("lastValidationStatus", w.validation.map(|(_, st)| s(st))),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                item.insert(name.to_owned(), value);
            }
        }
        if let Some(endpoint) = w.endpoint {
            item.insert(
                "endpoint".to_owned(),
                serde_dynamo::to_attribute_value(endpoint)
                    .map_err(|e| RepoError::new("encode endpoint", e.to_string()))?,
            );
        }
        self.insert_beside_primary(&pk, item, w.new_id).await
    }

    /// Writes a whole key item (an import's second row of a user's provider) beside
    /// the primary, as [`Self::add_key`] does: never over an existing item, with the
    /// primary's count in the same transaction.
    #[cfg(feature = "operator")]
    pub async fn put_new_key(&self, item: &KeyRow, envelope: &str) -> Result<Added, RepoError> {
        let mut attrs = super::row_of(item)?;
        attrs.insert(super::schema::CIPHERTEXT_ATTRIBUTE.into(), s(envelope));
        self.insert_beside_primary(&item.pk, attrs, &item.id).await
    }

    /// The transaction of a new key beside the primary: the primary's count (active,
    /// below the limit), the item where none is. `token` makes a resent transaction
    /// the same one.
    async fn insert_beside_primary(
        &self,
        pk: &str,
        mut item: Item,
        token: &str,
    ) -> Result<Added, RepoError> {
        let count = Update::builder()
            .table_name(&self.table)
            .key(TABLE_KEY, s(pk))
            .key(SORT_KEY, s(PRIMARY_SLOT))
            // The count and the version: a delete of every key reads the version and
            // is refused when a key was added since.
            .update_expression("ADD keyCount :one, version :one")
            .condition_expression(
                "isActive = :t AND (attribute_not_exists(keyCount) OR keyCount < :most)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":t", active())
            .expression_attribute_values(":most", n(MAX_KEYS_PER_PROVIDER - 1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| RepoError::new("add key", e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| RepoError::new("add key", e.to_string()))?;
        let sent = send_transaction(
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(count).build())
                .transact_items(TransactWriteItem::builder().put(put).build())
                // Idempotent for ten minutes: a resent add is not a second key.
                .client_request_token(token),
        )
        .await;
        match sent {
            Ok(_) => {
                item.remove("apiKey");
                Ok(Added::Added(Box::new(decode("add key", item)?)))
            }
            Err(err) => {
                let Some(primary) = err.as_service_error().and_then(first_condition_failed) else {
                    return Err(transaction_error("add key", err));
                };
                let primary = match primary {
                    Some(p) => Some(p),
                    None => self.read_item("add key", pk, PRIMARY_SLOT).await?,
                };
                Ok(match primary {
                    Some(p) if is_active(&p) => Added::Full,
                    _ => Added::NoPrimary,
                })
            }
        }
    }

    /// The active keys of a user's provider, from the `byUser` index (no
    /// ciphertext): the primary first, then the others in use order.
    pub async fn provider_keys(
        &self,
        user_id: &str,
        provider: ProviderId,
    ) -> Result<Vec<ProviderKey>, RepoError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_USER_INDEX)
            .select(Select::AllProjectedAttributes)
            .key_condition_expression("userId = :u AND provider = :p")
            .filter_expression("isActive = :t")
            .expression_attribute_values(":u", s(user_id))
            .expression_attribute_values(":p", s(provider.as_str()))
            .expression_attribute_values(":t", active())
            .send()
            .await
            .map_err(|e| RepoError::sdk("list keys", e))?;
        let mut keys = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| decode("list keys", item).map(ProviderKey::from))
            .collect::<Result<Vec<_>, _>>()?;
        sort_keys(&mut keys);
        Ok(keys)
    }
}
