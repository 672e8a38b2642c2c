//! The DynamoDB calls each route makes, as docs/capacity.md counts them for its
//! capacity and cost table: each route is run once over a client that records every
//! call it sends, and the table in the document must be what was recorded. The items'
//! sizes behind the units are measured here too.

use std::collections::BTreeMap;

use apikeys::keytest::KeyTestSettings;
use apikeys::provider::ProviderId;
use apikeys_integration_tests::calls::{key_ids, Calls};
use apikeys_integration_tests::faults::FaultyClient;
use apikeys_integration_tests::template::read;
use apikeys_integration_tests::{emulator_endpoint, unique, Item, Stack};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-proj-CapacityKey0123456789abcdefghijklmn";
const SPARE: &str = "sk-proj-CapacitySpare0123456789abcdefghijk";

/// The size DynamoDB bills an item by: attribute names and values in bytes
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>).
fn item_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            // About one byte per two significant digits, plus one.
            AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(items) => 3 + items.iter().map(|i| 1 + value(i)).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value(v))
                    .sum::<usize>()
            }
            AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// The table of docs/capacity.md: route → the calls, as written there.
fn documented() -> BTreeMap<String, String> {
    let doc = read("docs/capacity.md");
    doc.lines()
        .skip_while(|l| !l.starts_with("## DynamoDB calls per route"))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            (cells[0].clone(), cells[1].clone())
        })
        .collect()
}

#[tokio::test]
async fn several_keys_the_calls_of_every_route_are_the_documented_ones() {
    let _ = emulator_endpoint();
    let stack = Stack::new().await;
    let recorder = FaultyClient::new();
    let (state, mut sealing) = stack
        .faulty(&recorder, apikeys::aws::AwsTimeouts::default())
        .await;
    let openai = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&openai)
        .await;
    let mut settings = KeyTestSettings::default();
    settings
        .set_base_url(ProviderId::OpenAi, &openai.uri())
        .unwrap();
    sealing.tester = apikeys_integration_tests::example_tester(settings);
    let calls = Calls {
        state: &state,
        sealing: &sealing,
    };
    let user = unique("capacity");
    let mut recorded = BTreeMap::new();
    let mut record = |route: &str, status: u16, body: &Value| {
        assert!(status < 400, "{route}: {status} {body}");
        recorded.insert(route.to_owned(), recorder.take_calls().join(" + "));
    };

    let (s, b) = calls.store(&user, "openai", KEY, Value::Null).await;
    record("POST /api/provider-configs (new)", s, &b);
    let (s, b) = calls.store(&user, "openai", KEY, Value::Null).await;
    record("POST /api/provider-configs (replace)", s, &b);
    let (s, b) = calls.list(&user).await;
    record("GET /api/provider-configs", s, &b);
    let (s, b) = calls
        .update_settings(&user, "openai", json!({"model": "gpt-4o"}))
        .await;
    record("PUT /api/provider-configs", s, &b);
    let (s, b) = calls.test_key(&user, "openai").await;
    record("POST /api/test-api-key", s, &b);
    let used = calls.use_key(&user, "openai").await;
    record(
        "use-key (use)",
        if used["found"] == true { 200 } else { 500 },
        &used,
    );
    let report = calls
        .report(
            &user,
            "openai",
            used["keyId"].as_str().unwrap(),
            "ok",
            used["lease"].as_str(),
        )
        .await;
    record(
        "use-key (report)",
        if report["recorded"] == true { 200 } else { 500 },
        &report,
    );
    let (s, b) = calls
        .add_key(&user, "openai", json!({"apiKey": SPARE}))
        .await;
    record("POST /api/provider-configs/{provider}/keys", s, &b);
    let (s, b) = calls.keys(&user, "openai").await;
    record("GET /api/provider-configs/{provider}/keys", s, &b);
    let spare = key_ids(&b)[1].clone();
    let (s, b) = calls
        .update_key(&user, "openai", &spare, json!({"label": "spare"}))
        .await;
    record("PUT /api/provider-configs/{provider}/keys/{keyId}", s, &b);
    let (s, b) = calls.delete_key(&user, "openai", &spare).await;
    record(
        "DELETE /api/provider-configs/{provider}/keys/{keyId}",
        s,
        &b,
    );
    let (s, b) = calls
        .add_key(&user, "openai", json!({"apiKey": SPARE}))
        .await;
    assert_eq!(s, 201, "{b}");
    recorder.take_calls();
    let (s, b) = calls.delete_all(&user, "openai").await;
    record(
        "DELETE /api/provider-configs/{provider} (several keys)",
        s,
        &b,
    );
    let (s, b) = calls.store(&user, "openai", KEY, Value::Null).await;
    assert!(s < 300, "{b}");
    recorder.take_calls();
    let (s, b) = calls.delete_all(&user, "openai").await;
    record("DELETE /api/provider-configs/{provider} (one key)", s, &b);

    assert_eq!(
        documented(),
        recorded,
        "docs/capacity.md's table of calls against what the routes sent"
    );

    // The sizes behind the units: the primary item, fresh and after 64 uses (its
    // list of use tokens at its longest), must each fit one strongly consistent
    // read unit.
    let other = unique("capacity-size");
    let (s, _) = Calls::of(&stack)
        .store(
            &other,
            "openai",
            KEY,
            json!({"model": "gpt-4o", "temperature": 0.2}),
        )
        .await;
    assert_eq!(s, 201);
    let pk = format!("{other}#openai");
    let fresh = item_size(&stack.partition(&pk).await[0]);
    for _ in 0..2 * apikeys::repo::USE_TOKENS {
        assert_eq!(
            Calls::of(&stack).use_key(&other, "openai").await["found"],
            true
        );
    }
    let used = item_size(&stack.partition(&pk).await[0]);
    println!("primary item: {fresh} bytes fresh, {used} bytes after 64 uses");
    assert!(fresh < used, "uses grow the item ({fresh} → {used})");
    assert!(
        used <= 4096,
        "a used item no longer fits one read unit: {used} bytes"
    );
    let doc = read("docs/capacity.md");
    assert!(
        doc.contains(&format!("{} KB", used.div_ceil(1024))),
        "docs/capacity.md does not give the used item's size in KB ({used} bytes)"
    );
}
