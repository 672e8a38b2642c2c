//! The checks of the providers added with the registry, against fake providers that
//! answer as each provider's documentation says: valid, invalid (its own status and
//! body), rate limited, out of quota where it has one, failing, hanging.

use std::time::Duration;

use apikeys::keytest::KeyStatus;
use apikeys::provider::ProviderId;
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

mod provider_fakes;

use provider_fakes::{answer, answer_within, assert_key_only_in_its_header};

/// How one provider answers, from its documentation (pages cited in the registry).
struct Case {
    provider: ProviderId,
    /// A 200 body of the check call's documented shape.
    valid: Value,
    /// The status and body of a wrong key.
    invalid: (u16, Value),
    /// Words of that body the message must quote.
    invalid_says: &'static str,
    /// The status and body of an account without credit, where documented.
    quota: Option<(u16, Value)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            provider: ProviderId::Mistral,
            valid: json!({"object": "list", "data": [{"id": "mistral-small-latest", "object": "model"}]}),
            invalid: (
                401,
                json!({"message": "Unauthorized", "request_id": "c61f2f15feca71626a990e3740f99245"}),
            ),
            invalid_says: "Unauthorized",
            quota: Some((
                402,
                json!({"object": "error", "message": "Payment required", "type": "invalid_request_error", "param": null, "code": "payment_required"}),
            )),
        },
        Case {
            provider: ProviderId::Groq,
            valid: json!({"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model"}]}),
            invalid: (
                401,
                json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            ),
            invalid_says: "Invalid API Key",
            quota: None,
        },
        Case {
            provider: ProviderId::DeepSeek,
            valid: json!({"is_available": true, "balance_infos": [{"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}]}),
            invalid: (
                401,
                json!({"error": {"message": "Authentication Fails, Your api key: ****cdef is invalid", "type": "authentication_error", "param": null, "code": "invalid_request_error"}}),
            ),
            invalid_says: "Authentication Fails",
            quota: Some((
                200,
                json!({"is_available": false, "balance_infos": [{"currency": "USD", "total_balance": "0.00", "granted_balance": "0.00", "topped_up_balance": "0.00"}]}),
            )),
        },
        Case {
            provider: ProviderId::Together,
            valid: json!([{"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model", "type": "chat"}]),
            invalid: (
                401,
                json!({"error": {"message": "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
            ),
            invalid_says: "Invalid API key provided",
            quota: Some((
                402,
                json!({"error": {"message": "The account associated with the API key has reached its maximum allowed monthly spending limit.", "type": "payment_required"}}),
            )),
        },
        Case {
            provider: ProviderId::Cohere,
            valid: json!({"models": [{"name": "command-a-03-2025", "endpoints": ["chat"]}], "next_page_token": null}),
            invalid: (401, json!({"message": "invalid api token"})),
            invalid_says: "invalid api token",
            quota: Some((
                402,
                json!({"message": "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue"}),
            )),
        },
        Case {
            provider: ProviderId::Perplexity,
            valid: json!({"requests": [], "next_token": null}),
            invalid: (
                401,
                json!({"error": {"message": "Invalid API key provided. You can find your API key at https://www.perplexity.ai/settings/api.", "type": "invalid_api_key", "code": 401}}),
            ),
            invalid_says: "Invalid API key provided",
            quota: None,
        },
        Case {
            provider: ProviderId::Fireworks,
            valid: json!({"object": "list", "data": [{"id": "accounts/fireworks/models/llama-v3p1-8b-instruct", "object": "model"}]}),
            // Fireworks documents the status, not the body; this is its OpenAI-style error.
            invalid: (
                401,
                json!({"error": {"object": "error", "type": "invalid_request_error", "message": "Invalid API key"}}),
            ),
            invalid_says: "Invalid API key",
            quota: Some((
                402,
                json!({"error": {"object": "error", "type": "invalid_request_error", "message": "Account is not on a paid plan or has exceeded usage limits"}}),
            )),
        },
        Case {
            provider: ProviderId::AzureOpenAi,
            valid: json!({"data": [{"id": "gpt-4o", "object": "model", "status": "succeeded"}], "object": "list"}),
            invalid: (
                401,
                json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}),
            ),
            invalid_says: "Access denied due to invalid subscription key",
            quota: None,
        },
        Case {
            provider: ProviderId::OpenAiCompatible,
            valid: json!({"object": "list", "data": [{"id": "llama3.1:8b", "object": "model", "owned_by": "library"}]}),
            invalid: (
                401,
                json!({"error": {"message": "Authentication Error, Invalid proxy server token passed.", "type": "auth_error", "code": "401"}}),
            ),
            invalid_says: "Invalid proxy server token",
            quota: None,
        },
    ]
}

#[tokio::test]
async fn each_provider_accepts_a_valid_key_with_its_documented_answer() {
    for case in cases() {
        let p = case.provider;
        let (result, requests) =
            answer(p, ResponseTemplate::new(200).set_body_json(&case.valid)).await;
        assert_eq!(result.status, KeyStatus::Valid, "{p}: {}", result.message);
        assert!(result.valid, "{p}");
        assert_eq!(requests.len(), 1, "{p}: one call");
        assert_key_only_in_its_header(p, &requests);
        assert!(result.warnings.is_empty(), "{p}: {:?}", result.warnings);
    }
}

#[tokio::test]
async fn each_provider_refuses_a_wrong_key_with_its_documented_answer() {
    for case in cases() {
        let p = case.provider;
        let (status, body) = &case.invalid;
        let (result, requests) =
            answer(p, ResponseTemplate::new(*status).set_body_json(body)).await;
        assert_eq!(result.status, KeyStatus::Invalid, "{p}: {}", result.message);
        assert!(!result.valid);
        assert!(
            result.message.contains(case.invalid_says),
            "{p}: {}",
            result.message
        );
        assert!(
            !result.message.contains("****"),
            "{p}: masked echo scrubbed"
        );
        assert_eq!(requests.len(), 1, "{p}: no retry of a refusal");
    }
}

#[tokio::test]
async fn a_429_to_a_valid_key_is_rate_limited_not_invalid() {
    for case in cases() {
        let p = case.provider;
        let (result, requests) = answer(
            p,
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(
                    json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}),
                ),
        )
        .await;
        assert_eq!(
            result.status,
            KeyStatus::RateLimited,
            "{p}: {}",
            result.message
        );
        assert_eq!(result.retry_after_seconds, Some(30), "{p}");
        assert_eq!(requests.len(), 1, "{p}");
    }
}

#[tokio::test]
async fn an_account_without_credit_is_quota_exceeded() {
    for case in cases() {
        let p = case.provider;
        let Some((status, body)) = &case.quota else {
            continue;
        };
        let (result, requests) =
            answer(p, ResponseTemplate::new(*status).set_body_json(body)).await;
        assert_eq!(
            result.status,
            KeyStatus::QuotaExceeded,
            "{p}: {}",
            result.message
        );
        assert!(!result.valid, "{p}");
        assert_eq!(requests.len(), 1, "{p}");
    }
}

#[tokio::test]
async fn deepseek_with_a_zero_balance_or_a_402_is_quota_exceeded() {
    let zero = json!({"is_available": true, "balance_infos": [{"currency": "CNY", "total_balance": "0.00"}]});
    let (result, _) = answer(
        ProviderId::DeepSeek,
        ResponseTemplate::new(200).set_body_json(zero),
    )
    .await;
    assert_eq!(
        result.status,
        KeyStatus::QuotaExceeded,
        "{}",
        result.message
    );
    let broke = json!({"error": {"message": "Insufficient Balance", "type": "unknown_error"}});
    let (result, _) = answer(
        ProviderId::DeepSeek,
        ResponseTemplate::new(402).set_body_json(broke),
    )
    .await;
    assert_eq!(result.status, KeyStatus::QuotaExceeded);
    assert!(result.message.contains("Insufficient Balance"));
}

#[tokio::test]
async fn a_suspended_fireworks_account_is_invalid_and_an_html_401_too() {
    let (result, requests) = answer(
        ProviderId::Fireworks,
        ResponseTemplate::new(412)
            .set_body_json(json!({"error": {"message": "Account suspended"}})),
    )
    .await;
    assert_eq!(result.status, KeyStatus::Invalid);
    assert_eq!(requests.len(), 1);
    let html = "<html><head><title>401 Authorization Required</title></head><body><center><h1>401 Authorization Required</h1></center><hr><center>openresty</center></body></html>";
    let (result, _) = answer(
        ProviderId::Perplexity,
        ResponseTemplate::new(401).set_body_raw(html, "text/html"),
    )
    .await;
    assert_eq!(result.status, KeyStatus::Invalid, "{}", result.message);
}

#[tokio::test]
async fn a_failing_provider_is_retried_then_a_provider_error() {
    for case in cases() {
        let p = case.provider;
        let (result, requests) = answer(p, ResponseTemplate::new(503)).await;
        assert_eq!(result.status, KeyStatus::ProviderError, "{p}");
        assert_eq!(requests.len(), 3, "{p}: first attempt and two retries");
    }
}

#[tokio::test]
async fn a_hanging_provider_is_a_timeout_within_the_budget() {
    for case in cases() {
        let p = case.provider;
        let hang = ResponseTemplate::new(200).set_delay(Duration::from_secs(30));
        // The outer timeout only guards against a hang of the test itself.
        let (result, _) = tokio::time::timeout(
            Duration::from_secs(20),
            answer_within(p, hang, Duration::from_millis(600)),
        )
        .await
        .expect("the check must end by its own budget");
        assert_eq!(result.status, KeyStatus::Timeout, "{p}");
    }
}
