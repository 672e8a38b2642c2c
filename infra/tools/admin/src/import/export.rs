//! The RealMultiLLM `ProviderConfig` export: its rows, and how their times and
//! settings read.

use apikeys::domain::{timestamp, Settings};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One row of the original app's `ProviderConfig` table, as exported to JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// The row id; kept as the item's `id`.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The provider id or alias.
    pub provider: String,
    /// A legacy value, a plaintext key, or null.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The settings as a JSON string (or object), or null.
    #[serde(default)]
    pub settings: Option<Value>,
    /// False for a deleted configuration.
    #[serde(default = "default_true")]
    pub is_active: bool,
    /// Last use.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// Uses.
    #[serde(default)]
    pub usage_count: Option<u64>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last update time.
    #[serde(default)]
    pub updated_at: Option<String>,
}

fn default_true() -> bool {
    true
}

/// A time of the export in the vault's form, or `fallback` when it does not parse.
pub(super) fn normalize_time(t: Option<&str>, fallback: &str) -> String {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .map(timestamp)
        .unwrap_or_else(|| fallback.to_owned())
}

/// The settings of a row as an object; `None` when they are not a valid one.
pub(super) fn parse_settings(value: Option<&Value>) -> Option<Map<String, Value>> {
    let value = match value {
        None | Some(Value::Null) => return Some(Map::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Some(Map::new()),
        Some(Value::String(s)) => serde_json::from_str(s).ok()?,
        Some(v) => v.clone(),
    };
    Settings::parse(value).ok().map(|s| s.as_map().clone())
}
