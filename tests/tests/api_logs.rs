//! At `RUST_LOG=trace`, with the filter built exactly as a function builds it, no
//! log line of any handler (use-key's included) holds a key, a ciphertext or a
//! settings value. Its own test binary: the capture is the process's global
//! subscriber, so the events of every thread (the SDK's, the key tester's) reach it.

use std::sync::OnceLock;
use std::time::Duration;

use apikeys::api::{delete_config, get_configs, store, test_key, update_settings};
use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys_integration_tests::{event_for, parts, request, set_body, LogCapture, Stack};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The key alice stores, then tests as stored.
const STORED_KEY: &str = "sk-proj-LOGTRACEstored0123456789abcdefSTOR";
/// The key alice tests as given.
const GIVEN_KEY: &str = "sk-proj-LOGTRACEgiven0123456789abcdefGIVN";
/// A key the fake provider refuses, offered with `validate: true`.
const REFUSED_KEY: &str = "sk-proj-LOGTRACErefused0123456789abcdefREFU";
/// A key that breaks the key rules (a zero-width space inside).
const BAD_KEY: &str = "sk-proj-LOGTRACE\u{200B}bad0123456789abcdefBADK";
/// Settings values that must stay out of the log.
const SETTINGS_VALUES: [&str; 3] = [
    "settings-value-on-store-LOGTRACE",
    "settings-value-on-update-LOGTRACE",
    "settings-value-refused-LOGTRACE",
];

fn capture() -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = LogCapture::default();
        // What `telemetry::init` installs when the function runs with RUST_LOG=trace.
        tracing::subscriber::set_global_default(apikeys::telemetry::json_subscriber_for(
            Some("trace"),
            capture.clone(),
        ))
        .expect("the only subscriber of this test binary");
        capture
    })
}

/// A fake OpenAI that accepts the stored and the given key and refuses the rest.
async fn fake_openai() -> MockServer {
    let server = MockServer::start().await;
    for key in [STORED_KEY, GIVEN_KEY] {
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": format!("Incorrect API key provided: {REFUSED_KEY}")}}),
        ))
        .mount(&server)
        .await;
    server
}

fn event(name: &str, body: Option<Value>) -> lambda_http::Request {
    let mut event = event_for(name, Some("alice"));
    if let Some(body) = body {
        set_body(&mut event, &body);
    }
    request(&event)
}

#[tokio::test]
async fn no_handler_logs_a_key_a_ciphertext_or_a_settings_value_at_trace() {
    // Given the log captured at RUST_LOG=trace and a fake provider
    let capture = capture();
    tracing::trace!(target: "apikeys::tests", "the capture takes trace lines");
    let provider = fake_openai().await;
    let mut stack = Stack::new().await;
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings
        .set_base_url(ProviderId::OpenAi, &provider.uri())
        .unwrap();
    stack.sealing.tester = KeyTester::new(settings);
    let (sealing, state) = (&stack.sealing, &stack.state);

    // When every handler answers, successes and refusals alike
    let store_body = json!({"provider": "openai", "apiKey": STORED_KEY, "settings": {"systemPrompt": SETTINGS_VALUES[0]}});
    let statuses = [
        parts(store::handle(sealing, event("store.json", Some(store_body))).await).0,
        parts(store::handle(sealing, event("store.json", Some(json!({"provider": "openai", "apiKey": BAD_KEY})))).await).0,
        parts(store::handle(sealing, event("store.json", Some(json!({"provider": "openai", "apiKey": REFUSED_KEY, "validate": true})))).await).0,
        parts(get_configs::handle(state, event("get-configs.json", None)).await).0,
        parts(update_settings::handle(state, event("update-settings.json", Some(json!({"provider": "openai", "settings": {"systemPrompt": SETTINGS_VALUES[1]}})))).await).0,
        parts(update_settings::handle(state, event("update-settings.json", Some(json!({"provider": "openai", "settings": {"systemPrompt": SETTINGS_VALUES[2], "t": 1e200}})))).await).0,
        parts(test_key::handle(sealing, event("test-key.json", Some(json!({"provider": "openai", "apiKey": GIVEN_KEY})))).await).0,
        parts(test_key::handle(sealing, event("test-key-stored.json", Some(json!({"provider": "openai"})))).await).0,
    ];
    // use-key hands the stored key out, takes a report, refuses the reported key and
    // a payload that carries a key where none belongs
    let used = apikeys::invoke::handle(
        sealing,
        &json!({"userId": "alice", "provider": "openai"}),
        "req-use",
    )
    .await;
    assert_eq!(used["apiKey"], STORED_KEY);
    let report = json!({"userId": "alice", "provider": "openai", "keyId": used["keyId"], "outcome": "invalid"});
    assert_eq!(
        apikeys::invoke::handle(sealing, &report, "req-report").await,
        json!({"recorded": true})
    );
    let refused = apikeys::invoke::handle(
        sealing,
        &json!({"userId": "alice", "provider": "openai"}),
        "req-refused",
    )
    .await;
    assert_eq!(refused["reason"], "all_unavailable");
    let stray = json!({"userId": "alice", "provider": "openai", "apiKey": GIVEN_KEY});
    assert_eq!(
        apikeys::invoke::handle(sealing, &stray, "req-stray").await["error"]["field"],
        "apiKey"
    );
    let statuses: Vec<u16> = statuses
        .into_iter()
        .chain([parts(delete_config::handle(state, event("delete-config.json", None)).await).0])
        .collect();

    // Then each answered as it should, and the log holds every request but no secret
    assert_eq!(statuses, [201, 400, 422, 200, 200, 400, 200, 200, 204]);
    let logs = capture.text();
    assert!(logs.contains("the capture takes trace lines"), "{logs}");
    for event in [
        "api_key.stored",
        "api_key.store_refused",
        "configs.listed",
        "settings.updated",
        "api_key.tested",
        "api_key.used",
        "api_key.outcome_reported",
        "api_key.deleted",
    ] {
        assert!(logs.contains(event), "no {event} line in:\n{logs}");
    }
    for key in [STORED_KEY, GIVEN_KEY, REFUSED_KEY, BAD_KEY, "LOGTRACE"] {
        assert!(!logs.contains(key), "{key} in the log:\n{logs}");
    }
    assert!(!logs.contains("akv1."), "a ciphertext in the log:\n{logs}");
    for value in SETTINGS_VALUES {
        assert!(!logs.contains(value), "{value} in the log:\n{logs}");
    }
}

#[tokio::test]
async fn an_internal_error_says_nothing_but_is_logged_with_its_cause() {
    // Given the global log capture and a function whose table does not exist
    let capture = capture();
    let stack = Stack::new().await;
    let broken = stack.state_over_missing_table();
    let mut event = event_for("get-configs.json", Some("alice"));
    let id = format!("req-{}", uuid::Uuid::new_v4().simple());
    event["requestContext"]["requestId"] = Value::String(id.clone());

    // When alice lists her configs
    let (status, _, body) = parts(get_configs::handle(&broken, request(&event)).await);

    // Then the answer is opaque, and the log line of that request holds the cause
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"error": "Internal server error", "requestId": id})
    );
    let log = capture.text();
    let cause = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["level"] == "ERROR" && line["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no error line for {id}"));
    assert!(
        cause["error"]
            .as_str()
            .is_some_and(|e| e.contains("ResourceNotFound")),
        "{cause}"
    );
}

#[tokio::test]
async fn a_throttled_table_answers_503_and_the_log_says_what_failed_without_secrets() {
    use apikeys_integration_tests::faults::{Fault, FaultyClient, Plan, Service};
    // Given the global log capture and DynamoDB throttling every call
    let capture = capture();
    let stack = Stack::new().await;
    let faults = FaultyClient::new();
    faults.set(Plan::always(Fault::Throttled, Service::DynamoDb));
    let (_, sealing) = stack
        .faulty(
            &faults,
            // The functions' own budget: three attempts within 5 s, throttles backed
            // off as the SDK backs them off.
            apikeys::aws::AwsTimeouts::default(),
        )
        .await;
    let mut event = event_for("store.json", Some("alice"));
    set_body(
        &mut event,
        &json!({"provider": "openai", "apiKey": STORED_KEY}),
    );
    let id = format!("req-{}", uuid::Uuid::new_v4().simple());
    event["requestContext"]["requestId"] = Value::String(id.clone());

    // When alice stores a key
    let (status, headers, body) = parts(store::handle(&sealing, request(&event)).await);

    // Then the answer is a 503 to retry, opaque
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "2");
    assert_eq!(
        body,
        json!({"error": "The service is temporarily unavailable: try again shortly", "requestId": id})
    );
    // and the request's log lines say what failed (the table's throttle, the
    // operation, the status) and hold neither the key nor its ciphertext
    let lines: Vec<Value> = capture
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["request_id"] == id.as_str())
        .collect();
    let cause = lines
        .iter()
        .find(|line| line["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no error line for {id}: {lines:?}"));
    assert!(
        cause["error"]
            .as_str()
            .is_some_and(|e| e.contains("ProvisionedThroughputExceededException")),
        "{cause}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["status"] == 503 || line["status"] == "503"),
        "no audit line with the status: {lines:?}"
    );
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        !text.contains(STORED_KEY) && !text.contains("akv1."),
        "{text}"
    );
}
