//! Zero-token checks of provider keys: per provider, one call that really
//! authenticates and costs nothing, read into a typed outcome a person can act on.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::timestamp;
use crate::provider::ProviderId;

/// Connect timeout of a check call, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Total time budget of a check, retries included, by default.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries after the first attempt, for connection errors, timeouts and 5xx.
pub const MAX_RETRIES: u32 = 2;
/// The longest `Retry-After` a check waits for (once).
pub const MAX_HONOURED_RETRY_AFTER: Duration = Duration::from_secs(2);
/// Largest provider answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// Longest provider reason quoted in a message.
const MAX_REASON_CHARS: usize = 200;

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
}

/// A configuration error of the key tests; names the variable, not the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is invalid: {reason}")]
pub struct KeyTestConfigError {
    /// The variable.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Timeouts and base URLs of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTestSettings {
    /// Connect timeout of one attempt.
    pub connect_timeout: Duration,
    /// Budget of a whole check.
    pub total_timeout: Duration,
    /// First backoff; doubled per retry, plus up to as much jitter.
    pub backoff: Duration,
    base_urls: [String; 6],
}

impl Default for KeyTestSettings {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            backoff: Duration::from_millis(100),
            base_urls: ProviderId::ALL.map(|p| default_base_url(p).to_owned()),
        }
    }
}

fn default_base_url(provider: ProviderId) -> &'static str {
    match provider {
        ProviderId::OpenAi => "https://api.openai.com",
        ProviderId::Claude => "https://api.anthropic.com",
        ProviderId::GoogleAi => "https://generativelanguage.googleapis.com",
        ProviderId::OpenRouter => "https://openrouter.ai",
        ProviderId::Grok => "https://api.x.ai",
        ProviderId::Github => "https://api.github.com",
    }
}

/// `APIKEYS_<PROVIDER>_BASE_URL`, e.g. `APIKEYS_GOOGLE_AI_BASE_URL`.
pub fn base_url_variable(provider: ProviderId) -> String {
    format!(
        "APIKEYS_{}_BASE_URL",
        provider.as_str().to_ascii_uppercase().replace('-', "_")
    )
}

fn index(provider: ProviderId) -> usize {
    ProviderId::ALL
        .iter()
        .position(|p| *p == provider)
        .unwrap_or_default()
}

impl KeyTestSettings {
    /// Reads `APIKEYS_KEY_TEST_CONNECT_TIMEOUT_MS`, `APIKEYS_KEY_TEST_TIMEOUT_MS` and
    /// the base URLs through `get`. A base URL must be https, or http on loopback
    /// (a local fake provider): a key is never sent in clear over a network.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, KeyTestConfigError> {
        let mut settings = Self::default();
        let ms = |name: &str, default: Duration| -> Result<Duration, KeyTestConfigError> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| KeyTestConfigError {
                        name: name.to_owned(),
                        reason: "must be a positive number of milliseconds".into(),
                    }),
            }
        };
        settings.connect_timeout = ms(
            "APIKEYS_KEY_TEST_CONNECT_TIMEOUT_MS",
            DEFAULT_CONNECT_TIMEOUT,
        )?;
        settings.total_timeout = ms("APIKEYS_KEY_TEST_TIMEOUT_MS", DEFAULT_TOTAL_TIMEOUT)?;
        for provider in ProviderId::ALL {
            let name = base_url_variable(provider);
            if let Some(url) = get(&name).filter(|v| !v.trim().is_empty()) {
                settings
                    .set_base_url(provider, url.trim())
                    .map_err(|reason| KeyTestConfigError {
                        name: name.clone(),
                        reason,
                    })?;
            }
        }
        Ok(settings)
    }

    /// Points one provider's checks at `url` (https, or http on loopback).
    pub fn set_base_url(&mut self, provider: ProviderId, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| "must be an absolute URL".to_owned())?;
        let host = parsed.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err("must be https (http only on loopback)".into()),
        }
        self.base_urls[index(provider)] = url.trim_end_matches('/').to_owned();
        Ok(())
    }

    /// The base URL of a provider's checks.
    pub fn base_url(&self, provider: ProviderId) -> &str {
        &self.base_urls[index(provider)]
    }
}

/// Runs key tests. The HTTP client is built on first use and kept for the process.
#[derive(Debug)]
pub struct KeyTester {
    settings: KeyTestSettings,
    client: OnceLock<reqwest::Client>,
}

/// What one attempt says about the key.
enum Verdict {
    Final(Outcome),
    Retry(Outcome),
    WaitThenRetry(Outcome, Duration),
}

struct Outcome {
    status: KeyStatus,
    message: String,
    retry_after: Option<u64>,
}

impl Outcome {
    fn new(status: KeyStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl KeyTester {
    /// A tester with these settings.
    pub fn new(settings: KeyTestSettings) -> Self {
        Self {
            settings,
            client: OnceLock::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &KeyTestSettings {
        &self.settings
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(self.settings.connect_timeout)
                .timeout(self.settings.total_timeout)
                // A redirect could carry a custom auth header to another host.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("apikeys-key-test/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    /// Tests `key` against `provider`. Never fails: every outcome is a status.
    pub async fn test(&self, provider: ProviderId, key: &SecretString) -> KeyTestResult {
        let started = Instant::now();
        let outcome = self.check(provider, key.expose_secret(), started).await;
        let message = scrub(&outcome.message, key.expose_secret());
        let latency_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            event = "key_test.checked",
            provider = provider.as_str(),
            status = outcome.status.as_str(),
            latency_ms,
        );
        KeyTestResult {
            valid: outcome.status == KeyStatus::Valid,
            message,
            status: outcome.status,
            provider: provider.as_str(),
            latency_ms,
            checked_at: timestamp(OffsetDateTime::now_utc()),
            retry_after_seconds: outcome.retry_after,
        }
    }

    /// The result of a key that never reached the provider because its shape is wrong.
    pub fn format_invalid(provider: ProviderId, reason: &str) -> KeyTestResult {
        KeyTestResult {
            valid: false,
            message: format!(
                "This is not a valid {} key: it {reason}.",
                provider.display_name()
            ),
            status: KeyStatus::FormatInvalid,
            provider: provider.as_str(),
            latency_ms: 0,
            checked_at: timestamp(OffsetDateTime::now_utc()),
            retry_after_seconds: None,
        }
    }

    async fn check(&self, provider: ProviderId, key: &str, started: Instant) -> Outcome {
        let name = provider.display_name();
        if !provider.accepts_key_shape(key) {
            let mut message = format!("This does not look like {} {name} key", article(provider));
            if let Some(other) = ProviderId::guess_from_key(key) {
                message.push_str(&format!(
                    "; it looks like {} {} key",
                    article(other),
                    other.display_name()
                ));
            }
            message.push('.');
            return Outcome::new(KeyStatus::FormatInvalid, message);
        }
        let Some(request) = self.request(provider, key) else {
            return Outcome::new(
                KeyStatus::FormatInvalid,
                format!("This does not look like {} {name} key.", article(provider)),
            );
        };
        let deadline = started + self.settings.total_timeout;
        let mut retries = 0;
        let mut waited_for_provider = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return self.timeout_outcome(provider);
            }
            let Some(attempt) = request.try_clone() else {
                return Outcome::new(KeyStatus::ProviderError, "The check could not be sent.");
            };
            let verdict = match attempt.timeout(remaining).send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = read_capped(response).await;
                    classify(provider, status, &headers, &body)
                }
                Err(err) if err.is_timeout() => Verdict::Retry(self.timeout_outcome(provider)),
                Err(err) => {
                    tracing::warn!(
                        event = "key_test.transport_error",
                        provider = provider.as_str(),
                        error = %err.without_url(),
                    );
                    Verdict::Retry(Outcome::new(
                        KeyStatus::Unreachable,
                        format!("{name} could not be reached."),
                    ))
                }
            };
            match verdict {
                Verdict::Final(outcome) => return outcome,
                Verdict::WaitThenRetry(outcome, wait) => {
                    if waited_for_provider || Instant::now() + wait >= deadline {
                        return outcome;
                    }
                    waited_for_provider = true;
                    tokio::time::sleep(wait).await;
                }
                Verdict::Retry(outcome) => {
                    if retries >= MAX_RETRIES {
                        return outcome;
                    }
                    let backoff = self.backoff(retries);
                    if Instant::now() + backoff >= deadline {
                        return outcome;
                    }
                    retries += 1;
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }

    fn timeout_outcome(&self, provider: ProviderId) -> Outcome {
        Outcome::new(
            KeyStatus::Timeout,
            format!(
                "{} did not answer within {} s.",
                provider.display_name(),
                self.settings.total_timeout.as_secs_f32()
            ),
        )
    }

    /// Exponential backoff with full jitter on top: base·2ⁿ + random(0..base·2ⁿ).
    fn backoff(&self, retry: u32) -> Duration {
        let step = self.settings.backoff * 2u32.saturating_pow(retry);
        let mut byte = [0u8; 1];
        let jitter = if getrandom::fill(&mut byte).is_ok() {
            step.mul_f64(f64::from(byte[0]) / 255.0)
        } else {
            Duration::ZERO
        };
        step + jitter
    }

    /// The check call of a provider; `None` when the key cannot be a header value.
    fn request(&self, provider: ProviderId, key: &str) -> Option<reqwest::RequestBuilder> {
        let base = self.settings.base_url(provider);
        let secret = |value: String| -> Option<HeaderValue> {
            let mut value = HeaderValue::from_str(&value).ok()?;
            value.set_sensitive(true);
            Some(value)
        };
        let bearer = || secret(format!("Bearer {key}"));
        let client = self.client();
        let request = match provider {
            ProviderId::OpenAi => client
                .get(format!("{base}/v1/models"))
                .header(AUTHORIZATION, bearer()?),
            ProviderId::Claude => client
                .get(format!("{base}/v1/models"))
                .header(
                    HeaderName::from_static("x-api-key"),
                    secret(key.to_owned())?,
                )
                .header(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static("2023-06-01"),
                ),
            // The key goes in a header, never in `?key=`: URLs end up in logs.
            ProviderId::GoogleAi => client.get(format!("{base}/v1beta/models")).header(
                HeaderName::from_static("x-goog-api-key"),
                secret(key.to_owned())?,
            ),
            // `/api/v1/models` needs no key at all; `/api/v1/key` authenticates.
            ProviderId::OpenRouter => client
                .get(format!("{base}/api/v1/key"))
                .header(AUTHORIZATION, bearer()?),
            ProviderId::Grok => client
                .get(format!("{base}/v1/api-key"))
                .header(AUTHORIZATION, bearer()?),
            ProviderId::Github => client
                .get(format!("{base}/user"))
                .header(AUTHORIZATION, bearer()?)
                .header(
                    ACCEPT,
                    HeaderValue::from_static("application/vnd.github+json"),
                )
                .header(
                    HeaderName::from_static("x-github-api-version"),
                    HeaderValue::from_static("2022-11-28"),
                ),
        };
        Some(request)
    }
}

/// "a" or "an" before the provider's name, as it is said aloud.
fn article(provider: ProviderId) -> &'static str {
    match provider {
        ProviderId::GoogleAi | ProviderId::Github => "a",
        _ => "an",
    }
}

async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ANSWER_BYTES {
            body.truncate(MAX_ANSWER_BYTES);
            break;
        }
    }
    body
}

/// The provider's own words from an error body, if it has any.
fn provider_reason(body: &Value) -> Option<String> {
    let error = body.get("error");
    error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .or_else(|| error.and_then(Value::as_str))
        .or_else(|| body.get("message").and_then(Value::as_str))
        .map(str::to_owned)
}

/// Machine-readable error codes in a body (OpenAI `code`/`type`, Gemini `reason`).
fn error_codes(body: &Value) -> Vec<String> {
    let mut codes = Vec::new();
    let error = body.get("error").unwrap_or(body);
    for field in ["code", "type", "status"] {
        if let Some(code) = error.get(field).and_then(Value::as_str) {
            codes.push(code.to_owned());
        }
    }
    if let Some(details) = error.get("details").and_then(Value::as_array) {
        for d in details {
            if let Some(reason) = d.get("reason").and_then(Value::as_str) {
                codes.push(reason.to_owned());
            }
        }
    }
    codes
}

fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64)
}

fn with_reason(sentence: String, reason: Option<&String>) -> String {
    match reason {
        Some(r) if !r.trim().is_empty() => format!("{sentence} The provider said: {r}"),
        _ => sentence,
    }
}

/// Reads a provider's answer into a verdict.
fn classify(provider: ProviderId, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Verdict {
    let name = provider.display_name();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let reason = provider_reason(&json);
    let codes = error_codes(&json);
    let has_code = |c: &str| codes.iter().any(|x| x == c);
    let code = status.as_u16();

    if status.is_success() {
        return Verdict::Final(Outcome::new(
            KeyStatus::Valid,
            format!("{name} accepted the key."),
        ));
    }
    let invalid = || {
        Verdict::Final(Outcome::new(
            KeyStatus::Invalid,
            with_reason(
                format!("{name} rejected the key: it is wrong, revoked or disabled."),
                reason.as_ref(),
            ),
        ))
    };
    let rate_limited = || {
        let retry_after = retry_after_secs(headers);
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
    };
    let quota = || {
        Verdict::Final(Outcome::new(
            KeyStatus::QuotaExceeded,
            with_reason(
                format!("The key works, but its {name} account has no credit or quota left."),
                reason.as_ref(),
            ),
        ))
    };
    let github_exhausted = provider == ProviderId::Github
        && headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");

    match (provider, code) {
        (ProviderId::Github, 403 | 429) if github_exhausted => rate_limited(),
        (_, 401 | 403) => invalid(),
        (ProviderId::GoogleAi, 400) if has_code("API_KEY_INVALID") || reason.as_deref().is_some_and(|r| r.contains("API key not valid")) => invalid(),
        (ProviderId::Grok, 400) => invalid(),
        (ProviderId::OpenRouter, 402) => quota(),
        (ProviderId::OpenAi, 429) if has_code("insufficient_quota") => quota(),
        (_, 429) => rate_limited(),
        (ProviderId::Claude, 529) | (_, 500..=599) => Verdict::Retry(Outcome::new(
            KeyStatus::ProviderError,
            format!("{name} answered with an error (HTTP {code}), so the key could not be checked; try again later."),
        )),
        _ => Verdict::Final(Outcome::new(
            KeyStatus::ProviderError,
            with_reason(
                format!("{name} gave an unexpected answer (HTTP {code}), so the key could not be checked."),
                reason.as_ref(),
            ),
        )),
    }
}

/// Removes anything that looks like a key from a message: the key itself, tokens
/// with a known key prefix, masked keys (`sk-***abc`), and long mixed tokens.
pub fn scrub(message: &str, key: &str) -> String {
    let mut text = if key.len() >= 4 {
        message.replace(key, "[redacted]")
    } else {
        message.to_owned()
    };
    let looks_secret = |token: &str| {
        let has_digit = token.bytes().any(|b| b.is_ascii_digit());
        let has_alpha = token.bytes().any(|b| b.is_ascii_alphabetic());
        token.contains('*')
            || (token.len() >= 16 && has_digit && has_alpha)
            || ProviderId::ALL
                .iter()
                .flat_map(|p| p.key_prefixes())
                .any(|prefix| token.starts_with(prefix) && token.len() > prefix.len() + 3)
    };
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            out.push_str(if looks_secret(token) {
                "[redacted]"
            } else {
                token
            });
            token.clear();
        }
    };
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '*') {
            token.push(ch);
        } else {
            flush(&mut token, &mut out);
            out.push(ch);
        }
    }
    flush(&mut token, &mut out);
    text = out;
    if text.chars().count() > MAX_REASON_CHARS * 2 {
        text = text.chars().take(MAX_REASON_CHARS * 2).collect::<String>() + "…";
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_keys_masked_keys_and_long_tokens() {
        let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123";
        let text = format!(
            "Incorrect API key provided: {key}. Also sk-ant-api03-zzzzzzzz, xa***********Ab and tok_9f8e7d6c5b4a39281706."
        );
        let clean = scrub(&text, key);
        assert!(!clean.contains(key));
        assert!(!clean.contains("sk-ant-api03-zzzz"));
        assert!(!clean.contains("xa***"));
        assert!(!clean.contains("9f8e7d6c5b4a"));
        assert!(clean.starts_with("Incorrect API key provided: [redacted]."));
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let mut s = KeyTestSettings::default();
        assert!(s
            .set_base_url(ProviderId::OpenAi, "http://127.0.0.1:8080")
            .is_ok());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "http://localhost:8080/")
            .is_ok());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "https://proxy.example.com")
            .is_ok());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "http://proxy.example.com")
            .is_err());
        assert!(s
            .set_base_url(ProviderId::OpenAi, "ftp://127.0.0.1")
            .is_err());
    }

    #[test]
    fn base_url_variables_follow_the_provider_ids() {
        assert_eq!(
            base_url_variable(ProviderId::GoogleAi),
            "APIKEYS_GOOGLE_AI_BASE_URL"
        );
        assert_eq!(
            base_url_variable(ProviderId::OpenAi),
            "APIKEYS_OPENAI_BASE_URL"
        );
    }
}
