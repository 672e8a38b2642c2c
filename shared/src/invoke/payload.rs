//! The payloads of use-key, read once into typed requests: a use, or a report of
//! what the provider answered (with the lease the use handed out). The first wrong
//! field is named; a payload that came through API Gateway is refused.

use serde_json::{Map, Value};

use crate::api::UserId;
use crate::provider::ProviderId;

/// The wait after a `rate_limited` report that names none.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// The longest wait a report may set.
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// The longest key id accepted (ids are UUIDs).
const MAX_KEY_ID_LEN: usize = 64;

/// The fields a payload may have.
const FIELDS: &[&str] = &[
    "userId",
    "userToken",
    "provider",
    "keyId",
    "lease",
    "outcome",
    "retryAfterSeconds",
    "usage",
];

/// The key id a use answers when the deployment's own key stands in for the user's,
/// and that a report of the call then names.
pub const DEPLOYMENT_KEY_ID: &str = "deployment";

/// The most tokens one report may count (far above any one call).
const MAX_REPORTED_TOKENS: u64 = 100_000_000;

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
    /// A call the app made with the deployment's key (`keyId: "deployment"`): its
    /// tokens count against the user's monthly allowance.
    DeploymentUsage {
        /// Whose.
        user: UserId,
        /// Which provider.
        provider: ProviderId,
        /// Input and output tokens together, from `usage`.
        tokens: u64,
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
    /// 400, or 403 for a `userId` other than the token's user.
    pub status: u16,
}

fn wrong(field: &str, message: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.to_owned(),
        message: message.into(),
        status: 400,
    }
}

fn string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, PayloadError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(field, "must be a string")),
    }
}

/// `usage` `{inputTokens, outputTokens}` (whole numbers, each optional): both
/// together.
fn tokens_of(usage: &Map<String, Value>) -> Result<u64, PayloadError> {
    let mut total = 0u64;
    for (name, value) in usage {
        let field = format!("usage.{name}");
        if name != "inputTokens" && name != "outputTokens" {
            return Err(wrong(
                &field,
                "is not a field of usage (inputTokens, outputTokens)",
            ));
        }
        match value.as_u64() {
            Some(n) if n <= MAX_REPORTED_TOKENS => total += n,
            _ => {
                return Err(wrong(
                    &field,
                    format!("must be a whole number from 0 to {MAX_REPORTED_TOKENS}"),
                ))
            }
        }
    }
    Ok(total)
}

impl UseKeyRequest {
    /// Reads a payload; the first wrong field is named.
    pub fn parse(payload: &Value) -> Result<Self, PayloadError> {
        Self::parse_for(payload, None)
    }

    /// Reads a payload whose user a checked token named (`subject`): `userId` may
    /// then be left out, and must name the same user when it is there.
    pub fn parse_for(payload: &Value, subject: Option<UserId>) -> Result<Self, PayloadError> {
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
        let named = string(body, "userId")?
            .map(|raw| {
                UserId::parse(raw).ok_or_else(|| {
                    wrong(
                        "userId",
                        "must be 1 to 256 characters, none of them control characters",
                    )
                })
            })
            .transpose()?;
        let user = match (subject, named) {
            (Some(subject), Some(named)) if subject != named => {
                return Err(PayloadError {
                    status: 403,
                    ..wrong("userId", "is not the user of the userToken")
                })
            }
            (Some(subject), _) => subject,
            (None, Some(named)) => named,
            (None, None) => return Err(wrong("userId", "is required")),
        };
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
        let usage = match body.get("usage") {
            None | Some(Value::Null) => None,
            Some(Value::Object(usage)) => Some(tokens_of(usage)?),
            Some(_) => return Err(wrong("usage", "must be an object")),
        };
        let on_deployment = key_id.as_deref() == Some(DEPLOYMENT_KEY_ID);
        match (usage, on_deployment) {
            (Some(_), false) => {
                return Err(wrong(
                    "usage",
                    "belongs to a report on the deployment's key (keyId \"deployment\")",
                ))
            }
            (None, true) if outcome.is_some() => return Err(wrong(
                "usage",
                "is required: a call on the deployment's key counts against the user's allowance",
            )),
            (Some(tokens), true) => {
                if outcome.is_none() {
                    return Err(wrong("outcome", "is required with usage"));
                }
                if lease.is_some() {
                    return Err(wrong("lease", "the deployment's key has no lease"));
                }
                return Ok(Self::DeploymentUsage {
                    user,
                    provider,
                    tokens,
                });
            }
            _ => {}
        }
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
