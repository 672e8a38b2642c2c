//! The daily sweep: keys due for rotation and keys unused for a while, one log event
//! per finding and a summary. It reads no ciphertext.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::config::ConfigItem;
use crate::repo::{ConfigRepository, RepoError};

/// Days without use after which a key is reported, by default.
pub const DEFAULT_UNUSED_DAYS: i64 = 30;

/// What the sweep found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    /// Items read.
    pub scanned: u64,
    /// Active configurations.
    pub active: u64,
    /// Active keys older than the rotation period.
    pub rotation_due: u64,
    /// Active keys not used within the unused period.
    pub unused: u64,
}

/// A finding of the sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The key is older than the rotation period.
    RotationDue,
    /// The key has not been used within the unused period.
    Unused,
}

fn parse(t: Option<&str>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// The findings of one item at `now`.
pub fn findings(
    item: &ConfigItem,
    now: OffsetDateTime,
    rotation_after: Duration,
    unused_after: Duration,
) -> Vec<Finding> {
    let mut found = Vec::new();
    if !item.is_active {
        return found;
    }
    if item.rotation_due(now, rotation_after) {
        found.push(Finding::RotationDue);
    }
    // Never used: counted from when the key was stored.
    let last = parse(item.last_used_at.as_deref())
        .or_else(|| parse(item.key_stored_at.as_deref()))
        .or_else(|| parse(Some(&item.created_at)));
    if last.is_some_and(|t| now - t > unused_after) {
        found.push(Finding::Unused);
    }
    found
}

/// Scans the table and logs one event per finding, then a summary.
pub async fn sweep(
    repo: &ConfigRepository,
    now: OffsetDateTime,
    rotation_after: Duration,
    unused_after: Duration,
) -> Result<SweepSummary, RepoError> {
    let mut summary = SweepSummary::default();
    let mut pages = repo.pages(false);
    while let Some(items) = pages.next().await? {
        for (item, _) in &items {
            summary.scanned += 1;
            if item.is_active {
                summary.active += 1;
            }
            for finding in findings(item, now, rotation_after, unused_after) {
                let event = match finding {
                    Finding::RotationDue => {
                        summary.rotation_due += 1;
                        "maintenance.rotation_due"
                    }
                    Finding::Unused => {
                        summary.unused += 1;
                        "maintenance.unused"
                    }
                };
                tracing::info!(
                    event,
                    user_id = item.user_id.as_str(),
                    provider = item.provider.as_str(),
                    config_id = item.id.as_str(),
                    key_stored_at = item.key_stored_at.as_deref().unwrap_or(""),
                    last_used_at = item.last_used_at.as_deref().unwrap_or(""),
                );
            }
        }
    }
    tracing::info!(
        event = "maintenance.summary",
        scanned = summary.scanned,
        active = summary.active,
        rotation_due = summary.rotation_due,
        unused = summary.unused,
    );
    Ok(summary)
}
