//! Changes to one of a provider's keys: its label, priority and expiry (one update,
//! where the key is), and making it the primary (a read of the provider's keys, then
//! one transaction that swaps the two keys' places).
//!
//! What belongs to the provider stays on the primary's item whichever key is there:
//! the settings and the count of other keys. Everything else (the key, its id, hint,
//! endpoint, expiry, label, usage, status, marks, use tokens) moves with the key.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use super::schema::{extra_slot, PRIMARY_SLOT, SORT_KEY, TABLE_KEY};
use super::transact::{is_cancelled, send_transaction, transaction_error};
use super::{active, decode, n, number, s, Item, KeyTable, RepoError};
use crate::provider::ProviderId;
use crate::repo::KeyRow;

/// What a change of a key sets; `None` leaves the attribute as it is.
#[derive(Debug, Default, Clone)]
pub struct KeyChanges {
    /// A new label; `Some(None)` removes it.
    pub label: Option<Option<String>>,
    /// A new priority.
    pub priority: Option<u32>,
    /// A new expiry (stored form); `Some(None)`: never again.
    pub expires_at: Option<Option<String>>,
    /// A new monthly token budget; `Some(None)` removes it.
    pub budget: Option<Option<crate::domain::KeyBudget>>,
}

/// The attributes that belong to the provider, not to a key: they stay on the
/// primary's item when keys change places.
const PROVIDER_ATTRIBUTES: &[&str] = &["settings", "keyCount"];

/// What making a key the primary did.
#[derive(Debug)]
pub enum MadePrimary {
    /// The key is the primary now: its item.
    Done(Box<KeyRow>),
    /// It was the primary already.
    Already(Box<KeyRow>),
    /// The provider has no active key of that id.
    NotFound,
    /// One of the two keys changed between the read and the swap: nothing written.
    Changed,
}

impl KeyTable {
    /// Applies `changes` to the key `key_id` of the provider, the primary tried
    /// first; the key as it is now, `None` when the provider has no key of that id.
    pub async fn update_key(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        changes: &KeyChanges,
        now: &str,
    ) -> Result<Option<KeyRow>, RepoError> {
        let mut set = vec!["updatedAt = :now"];
        let mut remove = Vec::new();
        let mut values = Item::from([
            (":now".to_owned(), s(now)),
            (":k".to_owned(), s(key_id)),
            (":t".to_owned(), active()),
            (":one".to_owned(), n(1)),
        ]);
        match &changes.label {
            Some(Some(label)) => {
                set.push("label = :l");
                values.insert(":l".into(), s(label));
            }
            Some(None) => remove.push("label"),
            None => {}
        }
        if let Some(priority) = changes.priority {
            set.push("priority = :p");
            values.insert(":p".into(), n(priority));
        }
        match &changes.expires_at {
            Some(Some(at)) => {
                set.push("keyExpiresAt = :x");
                values.insert(":x".into(), s(at));
            }
            Some(None) => remove.push("keyExpiresAt"),
            None => {}
        }
        match &changes.budget {
            Some(Some(budget)) => {
                set.push("budget = :b");
                values.insert(
                    ":b".into(),
                    AttributeValue::M(Item::from([
                        ("monthlyTokens".to_owned(), n(budget.monthly_tokens)),
                        ("alertAt".to_owned(), n(budget.alert_at)),
                    ])),
                );
            }
            Some(None) => remove.push("budget"),
            None => {}
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        expression.push_str(" ADD version :one");
        let pk = KeyRow::key(user_id, provider);
        for sk in [PRIMARY_SLOT.to_owned(), extra_slot(key_id)] {
            let written = self
                .update("update key", pk.as_str(), &sk, |u| {
                    u.update_expression(expression.clone())
                        .condition_expression("isActive = :t AND id = :k")
                        .set_expression_attribute_values(Some(values.clone()))
                        .return_values(ReturnValue::AllNew)
                })
                .await?;
            if let Some(item) = written.applied() {
                return decode("update key", item).map(Some);
            }
        }
        Ok(None)
    }

    /// Makes the key `key_id` the provider's primary: the two keys change places in
    /// one transaction, conditional on neither having changed since they were read.
    pub async fn make_primary(
        &self,
        user_id: &str,
        provider: ProviderId,
        key_id: &str,
        now: &str,
    ) -> Result<MadePrimary, RepoError> {
        let pk = KeyRow::key(user_id, provider);
        let items = self.partition("make primary", &pk).await?;
        let slot = |item: &Item| match item.get(SORT_KEY) {
            Some(AttributeValue::S(sk)) => sk.clone(),
            _ => String::new(),
        };
        let has_id =
            |item: &Item| matches!(item.get("id"), Some(AttributeValue::S(v)) if v == key_id);
        let Some(primary) = items
            .iter()
            .find(|i| slot(i) == PRIMARY_SLOT && super::is_active(i))
        else {
            return Ok(MadePrimary::NotFound);
        };
        if has_id(primary) {
            return decode("make primary", primary.clone())
                .map(|c| MadePrimary::Already(Box::new(c)));
        }
        let Some(other) = items
            .iter()
            .find(|i| slot(i) == extra_slot(key_id) && has_id(i))
        else {
            return Ok(MadePrimary::NotFound);
        };
        let Some(AttributeValue::S(old_id)) = primary.get("id") else {
            return Err(RepoError::new("make primary", "the primary has no id"));
        };
        let bump = |item: &Item| n(number::<u64>(item, "version").unwrap_or(0) + 1);
        // The new primary: the key, with what belongs to the provider.
        let mut promoted = other.clone();
        promoted.insert(SORT_KEY.into(), s(PRIMARY_SLOT));
        promoted.remove("priority");
        for name in PROVIDER_ATTRIBUTES {
            match primary.get(*name) {
                Some(v) => promoted.insert((*name).to_owned(), v.clone()),
                None => promoted.remove(*name),
            };
        }
        promoted.insert("updatedAt".into(), s(now));
        promoted.remove(super::schema::MIGRATED_VERSION);
        promoted.insert("version".into(), bump(primary));
        // The former primary: its key, in the place the promoted key had.
        let mut demoted = primary.clone();
        demoted.insert(SORT_KEY.into(), s(extra_slot(old_id)));
        for name in PROVIDER_ATTRIBUTES {
            demoted.remove(*name);
        }
        match other.get("priority") {
            Some(p) => demoted.insert("priority".into(), p.clone()),
            None => demoted.insert("priority".into(), n(0)),
        };
        demoted.insert("updatedAt".into(), s(now));
        demoted.remove(super::schema::MIGRATED_VERSION);
        demoted.insert("version".into(), bump(other));
        let unchanged = |item: &Item| {
            item.get("version")
                .cloned()
                .unwrap_or(AttributeValue::Null(true))
        };
        let put_primary = Put::builder()
            .table_name(&self.table)
            .set_item(Some(promoted.clone()))
            .condition_expression("version = :v AND id = :old")
            .expression_attribute_values(":v", unchanged(primary))
            .expression_attribute_values(":old", s(old_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .build()
            .map_err(|e| RepoError::new("make primary", e.to_string()))?;
        let put_demoted = Put::builder()
            .table_name(&self.table)
            .set_item(Some(demoted))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| RepoError::new("make primary", e.to_string()))?;
        let remove_other = Delete::builder()
            .table_name(&self.table)
            .key(TABLE_KEY, s(&pk))
            .key(SORT_KEY, s(extra_slot(key_id)))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", unchanged(other))
            .build()
            .map_err(|e| RepoError::new("make primary", e.to_string()))?;
        let sent = send_transaction(
            self.client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_primary).build())
                .transact_items(TransactWriteItem::builder().put(put_demoted).build())
                .transact_items(TransactWriteItem::builder().delete(remove_other).build()),
        )
        .await;
        match sent {
            Ok(_) => {
                promoted.remove("apiKey");
                decode("make primary", promoted).map(|c| MadePrimary::Done(Box::new(c)))
            }
            // Changed meanwhile: the caller sees the keys as they are and may retry.
            Err(err) if is_cancelled(&err) => Ok(MadePrimary::Changed),
            Err(err) => Err(transaction_error("make primary", err)),
        }
    }
}
