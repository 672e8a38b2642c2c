//! `apikeys-admin import`: moves a RealMultiLLM `ProviderConfig` export into the
//! table as `akv1` items. Never overwrites, never drops: every value that opens is
//! imported (one that breaks today's key rules is marked `format_invalid` and named
//! in the report), a row that cannot be converted at all is reported by id and left
//! out, and a rerun changes nothing.

mod convert;
mod export;

use std::path::PathBuf;
use std::process::ExitCode;

use apikeys::crypto::Keyring;
use apikeys::domain::timestamp;
use apikeys::keytest::KeyStatus;
use apikeys::provider::ProviderId;
use apikeys::repo::schema::{extra_slot, PRIMARY_SLOT};
use apikeys::repo::KeyRow;
use apikeys::repo::{Added, KeyTable, RepoError, MAX_KEYS_PER_PROVIDER};
use clap::Args;
use serde::Serialize;
use serde_json::Map;
use time::OffsetDateTime;

pub use export::ExportRow;

use crate::context::{exit_code, operator_keyring, print_json, sdk_config, TableArg};
use crate::AdminError;
use convert::{convert, Converted};
use export::{normalize_time, parse_settings};

/// The arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export: a JSON array of ProviderConfig rows.
    file: PathBuf,
    #[command(flatten)]
    table: TableArg,
    /// Check every row and print the counts without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `import`: exit code [`crate::context::EXIT_SOME_FAILED`] when a row failed.
pub async fn run(args: ImportArgs) -> Result<ExitCode, AdminError> {
    let text = std::fs::read_to_string(&args.file).map_err(|source| AdminError::ReadFile {
        path: args.file.clone(),
        source,
    })?;
    let rows: Vec<ExportRow> =
        serde_json::from_str(&text).map_err(|e| AdminError::not_an_export(&args.file, &e))?;
    let sdk = sdk_config().await?;
    let keyring = operator_keyring(&sdk).await?;
    let repo = args.table.repository(&sdk);
    let report = import(&repo, &keyring, &rows, args.dry_run).await?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.render(args.dry_run));
    }
    Ok(exit_code(report.failed.is_empty()))
}

/// A row that was not imported, and why (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowFailure {
    /// The row id.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// A row imported with a key that breaks today's key rules, marked
/// `lastValidationStatus: "format_invalid"`. Names the owner and the provider, never
/// the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatInvalidRow {
    /// The row id.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The canonical provider id.
    pub provider: String,
    /// Which rule the key breaks.
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
    /// Rows imported (and counted above) as another key of a provider whose first
    /// row is its primary: a second row of the same user and provider.
    pub other_keys: u64,
    /// Plaintext keys sealed.
    pub plaintext_encrypted: u64,
    /// Legacy values opened and sealed as `akv1`.
    pub legacy_converted: u64,
    /// Keys imported (and counted above) that break today's key rules, marked
    /// `format_invalid`.
    pub format_invalid: Vec<FormatInvalidRow>,
    /// Deleted configurations, imported inactive without their key.
    pub inactive: u64,
    /// Active rows without a key, imported inactive so their settings are kept.
    pub no_key: u64,
    /// Rows not imported.
    pub failed: Vec<RowFailure>,
    /// Rows whose settings were not a JSON object and were imported empty.
    pub settings_reset: Vec<String>,
}

impl ImportReport {
    /// The report as the command prints it; `dry_run` words it as what would happen.
    pub fn render(&self, dry_run: bool) -> String {
        let verb = if dry_run { "would import" } else { "imported" };
        let mut out = format!(
            "rows                 {}\n\
             {verb:<21}{}\n\
             already present      {}\n\
             other keys           {} (a second row of a user's provider)\n\
             plaintext encrypted  {}\n\
             legacy converted     {}\n\
             format invalid       {} (imported, marked format_invalid)\n\
             inactive             {}\n\
             active without key   {}\n\
             failed               {}\n",
            self.rows,
            self.imported,
            self.already_present,
            self.other_keys,
            self.plaintext_encrypted,
            self.legacy_converted,
            self.format_invalid.len(),
            self.inactive,
            self.no_key,
            self.failed.len()
        );
        for f in &self.format_invalid {
            out.push_str(&format!(
                "  row {}: user {}, provider {}: {}; imported, marked format_invalid\n",
                f.id, f.user_id, f.provider, f.reason
            ));
        }
        for f in &self.failed {
            out.push_str(&format!("  row {}: {}\n", f.id, f.reason));
        }
        for id in &self.settings_reset {
            out.push_str(&format!(
                "  row {id}: settings were not a JSON object; imported as {{}}\n"
            ));
        }
        out
    }
}

/// Imports `rows` under the keyring's current key.
pub async fn import(
    repo: &KeyTable,
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
        let pk = KeyRow::key(&row.user_id, provider);
        // A second row of the same user and provider is another key of it.
        let slot = match repo.id_at(&pk, PRIMARY_SLOT).await? {
            None => PRIMARY_SLOT.to_owned(),
            Some(id) if id == row.id => {
                report.already_present += 1;
                continue;
            }
            Some(_) => {
                let slot = extra_slot(&row.id);
                if repo.exists(&pk, &slot).await? {
                    report.already_present += 1;
                    continue;
                }
                slot
            }
        };
        let created_at = normalize_time(row.created_at.as_deref(), &now);
        let updated_at = normalize_time(row.updated_at.as_deref(), &created_at);
        let settings = match parse_settings(row.settings.as_ref()) {
            Some(s) => s,
            None => {
                report.settings_reset.push(row.id.clone());
                Map::new()
            }
        };
        let extra = slot != PRIMARY_SLOT;
        let mut item = KeyRow {
            pk,
            sk: slot,
            user_id: row.user_id.clone(),
            provider: provider.as_str().to_owned(),
            id: row.id.clone(),
            key_hint: None,
            settings,
            endpoint: None,
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
            key_revision: 1,
            expires_at: None,
            key_expires_at: None,
            label: None,
            priority: None,
            key_count: None,
            unavailable_reason: None,
            unavailable_until: None,
            month_usage: None,
            budget: None,
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
                    format_invalid,
                } => {
                    if legacy {
                        report.legacy_converted += 1;
                    } else {
                        report.plaintext_encrypted += 1;
                    }
                    if let Some(reason) = format_invalid {
                        item.last_validated_at = Some(now.clone());
                        item.last_validation_status =
                            Some(KeyStatus::FormatInvalid.as_str().to_owned());
                        report.format_invalid.push(FormatInvalidRow {
                            id: row.id.clone(),
                            user_id: row.user_id.clone(),
                            provider: provider.as_str().to_owned(),
                            reason,
                        });
                    }
                    item.is_active = true;
                    item.key_hint = Some(hint);
                    item.key_stored_at = Some(updated_at);
                    Some(envelope)
                }
            },
        };
        if extra {
            // Another key beside the primary: only an active one with a key (the
            // primary holds the provider's settings; a deleted second row is nothing
            // to keep), counted by the primary in the same transaction.
            item.settings = Map::new();
            let Some(envelope) = envelope.as_deref().filter(|_| item.is_active) else {
                continue;
            };
            if dry_run {
                report.imported += 1;
                report.other_keys += 1;
                continue;
            }
            match repo.put_new_key(&item, envelope).await? {
                Added::Added(_) => {
                    report.imported += 1;
                    report.other_keys += 1;
                }
                Added::Full => fail(
                    &mut report,
                    format!("the user has {MAX_KEYS_PER_PROVIDER} keys of this provider already"),
                ),
                Added::NoPrimary => fail(
                    &mut report,
                    "another key of this user and provider whose first row is deleted: \
                     import it again after the user stores a key"
                        .into(),
                ),
            }
            continue;
        }
        if dry_run || repo.put_new(&item, envelope.as_deref()).await? {
            report.imported += 1;
        } else {
            report.already_present += 1;
        }
    }
    Ok(report)
}
