//! One of a provider's keys as the vault knows it (never the key itself), and the
//! rules that decide which key the app's servers get: the use order and why a key
//! is refused. use-key, the proxy and the lists all ask these two functions.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// One of a user's keys for a provider, with what belongs to the provider (the
/// settings, on the primary). The repository builds it from its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderKey {
    /// The owner.
    pub user_id: String,
    /// The canonical provider id.
    pub provider: String,
    /// The key's stable id (`keyId`).
    pub id: String,
    /// The key the single-key routes act on and the app's servers try first.
    pub primary: bool,
    /// Masked form of the key.
    pub key_hint: Option<String>,
    /// The provider's settings (the primary holds them).
    pub settings: Map<String, Value>,
    /// The endpoint that belongs to the key (not a secret).
    pub endpoint: Option<Value>,
    /// False after a delete.
    pub is_active: bool,
    /// First store.
    pub created_at: String,
    /// Last write.
    pub updated_at: String,
    /// When the current key was stored (drives `rotationDue`).
    pub key_stored_at: Option<String>,
    /// Last use by the app's servers.
    pub last_used_at: Option<String>,
    /// Last key test.
    pub last_validated_at: Option<String>,
    /// Outcome of the last key test, as stored.
    pub last_validation_status: Option<String>,
    /// Uses by the app's servers.
    pub usage_count: u64,
    /// The user's name for the key.
    pub label: Option<String>,
    /// Place in the use order after the primary (lower first; none is 0).
    pub priority: Option<u32>,
    /// What a provider last said that makes the key unusable for now.
    pub unavailable_reason: Option<String>,
    /// Until when (epoch milliseconds); none: until replaced or tested again.
    pub unavailable_until: Option<i64>,
    /// When the key stops being handed out; none: never.
    pub key_expires_at: Option<String>,
    /// Raised when the key is replaced or tested again: what a lease names.
    pub key_revision: u64,
    /// What proxied calls spent on the key in the month they were last made.
    pub month_usage: Option<MonthUsage>,
    /// The user's monthly token budget for the key, if any.
    pub budget: Option<KeyBudget>,
}

/// A key's monthly token budget: once the month's input and output tokens reach
/// `monthlyTokens` the key is skipped (by the proxy and use-key alike) until the
/// month turns; at `alertAt` of it an audit event says so, once a month.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyBudget {
    /// Tokens a month.
    pub monthly_tokens: u64,
    /// The share of it that raises the alert (0 < alertAt <= 1).
    #[serde(default = "default_alert_at")]
    pub alert_at: f64,
}

/// `alertAt` when a budget names none.
pub const DEFAULT_BUDGET_ALERT_AT: f64 = 0.8;

fn default_alert_at() -> f64 {
    DEFAULT_BUDGET_ALERT_AT
}

/// The mark of a key whose budget is spent.
pub const BUDGET_EXHAUSTED: &str = "budget_exhausted";

/// The first instant of the month after `now`'s (UTC), in epoch milliseconds.
pub fn next_month_ms(now: OffsetDateTime) -> i128 {
    let now = now.to_offset(time::UtcOffset::UTC);
    let (year, month) = match now.month() {
        time::Month::December => (now.year() + 1, time::Month::January),
        m => (now.year(), m.next()),
    };
    time::Date::from_calendar_date(year, month, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i128::MAX)
}

/// The calendar month of `now` as the usage names it: `YYYY-MM`, UTC.
pub fn month_of(now: OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}", now.year(), u8::from(now.month()))
}

/// What proxied calls spent on a key in one calendar month (UTC), from the
/// provider's own usage fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthUsage {
    /// `YYYY-MM`.
    pub month: String,
    /// Calls.
    #[serde(default)]
    pub requests: u64,
    /// Input (prompt) tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output (completion) tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// Why a key is not handed out now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Deleted.
    Inactive,
    /// Its expiry has passed.
    Expired,
    /// A provider's refusal marks it: `rate_limited`, `invalid` or `quota_exceeded`.
    Unavailable {
        /// What the provider said.
        reason: String,
        /// Until when (epoch milliseconds); `None` until replaced or tested again.
        until_ms: Option<i128>,
    },
}

impl ProviderKey {
    /// Whether the key was stored more than `rotation_after` before `now`.
    pub fn rotation_due(&self, now: OffsetDateTime, rotation_after: Duration) -> bool {
        let stored = self.key_stored_at.as_deref().unwrap_or(&self.created_at);
        OffsetDateTime::parse(stored, &Rfc3339).is_ok_and(|t| now - t > rotation_after)
    }

    /// When the key expires, if it does.
    pub fn key_expiry(&self) -> Option<OffsetDateTime> {
        let at = self.key_expires_at.as_deref()?;
        OffsetDateTime::parse(at, &Rfc3339).ok()
    }

    /// Whether the key has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.key_expiry().is_some_and(|t| t <= now)
    }

    /// The provider's mark on the key at `now`, if one holds: a wait that has
    /// passed is no mark.
    pub fn mark(&self, now: OffsetDateTime) -> Option<(&str, Option<i128>)> {
        if let Some(until) = self.budget_spent(now) {
            return Some((BUDGET_EXHAUSTED, Some(until)));
        }
        let reason = self.unavailable_reason.as_deref()?;
        let until = self.unavailable_until.map(i128::from);
        let now_ms = now.unix_timestamp_nanos() / 1_000_000;
        (until.is_none_or(|t| t > now_ms)).then_some((reason, until))
    }

    /// The tokens proxied calls spent on the key in `now`'s month.
    pub fn tokens_this_month(&self, now: OffsetDateTime) -> u64 {
        self.month_usage
            .as_ref()
            .filter(|u| u.month == month_of(now))
            .map_or(0, |u| u.input_tokens.saturating_add(u.output_tokens))
    }

    /// When the key's budget is spent for `now`'s month: the start of the next
    /// month, until which it is skipped.
    pub fn budget_spent(&self, now: OffsetDateTime) -> Option<i128> {
        let budget = self.budget?;
        (self.tokens_this_month(now) >= budget.monthly_tokens).then(|| next_month_ms(now))
    }

    /// Why the key is not handed out at `now`; `None` when it may be.
    pub fn refusal(&self, now: OffsetDateTime) -> Option<Refusal> {
        if !self.is_active {
            return Some(Refusal::Inactive);
        }
        if self.is_expired(now) {
            return Some(Refusal::Expired);
        }
        self.mark(now)
            .map(|(reason, until_ms)| Refusal::Unavailable {
                reason: reason.to_owned(),
                until_ms,
            })
    }

    /// Where the key stands in the order keys are tried in (and listed): the
    /// primary first, then by priority (lower first), age and id.
    pub fn use_rank(&self) -> (bool, u32, &str, &str) {
        (
            !self.primary,
            self.priority.unwrap_or(0),
            &self.created_at,
            &self.id,
        )
    }
}

/// A provider's keys in use order (see [`ProviderKey::use_rank`]).
pub fn sort_keys(keys: &mut [ProviderKey]) {
    keys.sort_by(|a, b| a.use_rank().cmp(&b.use_rank()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, primary: bool, priority: Option<u32>, stored: &str) -> ProviderKey {
        ProviderKey {
            user_id: "u".into(),
            provider: "openai".into(),
            id: id.into(),
            primary,
            key_hint: None,
            settings: Map::new(),
            endpoint: None,
            is_active: true,
            created_at: stored.into(),
            updated_at: stored.into(),
            key_stored_at: None,
            last_used_at: None,
            last_validated_at: None,
            last_validation_status: None,
            usage_count: 0,
            label: None,
            priority,
            unavailable_reason: None,
            unavailable_until: None,
            key_expires_at: None,
            key_revision: 1,
            month_usage: None,
            budget: None,
        }
    }

    #[test]
    fn a_spent_budget_skips_the_key_until_the_month_turns() {
        let now = time::macros::datetime!(2026-12-07 10:00 UTC);
        let mut k = key("b", true, None, "2025-01-01T00:00:00.000Z");
        k.budget = Some(KeyBudget {
            monthly_tokens: 100,
            alert_at: 0.8,
        });
        k.month_usage = Some(MonthUsage {
            month: "2026-12".into(),
            requests: 3,
            input_tokens: 60,
            output_tokens: 39,
        });
        assert_eq!(k.refusal(now), None, "99 of 100 tokens");
        k.month_usage.as_mut().unwrap().output_tokens = 40;
        let january = time::macros::datetime!(2027-01-01 00:00 UTC);
        assert_eq!(
            k.refusal(now),
            Some(Refusal::Unavailable {
                reason: BUDGET_EXHAUSTED.into(),
                until_ms: Some(january.unix_timestamp_nanos() / 1_000_000),
            })
        );
        assert_eq!(k.refusal(january), None, "a new month starts from nothing");
        k.budget = None;
        assert_eq!(k.refusal(now), None);
    }

    #[test]
    fn the_primary_goes_first_then_priority_then_age() {
        let mut keys = vec![
            key("c", false, Some(1), "2025-01-03T00:00:00.000Z"),
            key("b", false, Some(1), "2025-01-02T00:00:00.000Z"),
            key("p", true, None, "2025-01-09T00:00:00.000Z"),
            key("a", false, None, "2025-01-05T00:00:00.000Z"),
        ];
        sort_keys(&mut keys);
        let order: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(order, ["p", "a", "b", "c"]);
    }

    #[test]
    fn a_key_is_refused_when_deleted_expired_or_marked_until_the_mark_passes() {
        let now = OffsetDateTime::now_utc();
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        let mut k = key("k", true, None, "2025-01-01T00:00:00.000Z");
        assert_eq!(k.refusal(now), None);
        k.unavailable_reason = Some("rate_limited".into());
        k.unavailable_until = Some(ms(now + Duration::seconds(30)));
        assert!(matches!(k.refusal(now), Some(Refusal::Unavailable { .. })));
        k.unavailable_until = Some(ms(now - Duration::seconds(1)));
        assert_eq!(k.refusal(now), None, "a wait that has passed is no mark");
        k.unavailable_until = None;
        assert!(matches!(
            k.refusal(now),
            Some(Refusal::Unavailable { until_ms: None, .. })
        ));
        k.key_expires_at = Some(super::super::timestamp(now - Duration::seconds(1)));
        assert_eq!(k.refusal(now), Some(Refusal::Expired));
        k.is_active = false;
        assert_eq!(k.refusal(now), Some(Refusal::Inactive));
    }
}
