//! `apikeys-admin rewrap`: after a seed rotation, seals every key that is not under
//! the current key (and every legacy value) again under it. Each write is
//! conditional on the item being unchanged since it was read, so a user's store in
//! the meantime wins; a rerun picks up whatever is left (resumable, idempotent).

use std::process::ExitCode;

use apikeys::crypto::{KeyContext, Keyring, StoredFormat};
use apikeys::repo::KeyRow;
use apikeys::repo::{KeyTable, RepoError};
use clap::Args;
use serde::Serialize;

use crate::context::{exit_code, operator_keyring, print_json, sdk_config, TableArg};
use crate::AdminError;

/// The arguments of `rewrap`.
#[derive(Debug, Args)]
pub struct RewrapArgs {
    #[command(flatten)]
    table: TableArg,
    /// Stop after this many writes (a rerun goes on where it stopped).
    #[arg(long)]
    limit: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `rewrap`: progress on stderr after every page, the report on stdout.
pub async fn run(args: RewrapArgs) -> Result<ExitCode, AdminError> {
    let sdk = sdk_config().await?;
    let keyring = operator_keyring(&sdk).await?;
    let repo = args.table.repository(&sdk);
    eprintln!("rewrapping under key {}", keyring.current_key_id());
    let report = rewrap(&repo, &keyring, args.limit, |r| {
        eprintln!(
            "  scanned {}, rewrapped {}, legacy converted {}, current {}, changed meanwhile {}, failed {}",
            r.scanned,
            r.rewrapped,
            r.legacy_converted,
            r.current,
            r.changed_concurrently,
            r.failed.len()
        );
    })
    .await?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.render());
    }
    Ok(exit_code(report.failed.is_empty()))
}

/// An item the rewrap could not convert (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    /// The item key.
    pub pk: String,
    /// Why.
    pub reason: String,
}

/// The counts of a rewrap run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewrapReport {
    /// Items read.
    pub scanned: u64,
    /// Already under the current key.
    pub current: u64,
    /// `akv1` values under an older key, sealed again.
    pub rewrapped: u64,
    /// Legacy values converted to `akv1`.
    pub legacy_converted: u64,
    /// Items changed by someone else between read and write: left as they are.
    pub changed_concurrently: u64,
    /// Items without a key (deleted).
    pub no_key: u64,
    /// Items that do not open.
    pub failed: Vec<ItemFailure>,
    /// True when `--limit` stopped the run before the end of the table.
    pub stopped_early: bool,
}

impl RewrapReport {
    /// The report as the command prints it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "scanned              {}\n\
             already current      {}\n\
             rewrapped            {}\n\
             legacy converted     {}\n\
             changed meanwhile    {}\n\
             without key          {}\n\
             failed               {}\n",
            self.scanned,
            self.current,
            self.rewrapped,
            self.legacy_converted,
            self.changed_concurrently,
            self.no_key,
            self.failed.len()
        );
        for f in &self.failed {
            out.push_str(&format!("  {}: {}\n", f.pk, f.reason));
        }
        if self.stopped_early {
            out.push_str("stopped at --limit; run again to go on\n");
        }
        out
    }
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Under the current key already.
    Current,
    /// Sealed again; true when it was a legacy value.
    Rewrapped {
        /// It was a legacy value.
        legacy: bool,
    },
    /// Changed since it was read: not written.
    Changed,
    /// Does not open.
    Failed(String),
}

/// Rewraps one item read as (`item`, `envelope`).
pub async fn rewrap_item(
    repo: &KeyTable,
    keyring: &Keyring,
    item: &KeyRow,
    envelope: &str,
) -> Result<ItemOutcome, RepoError> {
    let format = match Keyring::format_of(envelope) {
        Ok(format) => format,
        Err(e) => return Ok(ItemOutcome::Failed(e.to_string())),
    };
    if !keyring.needs_rewrap(format) {
        return Ok(ItemOutcome::Current);
    }
    let ctx = KeyContext::new(&item.user_id, &item.provider);
    let opened = match keyring.open(&ctx, envelope) {
        Ok(opened) => opened,
        Err(e) => return Ok(ItemOutcome::Failed(e.to_string())),
    };
    let sealed = match keyring.seal(&ctx, &opened.secret) {
        Ok(sealed) => sealed,
        Err(e) => return Ok(ItemOutcome::Failed(e.to_string())),
    };
    Ok(if repo.replace_envelope(item, envelope, &sealed).await? {
        ItemOutcome::Rewrapped {
            legacy: matches!(format, StoredFormat::Legacy(_)),
        }
    } else {
        ItemOutcome::Changed
    })
}

/// Rewraps the whole table, stopping after `limit` writes when given. `progress`
/// is called after every page.
pub async fn rewrap(
    repo: &KeyTable,
    keyring: &Keyring,
    limit: Option<u64>,
    mut progress: impl FnMut(&RewrapReport),
) -> Result<RewrapReport, RepoError> {
    let mut report = RewrapReport::default();
    let mut start = None;
    loop {
        let page = repo.scan_page(start, true).await?;
        for (item, envelope) in &page.items {
            if limit.is_some_and(|l| report.rewrapped + report.legacy_converted >= l) {
                report.stopped_early = true;
                return Ok(report);
            }
            report.scanned += 1;
            let Some(envelope) = envelope else {
                report.no_key += 1;
                continue;
            };
            match rewrap_item(repo, keyring, item, envelope).await? {
                ItemOutcome::Current => report.current += 1,
                ItemOutcome::Rewrapped { legacy: false } => report.rewrapped += 1,
                ItemOutcome::Rewrapped { legacy: true } => report.legacy_converted += 1,
                ItemOutcome::Changed => report.changed_concurrently += 1,
                ItemOutcome::Failed(reason) => report.failed.push(ItemFailure {
                    pk: item.pk.clone(),
                    reason,
                }),
            }
        }
        progress(&report);
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(report),
        }
    }
}
