//! No log line and no key test result contains the key. Its own test binary: the
//! capture is the process's global subscriber, so every thread's events reach it.

use std::sync::OnceLock;
use std::time::Duration;

use apikeys::keytest::{KeyTestResult, KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys_integration_tests::LogCapture;
use secrecy::SecretString;
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

use apikeys_integration_tests::provider_test_key as key_for;

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

    let logs = capture.text();
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
    }
}
