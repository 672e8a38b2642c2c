//! `infra/contract/openapi.yaml` against reality. For every route and every status the document
//! lists, a real request goes through the handler its function runs (against the local
//! AWS emulator, with fake providers on loopback), and the answer must be documented
//! for that route and validate against the documented schema, headers included. A
//! status a handler answers that the document does not list fails, and so does a
//! documented one that no request produced.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;

use apikeys::api::{delete_config, get_configs, store, test_key, update_settings};
use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys::provider::ProviderId;
use apikeys::{SealingState, State};
use apikeys_integration_tests::faults::{Fault, FaultyClient, Plan, Service};
use apikeys_integration_tests::template::{load_yaml, template_routes};
use apikeys_integration_tests::{
    event_for, event_json, parts, request, set_body, set_user, test_key_material, unique, Stack,
};
use lambda_http::http::HeaderMap;
use serde_json::{json, Map, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The status, headers and JSON body (Null when empty) of an answer.
type Answer = (u16, HeaderMap, Value);

const STORE: (&str, &str) = ("POST", "/api/provider-configs");
const LIST: (&str, &str) = ("GET", "/api/provider-configs");
const UPDATE: (&str, &str) = ("PUT", "/api/provider-configs");
const DELETE: (&str, &str) = ("DELETE", "/api/provider-configs/{provider}");
const TEST_KEY: (&str, &str) = ("POST", "/api/test-api-key");
const PROVIDERS: (&str, &str) = ("GET", "/api/providers");
const LIST_KEYS: (&str, &str) = ("GET", "/api/provider-configs/{provider}/keys");
const ADD_KEY: (&str, &str) = ("POST", "/api/provider-configs/{provider}/keys");
const UPDATE_KEY: (&str, &str) = ("PUT", "/api/provider-configs/{provider}/keys/{keyId}");
const DELETE_KEY: (&str, &str) = ("DELETE", "/api/provider-configs/{provider}/keys/{keyId}");

/// OpenAI keys the fake OpenAI answers in one way each.
const GOOD_KEY: &str = "sk-proj-G00dKey0123456789abcdefghijklmnopQRST";
const OTHER_GOOD_KEY: &str = "sk-proj-AnotherG00dKey0123456789abcdefghijQR";
const BAD_KEY: &str = "sk-proj-BadKey0123456789abcdefghijklmnopqrWXYZ";
const QUOTA_KEY: &str = "sk-proj-QuotaKey0123456789abcdefghijklmnopQR";
const LIMITED_KEY: &str = "sk-proj-LimitedKey0123456789abcdefghijklmnQR";
const BROKEN_KEY: &str = "sk-proj-BrokenKey0123456789abcdefghijklmnQR";
const SLOW_KEY: &str = "sk-proj-SlowKey0123456789abcdefghijklmnopqQR";
/// An Anthropic key filed as OpenAI: never sent anywhere.
const MISFILED_KEY: &str = "sk-ant-api03-Misfiled0123456789abcdefghijkl";
/// An xAI key; the fake xAI is a closed port.
const XAI_KEY: &str = "xai-Unreachable0123456789abcdefghijkl";

/// The document, with `$ref`s resolved on demand.
struct Contract {
    doc: Value,
}

impl Contract {
    fn load() -> Self {
        Self {
            doc: load_yaml("infra/contract/openapi.yaml"),
        }
    }

    /// Follows a local `$ref` (`#/components/...`) once.
    fn follow<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(target) => {
                let pointer = target
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local $refs are supported: {target}"));
                self.follow(
                    self.doc
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("$ref {target} resolves to nothing")),
                )
            }
            None => value,
        }
    }

    /// A schema with every `$ref` replaced by what it points at, so that a plain JSON
    /// Schema validator can use it.
    fn inline(&self, schema: &Value, depth: usize) -> Value {
        assert!(depth < 32, "$refs nested too deep (a cycle?)");
        match schema {
            Value::Object(map) => {
                let mut out = Map::new();
                let mut all_of = Vec::new();
                for (key, value) in map {
                    if key == "$ref" {
                        all_of.push(self.inline(self.follow(schema), depth + 1));
                    } else {
                        out.insert(key.clone(), self.inline(value, depth + 1));
                    }
                }
                match (all_of.pop(), out.is_empty()) {
                    (Some(target), true) => target,
                    (Some(target), false) => {
                        out.insert("allOf".into(), json!([target]));
                        Value::Object(out)
                    }
                    (None, _) => Value::Object(out),
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.inline(item, depth + 1))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn operation(&self, (method, route): (&str, &str)) -> &Value {
        let operation = &self.doc["paths"][route][method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "infra/contract/openapi.yaml does not document {method} {route}"
        );
        operation
    }

    /// Every (method, route, status) the document lists.
    fn documented(&self) -> BTreeSet<(String, String, u16)> {
        let mut all = BTreeSet::new();
        for (route, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                for status in responses.keys() {
                    let status = status
                        .parse()
                        .unwrap_or_else(|_| panic!("{method} {route}: status {status}"));
                    all.insert((method.to_ascii_uppercase(), route.clone(), status));
                }
            }
        }
        all
    }

    /// The problems of `instance` against `schema`, each naming where it is.
    fn violations(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let schema = self.inline(schema, 0);
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("a documented schema does not compile: {e}\n{schema}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect()
    }
}

/// What the requests showed: which documented answers were seen, and what disagreed.
struct Exercise<'c> {
    contract: &'c Contract,
    seen: BTreeSet<(String, String, u16)>,
    problems: Vec<String>,
}

impl<'c> Exercise<'c> {
    fn new(contract: &'c Contract) -> Self {
        Self {
            contract,
            seen: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    /// Checks one answer of `route` to `event` against the document.
    fn check(&mut self, route: (&str, &str), event: &Value, answer: &Answer) -> u16 {
        let (method, path) = route;
        let (status, headers, body) = answer;
        let status = *status;
        let operation = self.contract.operation(route);
        let Some(response) = operation["responses"].get(status.to_string()) else {
            self.problems.push(format!(
                "{method} {path}: the handler answered {status}, which infra/contract/openapi.yaml does not list: {body}"
            ));
            return status;
        };
        self.seen
            .insert((method.to_owned(), path.to_owned(), status));
        let response = self.contract.follow(response);
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match response.get("content") {
            Some(content) => {
                let Some(media) = content.get("application/json") else {
                    self.problems.push(format!(
                        "{method} {path} {status}: documented without application/json"
                    ));
                    return status;
                };
                if !content_type.starts_with("application/json") {
                    self.problems.push(format!(
                        "{method} {path} {status}: content-type {content_type:?}, documented application/json"
                    ));
                }
                for violation in self.contract.violations(&media["schema"], body) {
                    self.problems.push(format!(
                        "{method} {path} {status}: the body {body} breaks the documented schema {violation}"
                    ));
                }
            }
            None => {
                if !body.is_null() || !content_type.is_empty() {
                    self.problems.push(format!(
                        "{method} {path} {status}: documented without a body, answered {content_type:?} {body}"
                    ));
                }
            }
        }
        if let Some(documented) = response.get("headers").and_then(Value::as_object) {
            for (name, header) in documented {
                let header = self.contract.follow(header);
                let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) else {
                    self.problems.push(format!(
                        "{method} {path} {status}: the documented header {name} is missing"
                    ));
                    continue;
                };
                let value = serde_json::from_str::<Value>(value)
                    .ok()
                    .filter(Value::is_number)
                    .unwrap_or_else(|| Value::String(value.to_owned()));
                for violation in self.contract.violations(&header["schema"], &value) {
                    self.problems.push(format!(
                        "{method} {path} {status}: header {name}: {violation}"
                    ));
                }
            }
        }
        // What a handler accepted must be what the document says it accepts.
        if (200..300).contains(&status) {
            if let Some(schema) = operation
                .get("requestBody")
                .map(|b| &self.contract.follow(b)["content"]["application/json"]["schema"])
            {
                let sent = event["body"]
                    .as_str()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or(Value::Null);
                for violation in self.contract.violations(schema, &sent) {
                    self.problems.push(format!(
                        "{method} {path} {status}: the handler accepted {sent}, which the documented request body refuses {violation}"
                    ));
                }
            }
        }
        status
    }
}

/// A fake OpenAI that answers each of the keys above in its own way, and a closed
/// port standing in for xAI.
async fn fake_providers() -> (MockServer, KeyTester) {
    let openai = MockServer::start().await;
    let answers = [
        (GOOD_KEY, ResponseTemplate::new(200).set_body_json(json!({"data": []}))),
        (OTHER_GOOD_KEY, ResponseTemplate::new(200).set_body_json(json!({"data": []}))),
        (
            BAD_KEY,
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"message": "Incorrect API key provided"}})),
        ),
        (
            QUOTA_KEY,
            ResponseTemplate::new(429).set_body_json(json!({
                "error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}
            })),
        ),
        (
            LIMITED_KEY,
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({"error": {"message": "Rate limit reached"}})),
        ),
        (BROKEN_KEY, ResponseTemplate::new(404).set_body_json(json!({}))),
        (
            SLOW_KEY,
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({"data": []})),
        ),
    ];
    for (key, answer) in answers {
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(answer)
            .mount(&openai)
            .await;
    }
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.local_addr().expect("its address").port()
    };
    let mut settings = KeyTestSettings::default();
    settings.backoff = Duration::from_millis(10);
    settings.total_timeout = Duration::from_millis(1_000);
    settings
        .set_base_url(ProviderId::OpenAi, &openai.uri())
        .expect("the fake OpenAI");
    settings
        .set_base_url(ProviderId::Grok, &format!("http://127.0.0.1:{closed}"))
        .expect("a closed port");
    (openai, apikeys_integration_tests::example_tester(settings))
}

fn with_body(name: &str, user: &str, body: Value) -> Value {
    let mut event = event_for(name, Some(user));
    set_body(&mut event, &body);
    event
}

fn delete_event(user: &str, provider: &str) -> Value {
    let mut event = event_for("delete-config.json", Some(user));
    event["pathParameters"]["provider"] = json!(provider);
    event["rawPath"] = json!(format!("/api/provider-configs/{provider}"));
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event
}

/// A body over the 16 KiB limit.
fn oversized() -> Value {
    json!({"provider": "openai", "apiKey": GOOD_KEY, "settings": {"pad": "x".repeat(17 * 1024)}})
}

/// The functions' states over the stack's table with DynamoDB throttling every call:
/// each route answers 503 once the SDK's retries are spent.
async fn throttled(stack: &Stack) -> (State, SealingState) {
    let faults = FaultyClient::new();
    faults.set(Plan::always(Fault::Throttled, Service::DynamoDb));
    stack
        .faulty(
            &faults,
            apikeys::aws::AwsTimeouts {
                attempt: Duration::from_millis(300),
                operation: Duration::from_millis(1_500),
                ..Default::default()
            },
        )
        .await
}

async fn run_store(state: &SealingState, event: &Value) -> Answer {
    parts(store::handle(state, request(event)).await)
}

async fn run_list(state: &State, event: &Value) -> Answer {
    parts(get_configs::handle(state, request(event)).await)
}

async fn run_update(state: &State, event: &Value) -> Answer {
    parts(update_settings::handle(state, request(event)).await)
}

async fn run_delete(state: &State, event: &Value) -> Answer {
    parts(delete_config::handle(state, request(event)).await)
}

async fn run_test_key(state: &SealingState, event: &Value) -> Answer {
    parts(test_key::handle(state, request(event)).await)
}

#[tokio::test]
async fn every_documented_answer_is_what_the_handlers_send() {
    let contract = Contract::load();
    let mut x = Exercise::new(&contract);
    let (_openai, tester) = fake_providers().await;
    let mut stack = Stack::new().await;
    stack.sealing.tester = tester;
    // Every table call fails here (500) before any key test is made.
    let missing_table = stack.state_over_missing_table();
    let sealing_missing_table = SealingState::new(
        missing_table.clone(),
        test_key_material(&stack.sdk),
        KeyTester::new(KeyTestSettings::default()),
    );
    let without_seed = stack.sealing_without_seed();
    let (throttled_table, _) = throttled(&stack).await;
    let alice = unique("alice");
    let nobody = unique("nobody");

    // POST /api/provider-configs
    let e = with_body(
        "store.json",
        &alice,
        json!({"provider": "openai", "apiKey": GOOD_KEY, "settings": {"model": "gpt-4o-mini"}}),
    );
    assert_eq!(
        x.check(STORE, &e, &run_store(&stack.sealing, &e).await),
        201
    );
    let e = with_body(
        "store.json",
        &alice,
        json!({"provider": "openai", "apiKey": OTHER_GOOD_KEY, "validate": true}),
    );
    assert_eq!(
        x.check(STORE, &e, &run_store(&stack.sealing, &e).await),
        200
    );
    for name in [
        "store-malformed.json",
        "store-invalid-fields.json",
        "store-unknown-provider.json",
    ] {
        let e = event_json(name);
        assert_eq!(
            x.check(STORE, &e, &run_store(&stack.sealing, &e).await),
            400,
            "{name}"
        );
    }
    let e = event_json("store-no-identity.json");
    assert_eq!(
        x.check(STORE, &e, &run_store(&stack.sealing, &e).await),
        401
    );
    let e = with_body("store.json", &alice, oversized());
    assert_eq!(
        x.check(STORE, &e, &run_store(&stack.sealing, &e).await),
        413
    );
    let refused = json!({"provider": "openai", "apiKey": BAD_KEY, "validate": true});
    let e = with_body("store.json", &unique("bob"), refused.clone());
    assert_eq!(
        x.check(STORE, &e, &run_store(&stack.sealing, &e).await),
        422
    );
    // `validate: true` takes key tests from a per-minute allowance of 10.
    let carol = unique("carol");
    let mut limited = false;
    for _ in 0..25 {
        let e = with_body("store.json", &carol, refused.clone());
        if x.check(STORE, &e, &run_store(&stack.sealing, &e).await) == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "store with validate: true was never rate limited");
    let e = with_body(
        "store.json",
        &alice,
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    );
    assert_eq!(
        x.check(STORE, &e, &run_store(&sealing_missing_table, &e).await),
        500
    );
    assert_eq!(x.check(STORE, &e, &run_store(&without_seed, &e).await), 503);
    // Keys with their endpoints: the config carries the endpoint.
    for name in ["store-azure-openai.json", "store-openai-compatible.json"] {
        let mut e = event_json(name);
        set_user(&mut e, Some(&unique("grace")));
        let answer = run_store(&stack.sealing, &e).await;
        assert_eq!(x.check(STORE, &e, &answer), 201, "{name}: {}", answer.2);
        assert!(answer.2["config"]["endpoint"].is_object(), "{name}");
    }

    // GET /api/provider-configs
    let e = event_for("get-configs.json", Some(&alice));
    let answer = run_list(&stack.state, &e).await;
    assert_eq!(x.check(LIST, &e, &answer), 200);
    assert_eq!(
        answer.2["configs"].as_array().map(Vec::len),
        Some(1),
        "{}",
        answer.2
    );
    let e = event_json("get-configs-no-identity.json");
    assert_eq!(x.check(LIST, &e, &run_list(&stack.state, &e).await), 401);
    let e = event_for("get-configs.json", Some(&alice));
    assert_eq!(x.check(LIST, &e, &run_list(&missing_table, &e).await), 500);
    assert_eq!(
        x.check(LIST, &e, &run_list(&throttled_table, &e).await),
        503
    );

    // PUT /api/provider-configs
    let settings =
        json!({"provider": "openai", "settings": {"model": "gpt-4o", "temperature": 0.2}});
    let e = with_body("update-settings.json", &alice, settings.clone());
    assert_eq!(
        x.check(UPDATE, &e, &run_update(&stack.state, &e).await),
        200
    );
    for name in [
        "update-settings-malformed.json",
        "update-settings-unknown-provider.json",
    ] {
        let e = event_json(name);
        assert_eq!(
            x.check(UPDATE, &e, &run_update(&stack.state, &e).await),
            400,
            "{name}"
        );
    }
    let e = event_json("update-settings-no-identity.json");
    assert_eq!(
        x.check(UPDATE, &e, &run_update(&stack.state, &e).await),
        401
    );
    let e = with_body("update-settings.json", &nobody, settings.clone());
    assert_eq!(
        x.check(UPDATE, &e, &run_update(&stack.state, &e).await),
        404
    );
    let e = with_body("update-settings.json", &alice, oversized());
    assert_eq!(
        x.check(UPDATE, &e, &run_update(&stack.state, &e).await),
        413
    );
    let e = with_body("update-settings.json", &alice, settings);
    assert_eq!(
        x.check(UPDATE, &e, &run_update(&missing_table, &e).await),
        500
    );
    assert_eq!(
        x.check(UPDATE, &e, &run_update(&throttled_table, &e).await),
        503
    );

    // POST /api/test-api-key: every outcome of a check is a 200 with its status.
    let mut outcomes = BTreeSet::new();
    for (provider, key) in [
        ("openai", GOOD_KEY),
        ("openai", BAD_KEY),
        ("openai", QUOTA_KEY),
        ("openai", LIMITED_KEY),
        ("openai", BROKEN_KEY),
        ("openai", SLOW_KEY),
        ("grok", XAI_KEY),
        ("openai", MISFILED_KEY),
    ] {
        let e = with_body(
            "test-key.json",
            &unique("dave"),
            json!({"provider": provider, "apiKey": key}),
        );
        let answer = run_test_key(&stack.sealing, &e).await;
        assert_eq!(x.check(TEST_KEY, &e, &answer), 200, "{key}: {}", answer.2);
        outcomes.insert(answer.2["status"].as_str().unwrap_or("?").to_owned());
    }
    let documented: BTreeSet<String> = contract.doc["components"]["schemas"]["KeyStatus"]["enum"]
        .as_array()
        .expect("the KeyStatus enum")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    if outcomes != documented {
        x.problems.push(format!(
            "the key test outcomes seen, {outcomes:?}, differ from the documented KeyStatus enum {documented:?}"
        ));
    }
    // Without apiKey: alice's stored key is opened and tested.
    let e = event_for("test-key-stored.json", Some(&alice));
    let answer = run_test_key(&stack.sealing, &e).await;
    assert_eq!(x.check(TEST_KEY, &e, &answer), 200);
    assert_eq!(answer.2["status"], "valid");
    let e = event_json("test-key-unknown-provider.json");
    assert_eq!(
        x.check(TEST_KEY, &e, &run_test_key(&stack.sealing, &e).await),
        400
    );
    let e = event_json("test-key-no-identity.json");
    assert_eq!(
        x.check(TEST_KEY, &e, &run_test_key(&stack.sealing, &e).await),
        401
    );
    let e = with_body("test-key.json", &nobody, json!({"provider": "openai"}));
    assert_eq!(
        x.check(TEST_KEY, &e, &run_test_key(&stack.sealing, &e).await),
        404
    );
    let e = with_body("test-key.json", &alice, oversized());
    assert_eq!(
        x.check(TEST_KEY, &e, &run_test_key(&stack.sealing, &e).await),
        413
    );
    let erin = unique("erin");
    let mut limited = false;
    for _ in 0..25 {
        let e = with_body(
            "test-key.json",
            &erin,
            json!({"provider": "openai", "apiKey": MISFILED_KEY}),
        );
        if x.check(TEST_KEY, &e, &run_test_key(&stack.sealing, &e).await) == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "test-key was never rate limited");
    let e = with_body(
        "test-key.json",
        &alice,
        json!({"provider": "openai", "apiKey": GOOD_KEY}),
    );
    assert_eq!(
        x.check(
            TEST_KEY,
            &e,
            &run_test_key(&sealing_missing_table, &e).await
        ),
        500
    );
    let e = with_body(
        "test-key.json",
        &unique("frank"),
        json!({"provider": "openai"}),
    );
    assert_eq!(
        x.check(TEST_KEY, &e, &run_test_key(&without_seed, &e).await),
        503
    );

    // A stored loopback endpoint after the operator turned loopback endpoints off.
    let mut loopback = KeyTestSettings::default();
    loopback.allow_loopback_endpoints = true;
    let sealing_loopback = SealingState::new(
        stack.state.clone(),
        test_key_material(&stack.sdk),
        KeyTester::new(loopback),
    );
    let heidi = unique("heidi");
    let azure = json!({
        "provider": "azure-openai",
        "apiKey": "0123456789abcdef0123456789abcdef",
        "endpoint": {"endpoint": "http://127.0.0.1:9", "apiVersion": "2024-10-21"},
    });
    let e = with_body("store.json", &heidi, azure);
    assert_eq!(
        x.check(STORE, &e, &run_store(&sealing_loopback, &e).await),
        201
    );
    let e = with_body("test-key.json", &heidi, json!({"provider": "azure-openai"}));
    assert_eq!(
        x.check(TEST_KEY, &e, &run_test_key(&stack.sealing, &e).await),
        422
    );

    // DELETE /api/provider-configs/{provider}
    let e = delete_event(&alice, "openai");
    assert_eq!(
        x.check(DELETE, &e, &run_delete(&stack.state, &e).await),
        204
    );
    let e = event_json("delete-config-unknown-provider.json");
    assert_eq!(
        x.check(DELETE, &e, &run_delete(&stack.state, &e).await),
        400
    );
    let e = event_json("delete-config-no-identity.json");
    assert_eq!(
        x.check(DELETE, &e, &run_delete(&stack.state, &e).await),
        401
    );
    let e = delete_event(&alice, "openai");
    assert_eq!(
        x.check(DELETE, &e, &run_delete(&stack.state, &e).await),
        404
    );
    let e = delete_event(&alice, "openai");
    assert_eq!(
        x.check(DELETE, &e, &run_delete(&missing_table, &e).await),
        500
    );
    assert_eq!(
        x.check(DELETE, &e, &run_delete(&throttled_table, &e).await),
        503
    );

    // GET /api/providers: the registry, for a signed-in user only.
    let mut e = event_for("get-configs.json", Some(&alice));
    e["rawPath"] = json!("/api/providers");
    e["requestContext"]["http"]["path"] = json!("/api/providers");
    let answer = run_list(&stack.state, &e).await;
    assert_eq!(x.check(PROVIDERS, &e, &answer), 200);
    assert_eq!(
        answer.2["providers"].as_array().map(Vec::len),
        Some(apikeys::provider::ProviderId::ALL.len())
    );
    let mut e = event_json("get-configs-no-identity.json");
    e["rawPath"] = json!("/api/providers");
    e["requestContext"]["http"]["path"] = json!("/api/providers");
    assert_eq!(
        x.check(PROVIDERS, &e, &run_list(&stack.state, &e).await),
        401
    );

    // The key routes need transactions: their own test below (moto only).
    for (method, route, status) in contract
        .documented()
        .difference(&x.seen)
        .filter(|(_, route, _)| !route.contains("/keys"))
    {
        x.problems.push(format!(
            "{method} {route} {status} is documented, but no request in this test produced it: \
             add the request that does, or drop the status from infra/contract/openapi.yaml"
        ));
    }
    assert!(
        x.problems.is_empty(),
        "infra/contract/openapi.yaml and the handlers disagree:\n  - {}",
        x.problems.join("\n  - ")
    );
}

#[test]
fn the_provider_enum_is_the_registry() {
    let contract = Contract::load();
    let documented: Vec<&str> = contract.doc["components"]["schemas"]["ProviderId"]["enum"]
        .as_array()
        .expect("the ProviderId enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let registry: Vec<&str> = ProviderId::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        documented, registry,
        "infra/contract/openapi.yaml (left), the registry (right)"
    );
    let names = contract.doc["components"]["schemas"]["ProviderName"]["description"]
        .as_str()
        .expect("the ProviderName description");
    for provider in ProviderId::ALL {
        for alias in provider.entry().aliases {
            assert!(
                names.contains(&format!("`{alias}`")),
                "ProviderName does not list the alias {alias} of {provider}"
            );
        }
    }
}

#[test]
fn the_providers_table_of_the_api_docs_lists_every_registry_provider() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let readme = std::fs::read_to_string(&path).expect("docs/api.md");
    for provider in ProviderId::ALL {
        let entry = provider.entry();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", provider.as_str())))
            .unwrap_or_else(|| panic!("docs/api.md has no providers row for {provider}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[3], entry.display_name, "{row}");
        for alias in entry.aliases {
            assert!(
                cells[2].contains(&format!("`{alias}`")),
                "{row}: alias {alias}"
            );
        }
        assert!(
            cells[4].contains(entry.check.path),
            "{row}: {}",
            entry.check.path
        );
        if let Some(base) = entry.default_base_url {
            assert!(
                cells[4].contains(&format!("{base}{}", entry.check.path)),
                "{row}"
            );
        }
    }
}

#[test]
fn the_document_has_exactly_the_routes_of_the_template() {
    let contract = Contract::load();
    let template = load_yaml("template.yaml");
    let deployed = template_routes(&template);
    let mut documented = std::collections::BTreeMap::new();
    for (route, item) in contract.doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let function = operation["x-apikeys-function"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {route} has no x-apikeys-function"))
                .to_owned();
            documented.insert((method.to_ascii_uppercase(), route.clone()), function);
        }
    }
    assert_eq!(
        documented, deployed,
        "routes of infra/contract/openapi.yaml (left) and template.yaml (right), with their functions"
    );
}

#[test]
fn every_operation_needs_the_bearer_jwt() {
    let contract = Contract::load();
    let doc = &contract.doc;
    assert_eq!(doc["security"], json!([{"bearerJwt": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerJwt"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": doc["components"]["securitySchemes"]["bearerJwt"]["description"],
        })
    );
    for (route, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            assert!(
                operation.get("security").is_none(),
                "{method} {route} overrides the security requirement"
            );
            assert!(
                operation["responses"].get("401").is_some(),
                "{method} {route} does not document 401"
            );
        }
    }
}

/// `name` of `events/` as `user`, at `path` with `params`, with `body` when given.
fn key_event(
    name: &str,
    user: &str,
    http: &str,
    path: &str,
    params: Value,
    body: Option<Value>,
) -> Value {
    let mut event = event_for(name, Some(user));
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(http);
    event["pathParameters"] = params;
    if let Some(body) = body {
        set_body(&mut event, &body);
    }
    event
}

#[tokio::test]
async fn several_keys_every_documented_answer_of_the_key_routes_is_what_the_handlers_send() {
    let contract = Contract::load();
    let mut x = Exercise::new(&contract);
    let stack = Stack::new().await;
    let missing_table = stack.state_over_missing_table();
    let sealing_missing_table = SealingState::new(
        missing_table.clone(),
        test_key_material(&stack.sdk),
        KeyTester::new(KeyTestSettings::default()),
    );
    let without_seed = stack.sealing_without_seed();
    let (throttled_table, sealing_throttled) = throttled(&stack).await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let keys_path = "/api/provider-configs/openai/keys";
    let on = json!({"provider": "openai"});
    let add = |user: &str, body: Value| {
        key_event(
            "store.json",
            user,
            "POST",
            keys_path,
            on.clone(),
            Some(body),
        )
    };
    let one = |name: &str, user: &str, http: &str, id: &str, body: Option<Value>| {
        key_event(
            name,
            user,
            http,
            &format!("{keys_path}/{id}"),
            json!({"provider": "openai", "keyId": id}),
            body,
        )
    };
    let key = |i: usize| format!("sk-proj-ContractKey{i:02}abcdefghijklmnopqrstuvwxyz");

    // POST .../keys: the first key (the primary), four more, then the sixth
    let e = add(&alice, json!({"apiKey": key(0), "label": "main"}));
    let first = run_store(&stack.sealing, &e).await;
    assert_eq!(x.check(ADD_KEY, &e, &first), 201, "{}", first.2);
    let mut ids = vec![first.2["key"]["id"].as_str().unwrap().to_owned()];
    for i in 1..5 {
        let e = add(
            &alice,
            json!({"apiKey": key(i), "priority": i, "expiresAt": "2099-01-01T00:00:00Z"}),
        );
        let answer = run_store(&stack.sealing, &e).await;
        assert_eq!(x.check(ADD_KEY, &e, &answer), 201, "{}", answer.2);
        ids.push(answer.2["key"]["id"].as_str().unwrap().to_owned());
    }
    let e = add(&alice, json!({"apiKey": key(5)}));
    assert_eq!(
        x.check(ADD_KEY, &e, &run_store(&stack.sealing, &e).await),
        409
    );
    let e = add(&alice, json!({"apiKey": key(5), "priority": -3}));
    assert_eq!(
        x.check(ADD_KEY, &e, &run_store(&stack.sealing, &e).await),
        400
    );
    let mut e = add(&alice, json!({"apiKey": key(5)}));
    set_user(&mut e, None);
    assert_eq!(
        x.check(ADD_KEY, &e, &run_store(&stack.sealing, &e).await),
        401
    );
    let e = add(
        &alice,
        json!({"apiKey": key(5), "label": "x".repeat(17 * 1024)}),
    );
    assert_eq!(
        x.check(ADD_KEY, &e, &run_store(&stack.sealing, &e).await),
        413
    );
    let e = add(&bob, json!({"apiKey": key(6)}));
    assert_eq!(
        x.check(ADD_KEY, &e, &run_store(&sealing_missing_table, &e).await),
        500
    );
    let e = add(&bob, json!({"apiKey": key(6)}));
    assert_eq!(
        x.check(ADD_KEY, &e, &run_store(&without_seed, &e).await),
        503
    );

    // GET .../keys
    let e = key_event(
        "get-configs.json",
        &alice,
        "GET",
        keys_path,
        on.clone(),
        None,
    );
    let listed = run_list(&stack.state, &e).await;
    assert_eq!(x.check(LIST_KEYS, &e, &listed), 200);
    assert_eq!(listed.2["keys"].as_array().map(Vec::len), Some(5));
    let e = key_event(
        "get-configs.json",
        &alice,
        "GET",
        "/api/provider-configs/nope/keys",
        json!({"provider": "nope"}),
        None,
    );
    assert_eq!(
        x.check(LIST_KEYS, &e, &run_list(&stack.state, &e).await),
        400
    );
    let mut e = key_event(
        "get-configs.json",
        &alice,
        "GET",
        keys_path,
        on.clone(),
        None,
    );
    set_user(&mut e, None);
    assert_eq!(
        x.check(LIST_KEYS, &e, &run_list(&stack.state, &e).await),
        401
    );
    let e = key_event(
        "get-configs.json",
        &alice,
        "GET",
        keys_path,
        on.clone(),
        None,
    );
    assert_eq!(
        x.check(LIST_KEYS, &e, &run_list(&missing_table, &e).await),
        500
    );
    assert_eq!(
        x.check(LIST_KEYS, &e, &run_list(&throttled_table, &e).await),
        503
    );

    // PUT .../keys/{keyId}
    let e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[2],
        Some(json!({"label": "backup", "expiresAt": null})),
    );
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&stack.sealing, &e).await),
        200
    );
    let e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[2],
        Some(json!({"primary": true})),
    );
    let made = run_store(&stack.sealing, &e).await;
    assert_eq!(x.check(UPDATE_KEY, &e, &made), 200);
    assert_eq!(made.2["key"]["primary"], true);
    let e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[1],
        Some(json!({"priority": "first"})),
    );
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&stack.sealing, &e).await),
        400
    );
    let mut e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[1],
        Some(json!({"label": "a"})),
    );
    set_user(&mut e, None);
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&stack.sealing, &e).await),
        401
    );
    let e = one(
        "store.json",
        &bob,
        "PUT",
        &ids[1],
        Some(json!({"label": "mine"})),
    );
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&stack.sealing, &e).await),
        404
    );
    let e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[1],
        Some(json!({"label": "x".repeat(17 * 1024)})),
    );
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&stack.sealing, &e).await),
        413
    );
    let e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[1],
        Some(json!({"label": "a"})),
    );
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&sealing_missing_table, &e).await),
        500
    );
    assert_eq!(
        x.check(UPDATE_KEY, &e, &run_store(&sealing_throttled, &e).await),
        503
    );
    // Two keys made primary at once: each request is a valid 200, or the 409 of a
    // swap that met the other (the keys changed between its read and its write).
    let swap_3 = one(
        "store.json",
        &alice,
        "PUT",
        &ids[3],
        Some(json!({"primary": true})),
    );
    let swap_4 = one(
        "store.json",
        &alice,
        "PUT",
        &ids[4],
        Some(json!({"primary": true})),
    );
    let (a, b) = tokio::join!(
        run_store(&stack.sealing, &swap_3),
        run_store(&stack.sealing, &swap_4),
    );
    let statuses = [a.0, b.0];
    let e = one(
        "store.json",
        &alice,
        "PUT",
        &ids[3],
        Some(json!({"primary": true})),
    );
    x.check(UPDATE_KEY, &e, &a);
    x.check(UPDATE_KEY, &e, &b);
    assert!(statuses.contains(&200), "{statuses:?}: {} {}", a.2, b.2);

    // DELETE .../keys/{keyId}
    let primary = run_list(
        &stack.state,
        &key_event(
            "get-configs.json",
            &alice,
            "GET",
            keys_path,
            on.clone(),
            None,
        ),
    )
    .await
    .2["keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = one("delete-config.json", &alice, "DELETE", &primary, None);
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&stack.state, &e).await),
        409
    );
    let e = one("delete-config.json", &alice, "DELETE", &ids[1], None);
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&stack.state, &e).await),
        204
    );
    let e = one("delete-config.json", &alice, "DELETE", &ids[1], None);
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&stack.state, &e).await),
        404
    );
    let e = one(
        "delete-config.json",
        &alice,
        "DELETE",
        "not%20an%20id",
        None,
    );
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&stack.state, &e).await),
        400
    );
    let mut e = one("delete-config.json", &alice, "DELETE", &ids[2], None);
    set_user(&mut e, None);
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&stack.state, &e).await),
        401
    );
    let e = one("delete-config.json", &alice, "DELETE", &ids[2], None);
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&throttled_table, &e).await),
        503
    );
    assert_eq!(
        x.check(DELETE_KEY, &e, &run_delete(&missing_table, &e).await),
        500
    );

    let key_routes: BTreeSet<_> = contract
        .documented()
        .into_iter()
        .filter(|(_, route, _)| route.contains("/keys"))
        .collect();
    // 409 of PUT comes only from two swaps at once, which may not collide: not
    // required to be seen.
    let optional = ("PUT".to_owned(), UPDATE_KEY.1.to_owned(), 409);
    for (method, route, status) in key_routes.difference(&x.seen) {
        if (method.clone(), route.clone(), *status) == optional {
            continue;
        }
        x.problems.push(format!(
            "{method} {route} {status} is documented, but no request in this test produced it"
        ));
    }
    assert!(
        x.problems.is_empty(),
        "infra/contract/openapi.yaml and the key handlers disagree:\n  - {}",
        x.problems.join("\n  - ")
    );
}
