//! Several keys per provider: the primary at `primary` (what the single-key routes
//! read and write), up to [`MAX_KEYS_PER_PROVIDER`] − 1 others at `key#{id}`. The
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
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, Select,
    TransactWriteItem, Update,
};
use serde_json::Value;

use super::schema::{
    extra_slot, BY_USER_INDEX, PRIMARY_SLOT, SLOT_ATTRIBUTES, SORT_KEY, TABLE_KEY,
};
use super::transact::{is_cancelled, send_transaction};
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
                    return Err(RepoError::sdk("add key", err));
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

    /// Deletes a key other than the primary, and its place in the primary's count,
    /// in one transaction. False when the provider has no such key.
    pub async fn delete_key(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
    ) -> Result<bool, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(TABLE_KEY, s(&pk))
            .key(SORT_KEY, s(extra_slot(key_id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| RepoError::new("delete key", e.to_string()))?;
        let count = Update::builder()
            .table_name(&self.table)
            .key(TABLE_KEY, s(&pk))
            .key(SORT_KEY, s(PRIMARY_SLOT))
            .update_expression("ADD keyCount :minus, version :one")
            .condition_expression("keyCount > :zero")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(|e| RepoError::new("delete key", e.to_string()))?;
        let sent = send_transaction(
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(TransactWriteItem::builder().update(count).build()),
        )
        .await;
        match sent {
            Ok(_) => Ok(true),
            Err(err) if is_cancelled(&err) => Ok(false),
            Err(err) => Err(RepoError::sdk("delete key", err)),
        }
    }

    /// Soft-deletes an active configuration: the ciphertext, hint and history are
    /// removed, `deletedAt` and the purge time `expiresAt` set; nothing is returned.
    /// The provider's other keys go with it. False when none was active.
    ///
    /// One round trip when the provider has one key (the update's condition says
    /// so: the count changes only in a transaction with the key it counts).
    /// Otherwise the provider's keys are read, then deleted in one transaction with
    /// the soft delete, conditional on what was read: the primary's version (which
    /// every add, delete and swap of a key changes) and each other key's. A key
    /// added or moved between the read and the write cancels it, and the delete
    /// starts again from a fresh read.
    pub async fn delete(
        &self,
        user_id: &str,
        provider: ProviderId,
        now: &str,
        expires_at: i64,
    ) -> Result<bool, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let values = Item::from([
            (":f".to_owned(), AttributeValue::Bool(false)),
            (":t".to_owned(), active()),
            (":now".to_owned(), s(now)),
            (":exp".to_owned(), n(expires_at)),
            (":one".to_owned(), n(1)),
        ]);
        let alone = self
            .update("delete", pk.as_str(), PRIMARY_SLOT, |u| {
                u.set_expression_attribute_values(Some(values.clone()))
                    .update_expression(super::configs::delete_expression())
                    .expression_attribute_names(
                        super::configs::ENDPOINT_NAME.0,
                        super::configs::ENDPOINT_NAME.1,
                    )
                    .condition_expression(
                        "isActive = :t AND (attribute_not_exists(keyCount) OR keyCount = :zero)",
                    )
                    .expression_attribute_values(":zero", n(0))
                    .return_values(ReturnValue::None)
            })
            .await?;
        if alone.applied().is_some() {
            return Ok(true);
        }
        for _ in 0..DELETE_ATTEMPTS {
            let slots = self.slots(&pk).await?;
            let Some(primary) = slots.iter().find(|k| k.sk == PRIMARY_SLOT && k.active) else {
                return Ok(false);
            };
            let mut soft_values = values.clone();
            soft_values.insert(":v".to_owned(), n(primary.version));
            if slots.iter().all(|k| k.sk == PRIMARY_SLOT) {
                // Alone after all (a store made it between the first write and the
                // read): one conditional update, no transaction.
                let alone = self
                    .update("delete", pk.as_str(), PRIMARY_SLOT, |u| {
                        u.set_expression_attribute_values(Some(soft_values.clone()))
                            .update_expression(super::configs::delete_expression())
                            .expression_attribute_names(
                                super::configs::ENDPOINT_NAME.0,
                                super::configs::ENDPOINT_NAME.1,
                            )
                            .condition_expression("isActive = :t AND version = :v")
                            .return_values(ReturnValue::None)
                    })
                    .await?;
                if alone.applied().is_some() {
                    return Ok(true);
                }
                continue;
            }
            let soft = Update::builder()
                .table_name(&self.table)
                .key(TABLE_KEY, s(&pk))
                .key(SORT_KEY, s(PRIMARY_SLOT))
                .update_expression(super::configs::delete_expression())
                .expression_attribute_names(
                    super::configs::ENDPOINT_NAME.0,
                    super::configs::ENDPOINT_NAME.1,
                )
                .condition_expression("isActive = :t AND version = :v")
                .set_expression_attribute_values(Some(soft_values))
                .build()
                .map_err(|e| RepoError::new("delete", e.to_string()))?;
            let mut request = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(soft).build());
            for other in slots.iter().filter(|k| k.sk != PRIMARY_SLOT) {
                let gone = Delete::builder()
                    .table_name(&self.table)
                    .key(TABLE_KEY, s(&pk))
                    .key(SORT_KEY, s(&other.sk))
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(other.version))
                    .build()
                    .map_err(|e| RepoError::new("delete", e.to_string()))?;
                request = request.transact_items(TransactWriteItem::builder().delete(gone).build());
            }
            match send_transaction(request).await {
                Ok(_) => return Ok(true),
                // Something changed since the read: read again.
                Err(err) if is_cancelled(&err) => continue,
                Err(err) => return Err(RepoError::sdk("delete", err)),
            }
        }
        Err(RepoError::new(
            "delete",
            "the provider's keys changed under every attempt",
        ))
    }

    /// Deletes the primary key `key_id` when it is the provider's only key: the
    /// configuration goes with it (one conditional update). A key added meanwhile
    /// makes it [`PrimaryDelete::HasOthers`], never a second deleted key.
    pub async fn delete_only_key(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        now: &str,
        expires_at: i64,
    ) -> Result<PrimaryDelete, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let written = self
            .update("delete", pk.as_str(), PRIMARY_SLOT, |u| {
                u.update_expression(super::configs::delete_expression())
                    .expression_attribute_names(
                        super::configs::ENDPOINT_NAME.0,
                        super::configs::ENDPOINT_NAME.1,
                    )
                    .condition_expression(
                        "isActive = :t AND id = :k AND \
                         (attribute_not_exists(keyCount) OR keyCount = :zero)",
                    )
                    .expression_attribute_values(":f", AttributeValue::Bool(false))
                    .expression_attribute_values(":t", active())
                    .expression_attribute_values(":k", s(key_id))
                    .expression_attribute_values(":now", s(now))
                    .expression_attribute_values(":exp", n(expires_at))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":zero", n(0))
                    .return_values(ReturnValue::None)
            })
            .await?;
        if written.applied().is_some() {
            return Ok(PrimaryDelete::Deleted);
        }
        let slots = self.slots(&pk).await?;
        Ok(match slots.iter().find(|k| k.active && k.id == key_id) {
            Some(k) if k.sk == PRIMARY_SLOT => PrimaryDelete::HasOthers,
            Some(_) => PrimaryDelete::Moved,
            None => PrimaryDelete::NotFound,
        })
    }

    /// Where the provider's keys are (a strongly consistent Query of the keys and
    /// versions alone, never the ciphertext).
    pub(crate) async fn slots(&self, pk: &str) -> Result<Vec<Slot>, RepoError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            // What delete-config's IAM policy requires (`dynamodb:Select`).
            .select(Select::SpecificAttributes)
            .projection_expression(SLOT_ATTRIBUTES.join(", "))
            .expression_attribute_values(":pk", s(pk))
            .send()
            .await
            .map_err(|e| RepoError::sdk("list keys", e))?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| {
                let text = |name: &str| match i.get(name) {
                    Some(AttributeValue::S(v)) => Some(v.clone()),
                    _ => None,
                };
                Some(Slot {
                    sk: text(SORT_KEY)?,
                    id: text("id").unwrap_or_default(),
                    active: is_active(&i),
                    version: super::number(&i, "version").unwrap_or(0),
                })
            })
            .collect())
    }
}

/// One of a provider's items, as a delete reads it.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    sk: String,
    id: String,
    active: bool,
    version: u64,
}

/// What deleting a primary key by its id did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryDelete {
    /// It was the only key: the configuration is deleted.
    Deleted,
    /// It is the primary, and the provider has other keys.
    HasOthers,
    /// It is one of the other keys now (made another key primary meanwhile).
    Moved,
    /// The provider has no active key of that id.
    NotFound,
}

/// Reads and transactions a delete of every key makes before giving up on keys
/// that change under it.
const DELETE_ATTEMPTS: usize = 5;
