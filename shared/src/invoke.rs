//! The payloads of `use-key`, the function the app's own servers invoke with the
//! Lambda Invoke API (never through API Gateway) to get a user's key:
//!
//! - `{"userId", "provider", "keyId"?}` →
//!   `{"found": true, "apiKey", "keyId", "lease", "keyHint", "provider", "settings",
//!   "endpoint"?, "endpointAddresses"?}` (a stored endpoint is resolved and checked
//!   again here, under today's rules: the addresses it leads to, which the caller
//!   connects to; one that leads somewhere refused now is `{"found": false, "reason":
//!   "endpoint_refused", "keyId", "field"}`, the key not handed out)
//!   or `{"found": false, "reason": "none" | "inactive" | "expired" | "all_unavailable", …}`
//!   (`all_unavailable` adds `"unavailable"`, what the provider said, and
//!   `"availableAt"`, the earliest time a key is usable again, or null when only
//!   replacing or testing it again makes it usable).
//! - `{"userId", "provider", "keyId", "lease"?, "outcome": "rate_limited" | "invalid" |
//!   "quota_exceeded" | "ok", "retryAfterSeconds"?}` → `{"recorded": true}` or
//!   `{"recorded": false, "reason": "stale" | "none"}`: what the provider answered the
//!   app's server, so the next call can skip the key. The `lease` is the one the use
//!   answered: a report about a key replaced or tested since is stale and marks
//!   nothing. A report without one (callers before leases) applies to the key as it
//!   is now; that form is kept for one release.
//! - Bad input → `{"error": {"field", "message"}}`; unavailable key material →
//!   `{"error": {"message"}, "retryAfterSeconds"}`; anything else →
//!   `{"error": {"message": "internal error"}, "requestId"}` with the cause in the
//!   log under that request id. No error ever carries key material.
//!
//! A payload that came through API Gateway (it has a `requestContext`) is refused:
//! the function trusts the `userId` it is given, which only the app's servers may
//! name.

use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::api::{UserId, KEY_MATERIAL_RETRY_AFTER_SECS};
use crate::provider::ProviderId;
use crate::repo::ReportedOutcome;
use crate::sealing_state::SealingState;
use crate::usage::{use_key, Refusal, UsageError, UsedKey};

/// The wait after a `rate_limited` report that names none.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// The longest wait a report may set.
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// The longest key id accepted (ids are UUIDs).
const MAX_KEY_ID_LEN: usize = 64;

/// The fields a payload may have.
const FIELDS: &[&str] = &[
    "userId",
    "provider",
    "keyId",
    "lease",
    "outcome",
    "retryAfterSeconds",
];

/// The lease of a handed-out key: the key's revision, in a form callers pass back
/// as it is.
pub fn lease_of(key_revision: u64) -> String {
    format!("rev-{key_revision}")
}

/// The key revision a lease names; `None` when it is not one.
fn lease_revision(lease: &str) -> Option<u64> {
    let digits = lease.strip_prefix("rev-")?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A payload, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseKeyRequest {
    /// Give me the user's key.
    Use {
        /// Whose.
        user: UserId,
        /// For which provider.
        provider: ProviderId,
        /// That key only.
        key_id: Option<String>,
    },
    /// What the provider said about a key the app used.
    Report {
        /// Whose.
        user: UserId,
        /// Which provider.
        provider: ProviderId,
        /// Which key.
        key_id: String,
        /// The revision of the key the report is about (its lease); `None` from
        /// callers before leases: the key as it is now.
        lease: Option<u64>,
        /// What the provider said.
        outcome: Outcome,
        /// For `rate_limited`: how long to skip the key.
        retry_after_secs: u64,
    },
}

/// An outcome as reported, before it has a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 429.
    RateLimited,
    /// The key was refused.
    Invalid,
    /// No credit left.
    QuotaExceeded,
    /// The key worked.
    Ok,
}

/// A field that is wrong, and why (never quoting a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    /// The field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn wrong(field: &str, message: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, PayloadError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(field, "must be a string")),
    }
}

impl UseKeyRequest {
    /// Reads a payload; the first wrong field is named.
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let Value::Object(body) = payload else {
            return Err(wrong("", "the payload must be a JSON object"));
        };
        if body.contains_key("requestContext") {
            return Err(wrong(
                "requestContext",
                "use-key is invoked with the Lambda Invoke API by the app's servers, never through API Gateway",
            ));
        }
        if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(wrong(unknown, "is not a field of use-key"));
        }
        let user = string(body, "userId")?
            .ok_or_else(|| wrong("userId", "is required"))
            .and_then(|raw| {
                UserId::parse(raw).ok_or_else(|| {
                    wrong(
                        "userId",
                        "must be 1 to 256 characters, none of them control characters",
                    )
                })
            })?;
        let provider = string(body, "provider")?
            .ok_or_else(|| wrong("provider", "is required"))
            .and_then(|raw| {
                ProviderId::parse(raw).ok_or_else(|| {
                    wrong(
                        "provider",
                        format!(
                            "is not a known provider (one of {})",
                            ProviderId::accepted_ids()
                        ),
                    )
                })
            })?;
        let key_id = match string(body, "keyId")? {
            Some(id)
                if id.is_empty()
                    || id.len() > MAX_KEY_ID_LEN
                    || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                return Err(wrong(
                    "keyId",
                    "must be a key id (letters, digits and '-', at most 64)",
                ));
            }
            other => other.map(str::to_owned),
        };
        let lease = match string(body, "lease")? {
            None => None,
            Some(raw) => Some(lease_revision(raw).ok_or_else(|| {
                wrong("lease", "must be the lease use-key answered with the key")
            })?),
        };
        let outcome = match string(body, "outcome")? {
            None => None,
            Some("rate_limited") => Some(Outcome::RateLimited),
            Some("invalid") => Some(Outcome::Invalid),
            Some("quota_exceeded") => Some(Outcome::QuotaExceeded),
            Some("ok") => Some(Outcome::Ok),
            Some(_) => {
                return Err(wrong(
                    "outcome",
                    "must be one of rate_limited, invalid, quota_exceeded, ok",
                ))
            }
        };
        let retry_after_secs = match body.get("retryAfterSeconds") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(s) if (1..=MAX_RETRY_AFTER_SECS).contains(&s) => Some(s),
                _ => {
                    return Err(wrong(
                        "retryAfterSeconds",
                        format!(
                            "must be a whole number of seconds from 1 to {MAX_RETRY_AFTER_SECS}"
                        ),
                    ))
                }
            },
            Some(_) => return Err(wrong("retryAfterSeconds", "must be a number")),
        };
        match (outcome, key_id) {
            (None, key_id) => {
                if retry_after_secs.is_some() {
                    return Err(wrong("retryAfterSeconds", "belongs to an outcome report"));
                }
                if lease.is_some() {
                    return Err(wrong("lease", "belongs to an outcome report"));
                }
                Ok(Self::Use {
                    user,
                    provider,
                    key_id,
                })
            }
            (Some(_), None) => Err(wrong("keyId", "is required to report an outcome")),
            (Some(outcome), Some(key_id)) => {
                if retry_after_secs.is_some() && outcome != Outcome::RateLimited {
                    return Err(wrong(
                        "retryAfterSeconds",
                        "belongs to a rate_limited report",
                    ));
                }
                Ok(Self::Report {
                    user,
                    provider,
                    key_id,
                    lease,
                    outcome,
                    retry_after_secs: retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
                })
            }
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map_or(Value::Null, Value::String)
}

/// Answers one payload. `request_id` is the invocation's (for the log and the
/// answer of an unexpected failure).
pub async fn handle(state: &SealingState, payload: &Value, request_id: &str) -> Value {
    let request = match UseKeyRequest::parse(payload) {
        Ok(request) => request,
        Err(e) => {
            tracing::info!(
                target: "apikeys::audit",
                event = "api_key.use",
                outcome = "failure",
                field = e.field.as_str(),
                request_id,
            );
            return json!({"error": {"field": e.field, "message": e.message}});
        }
    };
    match request {
        UseKeyRequest::Use {
            user,
            provider,
            key_id,
        } => {
            let used = use_key(state, user.as_str(), provider, key_id.as_deref()).await;
            let endpoint = match &used {
                Ok(UsedKey::Active { stored, .. }) => {
                    check_endpoint(state, provider, stored.endpoint.as_ref()).await
                }
                _ => Checked::NoEndpoint,
            };
            answer_use(used, endpoint, &user, provider, request_id)
        }
        UseKeyRequest::Report {
            user,
            provider,
            key_id,
            lease,
            outcome,
            retry_after_secs,
        } => {
            let now = OffsetDateTime::now_utc();
            let reported = match outcome {
                Outcome::RateLimited => ReportedOutcome::RateLimited {
                    until: now + Duration::seconds(retry_after_secs as i64),
                },
                Outcome::Invalid => ReportedOutcome::Invalid,
                Outcome::QuotaExceeded => ReportedOutcome::QuotaExceeded,
                Outcome::Ok => ReportedOutcome::Ok,
            };
            match state
                .base
                .repo
                .report_outcome(user.as_str(), provider, &key_id, reported, lease, now)
                .await
            {
                Ok(answer) => {
                    let reason = answer.reason();
                    tracing::info!(
                        target: "apikeys::audit",
                        event = "api_key.outcome_reported",
                        outcome = if reason.is_none() { "success" } else { "failure" },
                        user_id = user.as_str(),
                        provider = provider.as_str(),
                        key_id = key_id.as_str(),
                        reported = reported.as_str(),
                        reason = reason.unwrap_or(""),
                        leased = lease.is_some(),
                        request_id,
                    );
                    match reason {
                        None => json!({"recorded": true}),
                        Some(reason) => json!({"recorded": false, "reason": reason}),
                    }
                }
                Err(e) => internal(&e, request_id),
            }
        }
    }
}

/// A stored endpoint, checked again where it is used.
enum Checked {
    /// The key has none.
    NoEndpoint,
    /// The addresses it leads to under today's policy (empty when the resolver did
    /// not answer in time).
    Addresses(Vec<String>),
    /// It leads somewhere the guard refuses today (or does not resolve): the field.
    Refused(&'static str),
}

/// Resolves and checks a stored endpoint under today's rules: a name that resolved
/// to a public address at store may lead inside the network now.
async fn check_endpoint(
    state: &SealingState,
    provider: ProviderId,
    stored: Option<&Value>,
) -> Checked {
    let Some(value) = stored.filter(|v| !v.is_null()) else {
        return Checked::NoEndpoint;
    };
    let endpoint = match state.tester.parse_endpoint(provider, value) {
        Ok(endpoint) => endpoint,
        Err(errors) => return Checked::Refused(errors.first().map_or("endpoint", |e| e.field)),
    };
    match state.tester.checked_addresses(provider, &endpoint).await {
        Ok(addrs) => {
            let mut ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            ips.dedup();
            Checked::Addresses(ips)
        }
        Err(refused) => Checked::Refused(refused.field),
    }
}

fn answer_use(
    used: Result<UsedKey, UsageError>,
    endpoint: Checked,
    user: &UserId,
    provider: ProviderId,
    request_id: &str,
) -> Value {
    let audit = |outcome: &str, key_id: &str, reason: &str| {
        tracing::info!(
            target: "apikeys::audit",
            event = "api_key.used",
            outcome,
            user_id = user.as_str(),
            provider = provider.as_str(),
            key_id,
            reason,
            request_id,
        );
    };
    match used {
        Ok(UsedKey::Active { stored, .. }) if matches!(endpoint, Checked::Refused(_)) => {
            // The key is not handed out: its endpoint leads where no call may go now.
            audit("failure", &stored.id, "endpoint_refused");
            let field = match endpoint {
                Checked::Refused(field) => field,
                _ => "endpoint",
            };
            json!({"found": false, "reason": "endpoint_refused", "keyId": stored.id, "field": field})
        }
        Ok(UsedKey::Active { key, stored }) => {
            audit("success", &stored.id, "");
            let mut answer = json!({
                "found": true,
                "apiKey": key.expose_secret(),
                "keyId": stored.id,
                "lease": lease_of(stored.key_revision),
                "keyHint": stored.key_hint,
                "provider": provider.as_str(),
                "settings": stored.settings,
            });
            if let Some(endpoint) = stored.endpoint.filter(|e| !e.is_null()) {
                answer["endpoint"] = endpoint;
            }
            if let Checked::Addresses(ips) = endpoint {
                answer["endpointAddresses"] = json!(ips);
            }
            answer
        }
        Ok(UsedKey::Refused(why)) => {
            audit("failure", "", why.as_str());
            let mut answer = json!({"found": false, "reason": why.as_str()});
            if let Refusal::AllUnavailable {
                reason,
                available_at,
            } = why
            {
                answer["unavailable"] = Value::String(reason);
                answer["availableAt"] = available_at.map_or(Value::Null, rfc3339);
            }
            answer
        }
        Err(UsageError::KeyMaterial(cause)) => {
            tracing::error!(request_id, error = %cause, "key material unavailable");
            json!({
                "error": {"message": "the service is temporarily unavailable: try again shortly"},
                "retryAfterSeconds": KEY_MATERIAL_RETRY_AFTER_SECS,
            })
        }
        Err(e) => internal(&e, request_id),
    }
}

fn internal(cause: &dyn std::fmt::Display, request_id: &str) -> Value {
    tracing::error!(request_id, error = %cause, "use-key failed");
    json!({"error": {"message": "internal error"}, "requestId": request_id})
}

#[cfg(test)]
mod tests;
