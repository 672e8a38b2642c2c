//! The typed outcome of a key test, and how a provider's answer becomes one.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::timestamp;
use crate::provider::{Answer, ProviderId, Reading};

/// The longest `Retry-After` a check waits for (once).
pub const MAX_HONOURED_RETRY_AFTER: Duration = Duration::from_secs(2);

/// The outcome of a key test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// The provider accepted the key.
    Valid,
    /// The provider refused the key (wrong, revoked, disabled).
    Invalid,
    /// The key authenticates, but its account has no credit or quota left.
    QuotaExceeded,
    /// The provider is rate limiting the key.
    RateLimited,
    /// The provider failed; the key could not be checked.
    ProviderError,
    /// The provider did not answer in time.
    Timeout,
    /// The provider could not be reached.
    Unreachable,
    /// The key does not have a shape the provider issues; nothing was sent.
    FormatInvalid,
}

impl KeyStatus {
    /// The status as stored in `lastValidationStatus` and returned.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::ProviderError => "provider_error",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::FormatInvalid => "format_invalid",
        }
    }
}

/// The answer of `POST /api/test-api-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyTestResult {
    /// True only for a key the provider accepted.
    pub valid: bool,
    /// What happened, for a person; never contains the key.
    pub message: String,
    /// The typed outcome.
    pub status: KeyStatus,
    /// The canonical provider id.
    pub provider: &'static str,
    /// Time the check took, retries included.
    pub latency_ms: u64,
    /// When the check ended (RFC 3339 UTC).
    pub checked_at: String,
    /// When rate limited: the provider's `Retry-After`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Things a person should know although the key was tested, e.g. an unusual
    /// length for the provider. Never contains the key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl KeyTestResult {
    /// A result for `provider` that ends now.
    pub(crate) fn new(provider: ProviderId, outcome: Outcome, latency_ms: u64) -> Self {
        Self {
            valid: outcome.status == KeyStatus::Valid,
            message: outcome.message,
            status: outcome.status,
            provider: provider.as_str(),
            latency_ms,
            checked_at: timestamp(OffsetDateTime::now_utc()),
            retry_after_seconds: outcome.retry_after,
            warnings: Vec::new(),
        }
    }
}

/// What a check found, before it becomes a [`KeyTestResult`].
#[derive(Debug)]
pub(crate) struct Outcome {
    pub status: KeyStatus,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Outcome {
    pub fn new(status: KeyStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// What one attempt says, and whether another attempt may help.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The answer stands.
    Final(Outcome),
    /// Worth another attempt after a backoff (5xx, timeouts, connection errors).
    Retry(Outcome),
    /// Worth one more attempt after the provider's own short `Retry-After`.
    WaitThenRetry(Outcome, Duration),
}

fn with_reason(sentence: String, reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.trim().is_empty() => format!("{sentence} The provider said: {r}"),
        _ => sentence,
    }
}

fn retry_after_secs(answer: &Answer<'_>) -> Option<u64> {
    answer
        .header("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64)
}

/// Reads a provider's answer into a verdict, with the registry's reading of it.
pub(crate) fn verdict(provider: ProviderId, answer: &Answer<'_>) -> Verdict {
    let name = provider.display_name();
    let reason = answer.reason();
    let code = answer.status;
    match answer.read_with(provider.entry().check.read) {
        Reading::Valid => Verdict::Final(Outcome::new(
            KeyStatus::Valid,
            format!("{name} accepted the key."),
        )),
        Reading::Invalid => Verdict::Final(Outcome::new(
            KeyStatus::Invalid,
            with_reason(
                format!("{name} rejected the key: it is wrong, revoked or disabled."),
                reason,
            ),
        )),
        Reading::QuotaExceeded => Verdict::Final(Outcome::new(
            KeyStatus::QuotaExceeded,
            with_reason(
                format!("The key works, but its {name} account has no credit or quota left."),
                reason,
            ),
        )),
        Reading::RateLimited => {
            let retry_after = retry_after_secs(answer);
            let mut outcome = Outcome::new(
                KeyStatus::RateLimited,
                match retry_after {
                    Some(s) => format!("{name} is rate limiting this key; try again in {s} s."),
                    None => format!("{name} is rate limiting this key; try again shortly."),
                },
            );
            outcome.retry_after = retry_after;
            match retry_after {
                Some(s) if Duration::from_secs(s) <= MAX_HONOURED_RETRY_AFTER => {
                    Verdict::WaitThenRetry(outcome, Duration::from_secs(s))
                }
                _ => Verdict::Final(outcome),
            }
        }
        Reading::Overloaded => Verdict::Retry(Outcome::new(
            KeyStatus::ProviderError,
            format!("{name} answered with an error (HTTP {code}), so the key could not be checked; try again later."),
        )),
        Reading::WrongEndpoint => Verdict::Final(Outcome::new(
            KeyStatus::ProviderError,
            format!(
                "The endpoint has no {} (HTTP {code}), so the key could not be checked; check the endpoint (an OpenAI-compatible base URL usually ends with /v1).",
                provider.entry().check.path
            ),
        )),
        Reading::Unexpected => Verdict::Final(Outcome::new(
            KeyStatus::ProviderError,
            with_reason(
                format!("{name} gave an unexpected answer (HTTP {code}), so the key could not be checked."),
                reason,
            ),
        )),
    }
}
