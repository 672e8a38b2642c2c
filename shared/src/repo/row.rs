//! The row: one of a provider's keys as DynamoDB stores it, and the domain's
//! [`ProviderKey`] built from it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::ProviderKey;
use crate::provider::ProviderId;

/// A provider configuration item as stored in DynamoDB, without the ciphertext
/// (`apiKey`), which only the functions that seal or open read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRow {
    /// `{userId}#{provider}`.
    pub pk: String,
    /// Which of the provider's keys: `primary` or `key#{id}` (see
    /// [`super::schema::SORT_KEY`]); items written before there was a sort key
    /// read as the primary.
    #[serde(default = "primary_slot")]
    pub sk: String,
    /// The owner.
    pub user_id: String,
    /// The canonical provider id.
    pub provider: String,
    /// Stable random id, set on first store.
    pub id: String,
    /// Masked form of the key; absent after delete.
    #[serde(default)]
    pub key_hint: Option<String>,
    /// The user's provider settings.
    #[serde(default)]
    pub settings: Map<String, Value>,
    /// The endpoint that belongs to the key, as `keytest::Endpoint::to_json`
    /// writes it (not a secret); absent for providers with a fixed API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Value>,
    /// False after delete.
    pub is_active: bool,
    /// First store.
    pub created_at: String,
    /// Last write.
    pub updated_at: String,
    /// When the current key was stored (drives `rotationDue`).
    #[serde(default)]
    pub key_stored_at: Option<String>,
    /// Last use by the app's services.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// Last key test.
    #[serde(default)]
    pub last_validated_at: Option<String>,
    /// Outcome of the last key test: a `KeyStatus` as text, kept as stored so an
    /// item written by an older or newer version still reads.
    #[serde(default)]
    pub last_validation_status: Option<String>,
    /// Soft delete time.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// Uses by the app's services.
    #[serde(default)]
    pub usage_count: u64,
    /// Incremented on every write.
    #[serde(default)]
    pub version: u64,
    /// Incremented when the key is replaced or tested again: what a lease names, so
    /// that a report about the key as it was marks nothing (absent reads as 0).
    #[serde(default)]
    pub key_revision: u64,
    /// DynamoDB TTL (epoch seconds) of a soft-deleted item.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The user's name for the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A key other than the primary: its place in the use order after the primary
    /// (lower first; absent reads as 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The primary: how many other keys the provider has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_count: Option<u64>,
    /// What a provider last said that makes the key unusable for now:
    /// `rate_limited`, `invalid` or `quota_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    /// Until when (epoch milliseconds); absent: until replaced or tested again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_until: Option<i64>,
    /// When the user's key stops being handed out (`expiresAt` in the API); absent
    /// (or NULL) for a key that never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expires_at: Option<String>,
    /// What proxied calls spent on the key this month (`super::tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month_usage: Option<crate::domain::MonthUsage>,
    /// The key's monthly token budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::domain::KeyBudget>,
}

fn primary_slot() -> String {
    super::schema::PRIMARY_SLOT.to_owned()
}

impl KeyRow {
    /// The item key of a user's configuration for a provider.
    pub fn key(user_id: &str, provider: ProviderId) -> String {
        format!("{user_id}#{}", provider.as_str())
    }

    /// Whether this row holds the provider's primary key.
    pub fn is_primary(&self) -> bool {
        self.sk == super::schema::PRIMARY_SLOT
    }
}

impl From<KeyRow> for ProviderKey {
    fn from(row: KeyRow) -> Self {
        Self {
            primary: row.is_primary(),
            user_id: row.user_id,
            provider: row.provider,
            id: row.id,
            key_hint: row.key_hint,
            settings: row.settings,
            endpoint: row.endpoint,
            is_active: row.is_active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            key_stored_at: row.key_stored_at,
            last_used_at: row.last_used_at,
            last_validated_at: row.last_validated_at,
            last_validation_status: row.last_validation_status,
            usage_count: row.usage_count,
            label: row.label,
            priority: row.priority,
            unavailable_reason: row.unavailable_reason,
            unavailable_until: row.unavailable_until,
            key_expires_at: row.key_expires_at,
            key_revision: row.key_revision,
            month_usage: row.month_usage,
            budget: row.budget,
        }
    }
}
