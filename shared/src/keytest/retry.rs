//! The attempts of one check inside its time budget: retries with backoff where
//! another attempt can help, the provider's short `Retry-After` honoured once.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::outcome::{verdict, KeyStatus, Outcome, Verdict};
use super::settings::KeyTestSettings;
use super::{MAX_ANSWER_BYTES, MAX_RETRIES};
use crate::provider::{Answer, ProviderId};

/// Runs `request` until a verdict is final, the retries are used up or the
/// deadline comes.
pub(crate) async fn attempts(
    settings: &KeyTestSettings,
    provider: ProviderId,
    client: &reqwest::Client,
    request: reqwest::Request,
    deadline: Instant,
) -> Outcome {
    let name = provider.display_name();
    let mut retries = 0;
    let mut waited_for_provider = false;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return timeout_outcome(settings, provider);
        }
        let Some(mut attempt) = request.try_clone() else {
            return Outcome::new(KeyStatus::ProviderError, "The check could not be sent.");
        };
        *attempt.timeout_mut() = Some(remaining);
        let verdict = match client.execute(attempt).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers: Vec<(String, String)> = response
                    .headers()
                    .iter()
                    .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                let body = read_capped(response).await;
                let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let answer = Answer {
                    status,
                    body: &json,
                    headers: &headers,
                };
                verdict(provider, &answer)
            }
            Err(err) if err.is_timeout() => Verdict::Retry(timeout_outcome(settings, provider)),
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
                let backoff = backoff(settings, retries);
                if Instant::now() + backoff >= deadline {
                    return outcome;
                }
                retries += 1;
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// The outcome of a check that ran out of time.
pub(crate) fn timeout_outcome(settings: &KeyTestSettings, provider: ProviderId) -> Outcome {
    Outcome::new(
        KeyStatus::Timeout,
        format!(
            "{} did not answer within {} s.",
            provider.display_name(),
            settings.total_timeout.as_secs_f32()
        ),
    )
}

/// Exponential backoff with full jitter on top: base·2ⁿ + random(0..base·2ⁿ).
fn backoff(settings: &KeyTestSettings, retry: u32) -> Duration {
    let step = settings.backoff * 2u32.saturating_pow(retry);
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        step.mul_f64(f64::from(byte[0]) / 255.0)
    } else {
        Duration::ZERO
    };
    step + jitter
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
