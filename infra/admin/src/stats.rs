//! `apikeys-admin stats`: the state of the vault without opening a single key.

use std::collections::BTreeMap;
use std::process::ExitCode;

use apikeys::crypto::{Keyring, StoredFormat};
use apikeys::keytest::KeyStatus;
use apikeys::maintenance::{findings, Finding, DEFAULT_UNUSED_DAYS};
use apikeys::repo::{ConfigRepository, RepoError};
use apikeys::state::DEFAULT_ROTATION_DAYS;
use clap::Args;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::context::{print_json, sdk_config, TableArg};
use crate::AdminError;

/// The arguments of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    table: TableArg,
    /// Days after which a key is due for rotation.
    #[arg(long, env = "APIKEYS_ROTATION_DAYS", default_value_t = DEFAULT_ROTATION_DAYS)]
    rotation_days: i64,
    /// Days without use after which a key counts as unused.
    #[arg(long, env = "APIKEYS_UNUSED_DAYS", default_value_t = DEFAULT_UNUSED_DAYS)]
    unused_days: i64,
    /// Print the counts as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `stats` and prints the counts.
pub async fn run(args: StatsArgs) -> Result<ExitCode, AdminError> {
    let sdk = sdk_config().await;
    let repo = args.table.repository(&sdk);
    let stats = stats(
        &repo,
        OffsetDateTime::now_utc(),
        Duration::days(args.rotation_days),
        Duration::days(args.unused_days),
    )
    .await?;
    if args.json {
        print_json(&stats)?;
    } else {
        print!("{}", stats.render(args.rotation_days, args.unused_days));
    }
    Ok(ExitCode::SUCCESS)
}

/// Counts over the whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Configuration items.
    pub total: u64,
    /// Active ones.
    pub active: u64,
    /// Deleted ones.
    pub inactive: u64,
    /// Keys by format: `akv1/<key id>`, `legacy/<format>`, `malformed`.
    pub by_format: BTreeMap<String, u64>,
    /// Active keys marked `format_invalid` (by a key test, or by an import of a
    /// value that breaks today's key rules): their users should replace them.
    pub format_invalid: u64,
    /// Active keys older than the rotation period.
    pub rotation_due: u64,
    /// Active keys not used within the unused period.
    pub unused: u64,
}

impl Stats {
    /// The counts as the command prints them, with the periods they were taken over.
    pub fn render(&self, rotation_days: i64, unused_days: i64) -> String {
        let mut out = format!(
            "configurations       {}\n\
             active               {}\n\
             inactive             {}\n\
             format invalid       {} (to be replaced by their users)\n\
             rotation due         {} (older than {rotation_days} days)\n\
             unused               {} (not used for {unused_days} days)\n\
             keys by format:\n",
            self.total,
            self.active,
            self.inactive,
            self.format_invalid,
            self.rotation_due,
            self.unused
        );
        for (format, count) in &self.by_format {
            out.push_str(&format!("  {format:<19}{count}\n"));
        }
        out
    }
}

/// Scans the table and counts.
pub async fn stats(
    repo: &ConfigRepository,
    now: OffsetDateTime,
    rotation_after: Duration,
    unused_after: Duration,
) -> Result<Stats, RepoError> {
    let mut stats = Stats::default();
    let mut start = None;
    loop {
        let page = repo.scan_page(start, true).await?;
        for (item, envelope) in &page.items {
            stats.total += 1;
            if item.is_active {
                stats.active += 1;
                if item.last_validation_status.as_deref() == Some(KeyStatus::FormatInvalid.as_str())
                {
                    stats.format_invalid += 1;
                }
            } else {
                stats.inactive += 1;
            }
            if let Some(envelope) = envelope {
                let format = match Keyring::format_of(envelope) {
                    Ok(StoredFormat::Akv1(id)) => format!("akv1/{id}"),
                    Ok(StoredFormat::Legacy(f)) => format!("legacy/{f}"),
                    Err(_) => "malformed".to_owned(),
                };
                *stats.by_format.entry(format).or_default() += 1;
            }
            for finding in findings(item, now, rotation_after, unused_after) {
                match finding {
                    Finding::RotationDue => stats.rotation_due += 1,
                    Finding::Unused => stats.unused += 1,
                }
            }
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(stats),
        }
    }
}
