//! `apikeys-admin stats`: the state of the vault without opening a single key.

use std::collections::BTreeMap;

use apikeys::crypto::{Keyring, StoredFormat};
use apikeys::maintenance::{findings, Finding};
use apikeys::repo::{ConfigRepository, RepoError};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

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
    /// Active keys older than the rotation period.
    pub rotation_due: u64,
    /// Active keys not used within the unused period.
    pub unused: u64,
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
