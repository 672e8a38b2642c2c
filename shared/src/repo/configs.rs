//! A user's configurations: store, list, update the settings (the delete, which
//! takes the provider's other keys with it, is in `keys`).
//!
//! A delete forgets the configuration's history (id, creation time, usage, last
//! use and test, settings) and keeps the former id and creation time under other
//! names. The store keeps those with `if_not_exists`, so on a deleted item they
//! start afresh: a store after a delete creates a new configuration in the same
//! single upsert that replaces an active one.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, Select};
use serde_json::{Map, Value};

use super::schema::{
    BY_USER_HASH_KEY, BY_USER_INDEX, BY_USER_RANGE_KEY, MIGRATED_VERSION, PRIMARY_SLOT, SORT_KEY,
    TABLE_KEY,
};
use super::{
    active, decode, is_active, n, number, s, settings_value, Item, KeyTable, RepoError, Written,
};
use crate::domain::ProviderKey;
use crate::provider::ProviderId;
use crate::repo::KeyRow;

/// What a store writes besides the item key.
pub struct StoreWrite<'a> {
    /// The owner.
    pub user_id: &'a str,
    /// The provider.
    pub provider: ProviderId,
    /// The `akv1` envelope.
    pub envelope: &'a str,
    /// The masked key; `None` when no key was given (a provider whose key is optional).
    pub key_hint: Option<&'a str>,
    /// The endpoint that belongs to the key (`Endpoint::to_json`); `None` removes
    /// a stored one.
    pub endpoint: Option<&'a Value>,
    /// When the key expires (stored form); `None`: never.
    pub key_expires_at: Option<&'a str>,
    /// The settings; `None` stores an empty object (a store replaces them).
    pub settings: Option<&'a Map<String, Value>>,
    /// A key test made before storing: (time, status).
    pub validation: Option<(&'a str, &'a str)>,
    /// The write time.
    pub now: &'a str,
    /// The id a new configuration gets.
    pub new_id: &'a str,
    /// The user's name for the key; `None` leaves a stored one as it is.
    pub label: Option<&'a str>,
}

/// What a store did.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The item as it is now.
    pub item: KeyRow,
    /// True when no active configuration existed before (none, or a deleted one).
    pub created: bool,
}

/// `#ep` in the expressions below: an alias, so the attribute name can never
/// collide with one of DynamoDB's reserved words.
pub(super) const ENDPOINT_NAME: (&str, &str) = ("#ep", "endpoint");

/// What a delete removes: the ciphertext and everything a new configuration must
/// not inherit.
const FORGET: &str = "apiKey, keyHint, #ep, keyExpiresAt, id, createdAt, settings, usageCount, \
     lastUsedAt, lastValidatedAt, lastValidationStatus, keyStoredAt, label, keyCount, \
     unavailableReason, unavailableUntil, budget, monthUsage, budgetAlertMonth";

/// Where a delete keeps the former id and creation time (see [`super::schema::TOMBSTONE_ATTRIBUTES`]).
const KEEP_FORMER: &str = "deletedId = id, deletedCreatedAt = createdAt";

/// The soft delete of an active configuration.
pub(super) fn delete_expression() -> String {
    format!(
        "SET isActive = :f, deletedAt = :now, updatedAt = :now, expiresAt = :exp, {KEEP_FORMER} \
         REMOVE {FORGET} ADD version :one"
    )
}

/// The settings update. Every attribute the `config` answer needs is written (most
/// with its own value), because `UPDATED_NEW` returns the written attributes and
/// nothing else: the answer is complete and can never hold the ciphertext. Optional
/// attributes that are absent are written as NULL, which reads as absent.
const UPDATE_SETTINGS: &str = "SET settings = :s, updatedAt = :now, id = id, \
     keyHint = if_not_exists(keyHint, :null), #ep = if_not_exists(#ep, :null), \
     keyExpiresAt = if_not_exists(keyExpiresAt, :null), \
     createdAt = createdAt, keyStoredAt = if_not_exists(keyStoredAt, :null), \
     lastUsedAt = if_not_exists(lastUsedAt, :null), \
     lastValidatedAt = if_not_exists(lastValidatedAt, :null), \
     lastValidationStatus = if_not_exists(lastValidationStatus, :null) \
     ADD version :one, usageCount :zero";

/// Upserts a store makes before giving up on an item that changes under it.
const STORE_ATTEMPTS: usize = 3;

/// What a store may write over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upsert {
    /// An active configuration too: its key is replaced (the store route).
    Replace,
    /// Only where no configuration is active (a provider's first key, added).
    CreateOnly,
}

impl KeyTable {
    /// Creates or replaces a user's key for a provider in one upsert (answering
    /// `ALL_OLD`). Replacing an active configuration keeps its id, creation time,
    /// usage and last use; on no item or a deleted one a new configuration starts.
    /// The settings become what the write holds. `version` counts every write.
    ///
    /// A deleted item written before deletes forgot their history (or imported as
    /// inactive) is first brought to that shape, which costs one more round trip
    /// once per such item.
    pub async fn store(&self, w: StoreWrite<'_>) -> Result<Stored, RepoError> {
        match self.write_primary(&w, Upsert::Replace).await? {
            Some(stored) => Ok(stored),
            None => Err(RepoError::unavailable(
                "store",
                "the item changed under every attempt",
            )),
        }
    }

    /// Makes a provider's first key, as [`Self::store`] does, but only where no
    /// active configuration is: `None` when one is (another first key won the race;
    /// the caller adds beside it instead of replacing it).
    pub async fn create(&self, w: StoreWrite<'_>) -> Result<Option<Stored>, RepoError> {
        self.write_primary(&w, Upsert::CreateOnly).await
    }

    async fn write_primary(
        &self,
        w: &StoreWrite<'_>,
        mode: Upsert,
    ) -> Result<Option<Stored>, RepoError> {
        let pk = KeyRow::key(w.user_id, w.provider);
        for _ in 0..STORE_ATTEMPTS {
            match self.upsert(&pk, w, mode).await? {
                Written::Applied(old) => {
                    return stored(w, pk, Some(old).filter(|a| !a.is_empty())).map(Some);
                }
                Written::Refused(_) => {
                    // Refused: a deleted item that still holds its history (bring it
                    // to the shape a delete leaves, then write again), or, for a
                    // create, an active configuration.
                    if !self.forget_history(&pk).await? && mode == Upsert::CreateOnly {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(None)
    }

    async fn upsert(
        &self,
        pk: &str,
        w: &StoreWrite<'_>,
        mode: Upsert,
    ) -> Result<Written, RepoError> {
        let mut set = vec![
            "userId = :u",
            "provider = :p",
            "apiKey = :k",
            "isActive = :t",
            "updatedAt = :now",
            "keyStoredAt = :now",
            "settings = :s",
            "createdAt = if_not_exists(createdAt, :now)",
            "id = if_not_exists(id, :id)",
            "usageCount = if_not_exists(usageCount, :zero)",
        ];
        // A new or replaced key starts usable: no mark from what a provider said of the
        // one before.
        // A key written by the functions is no longer a migration's copy.
        let mut remove = vec![
            MIGRATED_VERSION,
            "deletedAt",
            "expiresAt",
            "deletedId",
            "deletedCreatedAt",
            "unavailableReason",
            "unavailableUntil",
        ];
        let settings = match w.settings {
            Some(settings) => settings_value(settings)?,
            None => AttributeValue::M(Default::default()),
        };
        let mut values = Item::from([
            (":u".to_owned(), s(w.user_id)),
            (":p".to_owned(), s(w.provider.as_str())),
            (":k".to_owned(), s(w.envelope)),
            (":t".to_owned(), active()),
            (":now".to_owned(), s(w.now)),
            (":s".to_owned(), settings),
            (":id".to_owned(), s(w.new_id)),
            (":zero".to_owned(), n(0)),
            (":one".to_owned(), n(1)),
        ]);
        match w.key_hint {
            Some(hint) => {
                set.push("keyHint = :h");
                values.insert(":h".into(), s(hint));
            }
            None => remove.push("keyHint"),
        }
        match w.endpoint {
            Some(endpoint) => {
                set.push("#ep = :e");
                values.insert(
                    ":e".into(),
                    serde_dynamo::to_attribute_value(endpoint)
                        .map_err(|e| RepoError::new("encode endpoint", e.to_string()))?,
                );
            }
            None => remove.push("#ep"),
        }
        if let Some(label) = w.label {
            set.push("label = :l");
            values.insert(":l".into(), s(label));
        }
        match w.key_expires_at {
            Some(at) => {
                set.push("keyExpiresAt = :x");
                values.insert(":x".into(), s(at));
            }
            None => remove.push("keyExpiresAt"),
        }
        // A new key has no test result yet unless one was made just now.
        match w.validation {
            Some((at, status)) => {
                set.extend(["lastValidatedAt = :vat", "lastValidationStatus = :vs"]);
                values.insert(":vat".into(), s(at));
                values.insert(":vs".into(), s(status));
            }
            None => remove.extend(["lastValidatedAt", "lastValidationStatus"]),
        }
        // A new or replaced key is a new revision: leases of the one before are stale.
        let expression = format!(
            "SET {} REMOVE {} ADD version :one, keyRevision :one",
            set.join(", "),
            remove.join(", ")
        );
        let condition = match mode {
            // Absent, active, or deleted with its history forgotten.
            Upsert::Replace => "attribute_not_exists(id) OR isActive = :t",
            // Absent, or deleted with its history forgotten.
            Upsert::CreateOnly => "attribute_not_exists(id)",
        };
        self.update("store", pk, PRIMARY_SLOT, |u| {
            u.update_expression(expression)
                .expression_attribute_names(ENDPOINT_NAME.0, ENDPOINT_NAME.1)
                .condition_expression(condition)
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllOld)
        })
        .await
    }

    /// Brings a deleted item that still holds its history to the shape a delete
    /// leaves. Refused (false) when the item is active or has that shape already.
    async fn forget_history(&self, pk: &str) -> Result<bool, RepoError> {
        let written = self
            .update("store", pk, PRIMARY_SLOT, |u| {
                u.update_expression(format!(
                    "SET {KEEP_FORMER} REMOVE {FORGET} ADD version :one"
                ))
                .expression_attribute_names(ENDPOINT_NAME.0, ENDPOINT_NAME.1)
                .condition_expression("isActive = :f AND attribute_exists(id)")
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .expression_attribute_values(":one", n(1))
            })
            .await?;
        Ok(written.applied().is_some())
    }

    /// A user's active configurations, by provider, from the `byUser` index
    /// (which holds no ciphertext).
    pub async fn list(&self, user_id: &str) -> Result<Vec<ProviderKey>, RepoError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_USER_INDEX)
                // What get-configs' IAM policy requires (`dynamodb:Select`).
                .select(Select::AllProjectedAttributes)
                .key_condition_expression("userId = :u")
                .filter_expression("isActive = :t")
                .expression_attribute_values(":u", s(user_id))
                .expression_attribute_values(":t", active())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RepoError::sdk("list", e))?;
            for item in out.items.unwrap_or_default() {
                items.push(decode("list", item)?.into());
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Replaces the settings of an active configuration; `None` when there is none.
    /// One conditional update answering `UPDATED_NEW`, so the answer holds what the
    /// update wrote and never the ciphertext.
    pub async fn update_settings(
        &self,
        user_id: &str,
        provider: ProviderId,
        settings: &Map<String, Value>,
        now: &str,
    ) -> Result<Option<KeyRow>, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let settings = settings_value(settings)?;
        let written = self
            .update("update settings", pk.as_str(), PRIMARY_SLOT, |u| {
                u.update_expression(UPDATE_SETTINGS)
                    .expression_attribute_names(ENDPOINT_NAME.0, ENDPOINT_NAME.1)
                    .condition_expression("isActive = :t")
                    .expression_attribute_values(":s", settings)
                    .expression_attribute_values(":now", s(now))
                    .expression_attribute_values(":null", AttributeValue::Null(true))
                    .expression_attribute_values(":t", active())
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":zero", n(0))
                    .return_values(ReturnValue::UpdatedNew)
            })
            .await?;
        let Some(mut item) = written.applied() else {
            return Ok(None);
        };
        // The keys and the condition are what the request already knows.
        item.insert(TABLE_KEY.into(), s(pk));
        item.insert(SORT_KEY.into(), s(PRIMARY_SLOT));
        item.insert(BY_USER_HASH_KEY.into(), s(user_id));
        item.insert(BY_USER_RANGE_KEY.into(), s(provider.as_str()));
        item.insert("isActive".into(), active());
        decode("update settings", item).map(Some)
    }
}

/// The item a store wrote, from what it held before (`ALL_OLD`).
fn stored(w: &StoreWrite<'_>, pk: String, old: Option<Item>) -> Result<Stored, RepoError> {
    let next = |name: &str| {
        old.as_ref()
            .and_then(|o| number::<u64>(o, name))
            .unwrap_or(0)
            + 1
    };
    let (version, key_revision) = (next("version"), next("keyRevision"));
    let kept = match old {
        Some(o) if is_active(&o) => Some(decode("store", o)?),
        _ => None,
    };
    let created = kept.is_none();
    let (id, created_at, usage_count, last_used_at, key_count, label) = match kept {
        Some(o) => (
            o.id,
            o.created_at,
            o.usage_count,
            o.last_used_at,
            o.key_count,
            o.label,
        ),
        None => (w.new_id.to_owned(), w.now.to_owned(), 0, None, None, None),
    };
    let item = KeyRow {
        pk,
        sk: PRIMARY_SLOT.to_owned(),
        user_id: w.user_id.to_owned(),
        provider: w.provider.as_str().to_owned(),
        id,
        key_hint: w.key_hint.map(str::to_owned),
        settings: w.settings.cloned().unwrap_or_default(),
        endpoint: w.endpoint.cloned(),
        key_expires_at: w.key_expires_at.map(str::to_owned),
        label: w.label.map(str::to_owned).or(label),
        priority: None,
        key_count,
        unavailable_reason: None,
        unavailable_until: None,
        is_active: true,
        created_at,
        updated_at: w.now.to_owned(),
        key_stored_at: Some(w.now.to_owned()),
        last_used_at,
        last_validated_at: w.validation.map(|(at, _)| at.to_owned()),
        last_validation_status: w.validation.map(|(_, st)| st.to_owned()),
        deleted_at: None,
        usage_count,
        version,
        key_revision,
        expires_at: None,
        // A store leaves the month's spending as it is; the answer does not read it.
        month_usage: None,
        budget: None,
    };
    Ok(Stored { item, created })
}

#[cfg(test)]
mod tests;
