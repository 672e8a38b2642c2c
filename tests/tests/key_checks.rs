//! The provider checks of `KeyTester` against fake providers: real HTTP servers on
//! loopback (wiremock) answering as each provider does.

use std::time::Duration;

use apikeys::keytest::{KeyStatus, KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod provider_fakes;

use provider_fakes::{answer, assert_key_only_in_its_header, key_for, tester_for};

#[tokio::test]
async fn every_provider_reports_valid_on_2xx_with_the_key_in_the_right_header() {
    for provider in ProviderId::ALL {
        let (result, requests) = answer(
            provider,
            ResponseTemplate::new(200).set_body_json(json!({"data": []})),
        )
        .await;

        assert_eq!(
            result.status,
            KeyStatus::Valid,
            "{provider}: {}",
            result.message
        );
        assert!(result.valid);
        assert_eq!(result.provider, provider.as_str());
        assert_eq!(requests.len(), 1, "{provider}: one call");
        assert_key_only_in_its_header(provider, &requests);
    }
}

#[tokio::test]
async fn provider_specific_headers_are_sent() {
    let (_, requests) = answer(ProviderId::Claude, ResponseTemplate::new(200)).await;
    assert_eq!(
        requests[0].headers.get("anthropic-version").unwrap(),
        "2023-06-01"
    );
    let (_, requests) = answer(ProviderId::Github, ResponseTemplate::new(200)).await;
    assert!(requests[0]
        .headers
        .get("user-agent")
        .is_some_and(|ua| ua.to_str().unwrap().starts_with("apikeys")));
}

#[tokio::test]
async fn every_provider_reports_invalid_on_401_and_403() {
    for provider in ProviderId::ALL {
        for code in [401, 403] {
            let body = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
            let (result, requests) =
                answer(provider, ResponseTemplate::new(code).set_body_json(body)).await;

            assert_eq!(result.status, KeyStatus::Invalid, "{provider} {code}");
            assert!(!result.valid);
            assert!(
                result.message.contains("Incorrect API key provided"),
                "{}",
                result.message
            );
            assert_eq!(
                requests.len(),
                1,
                "{provider} {code}: no retry of a refusal"
            );
        }
    }
}

#[tokio::test]
async fn gemini_400_api_key_invalid_is_invalid() {
    let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}});
    let (result, _) = answer(
        ProviderId::GoogleAi,
        ResponseTemplate::new(400).set_body_json(body),
    )
    .await;
    assert_eq!(result.status, KeyStatus::Invalid, "{}", result.message);
}

#[tokio::test]
async fn xai_400_is_invalid_and_its_masked_key_echo_is_scrubbed() {
    let body = json!({"code": "Client specified an invalid argument", "error": "Incorrect API key provided: xa***********************QR. You can obtain an API key from https://console.x.ai."});
    let (result, _) = answer(
        ProviderId::Grok,
        ResponseTemplate::new(400).set_body_json(body),
    )
    .await;
    assert_eq!(result.status, KeyStatus::Invalid);
    assert!(result.message.contains("Incorrect API key provided"));
    assert!(!result.message.contains("xa***"), "{}", result.message);
}

#[tokio::test]
async fn openrouter_402_is_quota_exceeded() {
    let body = json!({"error": {"code": 402, "message": "Insufficient credits"}});
    let (result, _) = answer(
        ProviderId::OpenRouter,
        ResponseTemplate::new(402).set_body_json(body),
    )
    .await;
    assert_eq!(result.status, KeyStatus::QuotaExceeded);
    assert!(!result.valid);
}

#[tokio::test]
async fn openai_429_insufficient_quota_is_quota_exceeded() {
    let body = json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}});
    let (result, requests) = answer(
        ProviderId::OpenAi,
        ResponseTemplate::new(429).set_body_json(body),
    )
    .await;
    assert_eq!(result.status, KeyStatus::QuotaExceeded);
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn a_429_with_a_long_retry_after_is_rate_limited_with_the_wait() {
    for provider in ProviderId::ALL {
        let (result, requests) = answer(
            provider,
            ResponseTemplate::new(429).insert_header("retry-after", "30"),
        )
        .await;
        assert_eq!(result.status, KeyStatus::RateLimited, "{provider}");
        assert_eq!(result.retry_after_seconds, Some(30), "{provider}");
        assert_eq!(requests.len(), 1, "{provider}: a 30 s wait is not taken");
    }
}

#[tokio::test]
async fn a_429_without_retry_after_is_rate_limited_without_a_wait() {
    let (result, _) = answer(ProviderId::Claude, ResponseTemplate::new(429)).await;
    assert_eq!(result.status, KeyStatus::RateLimited);
    assert_eq!(result.retry_after_seconds, None);
}

#[tokio::test]
async fn a_short_retry_after_is_honoured_once() {
    // Given a provider that asks for 1 s once, then answers
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let tester = tester_for(&server, ProviderId::OpenAi, Duration::from_secs(5));

    let result = tester
        .test(
            ProviderId::OpenAi,
            &SecretString::from(key_for(ProviderId::OpenAi)),
        )
        .await;

    assert_eq!(result.status, KeyStatus::Valid);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_500_then_200_is_retried_and_valid() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let tester = tester_for(&server, ProviderId::OpenRouter, Duration::from_secs(5));

    let result = tester
        .test(
            ProviderId::OpenRouter,
            &SecretString::from(key_for(ProviderId::OpenRouter)),
        )
        .await;

    assert_eq!(result.status, KeyStatus::Valid);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_a_provider_error_after_two_retries() {
    let (result, requests) = answer(ProviderId::OpenAi, ResponseTemplate::new(503)).await;
    assert_eq!(result.status, KeyStatus::ProviderError);
    assert_eq!(requests.len(), 3, "first attempt and two retries");
}

#[tokio::test]
async fn anthropic_529_overloaded_is_a_provider_error() {
    let body =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let (result, requests) = answer(
        ProviderId::Claude,
        ResponseTemplate::new(529).set_body_json(body),
    )
    .await;
    assert_eq!(result.status, KeyStatus::ProviderError);
    assert_eq!(requests.len(), 3);
}

#[tokio::test]
async fn a_provider_that_hangs_is_a_timeout_within_the_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let tester = tester_for(&server, ProviderId::Grok, Duration::from_millis(800));

    // The outer timeout only guards against a hang of the test itself.
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        tester.test(
            ProviderId::Grok,
            &SecretString::from(key_for(ProviderId::Grok)),
        ),
    )
    .await
    .expect("the check must end by its own budget");

    assert_eq!(result.status, KeyStatus::Timeout);
    assert!(!result.valid);
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings
        .set_base_url(ProviderId::Github, &format!("http://127.0.0.1:{port}"))
        .unwrap();
    let tester = KeyTester::new(settings);

    let result = tester
        .test(
            ProviderId::Github,
            &SecretString::from(key_for(ProviderId::Github)),
        )
        .await;

    assert_eq!(result.status, KeyStatus::Unreachable);
}

#[tokio::test]
async fn a_malformed_or_misfiled_key_is_format_invalid_without_a_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let tester = tester_for(&server, ProviderId::OpenAi, Duration::from_secs(5));

    let misfiled = tester
        .test(
            ProviderId::OpenAi,
            &SecretString::from(key_for(ProviderId::Claude)),
        )
        .await;
    let garbage = tester
        .test(
            ProviderId::OpenAi,
            &SecretString::from("not-a-key-at-all-really"),
        )
        .await;

    assert_eq!(misfiled.status, KeyStatus::FormatInvalid);
    assert!(
        misfiled.message.contains("looks like an Anthropic key"),
        "{}",
        misfiled.message
    );
    assert_eq!(garbage.status, KeyStatus::FormatInvalid);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_built_in_provider_that_redirects_gets_no_key_sent_onward() {
    // Given a second server, where a redirect would lead
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&elsewhere)
        .await;
    for provider in [ProviderId::OpenAi, ProviderId::Claude, ProviderId::GoogleAi] {
        // And a provider whose check call answers 302 to it
        let location = format!("{}/v1/models", elsewhere.uri());
        let (result, requests) = answer(
            provider,
            ResponseTemplate::new(302).insert_header("location", location.as_str()),
        )
        .await;

        // Then the outcome is the provider's error, and the second server saw nothing
        assert_eq!(
            result.status,
            KeyStatus::ProviderError,
            "{provider}: {}",
            result.message
        );
        assert!(!result.valid);
        assert_eq!(requests.len(), 1, "{provider}: the check call only");
    }
    let onward = elsewhere.received_requests().await.unwrap_or_default();
    assert!(onward.is_empty(), "a redirect was followed: {onward:?}");
}
