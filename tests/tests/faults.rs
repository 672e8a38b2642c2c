//! DynamoDB failing under the functions: throttled (both throttles), 500, 503, a reset
//! connection, an answer past the attempt timeout, and a transaction cancelled by a
//! conflict. Every route and use-key answers 503 (use-key: its error with
//! `retryAfterSeconds`) when the fault outlasts the SDK's retries, never a 500 and
//! never a hang; a fault that the retries outlast is not seen at all; and once the
//! faults stop the key model holds: the keys stored before are all there and open.
//!
//! The faults are injected where the SDK meets the wire (`tests/src/faults.rs`), so the
//! retries, timeouts and answers under test are the deployed ones, with short
//! timeouts here so that the matrix runs in seconds.

use std::time::Duration;

use apikeys::aws::AwsTimeouts;
use apikeys_integration_tests::calls::{key_ids, Calls};
use apikeys_integration_tests::faults::{Fault, FaultyClient, Plan, Service};
use apikeys_integration_tests::{emulator_endpoint, unique, Stack};
use serde_json::{json, Value};

const PRIMARY: &str = "sk-proj-FaultPrimary0123456789abcdefghijklmn";
const SPARE: &str = "sk-proj-FaultSpare0123456789abcdefghijklmnop";

/// The tests of this file run one at a time: a retry that must land within the
/// short timeouts below should not wait behind the emulator's work for the others.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The functions' timeouts, shortened: attempts of 300 ms, operations of 3 s (the
/// deployed 2 s and 5 s, scaled). An operation holds a faulted attempt, the SDK's
/// jittered backoff (up to 1 s before the second attempt) and a second attempt on a
/// busy emulator with room to spare; three faulted attempts still run out.
fn timeouts() -> AwsTimeouts {
    AwsTimeouts {
        connect: Duration::from_millis(300),
        attempt: Duration::from_millis(300),
        operation: Duration::from_millis(3_000),
        max_attempts: 3,
        ..AwsTimeouts::default()
    }
}

/// A user with an OpenAI primary key and, with `spare`, a second key, stored
/// without faults; the faulty states over the same table.
async fn setup(
    spare: bool,
) -> (
    Stack,
    FaultyClient,
    apikeys::State,
    apikeys::SealingState,
    String,
) {
    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let user = unique("faults");
    let calls = Calls::of(&stack);
    assert_eq!(
        calls.store(&user, "openai", PRIMARY, Value::Null).await.0,
        201
    );
    if spare {
        let (status, body) = calls
            .add_key(&user, "openai", json!({"apiKey": SPARE, "label": "spare"}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut faults = FaultyClient::new();
    faults.slow = Duration::from_secs(1);
    let (state, sealing) = stack.faulty(&faults, timeouts()).await;
    (stack, faults, state, sealing, user)
}

/// What each route answered, by name.
async fn every_route(
    calls: &Calls<'_>,
    user: &str,
    key_id: &str,
) -> Vec<(&'static str, u16, Value)> {
    let mut answers = Vec::new();
    let (s, b) = calls.store(user, "openai", PRIMARY, Value::Null).await;
    answers.push(("store", s, b));
    let (s, b) = calls.list(user).await;
    answers.push(("list", s, b));
    let (s, b) = calls
        .update_settings(user, "openai", json!({"model": "gpt-4o"}))
        .await;
    answers.push(("update-settings", s, b));
    let (s, b) = calls
        .add_key(user, "openai", json!({"apiKey": SPARE}))
        .await;
    answers.push(("add-key", s, b));
    let (s, b) = calls.keys(user, "openai").await;
    answers.push(("keys", s, b));
    let (s, b) = calls
        .update_key(user, "openai", key_id, json!({"label": "renamed"}))
        .await;
    answers.push(("update-key", s, b));
    let (s, b) = calls.test_key(user, "openai").await;
    answers.push(("test-key", s, b));
    let (s, b) = calls.delete_key(user, "openai", key_id).await;
    answers.push(("delete-key", s, b));
    let (s, b) = calls.delete_all(user, "openai").await;
    answers.push(("delete-config", s, b));
    answers
}

/// The user's keys open, and the table's counts agree with them.
async fn keys_intact(stack: &Stack, user: &str, want: &[&str]) {
    let calls = Calls::of(stack);
    let (status, body) = calls.keys(user, "openai").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(key_ids(&body).len(), want.len(), "{body}");
    let mut opened = Vec::new();
    for id in key_ids(&body) {
        let answer = apikeys::invoke::handle(
            &stack.sealing,
            &json!({"userId": user, "provider": "openai", "keyId": id}),
            "req-check",
        )
        .await;
        assert_eq!(answer["found"], true, "{answer}");
        opened.push(answer["apiKey"].as_str().unwrap().to_owned());
    }
    opened.sort();
    let mut want: Vec<String> = want.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    assert_eq!(opened, want);
    let items = stack.partition(&format!("{user}#openai")).await;
    let primary = items
        .iter()
        .find(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("primary"))
        .expect("the primary item");
    let count = primary
        .get("keyCount")
        .and_then(|v| v.as_n().ok())
        .map_or(0, |n| n.parse::<usize>().unwrap());
    assert_eq!(count, want.len() - 1, "keyCount against the other keys");
}

fn assert_unavailable(route: &str, fault: Fault, status: u16, body: &Value) {
    assert_eq!(status, 503, "{route} under {fault:?}: {body}");
    let text = body.to_string();
    assert!(
        !text.contains("FaultPrimary")
            && !text.contains("FaultSpare")
            && !text.contains("injected"),
        "{route} under {fault:?} says too much: {text}"
    );
}

#[tokio::test]
async fn several_keys_every_route_answers_503_while_dynamodb_fails_and_nothing_is_lost() {
    let _one = ONE_AT_A_TIME.lock().await;
    for fault in Fault::ALL {
        let (stack, faults, state, sealing, user) = setup(true).await;
        let calls = Calls {
            state: &state,
            sealing: &sealing,
        };
        let (_, keys) = Calls::of(&stack).keys(&user, "openai").await;
        let spare_id = key_ids(&keys)[1].clone();

        faults.set(Plan::always(fault, Service::DynamoDb));
        for (route, status, body) in every_route(&calls, &user, &spare_id).await {
            if fault == Fault::Conflict
                && !matches!(route, "add-key" | "delete-key" | "delete-config")
            {
                // Only transactions can conflict; the other routes make none.
                assert!(status < 500, "{route} under {fault:?}: {status} {body}");
                continue;
            }
            assert_unavailable(route, fault, status, &body);
        }
        let used = calls.use_key(&user, "openai").await;
        if fault != Fault::Conflict {
            assert_eq!(
                used["retryAfterSeconds"],
                json!(apikeys::api::TABLE_RETRY_AFTER_SECS),
                "use-key under {fault:?}: {used}"
            );
            assert!(used.get("apiKey").is_none(), "{used}");
            let report = calls.report(&user, "openai", &spare_id, "ok", None).await;
            assert!(
                report["retryAfterSeconds"].is_number(),
                "report under {fault:?}: {report}"
            );
        }
        assert!(faults.faulted() > 0, "no call was faulted under {fault:?}");
        faults.clear();

        // Nothing half-written: unless a conflict let a route through, the keys are
        // the two stored before, and they open.
        if fault == Fault::Conflict {
            continue;
        }
        keys_intact(&stack, &user, &[PRIMARY, SPARE]).await;
    }
}

#[tokio::test]
async fn several_keys_a_fault_the_retries_outlast_is_not_seen() {
    let _one = ONE_AT_A_TIME.lock().await;
    for fault in Fault::ALL {
        let (stack, faults, state, sealing, user) = setup(true).await;
        let calls = Calls {
            state: &state,
            sealing: &sealing,
        };
        // One faulted call, then the table answers: the SDK's retry carries it.
        faults.set(Plan::first(fault, Service::DynamoDb, 1));
        let (status, body) = calls.list(&user).await;
        assert_eq!(status, 200, "list after one {fault:?}: {body}");
        faults.set(Plan::first(fault, Service::DynamoDb, 1));
        let used = calls.use_key(&user, "openai").await;
        assert_eq!(used["found"], true, "use-key after one {fault:?}: {used}");
        faults.set(Plan::first(fault, Service::DynamoDb, 1));
        let (status, body) = calls.delete_all(&user, "openai").await;
        assert_eq!(status, 204, "delete after one {fault:?}: {body}");
        faults.clear();
        let (_, listed) = Calls::of(&stack).list(&user).await;
        assert_eq!(listed["configs"], json!([]), "{listed}");
    }
}

#[tokio::test]
async fn the_single_key_routes_answer_503_while_dynamodb_fails() {
    let _one = ONE_AT_A_TIME.lock().await;
    // The routes of a provider's one key (no transaction): on dynalite too.
    for fault in [
        Fault::Throttled,
        Fault::ServerError,
        Fault::Reset,
        Fault::Slow,
    ] {
        let (stack, faults, state, _sealing, user) = setup(false).await;
        let calls = Calls {
            state: &state,
            sealing: &stack.sealing,
        };
        faults.set(Plan::always(fault, Service::DynamoDb));
        let (status, body) = calls.list(&user).await;
        assert_unavailable("list", fault, status, &body);
        let (status, body) = calls
            .update_settings(&user, "openai", json!({"model": "gpt-4o"}))
            .await;
        assert_unavailable("update-settings", fault, status, &body);
        let (status, body) = calls.delete_all(&user, "openai").await;
        assert_unavailable("delete-config", fault, status, &body);
        faults.clear();
        keys_intact(&stack, &user, &[PRIMARY]).await;
        let other = unique("other");
        let (status, _) = Calls::of(&stack).list(&other).await;
        assert_eq!(status, 200);
    }
}

/// The seed's source failing at a cold start: Secrets Manager (the default source) and
/// KMS (a `SeedCiphertext` deployment). store and use-key answer 503 (use-key:
/// `retryAfterSeconds`) while it fails; one fault the SDK's retries outlast is not
/// seen.
#[tokio::test]
async fn the_seed_source_failing_answers_503_and_one_fault_is_retried() {
    let _one = ONE_AT_A_TIME.lock().await;
    use apikeys::seed::{KeyMaterial, SeedSettings};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let sdk = &stack.sdk;
    let name = unique("fault-seed");
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&name)
        .secret_string("a-seed-of-the-fault-tests-0123456789abcdef")
        .send()
        .await
        .expect("create the seed secret");
    let kms = aws_sdk_kms::Client::new(sdk);
    let key = kms.create_key().send().await.expect("a KMS key");
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let blob = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(
            "a-seed-of-the-fault-tests-0123456789abcdef".as_bytes(),
        ))
        .encryption_context("purpose", "apikeys-seed")
        .send()
        .await
        .expect("encrypt the seed");
    let blob = STANDARD.encode(blob.ciphertext_blob().unwrap().as_ref());
    let sources: [(Service, &str, String); 2] = [
        (Service::SecretsManager, "APIKEYS_SEED_SECRET_ID", name),
        (Service::Kms, "APIKEYS_SEED_CIPHERTEXT", blob),
    ];

    for (service, variable, value) in sources {
        for fault in [
            Fault::Throttled,
            Fault::ServerError,
            Fault::Unavailable,
            Fault::Reset,
            Fault::Slow,
        ] {
            for once in [false, true] {
                let mut faults = FaultyClient::new();
                faults.slow = Duration::from_secs(1);
                let (state, _) = stack.faulty(&faults, timeouts()).await;
                let faulty_sdk =
                    apikeys_integration_tests::sdk_config_for(&emulator_endpoint(), timeouts())
                        .await
                        .into_builder()
                        .http_client(faults.clone())
                        .build();
                let settings = SeedSettings::from_lookup(&|n| match n {
                    n if n == variable => Some(value.clone()),
                    "APIKEYS_KDF_ITERATIONS" => {
                        Some(apikeys::crypto::MIN_KDF_ITERATIONS.to_string())
                    }
                    _ => None,
                })
                .expect("the seed settings");
                let sealing = apikeys::SealingState::new(
                    state.clone(),
                    KeyMaterial::new(settings, &faulty_sdk),
                    apikeys::keytest::KeyTester::new(apikeys::keytest::KeyTestSettings::default()),
                );
                let calls = Calls {
                    state: &state,
                    sealing: &sealing,
                };
                let user = unique("seed-fault");
                let plan = if once {
                    Plan::first(fault, service, 1)
                } else {
                    Plan::always(fault, service)
                };
                faults.set(plan);
                let (status, body) = calls.store(&user, "openai", PRIMARY, Value::Null).await;
                assert!(
                    faults.faulted() > 0,
                    "{service:?} {fault:?}: nothing faulted"
                );
                if once {
                    assert_eq!(status, 201, "{service:?} after one {fault:?}: {body}");
                    let used = calls.use_key(&user, "openai").await;
                    assert_eq!(used["apiKey"], PRIMARY);
                } else {
                    assert_unavailable("store", fault, status, &body);
                    let used = calls.use_key(&user, "openai").await;
                    assert!(
                        used["retryAfterSeconds"].is_number() && used.get("apiKey").is_none(),
                        "use-key under {service:?} {fault:?}: {used}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn at_a_rate_of_faults_every_use_succeeds_and_counts_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    // Every other DynamoDB call throttled, reset or timed out (a use is one call when
    // the primary is usable, so each use's first attempt faults): the SDK's retries
    // carry every use, and a faulted write is never applied, so the count is exact.
    for fault in [Fault::Throttled, Fault::Reset, Fault::Slow] {
        let (stack, faults, state, sealing, user) = setup(false).await;
        let calls = Calls {
            state: &state,
            sealing: &sealing,
        };
        faults.set(Plan::rate(fault, Service::DynamoDb, 2));
        for _ in 0..9 {
            let used = calls.use_key(&user, "openai").await;
            assert_eq!(used["apiKey"], PRIMARY, "under {fault:?}: {used}");
        }
        assert!(
            faults.faulted() >= 6,
            "under {fault:?}: {} faulted",
            faults.faulted()
        );
        faults.clear();
        let (_, listed) = Calls::of(&stack).list(&user).await;
        assert_eq!(
            listed["configs"][0]["usageCount"], 9,
            "under {fault:?}: {listed}"
        );
    }
}

#[tokio::test]
async fn the_proxy_answers_503_with_retry_after_while_dynamodb_fails_and_calls_no_provider() {
    let _one = ONE_AT_A_TIME.lock().await;
    use apikeys::proxy::{Proxy, ProxySettings};
    use apikeys::usertoken::{JwtAuthorizer, KeySet, KeySource};
    use std::sync::Arc;

    let dir = std::env::temp_dir().join(unique("apikeys-faults-issuer"));
    let (issuer, _) = apikeys_admin::issuer::LocalIssuer::provision(&dir).expect("an issuer");
    let info = issuer.info();
    let verifier = JwtAuthorizer::new(
        info.issuer.clone(),
        vec![info.audience.clone()],
        KeySource::Fixed(KeySet::from_jwks(issuer.jwks())),
    );
    let (_stack, faults, _state, sealing, user) = setup(false).await;
    let proxy = Arc::new(Proxy::new(
        sealing,
        Some(verifier),
        ProxySettings::default(),
    ));
    let token = issuer.token(&user, Duration::from_secs(3600)).unwrap();
    for fault in Fault::ALL {
        if fault == Fault::Conflict {
            continue; // the proxy's reads and writes are no transactions
        }
        faults.set(Plan::always(fault, Service::DynamoDb));
        let request = http::Request::builder()
            .method("POST")
            .uri("/proxy/openai/v1/chat/completions")
            .header("authorization", format!("Bearer {token}"))
            .body(bytes::Bytes::from_static(br#"{"model":"m","messages":[]}"#))
            .unwrap();
        let answer = proxy.handle(request, "req-proxy-fault").await;
        assert_eq!(answer.status(), 503, "{fault:?}");
        assert!(answer.headers().contains_key("retry-after"), "{fault:?}");
        assert_eq!(answer.headers()["x-apikeys-key-source"], "user");
    }
    faults.clear();
    let _ = std::fs::remove_dir_all(&dir);
}
