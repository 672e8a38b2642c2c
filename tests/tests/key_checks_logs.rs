//! No log line and no key test result contains the key. Its own test binary: the
//! capture is the process's global subscriber, so every thread's events reach it.

use std::sync::OnceLock;
use std::time::Duration;

use apikeys::keytest::{KeyTestResult, KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys_integration_tests::LogCapture;
use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn capture() -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = LogCapture::default();
        tracing::subscriber::set_global_default(apikeys::telemetry::json_subscriber(
            capture.clone(),
        ))
        .expect("the only subscriber of this test binary");
        capture
    })
}

mod provider_fakes;

use provider_fakes::{key_for, Table};

async fn answer(provider: ProviderId, response: ResponseTemplate) -> KeyTestResult {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(response)
        .mount(&server)
        .await;
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings.set_base_url(provider, &server.uri()).unwrap();
    KeyTester::new(settings)
        .test(provider, &SecretString::from(key_for(provider)))
        .await
}

#[tokio::test]
async fn no_log_line_and_no_result_contains_the_key() {
    let capture = capture();
    let mut results = Vec::new();
    for provider in ProviderId::ALL {
        for response in [
            ResponseTemplate::new(200),
            ResponseTemplate::new(401).set_body_string(format!("bad key {}", key_for(provider))),
            ResponseTemplate::new(500),
        ] {
            results.push(answer(provider, response).await);
        }
    }

    // Keys of unusual length (a warning) and keys sent to user-given endpoints,
    // accepted, refused by the guard and refused by the server.
    let unusual = "gsk_T3stKeyGroqUnusual0123456789";
    results.push(
        tester_at(&MockServer::start().await, ProviderId::Groq)
            .test(ProviderId::Groq, &SecretString::from(unusual))
            .await,
    );
    results.extend(user_endpoints().await);

    let logs = capture.text();
    assert!(
        logs.contains("key_test.endpoint_refused"),
        "the refusal is logged"
    );
    assert!(!logs.contains(unusual), "unusual key in a log line");
    assert!(
        !logs.contains("metadata.vault-test"),
        "no user host in a log line"
    );
    assert!(logs.contains("key_test.checked"), "the capture works");
    for provider in ProviderId::ALL {
        assert!(
            !logs.contains(key_for(provider)),
            "{provider}: key in a log line"
        );
    }
    for result in results {
        let text = serde_json::to_string(&result).unwrap();
        for provider in ProviderId::ALL {
            assert!(!text.contains(key_for(provider)), "key in a result: {text}");
        }
        assert!(!text.contains(unusual), "key in a result: {text}");
    }
}

fn tester_at(server: &MockServer, provider: ProviderId) -> KeyTester {
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings.set_base_url(provider, &server.uri()).unwrap();
    KeyTester::new(settings)
}

/// Tests against user-given endpoints: a server that echoes the key back in its
/// refusal, an Azure resource that accepts it, and a name the guard refuses.
async fn user_endpoints() -> Vec<KeyTestResult> {
    let echo = MockServer::start().await;
    let compatible = ProviderId::OpenAiCompatible;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": format!("bad key {}", key_for(compatible))}}),
        ))
        .mount(&echo)
        .await;
    let port = echo.address().port();
    let resolver = Table::with(&[
        ("gateway.vault-test.localhost", "127.0.0.1"),
        ("metadata.vault-test.example", "169.254.169.254"),
    ]);
    let mut settings = KeyTestSettings::default();
    settings.allow_loopback_endpoints = true;
    let tester = KeyTester::with_resolver(settings, resolver);
    let mut results = Vec::new();
    for (provider, value) in [
        (
            compatible,
            json!({"baseUrl": format!("http://gateway.vault-test.localhost:{port}/v1")}),
        ),
        (
            ProviderId::AzureOpenAi,
            json!({"endpoint": format!("http://gateway.vault-test.localhost:{port}"), "apiVersion": "2024-10-21"}),
        ),
        (
            compatible,
            json!({"baseUrl": "https://metadata.vault-test.example/v1"}),
        ),
    ] {
        let endpoint = tester.parse_endpoint(provider, &value).unwrap();
        let key = SecretString::from(key_for(provider));
        match tester
            .test_with(provider, Some(&key), Some(&endpoint))
            .await
        {
            Ok(result) => results.push(result),
            Err(refused) => assert!(!refused.to_string().contains(key_for(provider))),
        }
    }
    results
}
