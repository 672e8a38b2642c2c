//! The `config` object of the HTTP API.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::item::ConfigItem;

/// The `config` object of the HTTP API: never the key, never the ciphertext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    /// Stable id.
    pub id: String,
    /// Canonical provider id.
    pub provider: String,
    /// False after delete.
    pub is_active: bool,
    /// The user's settings.
    pub settings: Map<String, Value>,
    /// The endpoint that belongs to the key, when the provider takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Value>,
    /// Masked key.
    pub key_hint: Option<String>,
    /// First store.
    pub created_at: String,
    /// Last write.
    pub updated_at: String,
    /// Last use.
    pub last_used_at: Option<String>,
    /// Uses.
    pub usage_count: u64,
    /// Last key test.
    pub last_validated_at: Option<String>,
    /// Outcome of the last key test.
    pub last_validation_status: Option<String>,
    /// The key is older than the rotation period.
    pub rotation_due: bool,
    /// When the key stops being handed out; null: never.
    pub expires_at: Option<String>,
    /// The key has expired: `use-key` never hands it out.
    pub expired: bool,
}

impl ProviderConfig {
    /// The view of a stored item at `now`.
    pub fn from_item(item: ConfigItem, now: OffsetDateTime, rotation_after: Duration) -> Self {
        let rotation_due = item.is_active && item.rotation_due(now, rotation_after);
        let expired = item.is_expired(now);
        Self {
            id: item.id,
            provider: item.provider,
            is_active: item.is_active,
            settings: item.settings,
            endpoint: item.endpoint,
            key_hint: item.key_hint,
            created_at: item.created_at,
            updated_at: item.updated_at,
            last_used_at: item.last_used_at,
            usage_count: item.usage_count,
            last_validated_at: item.last_validated_at,
            last_validation_status: item.last_validation_status,
            rotation_due,
            expires_at: item.key_expires_at,
            expired,
        }
    }
}
