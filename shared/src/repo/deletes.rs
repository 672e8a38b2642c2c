//! The deletes of a provider's keys: one key other than the primary (with its place
//! in the primary's count, one transaction), the only key by its id, and every key.
//! Each is conditional on what it read, so a key added, moved or swapped between a
//! delete's read and its write is never left behind nor deleted unseen.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValue, Select, TransactWriteItem, Update,
};

use super::schema::{extra_slot, PRIMARY_SLOT, SLOT_ATTRIBUTES, SORT_KEY, TABLE_KEY};
use super::transact::{is_cancelled, send_transaction, transaction_error};
use super::{active, is_active, n, s, Item, KeyRow, KeyTable, RepoError};
use crate::provider::ProviderId;

impl KeyTable {
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
            Err(err) => Err(transaction_error("delete key", err)),
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
                Err(err) => return Err(transaction_error("delete", err)),
            }
        }
        Err(RepoError::unavailable(
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
