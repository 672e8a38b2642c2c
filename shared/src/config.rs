//! Provider configurations: the validated inputs, the stored item and the view
//! returned to clients.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::provider::ProviderId;

/// Shortest API key accepted, after trimming.
pub const API_KEY_MIN_CHARS: usize = 10;
/// Longest API key accepted, after trimming.
pub const API_KEY_MAX_CHARS: usize = 500;
/// Largest settings object, serialized.
pub const SETTINGS_MAX_BYTES: usize = 4 * 1024;
/// Deepest nesting of the settings object (the object itself is depth 1).
pub const SETTINGS_MAX_DEPTH: usize = 8;

/// A provider API key as the user pasted it, trimmed and checked. Never printed.
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Trims pasted whitespace and checks length and characters. The reason for a
    /// refusal never quotes the key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let key = raw.trim();
        let chars = key.chars().count();
        if chars < API_KEY_MIN_CHARS {
            return Err(format!(
                "must be at least {API_KEY_MIN_CHARS} characters after trimming"
            ));
        }
        if chars > API_KEY_MAX_CHARS {
            return Err(format!("must be at most {API_KEY_MAX_CHARS} characters"));
        }
        if key.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(SecretString::from(key.to_owned())))
    }

    /// The key, for sealing or for the provider's check call.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    /// The masked form shown to people: the provider's public key prefix (when the
    /// key is long enough to keep a secret part), `…`, and the last four characters.
    pub fn hint(&self, provider: ProviderId) -> KeyHint {
        KeyHint::of(self.0.expose_secret(), provider)
    }
}

impl From<SecretString> for ApiKey {
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

/// The masked form of a key: prefix + `…` + last four characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHint(String);

impl KeyHint {
    fn of(key: &str, provider: ProviderId) -> Self {
        let chars: Vec<char> = key.chars().collect();
        let last4: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        // Show the prefix only when at least eight characters stay hidden.
        let prefix = provider
            .key_prefixes()
            .iter()
            .find(|p| key.starts_with(**p) && chars.len() >= p.chars().count() + 4 + 8)
            .copied()
            .unwrap_or("");
        Self(format!("{prefix}…{last4}"))
    }

    /// The hint text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's settings for a provider: a JSON object of bounded size and depth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Settings(Map<String, Value>);

impl Settings {
    /// Checks that `value` is an object within [`SETTINGS_MAX_BYTES`] and
    /// [`SETTINGS_MAX_DEPTH`].
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("must be a JSON object".into());
        };
        let depth = depth_of(&Value::Object(map.clone()));
        if depth > SETTINGS_MAX_DEPTH {
            return Err(format!(
                "must be nested at most {SETTINGS_MAX_DEPTH} levels deep"
            ));
        }
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > SETTINGS_MAX_BYTES {
            return Err(format!(
                "must be at most {SETTINGS_MAX_BYTES} bytes serialized"
            ));
        }
        Ok(Self(map))
    }

    /// The settings object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

fn depth_of(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

/// The outcome of the last key test, as stored and returned.
pub type ValidationStatus = String;

/// A provider configuration item as stored in DynamoDB, without the ciphertext
/// (`apiKey`), which only the functions that seal or open read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigItem {
    /// `{userId}#{provider}`.
    pub pk: String,
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
    /// Outcome of the last key test.
    #[serde(default)]
    pub last_validation_status: Option<ValidationStatus>,
    /// Soft delete time.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// Uses by the app's services.
    #[serde(default)]
    pub usage_count: u64,
    /// Incremented on every write.
    #[serde(default)]
    pub version: u64,
    /// DynamoDB TTL (epoch seconds) of a soft-deleted item.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl ConfigItem {
    /// The item key of a user's configuration for a provider.
    pub fn key(user_id: &str, provider: ProviderId) -> String {
        format!("{user_id}#{}", provider.as_str())
    }

    /// Whether the key was stored more than `rotation_after` before `now`.
    pub fn rotation_due(&self, now: OffsetDateTime, rotation_after: Duration) -> bool {
        let stored = self.key_stored_at.as_deref().unwrap_or(&self.created_at);
        OffsetDateTime::parse(stored, &Rfc3339).is_ok_and(|t| now - t > rotation_after)
    }
}

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
}

impl ProviderConfig {
    /// The view of a stored item at `now`.
    pub fn from_item(item: ConfigItem, now: OffsetDateTime, rotation_after: Duration) -> Self {
        let rotation_due = item.is_active && item.rotation_due(now, rotation_after);
        Self {
            id: item.id,
            provider: item.provider,
            is_active: item.is_active,
            settings: item.settings,
            key_hint: item.key_hint,
            created_at: item.created_at,
            updated_at: item.updated_at,
            last_used_at: item.last_used_at,
            usage_count: item.usage_count,
            last_validated_at: item.last_validated_at,
            last_validation_status: item.last_validation_status,
            rotation_due,
        }
    }
}

/// RFC 3339 UTC with milliseconds, as JavaScript's `toISOString` writes it.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_key_is_trimmed_and_bounded() {
        assert!(ApiKey::parse("  sk-proj-abcdefgh1234 \n").is_ok());
        assert!(ApiKey::parse("short").is_err());
        assert!(ApiKey::parse(&"a".repeat(501)).is_err());
        assert!(ApiKey::parse(&"a".repeat(500)).is_ok());
        assert!(ApiKey::parse("sk-proj-abc\u{7}defgh").is_err());
    }

    #[test]
    fn hint_shows_prefix_and_last_four_only() {
        let key = ApiKey::parse("sk-proj-abcdefghijklmnopWXYZ").unwrap();
        assert_eq!(key.hint(ProviderId::OpenAi).as_str(), "sk-proj-…WXYZ");
        let key = ApiKey::parse("sk-ant-api03-0123456789abcdef-9876").unwrap();
        assert_eq!(key.hint(ProviderId::Claude).as_str(), "sk-ant-api03-…9876");
        // Too short to show the prefix and keep eight characters hidden.
        let key = ApiKey::parse("sk-proj-abcd12").unwrap();
        assert_eq!(key.hint(ProviderId::OpenAi).as_str(), "…cd12");
    }

    #[test]
    fn settings_are_bounded_in_size_and_depth() {
        assert!(Settings::parse(json!({"model": "gpt-4o", "temperature": 0.2})).is_ok());
        assert!(Settings::parse(json!([1, 2])).is_err());
        assert!(Settings::parse(json!({"a": "x".repeat(4100)})).is_err());
        let mut deep = json!(1);
        for _ in 0..8 {
            deep = json!({ "n": deep });
        }
        assert!(Settings::parse(deep.clone()).is_ok());
        assert!(Settings::parse(json!({ "n": deep })).is_err());
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123Z");
    }
}
