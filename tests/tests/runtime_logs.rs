//! The Lambda runtime itself, at `RUST_LOG=trace`: the store function's own wiring
//! (`lambda_http::run` over the handler) is driven by a fake Runtime API on loopback,
//! and its trace events, which carry the raw invocation event, stay out of the log.
//! Its own test binary with one test: it sets the runtime's environment variables.

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apikeys::api::store;
use apikeys::SealingState;
use apikeys_integration_tests::{event_for, set_body, LogCapture, Stack};
use lambda_http::{service_fn, Request};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-proj-RUNTIMEtrace0123456789abcdefghijRNTM";
const SETTINGS_VALUE: &str = "settings-value-RUNTIMEtrace";
const INVOCATION: &str = "invocation-0001";
const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// A Runtime API that hands out `event` once, then keeps the next poll waiting.
async fn runtime_api(event: &Value) -> MockServer {
    let server = MockServer::start().await;
    let deadline_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis()
        + 600_000;
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(event)
                .insert_header("lambda-runtime-aws-request-id", INVOCATION)
                .insert_header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .insert_header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:store",
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2018-06-01/runtime/invocation/{INVOCATION}/response"
        )))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    server
}

/// Runs the store function's wiring until the Runtime API received its answer, with
/// `subscriber` on this thread (the runtime is single-threaded here, so every event
/// of the runtime and the handler reaches it). The posted answer.
async fn invoke_store_once(
    sealing: &SealingState,
    event: &Value,
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) -> Value {
    let api = runtime_api(event).await;
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", api.uri());
    let _log = tracing::subscriber::set_default(subscriber);
    let function = lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(store::handle(sealing, req).await)
    }));
    let answered = async {
        loop {
            let requests = api.received_requests().await.unwrap_or_default();
            if let Some(post) = requests.iter().find(|r| r.method.as_str() == "POST") {
                return serde_json::from_slice::<Value>(&post.body).expect("a JSON answer");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        ended = function => panic!("the runtime stopped before answering: {ended:?}"),
        answer = answered => answer,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_runtimes_own_trace_events_never_reach_the_log() {
    // Given the store function's environment and an event carrying a key and settings
    for (name, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "store"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ] {
        std::env::set_var(name, value);
    }
    let stack = Stack::new().await;
    let mut event = event_for("store.json", Some("alice"));
    set_body(
        &mut event,
        &json!({"provider": "openai", "apiKey": KEY, "settings": {"systemPrompt": SETTINGS_VALUE}}),
    );

    // When the runtime runs once with a plain RUST_LOG=trace filter (the control)
    let plain = LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_writer(plain.clone())
        .finish()
        .with(apikeys::telemetry::env_filter(Some("trace")));
    let first = invoke_store_once(&stack.sealing, &event, subscriber).await;

    // and once with the function's own subscriber at RUST_LOG=trace
    let capped = LogCapture::default();
    let subscriber = apikeys::telemetry::json_subscriber_for(Some("trace"), capped.clone());
    let second = invoke_store_once(&stack.sealing, &event, subscriber).await;

    // Then both invocations were answered by the handler
    assert_eq!(first["statusCode"], 201, "{first}");
    assert_eq!(second["statusCode"], 200, "{second}");
    // and the runtime really does put the event in its trace lines
    let plain = plain.text();
    assert!(
        plain.contains("raw JSON event received from Lambda"),
        "{plain}"
    );
    assert!(plain.contains(KEY), "the control saw no key:\n{plain}");
    // but none of it reaches the function's log, which still has the request
    let logs = capped.text();
    assert!(logs.contains("api_key.replaced"), "{logs}");
    for secret in [KEY, SETTINGS_VALUE, "akv1.", "raw JSON event"] {
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
    }
}
