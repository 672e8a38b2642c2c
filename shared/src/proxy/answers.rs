//! The answers the proxy makes itself: refusals and errors in the shape each
//! provider's SDK reads, a provider's refusal read as a report would record it, and
//! a provider's error passed on whole with anything like a key taken out.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{headers, relay, CallInfo, ProxyBody, Receipt};
use crate::provider::ApiFamily;
use crate::repo::ReportedOutcome;
use crate::usage::Refusal;

/// The largest error answer read to decide whether to move to the next key.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// The wait after a 429 that names none.
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;
/// The longest wait a 429 may set.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// The answer when every key left was passed over for its endpoint, which leads
/// where no call may go now (checked again at each call): nothing left the vault.
pub(super) fn endpoint_refusal(
    family: ApiFamily,
    info: &CallInfo,
    receipt: &Receipt,
) -> Response<ProxyBody> {
    info.audit("endpoint_refused", 502, receipt, 0, 0);
    family_error(
        family,
        StatusCode::BAD_GATEWAY,
        "endpoint_refused",
        "the key's endpoint may not be called now (it leads where the vault never calls, or there is none)",
        Some(receipt),
    )
}

/// 503 with `Retry-After`: a dependency failed for now.
pub(super) fn unavailable(
    family: ApiFamily,
    info: &CallInfo,
    receipt: &Receipt,
) -> Response<ProxyBody> {
    info.audit("unavailable", 503, receipt, 0, 0);
    let mut out = family_error(
        family,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the service is temporarily unavailable: try again shortly",
        Some(receipt),
    );
    out.headers_mut().insert(
        "retry-after",
        HeaderValue::from(crate::api::TABLE_RETRY_AFTER_SECS),
    );
    out
}

/// What a refusal before the first byte says of the key: OpenAI's exhausted quota
/// comes as a 429 with the code `insufficient_quota`
/// (<https://platform.openai.com/docs/guides/error-codes#api-errors>).
pub(super) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<ReportedOutcome> {
    let quota = || {
        serde_json::from_slice::<Value>(body).is_ok_and(|v| {
            let error = v.get("error");
            [
                error.and_then(|e| e.get("code")),
                error.and_then(|e| e.get("type")),
            ]
            .into_iter()
            .flatten()
            .any(|c| c.as_str() == Some("insufficient_quota"))
        })
    };
    // A 403 is about the key only when it says so; otherwise it is about what was
    // asked (a model, a region), and marking the key would refuse it everywhere.
    let about_the_key = || {
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        [
            "api key",
            "api_key",
            "apikey",
            "authenticat",
            "credential",
            "invalid key",
        ]
        .iter()
        .any(|w| text.contains(w))
    };
    Some(match status.as_u16() {
        402 => ReportedOutcome::QuotaExceeded,
        429 if quota() => ReportedOutcome::QuotaExceeded,
        403 if !about_the_key() => return None,
        429 => {
            let secs = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS)
                .clamp(1, MAX_RETRY_AFTER_SECS);
            ReportedOutcome::RateLimited {
                until: OffsetDateTime::now_utc() + time::Duration::seconds(secs as i64),
            }
        }
        _ => ReportedOutcome::Invalid,
    })
}

/// A provider's error text with anything that looks like a key taken out: each
/// string of a JSON body (its shape kept, so SDKs still read it), or the whole text.
pub(super) fn scrubbed(body: &[u8], key: &str) -> Bytes {
    fn walk(value: &mut Value, key: &str) {
        match value {
            Value::String(s) => *s = crate::keytest::scrub(s, key),
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, key)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, key)),
            _ => {}
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            walk(&mut value, key);
            Bytes::from(value.to_string())
        }
        Err(_) => Bytes::from(crate::keytest::scrub(&String::from_utf8_lossy(body), key)),
    }
}

/// A provider's answer passed on whole (an error, already scrubbed), with its
/// headers less those that stay behind, and the receipt.
pub(super) fn whole_answer(
    status: StatusCode,
    upstream: &HeaderMap,
    body: Bytes,
    receipt: &Receipt,
) -> Response<ProxyBody> {
    let mut out = Response::new(relay::whole(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers::to_caller(upstream);
    receipt.write(out.headers_mut());
    out
}

/// At most [`MAX_ERROR_BYTES`] of an error answer.
pub(super) async fn read_capped(mut answer: reqwest::Response, wait: Duration) -> Bytes {
    let mut held = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = answer.chunk().await {
            let room = MAX_ERROR_BYTES.saturating_sub(held.len());
            held.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if held.len() >= MAX_ERROR_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(wait, read).await;
    Bytes::from(held)
}

/// The answer when the user has no key to use.
pub(super) fn refusal_answer(family: ApiFamily, why: &Refusal) -> Response<ProxyBody> {
    let (status, message) = match why {
        Refusal::None => (
            StatusCode::NOT_FOUND,
            "no key of this provider is stored for this user".to_owned(),
        ),
        Refusal::Inactive => (
            StatusCode::NOT_FOUND,
            "this provider's configuration was deleted".to_owned(),
        ),
        Refusal::Expired => (
            StatusCode::FORBIDDEN,
            "every key of this provider has expired".to_owned(),
        ),
        Refusal::AllUnavailable { reason, .. } if reason == crate::domain::BUDGET_EXHAUSTED => {
            // Every usable key has spent its budget this month.
            let mut out = json_answer(
                StatusCode::PAYMENT_REQUIRED,
                &json!({
                    "error": "budget_exhausted",
                    "message": "every key of this provider has spent its monthly token budget",
                }),
            );
            retry_after(&mut out, why);
            return out;
        }
        Refusal::AllUnavailable { reason, .. } => match reason.as_str() {
            "rate_limited" => (
                StatusCode::TOO_MANY_REQUESTS,
                "every key of this provider is rate limited for now".to_owned(),
            ),
            "quota_exceeded" => (
                StatusCode::PAYMENT_REQUIRED,
                "every key of this provider is out of quota".to_owned(),
            ),
            _ => (
                StatusCode::UNAUTHORIZED,
                "every key of this provider was refused by the provider".to_owned(),
            ),
        },
    };
    let code = match why {
        Refusal::AllUnavailable { reason, .. } => reason.clone(),
        other => other.as_str().to_owned(),
    };
    let mut out = family_error(family, status, &code, &message, None);
    retry_after(&mut out, why);
    out
}

/// `Retry-After` on a refusal whose keys become usable at a known time.
fn retry_after(out: &mut Response<ProxyBody>, why: &Refusal) {
    if let Refusal::AllUnavailable {
        available_at: Some(at),
        ..
    } = why
    {
        let secs = (*at - OffsetDateTime::now_utc()).whole_seconds().max(1);
        out.headers_mut()
            .insert("retry-after", HeaderValue::from(secs as u64));
    }
}

/// An error in the shape the provider's SDKs read: OpenAI's `{"error": {message,
/// type, code}}`, Anthropic's `{"type": "error", "error": {type, message}}`,
/// Gemini's `{"error": {code, message, status}}`.
pub(crate) fn family_error(
    family: ApiFamily,
    status: StatusCode,
    code: &str,
    message: &str,
    receipt: Option<&Receipt>,
) -> Response<ProxyBody> {
    let body = match family {
        ApiFamily::OpenAi => json!({
            "error": {"message": message, "type": "apikeys_error", "code": code, "param": null}
        }),
        ApiFamily::Anthropic => json!({
            "type": "error",
            "error": {"type": code, "message": message}
        }),
        ApiFamily::Gemini => json!({
            "error": {"code": status.as_u16(), "message": message, "status": code}
        }),
    };
    let mut out = json_answer(status, &body);
    if let Some(receipt) = receipt {
        receipt.write(out.headers_mut());
    }
    out
}

pub(super) fn plain_error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    json_answer(
        status,
        &json!({"error": {"message": message, "type": "apikeys_error", "code": code}}),
    )
}

pub(super) fn json_answer(status: StatusCode, body: &Value) -> Response<ProxyBody> {
    let mut out = Response::new(relay::whole(Bytes::from(body.to_string())));
    *out.status_mut() = status;
    out.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_as_a_report_would_record_them() {
        let none = HeaderMap::new();
        let quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &none, quota)
                .unwrap()
                .as_str(),
            "quota_exceeded"
        );
        assert_eq!(
            classify(StatusCode::PAYMENT_REQUIRED, &none, b"")
                .unwrap()
                .as_str(),
            "quota_exceeded"
        );
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &none, b"")
                .unwrap()
                .as_str(),
            "invalid"
        );
        assert!(
            classify(
                StatusCode::FORBIDDEN,
                &none,
                br#"{"error":"no access to model o3"}"#
            )
            .is_none(),
            "a 403 about the model leaves the key alone"
        );
        assert_eq!(
            classify(
                StatusCode::FORBIDDEN,
                &none,
                br#"{"error":{"message":"API key not valid"}}"#
            )
            .unwrap()
            .as_str(),
            "invalid"
        );
        let masked = scrubbed(
            br#"{"error":{"message":"Incorrect API key provided: sk-proj-Ab...wxyz","code":"invalid_api_key"}}"#,
            "sk-proj-AbCdEfGhIjKlMnOpQrStUvwxyz",
        );
        let v: Value = serde_json::from_slice(&masked).unwrap();
        assert!(!v.to_string().contains("sk-proj-Ab"), "{v}");
        assert_eq!(v["error"]["code"], "invalid_api_key");
        let mut wait = HeaderMap::new();
        wait.insert("retry-after", HeaderValue::from_static("30"));
        match classify(StatusCode::TOO_MANY_REQUESTS, &wait, b"{}").unwrap() {
            ReportedOutcome::RateLimited { until } => {
                let secs = (until - OffsetDateTime::now_utc()).whole_seconds();
                assert!((28..=30).contains(&secs), "{secs}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_have_each_family_s_shape() {
        for (family, path) in [
            (ApiFamily::OpenAi, "/error/code"),
            (ApiFamily::Anthropic, "/error/type"),
            (ApiFamily::Gemini, "/error/status"),
        ] {
            let out = family_error(family, StatusCode::UNAUTHORIZED, "invalid_token", "m", None);
            assert_eq!(out.status(), 401);
            let body = relay::whole_bytes(out.into_body());
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v.pointer(path), Some(&json!("invalid_token")), "{v}");
        }
    }
}
