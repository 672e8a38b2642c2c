//! The `config` object of the HTTP API.

use serde::{Deserialize, Serialize};

use super::key::{KeyBudget, MonthUsage};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::key::ProviderKey;

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
    /// Every key of the provider, the primary first, then in use order (`GET
    /// /api/provider-configs` fills it; a single-key answer leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeySummary>>,
}

/// One key of a configuration's `keys`: enough to show and pick it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySummary {
    /// The key's id.
    pub id: String,
    /// The primary key.
    pub primary: bool,
    /// The user's name for it.
    pub label: Option<String>,
    /// Masked key.
    pub key_hint: Option<String>,
    /// Expired.
    pub expired: bool,
    /// Why `use-key` skips it for now; null when usable.
    pub unavailable: Option<String>,
    /// What calls through the proxy spent on it this month; null when none.
    pub month_usage: Option<MonthUsage>,
}

impl From<&KeyView> for KeySummary {
    fn from(k: &KeyView) -> Self {
        Self {
            id: k.id.clone(),
            primary: k.primary,
            label: k.label.clone(),
            key_hint: k.key_hint.clone(),
            expired: k.expired,
            unavailable: k.unavailable.clone(),
            month_usage: k.month_usage.clone(),
        }
    }
}

impl ProviderConfig {
    /// The view of a stored item at `now`.
    pub fn from_key(item: ProviderKey, now: OffsetDateTime, rotation_after: Duration) -> Self {
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
            keys: None,
        }
    }
}

/// One of a provider's keys in the HTTP API (`GET|POST .../{provider}/keys`, and
/// the `keys` of a configuration): never the key, never the ciphertext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// The key's id (`keyId` in use-key and the key routes).
    pub id: String,
    /// Canonical provider id.
    pub provider: String,
    /// The key the single-key routes and the app's default use read first.
    pub primary: bool,
    /// The user's name for the key.
    pub label: Option<String>,
    /// Place in the use order after the primary (lower first).
    pub priority: u32,
    /// Masked key.
    pub key_hint: Option<String>,
    /// The endpoint that belongs to the key, when the provider takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Value>,
    /// When the key was stored.
    pub created_at: String,
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
    /// Why `use-key` skips the key for now (`rate_limited`, `invalid`,
    /// `quota_exceeded`); null when it is usable.
    pub unavailable: Option<String>,
    /// Until when a `rate_limited` key is skipped (RFC 3339); null otherwise.
    pub available_at: Option<String>,
    /// What calls through the proxy spent on the key this calendar month (UTC);
    /// null when none was made this month.
    pub month_usage: Option<MonthUsage>,
    /// The key's monthly token budget; null when it has none.
    pub budget: Option<KeyBudget>,
}

impl KeyView {
    /// The view of a stored key at `now`.
    pub fn from_key(item: ProviderKey, now: OffsetDateTime, rotation_after: Duration) -> Self {
        let rotation_due = item.rotation_due(now, rotation_after);
        let expired = item.is_expired(now);
        let mark = item
            .mark(now)
            .map(|(reason, until)| (reason.to_owned(), until));
        let available_at = mark.as_ref().and_then(|(_, until)| {
            until.and_then(|ms| {
                OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
                    .ok()
                    .map(super::timestamp)
            })
        });
        Self {
            primary: item.primary,
            id: item.id,
            provider: item.provider,
            label: item.label,
            priority: item.priority.unwrap_or(0),
            key_hint: item.key_hint,
            endpoint: item.endpoint,
            created_at: item.key_stored_at.unwrap_or(item.created_at),
            last_used_at: item.last_used_at,
            usage_count: item.usage_count,
            last_validated_at: item.last_validated_at,
            last_validation_status: item.last_validation_status,
            rotation_due,
            expires_at: item.key_expires_at,
            expired,
            unavailable: mark.map(|(reason, _)| reason),
            available_at,
            month_usage: item
                .month_usage
                .filter(|u| u.month == super::key::month_of(now)),
            budget: item.budget,
        }
    }
}
