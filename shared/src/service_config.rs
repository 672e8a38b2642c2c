//! The service settings every function reads from its environment at cold start,
//! with their defaults. Key material and key tests have settings of their own
//! (`seed`, `keytest`); this module depends on neither, nor on the HTTP edge.

use time::Duration;

use crate::aws::running_in_aws_lambda_from;

/// Days after which a stored key is reported as due for rotation, by default.
pub const DEFAULT_ROTATION_DAYS: i64 = 90;
/// Days a soft-deleted item is kept before DynamoDB's TTL purges it, by default.
pub const DEFAULT_DELETE_GRACE_DAYS: i64 = 30;
/// Key tests a user may run per minute, by default.
pub const DEFAULT_KEY_TESTS_PER_MINUTE: u32 = 10;
/// The table name when `APIKEYS_TABLE_NAME` is unset (the local stack's).
pub const DEFAULT_TABLE_NAME: &str = "apikeys-local";

/// The header a local request may name its user in, when the local opt-in is on.
pub const LOCAL_USER_HEADER: &str = "x-apikeys-local-user";

/// The variable that switches the local opt-in on: its name says what it does.
pub const LOCAL_USER_HEADER_OPT_IN: &str = "APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER";

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
    /// `APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER`: see [`IdentityPolicy`].
    pub identity: IdentityPolicy,
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
            identity: IdentityPolicy::from_lookup(&get),
            key_tests_per_minute: get("APIKEYS_KEY_TESTS_PER_MINUTE")
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_KEY_TESTS_PER_MINUTE),
        }
    }
}

/// Where identity may come from.
///
/// `cargo lambda watch` and `sam local` run no authorizer, so for local use an
/// operator may set `APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER=true` to take the user
/// id from the `x-apikeys-local-user` header. That opt-in is ignored (and an error
/// logged) inside AWS Lambda, where AWS sets the reserved `AWS_EXECUTION_ENV`
/// variable, which no function configuration can change; the SAM template never
/// sets the opt-in either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentityPolicy {
    trust_local_user_header: bool,
}

impl IdentityPolicy {
    /// Identity only from the authorizer context.
    pub fn authorizer_only() -> Self {
        Self::default()
    }

    /// Reads the opt-in through `get` (the environment), refusing it inside AWS
    /// Lambda as told by the same `get`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Self {
        let wanted =
            get(LOCAL_USER_HEADER_OPT_IN).is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
        if wanted && running_in_aws_lambda_from(get) {
            tracing::error!(
                event = "identity.local_header_refused",
                "{LOCAL_USER_HEADER_OPT_IN} is set inside AWS Lambda and is ignored"
            );
            return Self::default();
        }
        if wanted {
            tracing::warn!(
                event = "identity.local_header_trusted",
                "INSECURE: user ids are taken from the {LOCAL_USER_HEADER} header (local development only)"
            );
        }
        Self {
            trust_local_user_header: wanted,
        }
    }

    /// Whether the local header is trusted.
    pub fn trusts_local_header(&self) -> bool {
        self.trust_local_user_header
    }
}
