//! Who may do what, and what leaks: isolation between users, where identity comes
//! from, what the logs hold, the headers of every answer, and opaque server errors.

use apikeys::api::{delete_config, get_configs, store, test_key, update_settings};
use apikeys::crypto::CryptoError;
use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys::SealingState;
use apikeys_integration_tests::{
    event_for, event_json, number, parts, request, request_id_of, set_body, set_header,
    set_unique_request_id, test_key_material, text, LogCapture, Stack, TEST_SEED,
};
use lambda_http::http::HeaderMap;
use serde_json::{json, Value};

use super::{
    delete_as, delete_event, list_as, listed_providers, open_stored_as, openai, pk, store_as,
    update_as, Answer, KEY, OTHER_KEY,
};

const ALICE: &str = "alice";
const BOB: &str = "bob";

// ---------------------------------------------------------------- isolation

#[tokio::test]
async fn another_user_can_neither_see_nor_change_nor_delete_a_config() {
    // Given alice's stored key
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);
    let before = stack.item(&pk(ALICE, "openai")).await;

    // When bob lists, updates and deletes "openai"
    let (_, _, listed) = list_as(&stack.state, BOB).await;
    let update = json!({"provider": "openai", "settings": {"model": "bob-was-here"}});
    let (update_status, _, _) = update_as(&stack.state, BOB, update).await;
    let (delete_status, _, _) = delete_as(&stack.state, BOB, "openai").await;

    // Then he sees nothing, gets 404s, and alice's config is untouched
    assert_eq!(listed, json!({"configs": []}));
    assert_eq!((update_status, delete_status), (404, 404));
    let after = stack.item(&pk(ALICE, "openai")).await;
    assert_eq!(after, before);
    assert_eq!(number(after.as_ref().unwrap(), "version"), Some(1));
}

#[tokio::test]
async fn a_sealed_key_copied_into_another_users_item_does_not_open() {
    // Given alice's and bob's stored keys
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, ALICE, openai(KEY)).await.0, 201);
    assert_eq!(store_as(&stack, BOB, openai(OTHER_KEY)).await.0, 201);

    // When alice's sealed key is copied into bob's item
    let alice = stack.item(&pk(ALICE, "openai")).await.unwrap();
    stack
        .set_attribute(&pk(BOB, "openai"), "apiKey", alice["apiKey"].clone())
        .await;

    // Then it does not open as bob's
    assert_eq!(
        open_stored_as(&stack, BOB, BOB, "openai").await,
        Err(CryptoError::AuthenticationFailed)
    );
}

// ---------------------------------------------------------------- identity

#[tokio::test]
async fn requests_without_identity_are_unauthorized() {
    // Given an empty table and the events of each function with no authorizer context
    let stack = Stack::new().await;
    let events = [
        "store-no-identity.json",
        "get-configs-no-identity.json",
        "update-settings-no-identity.json",
        "delete-config-no-identity.json",
    ]
    .map(event_json);

    // When each function gets its event
    let answers = [
        parts(store::handle(&stack.sealing, request(&events[0])).await),
        parts(get_configs::handle(&stack.state, request(&events[1])).await),
        parts(update_settings::handle(&stack.state, request(&events[2])).await),
        parts(delete_config::handle(&stack.state, request(&events[3])).await),
    ];

    // Then each answers 401 with the event's request id
    for (event, (status, _, body)) in events.iter().zip(&answers) {
        assert_eq!(*status, 401, "{body}");
        assert_eq!(body["error"], "Unauthorized");
        assert_eq!(
            body["requestId"].as_str(),
            Some(request_id_of(event).as_str())
        );
    }
}

/// Every handler's answer to `event` (an event of that handler with its identity
/// changed by the caller), in the order store, get-configs, update-settings,
/// delete-config, test-key.
async fn every_handler(stack: &Stack, change: impl Fn(&mut Value)) -> Vec<(String, Answer)> {
    let mut answers = Vec::new();
    for name in [
        "store.json",
        "get-configs.json",
        "update-settings.json",
        "delete-config.json",
        "test-key.json",
    ] {
        let mut event = event_json(name);
        change(&mut event);
        let req = request(&event);
        let answer = match name {
            "store.json" => store::handle(&stack.sealing, req).await,
            "get-configs.json" => get_configs::handle(&stack.state, req).await,
            "update-settings.json" => update_settings::handle(&stack.state, req).await,
            "delete-config.json" => delete_config::handle(&stack.state, req).await,
            _ => test_key::handle(&stack.sealing, req).await,
        };
        answers.push((name.to_owned(), parts(answer)));
    }
    answers
}

/// A change made to an event before it is sent.
type EventChange = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn claims_without_a_sub_and_spoofable_headers_are_unauthorized_in_every_handler() {
    // Given carol's stored key
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, "carol", openai(KEY)).await.0, 201);
    let spoofable = [
        "x-apikeys-local-user",
        "x-user-id",
        "x-forwarded-user",
        "x-amzn-oidc-identity",
    ];
    let cases: [(&str, EventChange); 3] = [
        (
            "claims without sub",
            Box::new(|e: &mut Value| {
                e["requestContext"]["authorizer"]["jwt"]["claims"] = json!({"iss": "x"});
            }),
        ),
        (
            "an empty sub",
            Box::new(|e: &mut Value| {
                e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("  ");
            }),
        ),
        (
            "no authorizer, identity headers naming carol",
            Box::new(move |e: &mut Value| {
                e["requestContext"]
                    .as_object_mut()
                    .expect("a request context")
                    .remove("authorizer");
                for header in spoofable {
                    set_header(e, header, "carol");
                }
            }),
        ),
    ];
    for (case, change) in cases {
        // When every handler gets such a request
        for (name, (status, _, body)) in every_handler(&stack, &change).await {
            // Then each answers 401 and acts for nobody
            assert_eq!(status, 401, "{case}: {name}: {body}");
            assert_eq!(body["error"], "Unauthorized", "{case}: {name}");
        }
    }
    // And carol's configuration is untouched
    let (status, _, body) = list_as(&stack.state, "carol").await;
    assert_eq!(status, 200);
    assert_eq!(listed_providers(&body), ["openai"]);
}

#[tokio::test]
async fn a_header_naming_a_user_is_never_an_identity_whatever_the_environment_says() {
    // Given carol's stored key, and an environment that still sets the removed local
    // opt-in of earlier versions
    let stack = Stack::with_service_config(|n| {
        (n == "APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER").then(|| "true".to_owned())
    })
    .await;
    assert_eq!(store_as(&stack, "carol", openai(KEY)).await.0, 201);

    // When a request without identity names carol in that header
    let mut event = event_json("get-configs-no-identity.json");
    set_header(&mut event, "x-apikeys-local-user", "carol");
    let (status, _, body) = parts(get_configs::handle(&stack.state, request(&event)).await);

    // Then it is unauthorized: only a verified token's claims name a user
    assert_eq!(status, 401, "{body}");
}

/// Lists with a hand-made `event` after `user` stored an OpenAI key.
async fn list_as_event_after_store(user: &str, event: Value) -> Answer {
    let stack = Stack::new().await;
    assert_eq!(store_as(&stack, user, openai(KEY)).await.0, 201);
    parts(get_configs::handle(&stack.state, request(&event)).await)
}

#[tokio::test]
async fn rest_api_cognito_claims_identify_the_user() {
    // Given a REST API (payload v1) event whose Cognito authorizer says the sub
    let event = event_json("get-configs-rest-cognito.json");
    let sub = event["requestContext"]["authorizer"]["claims"]["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    // When that user, who stored a key, lists
    let (status, _, body) = list_as_event_after_store(&sub, event).await;

    // Then the list is theirs
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed_providers(&body), ["openai"]);
}

/// The REST API event with a Lambda authorizer's context instead of Cognito claims.
fn rest_event_with_lambda_authorizer(context: Value) -> Value {
    let mut event = event_json("get-configs-rest-cognito.json");
    event["requestContext"]["authorizer"] = context;
    event
}

#[tokio::test]
async fn rest_api_lambda_authorizer_principal_identifies_the_user() {
    // Given a REST API event whose Lambda authorizer names the principal "dave"
    let event =
        rest_event_with_lambda_authorizer(json!({"principalId": "dave", "integrationLatency": 12}));

    // When dave, who stored a key, lists
    let (status, _, body) = list_as_event_after_store("dave", event).await;

    // Then the list is his
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed_providers(&body), ["openai"]);
}

#[tokio::test]
async fn rest_api_lambda_authorizer_user_id_identifies_the_user() {
    // Given a REST API event whose Lambda authorizer context holds userId "erin"
    let event = rest_event_with_lambda_authorizer(json!({"userId": "erin"}));

    // When erin, who stored a key, lists
    let (status, _, body) = list_as_event_after_store("erin", event).await;

    // Then the list is hers
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed_providers(&body), ["openai"]);
}

#[tokio::test]
async fn http_api_lambda_authorizer_user_id_identifies_the_user() {
    // Given an HTTP API event whose Lambda authorizer context holds userId "frank"
    let mut event = event_json("get-configs.json");
    event["requestContext"]["authorizer"] = json!({"lambda": {"userId": "frank"}});

    // When frank, who stored a key, lists
    let (status, _, body) = list_as_event_after_store("frank", event).await;

    // Then the list is his
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed_providers(&body), ["openai"]);
}

#[tokio::test]
async fn identity_never_comes_from_the_body() {
    // Given an empty table
    let stack = Stack::new().await;

    // When alice stores a key with a body that claims to be mallory
    let body = json!({"provider": "openai", "apiKey": KEY, "userId": "mallory"});
    let (status, _, _) = store_as(&stack, ALICE, body).await;

    // Then the key is alice's, and mallory has nothing
    assert_eq!(status, 201);
    let item = stack
        .item(&pk(ALICE, "openai"))
        .await
        .expect("alice's item");
    assert_eq!(text(&item, "userId"), Some(ALICE));
    assert!(stack.item(&pk("mallory", "openai")).await.is_none());
}

// ---------------------------------------------------------------- logs

/// The log of this whole test binary, as a function writes it: the process's
/// global subscriber, so events of every thread reach it (a per-thread default
/// misses callsites whose interest other threads cached meanwhile). No other test
/// here installs a subscriber, and none may log a key either.
fn global_capture() -> &'static LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = LogCapture::default();
        tracing::subscriber::set_global_default(apikeys::telemetry::json_subscriber(
            capture.clone(),
        ))
        .expect("the only subscriber of this test binary");
        capture
    })
}

/// An event of `events/` as `user` with a request id of its own, and that id.
fn fresh_event(name: &str, user: Option<&str>) -> (Value, String) {
    let mut event = event_for(name, user);
    let id = set_unique_request_id(&mut event);
    (event, id)
}

fn with_body(mut event: Value, body: Value) -> Value {
    set_body(&mut event, &body);
    event
}

#[tokio::test]
async fn logs_name_events_and_requests_but_never_a_secret() {
    // Given a function's log captured, and requests that go every way
    let capture = global_capture();
    let stack = Stack::new().await;
    let no_seed = stack.sealing_without_seed();
    let broken = stack.state_over_missing_table();
    let broken_sealing = SealingState::new(
        broken.clone(),
        test_key_material(&stack.sdk),
        KeyTester::new(KeyTestSettings::default()),
    );
    let keys = [
        KEY,
        OTHER_KEY,
        "sk-proj-LOGSthirdKEY0123456789abcdef2222",
        "sk-proj-LOGSfourthKEY0123456789abcdef3333",
        "sk-proj-LOGSfifthKEY0123456789abcdef4444",
        "BADKEY\u{1}MARKER-0123",
    ];
    let settings_markers = ["settings-secret-marker-1", "settings-secret-marker-2"];
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    let mut statuses = Vec::new();
    let mut record = |id: String, (status, _, body): Answer| {
        ids.push(id);
        statuses.push(status);
        bodies.push(body.to_string());
    };

    // When every function succeeds and fails in every way it can
    let stored = json!({"provider": "openai", "apiKey": KEY, "settings": {"systemPrompt": settings_markers[0]}});
    for (body, sealing) in [
        (stored, &stack.sealing),            // 201
        (openai(OTHER_KEY), &stack.sealing), // 200
        (openai(keys[2]), &no_seed),         // 503
        (openai(keys[3]), &broken_sealing),  // 500
        (
            json!({"provider": "acme-ai", "apiKey": keys[4]}),
            &stack.sealing,
        ), // 400
        (
            json!({"provider": "openai", "apiKey": keys[5]}),
            &stack.sealing,
        ), // 400
        (
            json!({"provider": "openai", "apiKey": keys[4], "settings": {"pad": "x".repeat(17_000)}}),
            &stack.sealing,
        ), // 413
    ] {
        let (event, id) = fresh_event("store.json", Some(ALICE));
        let event = with_body(event, body);
        record(id, parts(store::handle(sealing, request(&event)).await));
    }
    for (name, user) in [
        ("store-no-identity.json", None),
        ("store-malformed.json", Some(ALICE)),
        ("store-invalid-fields.json", Some(ALICE)),
    ] {
        let (event, id) = fresh_event(name, user);
        record(
            id,
            parts(store::handle(&stack.sealing, request(&event)).await),
        );
    }
    for (name, user, state) in [
        ("get-configs.json", Some(ALICE), &stack.state),
        ("get-configs-no-identity.json", None, &stack.state),
        ("get-configs.json", Some(ALICE), &broken),
    ] {
        let (event, id) = fresh_event(name, user);
        record(id, parts(get_configs::handle(state, request(&event)).await));
    }
    let update = json!({"provider": "openai", "settings": {"systemPrompt": settings_markers[1]}});
    for (name, body, user) in [
        ("update-settings.json", Some(update), Some(ALICE)),
        (
            "update-settings.json",
            Some(json!({"provider": "grok", "settings": {}})),
            Some(ALICE),
        ),
        ("update-settings-no-identity.json", None, None),
        ("update-settings-malformed.json", None, Some(ALICE)),
        ("update-settings-unknown-provider.json", None, Some(ALICE)),
    ] {
        let (mut event, id) = fresh_event(name, user);
        if let Some(body) = body {
            set_body(&mut event, &body);
        }
        record(
            id,
            parts(update_settings::handle(&stack.state, request(&event)).await),
        );
    }
    for (event, state) in [
        (delete_event(ALICE, "openai"), &stack.state),
        (delete_event(ALICE, "openai"), &stack.state),
        (delete_event(ALICE, "openai"), &broken),
        (event_json("delete-config-no-identity.json"), &stack.state),
        (
            event_for("delete-config-unknown-provider.json", Some(ALICE)),
            &stack.state,
        ),
    ] {
        let mut event = event;
        let id = set_unique_request_id(&mut event);
        record(
            id,
            parts(delete_config::handle(state, request(&event)).await),
        );
    }

    // Then no answer holds a key, the seed or a ciphertext, and the log not even a
    // settings value
    let mut secrets: Vec<&str> = keys.to_vec();
    secrets.extend(["BADKEY", "MARKER-0123", TEST_SEED, "akv1."]);
    for body in &bodies {
        for secret in &secrets {
            assert!(!body.contains(secret), "{secret:?} is in the answer {body}");
        }
    }
    let log = capture.text();
    secrets.extend(settings_markers);
    for secret in &secrets {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
    // ... while every request is in the log, and every outcome the audit names
    for id in &ids {
        assert!(log.contains(id.as_str()), "request {id} is not in the log");
    }
    for event in [
        "api_key.stored",
        "api_key.replaced",
        "settings.updated",
        "api_key.deleted",
    ] {
        assert!(log.contains(event), "{event} is not in the log:\n{log}");
    }
    // ... and every path was taken
    assert_eq!(
        statuses,
        [
            201, 200, 503, 500, 400, 400, 413, // store
            401, 400, 400, // store, from events
            200, 401, 500, // list
            200, 404, 401, 400, 400, // update
            204, 404, 500, 401, 400, // delete
        ]
    );
}

// ---------------------------------------------------------------- headers and errors

const SECURITY_HEADERS: [(&str, Option<&str>); 5] = [
    ("cache-control", Some("no-store")),
    ("x-content-type-options", Some("nosniff")),
    ("x-frame-options", Some("DENY")),
    ("strict-transport-security", None),
    ("referrer-policy", Some("no-referrer")),
];

/// The security headers a response lacks or gets wrong.
fn header_problems(headers: &HeaderMap) -> Vec<String> {
    SECURITY_HEADERS
        .iter()
        .filter_map(|(name, want)| {
            let got = headers.get(*name).and_then(|v| v.to_str().ok());
            let ok = match (got, want) {
                (Some(got), Some(want)) => got == *want,
                // HSTS: any max-age of at least a year.
                (Some(got), None) => got
                    .strip_prefix("max-age=")
                    .and_then(|rest| rest.split(';').next())
                    .and_then(|age| age.trim().parse::<u64>().ok())
                    .is_some_and(|age| age >= 31_536_000),
                (None, _) => false,
            };
            (!ok).then(|| format!("{name}: {got:?}"))
        })
        .collect()
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    // Given a stack, and states whose key material or table is missing
    let stack = Stack::new().await;
    let no_seed = stack.sealing_without_seed();
    let broken = stack.state_over_missing_table();
    let mut answers: Vec<(&str, Answer)> = Vec::new();

    // When answers of every kind are produced
    answers.push(("201 store", store_as(&stack, ALICE, openai(KEY)).await));
    answers.push((
        "200 store",
        store_as(&stack, ALICE, openai(OTHER_KEY)).await,
    ));
    answers.push(("200 list", list_as(&stack.state, ALICE).await));
    let update = json!({"provider": "grok", "settings": {}});
    answers.push(("404 update", update_as(&stack.state, ALICE, update).await));
    answers.push(("204 delete", delete_as(&stack.state, ALICE, "openai").await));
    answers.push(("404 delete", delete_as(&stack.state, ALICE, "openai").await));
    answers.push(("400 store", store_as(&stack, ALICE, json!({})).await));
    let event = event_json("store-no-identity.json");
    answers.push((
        "401 store",
        parts(store::handle(&stack.sealing, request(&event)).await),
    ));
    let big = json!({"provider": "openai", "apiKey": KEY, "settings": {"pad": "x".repeat(17_000)}});
    answers.push(("413 store", store_as(&stack, ALICE, big).await));
    let event = event_for("store.json", Some(ALICE));
    answers.push((
        "503 store",
        parts(store::handle(&no_seed, request(&event)).await),
    ));
    answers.push(("500 list", list_as(&broken, ALICE).await));
    answers.push(("429 test-key", rate_limited_key_test(&stack).await));

    // Then each one has all five headers
    let statuses: Vec<u16> = answers.iter().map(|(_, (s, _, _))| *s).collect();
    assert_eq!(
        statuses,
        [201, 200, 200, 404, 204, 404, 400, 401, 413, 503, 500, 429]
    );
    let problems: Vec<(&str, Vec<String>)> = answers
        .iter()
        .map(|(what, (_, headers, _))| (*what, header_problems(headers)))
        .filter(|(_, problems)| !problems.is_empty())
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn unavailable_key_material_asks_the_client_to_retry() {
    // Given a store whose seed secret does not exist
    let stack = Stack::new().await;
    let no_seed = stack.sealing_without_seed();
    let event = event_for("store.json", Some(ALICE));

    // When alice stores a key
    let (status, headers, body) = parts(store::handle(&no_seed, request(&event)).await);

    // Then 503 with Retry-After, and nothing stored
    assert_eq!(status, 503, "{body}");
    let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok());
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|secs| secs >= 1)),
        "Retry-After: {retry_after:?}"
    );
    assert_eq!(
        body["requestId"].as_str(),
        Some(request_id_of(&event).as_str())
    );
    assert!(stack.item(&pk(ALICE, "openai")).await.is_none());
}

/// Key tests by alice until one is refused: the answer that refuses. The key is
/// malformed, so no provider is ever called, yet each test counts.
async fn rate_limited_key_test(stack: &Stack) -> Answer {
    for _ in 0..100 {
        let mut event = event_for("test-key.json", Some(ALICE));
        set_body(
            &mut event,
            &json!({"provider": "openai", "apiKey": "short"}),
        );
        let answer = parts(test_key::handle(&stack.sealing, request(&event)).await);
        if answer.0 != 200 {
            return answer;
        }
    }
    panic!("100 key tests in a row were allowed");
}

#[tokio::test]
async fn rate_limited_key_tests_ask_the_client_to_retry() {
    // Given alice's key tests used up for the minute
    let stack = Stack::new().await;

    // When she asks for one more
    let (status, headers, body) = rate_limited_key_test(&stack).await;

    // Then 429 with Retry-After
    assert_eq!(status, 429, "{body}");
    let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok());
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|secs| (1..=60).contains(&secs))),
        "Retry-After: {retry_after:?}"
    );
}
