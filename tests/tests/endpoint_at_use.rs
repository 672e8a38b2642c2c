//! A stored endpoint is checked again where it is used: use-key resolves it under
//! today's rules and answers the checked addresses, or refuses it
//! (`endpoint_refused`), so a name that resolved to a public address at store and
//! leads inside the network later never sends the app's servers there.

use apikeys::keytest::{KeyTestSettings, KeyTester};
use apikeys_integration_tests::calls::Calls;
use apikeys_integration_tests::{number, unique, MovingName, Stack, EXAMPLE_ADDRESS};
use serde_json::json;

#[tokio::test]
async fn use_key_answers_the_checked_addresses_and_refuses_a_name_that_moved_inside() {
    // Given an OpenAI-compatible key stored while its name led to a public address
    let mut stack = Stack::new().await;
    let resolver = MovingName::new("llm.example.com", EXAMPLE_ADDRESS);
    stack.sealing.tester = KeyTester::with_resolver(KeyTestSettings::default(), resolver.clone());
    let user = unique("endpoint");
    let mut event = apikeys_integration_tests::event_for("store.json", Some(&user));
    apikeys_integration_tests::set_body(
        &mut event,
        &json!({"provider": "openai-compatible", "apiKey": "sk-local-0123456789abcdef",
                "endpoint": {"baseUrl": "https://llm.example.com/v1"}}),
    );
    let (status, _, body) = apikeys_integration_tests::parts(
        apikeys::api::store::handle(&stack.sealing, apikeys_integration_tests::request(&event))
            .await,
    );
    assert_eq!(status, 201, "{body}");
    let calls = Calls::of(&stack);

    // When use-key hands it out, the answer names the checked addresses
    let used = calls.use_key(&user, "openai-compatible").await;
    assert_eq!(used["found"], true, "{used}");
    assert_eq!(used["endpointAddresses"], json!([EXAMPLE_ADDRESS]));

    // And once the name leads to a private address, the key is not handed out
    resolver.move_to("10.0.3.7");
    let refused = calls.use_key(&user, "openai-compatible").await;
    assert_eq!(refused["found"], false, "{refused}");
    assert_eq!(refused["reason"], "endpoint_refused");
    assert_eq!(refused["field"], "endpoint.baseUrl");
    assert!(refused.get("apiKey").is_none(), "{refused}");
    // And a key not handed out is not counted as used: only the first use counts
    let item = stack.item(&format!("{user}#openai-compatible")).await;
    let item = item.expect("the key's item");
    assert_eq!(number(&item, "usageCount"), Some(1));
}

#[tokio::test]
async fn a_store_refuses_an_endpoint_whose_name_does_not_resolve_naming_the_field() {
    let mut stack = Stack::new().await;
    stack.sealing.tester = KeyTester::with_resolver(
        KeyTestSettings::default(),
        MovingName::new("llm.example.com", EXAMPLE_ADDRESS),
    );
    let user = unique("endpoint");
    let mut event = apikeys_integration_tests::event_for("store.json", Some(&user));
    apikeys_integration_tests::set_body(
        &mut event,
        &json!({"provider": "openai-compatible",
                "endpoint": {"baseUrl": "https://nowhere.example.org/v1"}}),
    );
    let (status, _, body) = apikeys_integration_tests::parts(
        apikeys::api::store::handle(&stack.sealing, apikeys_integration_tests::request(&event))
            .await,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["details"][0]["field"], "endpoint.baseUrl", "{body}");
    assert!(
        stack
            .item(&format!("{user}#openai-compatible"))
            .await
            .is_none(),
        "nothing written"
    );
}
