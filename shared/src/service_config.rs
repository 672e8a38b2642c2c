//! The service settings every function reads from its environment at cold start,
//! with their defaults. Key material and key tests have settings of their own
//! (`seed`, `keytest`); this module depends on neither, nor on the HTTP edge.

use time::Duration;

/// Days after which a stored key is reported as due for rotation, by default.
pub const DEFAULT_ROTATION_DAYS: i64 = 90;
/// Days a soft-deleted item is kept before DynamoDB's TTL purges it, by default.
pub const DEFAULT_DELETE_GRACE_DAYS: i64 = 30;
/// Key tests a user may run per minute, by default.
pub const DEFAULT_KEY_TESTS_PER_MINUTE: u32 = 10;
/// The table name when `APIKEYS_TABLE_NAME` is unset (the local stack's).
pub const DEFAULT_TABLE_NAME: &str = "apikeys-local";

/// The service settings read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `APIKEYS_TABLE_NAME`.
    pub table_name: String,
    /// `APIKEYS_ROTATION_DAYS`.
    pub rotation_after: Duration,
    /// `APIKEYS_DELETE_GRACE_DAYS`.
    pub delete_grace: Duration,
    /// `APIKEYS_UNUSED_DAYS`: how long without use before maintenance reports a key.
    pub unused_after: Duration,
    /// `APIKEYS_KEY_TESTS_PER_MINUTE`.
    pub key_tests_per_minute: u32,
}

impl ServiceConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get`; unparsable numbers fall back to defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let days = |name: &str, default: i64| {
            get(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|d| *d > 0)
                .map_or(Duration::days(default), Duration::days)
        };
        Self {
            table_name: get("APIKEYS_TABLE_NAME")
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_TABLE_NAME.to_owned()),
            rotation_after: days("APIKEYS_ROTATION_DAYS", DEFAULT_ROTATION_DAYS),
            delete_grace: days("APIKEYS_DELETE_GRACE_DAYS", DEFAULT_DELETE_GRACE_DAYS),
            unused_after: days(
                "APIKEYS_UNUSED_DAYS",
                crate::maintenance::DEFAULT_UNUSED_DAYS,
            ),
            key_tests_per_minute: get("APIKEYS_KEY_TESTS_PER_MINUTE")
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_KEY_TESTS_PER_MINUTE),
        }
    }
}
