//! `apikeys-admin import`: moves a RealMultiLLM `ProviderConfig` export into the
//! table as `akv1` items. Never overwrites, never drops: a row that cannot be
//! converted is reported by id and left out, and a rerun changes nothing.

use apikeys::config::{timestamp, ApiKey, ConfigItem, Settings};
use apikeys::crypto::{CryptoError, KeyContext, Keyring, StoredFormat};
use apikeys::provider::ProviderId;
use apikeys::repo::{ConfigRepository, RepoError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
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

/// A row that was not imported, and why (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowFailure {
    /// The row id.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// The counts of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Rows read.
    pub rows: u64,
    /// Rows written (or, with `--dry-run`, that would be).
    pub imported: u64,
    /// Rows whose item exists already: left alone.
    pub already_present: u64,
    /// Plaintext keys sealed.
    pub plaintext_encrypted: u64,
    /// Legacy values opened and sealed as `akv1`.
    pub legacy_converted: u64,
    /// Deleted configurations, imported inactive without their key.
    pub inactive: u64,
    /// Active rows without a key, imported inactive so their settings are kept.
    pub no_key: u64,
    /// Rows not imported.
    pub failed: Vec<RowFailure>,
    /// Rows whose settings were not a JSON object and were imported empty.
    pub settings_reset: Vec<String>,
}

fn normalize_time(t: Option<&str>, fallback: &str) -> String {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .map(timestamp)
        .unwrap_or_else(|| fallback.to_owned())
}

fn parse_settings(value: Option<&Value>) -> Option<Map<String, Value>> {
    let value = match value {
        None | Some(Value::Null) => return Some(Map::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Some(Map::new()),
        Some(Value::String(s)) => serde_json::from_str(s).ok()?,
        Some(v) => v.clone(),
    };
    Settings::parse(value).ok().map(|s| s.as_map().clone())
}

enum Converted {
    Sealed {
        envelope: String,
        hint: String,
        legacy: bool,
    },
    Failed(String),
}

/// Opens (or takes) the row's key and seals it for its owner.
fn convert(keyring: &Keyring, row: &ExportRow, provider: ProviderId, stored: &str) -> Converted {
    let ctx = KeyContext::new(&row.user_id, provider.as_str());
    let (plaintext, legacy) = match Keyring::format_of(stored) {
        Ok(StoredFormat::Legacy(format)) => match keyring.open(&ctx, stored) {
            Ok(opened) => (opened.secret, true),
            Err(CryptoError::AuthenticationFailed) => {
                return Converted::Failed(format!(
                    "the {format} value does not open with the configured legacy seed"
                ))
            }
            Err(e) => return Converted::Failed(format!("the {format} value does not open: {e}")),
        },
        Ok(StoredFormat::Akv1(_)) => match keyring.open(&ctx, stored) {
            Ok(opened) => (opened.secret, false),
            Err(e) => return Converted::Failed(format!("the akv1 value does not open: {e}")),
        },
        // Neither format: the original app stored it in plaintext.
        Err(_) => (secrecy::SecretString::from(stored.to_owned()), false),
    };
    let key = match ApiKey::parse(plaintext.expose_secret()) {
        Ok(key) => key,
        Err(reason) => {
            return Converted::Failed(format!("the key is not a valid API key: it {reason}"))
        }
    };
    match keyring.seal(&ctx, key.secret()) {
        Ok(envelope) => Converted::Sealed {
            envelope,
            hint: key.hint(provider).as_str().to_owned(),
            legacy,
        },
        Err(e) => Converted::Failed(format!("sealing failed: {e}")),
    }
}

/// Imports `rows` under the keyring's current key.
pub async fn import(
    repo: &ConfigRepository,
    keyring: &Keyring,
    rows: &[ExportRow],
    dry_run: bool,
) -> Result<ImportReport, RepoError> {
    let mut report = ImportReport::default();
    let now = timestamp(OffsetDateTime::now_utc());
    for row in rows {
        report.rows += 1;
        let fail = |report: &mut ImportReport, reason: String| {
            report.failed.push(RowFailure {
                id: row.id.clone(),
                reason,
            })
        };
        let Some(provider) = ProviderId::parse(&row.provider) else {
            fail(&mut report, format!("unknown provider {:?}", row.provider));
            continue;
        };
        if row.user_id.trim().is_empty() {
            fail(&mut report, "no userId".into());
            continue;
        }
        let pk = ConfigItem::key(&row.user_id, provider);
        if repo.exists(&pk).await? {
            report.already_present += 1;
            continue;
        }
        let created_at = normalize_time(row.created_at.as_deref(), &now);
        let updated_at = normalize_time(row.updated_at.as_deref(), &created_at);
        let settings = match parse_settings(row.settings.as_ref()) {
            Some(s) => s,
            None => {
                report.settings_reset.push(row.id.clone());
                Map::new()
            }
        };
        let mut item = ConfigItem {
            pk,
            user_id: row.user_id.clone(),
            provider: provider.as_str().to_owned(),
            id: row.id.clone(),
            key_hint: None,
            settings,
            is_active: false,
            created_at,
            updated_at: updated_at.clone(),
            key_stored_at: None,
            last_used_at: row
                .last_used_at
                .as_deref()
                .map(|t| normalize_time(Some(t), t)),
            last_validated_at: None,
            last_validation_status: None,
            deleted_at: None,
            usage_count: row.usage_count.unwrap_or(0),
            version: 1,
            expires_at: None,
        };
        let stored = row.api_key.as_deref().filter(|k| !k.trim().is_empty());
        let envelope = match (row.is_active, stored) {
            (false, _) => {
                item.deleted_at = Some(updated_at);
                report.inactive += 1;
                None
            }
            (true, None) => {
                report.no_key += 1;
                None
            }
            (true, Some(stored)) => match convert(keyring, row, provider, stored) {
                Converted::Failed(reason) => {
                    fail(&mut report, reason);
                    continue;
                }
                Converted::Sealed {
                    envelope,
                    hint,
                    legacy,
                } => {
                    if legacy {
                        report.legacy_converted += 1;
                    } else {
                        report.plaintext_encrypted += 1;
                    }
                    item.is_active = true;
                    item.key_hint = Some(hint);
                    item.key_stored_at = Some(updated_at);
                    Some(envelope)
                }
            },
        };
        if dry_run || repo.put_new(&item, envelope.as_deref()).await? {
            report.imported += 1;
        } else {
            report.already_present += 1;
        }
    }
    Ok(report)
}
