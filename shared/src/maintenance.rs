//! The daily sweep: keys due for rotation, keys unused for a while, keys that
//! expire within [`EXPIRY_NOTICE_DAYS`] and keys that have expired, one log event
//! per finding and a summary. It reads no ciphertext.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::domain::ProviderKey;
use crate::repo::{KeyTable, RepoError};

/// Days without use after which a key is reported, by default.
pub use crate::settings::DEFAULT_UNUSED_DAYS;

/// Days before its expiry from which a key is reported as expiring.
pub const EXPIRY_NOTICE_DAYS: i64 = 7;

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
    /// Active keys that expire within [`EXPIRY_NOTICE_DAYS`].
    pub expiring: u64,
    /// Active keys whose expiry has passed (never handed out).
    pub expired: u64,
}

/// A finding of the sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The key is older than the rotation period.
    RotationDue,
    /// The key has not been used within the unused period.
    Unused,
    /// The key expires within [`EXPIRY_NOTICE_DAYS`].
    Expiring,
    /// The key has expired.
    Expired,
}

fn parse(t: Option<&str>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// The findings of one item at `now`.
pub fn findings(
    item: &ProviderKey,
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
    match item.key_expiry() {
        Some(t) if t <= now => found.push(Finding::Expired),
        Some(t) if t - now <= Duration::days(EXPIRY_NOTICE_DAYS) => found.push(Finding::Expiring),
        _ => {}
    }
    found
}

/// Scans the table and logs one event per finding, then a summary.
pub async fn sweep(
    repo: &KeyTable,
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
            let key = ProviderKey::from(item.clone());
            for finding in findings(&key, now, rotation_after, unused_after) {
                let event = match finding {
                    Finding::RotationDue => {
                        summary.rotation_due += 1;
                        "maintenance.rotation_due"
                    }
                    Finding::Unused => {
                        summary.unused += 1;
                        "maintenance.unused"
                    }
                    Finding::Expiring => {
                        summary.expiring += 1;
                        "maintenance.expiring"
                    }
                    Finding::Expired => {
                        summary.expired += 1;
                        "maintenance.expired"
                    }
                };
                tracing::info!(
                    event,
                    user_id = item.user_id.as_str(),
                    provider = item.provider.as_str(),
                    config_id = item.id.as_str(),
                    key_stored_at = item.key_stored_at.as_deref().unwrap_or(""),
                    last_used_at = item.last_used_at.as_deref().unwrap_or(""),
                    expires_at = item.key_expires_at.as_deref().unwrap_or(""),
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
        expiring = summary.expiring,
        expired = summary.expired,
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::timestamp;

    fn item(expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> ProviderKey {
        let row: crate::repo::KeyRow = serde_json::from_value(serde_json::json!({
            "pk": "u#openai", "userId": "u", "provider": "openai", "id": "i",
            "isActive": true, "createdAt": timestamp(now), "updatedAt": timestamp(now),
            "lastUsedAt": timestamp(now),
            "keyExpiresAt": expires_at.map(timestamp),
        }))
        .unwrap();
        row.into()
    }

    #[test]
    fn keys_expiring_within_a_week_and_expired_keys_are_found() {
        let now = OffsetDateTime::now_utc();
        let find = |at: Option<OffsetDateTime>| {
            findings(&item(at, now), now, Duration::days(90), Duration::days(30))
        };
        assert_eq!(find(None), []);
        assert_eq!(find(Some(now + Duration::days(8))), []);
        assert_eq!(find(Some(now + Duration::days(3))), [Finding::Expiring]);
        assert_eq!(find(Some(now - Duration::minutes(1))), [Finding::Expired]);
    }
}
