//! Several keys per provider through the HTTP handlers, on the emulator: add, list,
//! the limit, isolation between users, deletes, and the single-key routes beside
//! them. (Every test name holds `several_keys`: they need DynamoDB transactions,
//! which dynalite does not implement, so the dynalite run leaves them to moto.)

use apikeys::api::{delete_config, get_configs, store};
use apikeys_integration_tests::{event_for, parts, request, set_body, unique, Stack};
use serde_json::{json, Value};

use super::{detail_fields, list_as, openai, store_as, Answer, KEY};

/// An OpenAI key of its own for `i`.
fn key(i: usize) -> String {
    format!("sk-proj-SeveralKeys{i:02}abcdefghijklmnopqrstuvwxyz")
}

/// `event` pointed at `path` with `params`.
fn routed(mut event: Value, path: &str, params: Value) -> Value {
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"] = params;
    event
}

/// POST /api/provider-configs/{provider}/keys as `user`.
pub(super) async fn add_key_as(stack: &Stack, user: &str, provider: &str, body: Value) -> Answer {
    let mut event = routed(
        event_for("add-key.json", Some(user)),
        &format!("/api/provider-configs/{provider}/keys"),
        json!({ "provider": provider }),
    );
    set_body(&mut event, &body);
    parts(store::handle(&stack.sealing, request(&event)).await)
}

/// GET /api/provider-configs/{provider}/keys as `user`.
async fn keys_as(stack: &Stack, user: &str, provider: &str) -> Answer {
    let event = routed(
        event_for("list-keys.json", Some(user)),
        &format!("/api/provider-configs/{provider}/keys"),
        json!({ "provider": provider }),
    );
    parts(get_configs::handle(&stack.state, request(&event)).await)
}

/// DELETE /api/provider-configs/{provider}/keys/{keyId} as `user`.
async fn delete_key_as(stack: &Stack, user: &str, provider: &str, id: &str) -> Answer {
    let event = routed(
        event_for("delete-key.json", Some(user)),
        &format!("/api/provider-configs/{provider}/keys/{id}"),
        json!({ "provider": provider, "keyId": id }),
    );
    parts(delete_config::handle(&stack.state, request(&event)).await)
}

fn ids(body: &Value) -> Vec<String> {
    body["keys"]
        .as_array()
        .expect("a keys array")
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn several_keys_up_to_five_in_use_order_and_the_sixth_is_a_409() {
    let stack = Stack::new().await;
    let user = unique("keys");
    // Given a primary stored through the single-key route
    let (status, _, primary) = store_as(&stack, &user, openai(KEY)).await;
    assert_eq!(status, 201, "{primary}");
    let primary_id = primary["config"]["id"].as_str().unwrap().to_owned();

    // When four more are added with priorities 3, 1, 2, 1
    let mut added = Vec::new();
    for (i, priority) in [3, 1, 2, 1].into_iter().enumerate() {
        let body = json!({"apiKey": key(i), "label": format!("key {i}"), "priority": priority});
        let (status, _, body) = add_key_as(&stack, &user, "openai", body).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["key"]["primary"], false);
        assert_eq!(body["key"]["label"], format!("key {i}"));
        assert!(body.to_string().find("SeveralKeys").is_none(), "{body}");
        added.push(body["key"]["id"].as_str().unwrap().to_owned());
    }

    // Then the list holds five: the primary, then by priority, then by age
    let (status, _, listed) = keys_as(&stack, &user, "openai").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        ids(&listed),
        [&primary_id, &added[1], &added[3], &added[2], &added[0]].map(String::clone)
    );
    assert_eq!(listed["keys"][0]["primary"], true);
    assert_eq!(listed["limit"], 5);

    // And a sixth is refused with a 409 that says why, and nothing is written
    let (status, _, refused) = add_key_as(&stack, &user, "openai", json!({"apiKey": key(9)})).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("5 keys already"),
        "{refused}"
    );
    assert_eq!(ids(&keys_as(&stack, &user, "openai").await.2).len(), 5);

    // And the single-key list still shows one configuration, the primary's, with
    // its keys summarised without secrets
    let (_, _, configs) = list_as(&stack.state, &user).await;
    let configs = configs["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0]["id"], primary_id.as_str());
    let summary = configs[0]["keys"].as_array().unwrap();
    assert_eq!(summary.len(), 5);
    assert_eq!(summary[1]["label"], "key 1");
    assert!(!json!(configs).to_string().contains("SeveralKeys"));
}

#[tokio::test]
async fn several_keys_the_first_key_added_becomes_the_primary() {
    let stack = Stack::new().await;
    let user = unique("keys");
    let (status, _, body) = add_key_as(
        &stack,
        &user,
        "anthropic",
        json!({"apiKey": "sk-ant-api03-FirstAdded0123456789abcdefghijklmnopqrstuvwx", "label": "work"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"]["primary"], true);
    assert_eq!(body["key"]["label"], "work");
    let (_, _, configs) = list_as(&stack.state, &user).await;
    assert_eq!(configs["configs"][0]["id"], body["key"]["id"]);
    assert_eq!(configs["configs"][0]["provider"], "claude");
}

#[tokio::test]
async fn several_keys_bad_input_names_the_field_and_writes_nothing() {
    let stack = Stack::new().await;
    let user = unique("keys");
    store_as(&stack, &user, openai(KEY)).await;
    for (body, field) in [
        (json!({"apiKey": key(1), "label": "x".repeat(65)}), "label"),
        (json!({"apiKey": key(1), "priority": -1}), "priority"),
        (json!({"apiKey": key(1), "priority": 1.5}), "priority"),
        (json!({"apiKey": key(1), "settings": {}}), "settings"),
        (
            json!({"apiKey": key(1), "provider": "anthropic"}),
            "provider",
        ),
        (json!({"label": "no key"}), "apiKey"),
    ] {
        let (status, _, answer) = add_key_as(&stack, &user, "openai", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            detail_fields(&answer).contains(&field.to_owned()),
            "{body} → {answer}"
        );
    }
    let (status, _, answer) = add_key_as(&stack, &user, "nope", json!({"apiKey": key(1)})).await;
    assert_eq!(
        (status, detail_fields(&answer)),
        (400, vec!["provider".to_owned()])
    );
    assert_eq!(ids(&keys_as(&stack, &user, "openai").await.2).len(), 1);
}

#[tokio::test]
async fn several_keys_another_users_key_is_a_404_and_deletes_keep_the_count() {
    let stack = Stack::new().await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    store_as(&stack, &alice, openai(KEY)).await;
    store_as(&stack, &bob, openai(KEY)).await;
    let (_, _, added) = add_key_as(&stack, &alice, "openai", json!({"apiKey": key(1)})).await;
    let alices = added["key"]["id"].as_str().unwrap().to_owned();

    // Bob cannot delete (or see) Alice's key: a 404, and her key stays
    let (status, _, body) = delete_key_as(&stack, &bob, "openai", &alices).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(ids(&keys_as(&stack, &alice, "openai").await.2).len(), 2);
    assert_eq!(ids(&keys_as(&stack, &bob, "openai").await.2).len(), 1);
    // A malformed id is a 400 naming it
    let (status, _, body) = delete_key_as(&stack, &alice, "openai", "a%20b").await;
    assert_eq!(
        (status, detail_fields(&body)),
        (400, vec!["keyId".to_owned()])
    );

    // The primary cannot go while another key needs it
    let primary = keys_as(&stack, &alice, "openai").await.2["keys"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = delete_key_as(&stack, &alice, "openai", &primary).await;
    assert_eq!(status, 409, "{body}");

    // Alice deletes her other key: 204, and its place is free again (five more fit)
    let (status, _, _) = delete_key_as(&stack, &alice, "openai", &alices).await;
    assert_eq!(status, 204);
    assert_eq!(
        delete_key_as(&stack, &alice, "openai", &alices).await.0,
        404
    );
    for i in 0..4 {
        let (status, _, body) =
            add_key_as(&stack, &alice, "openai", json!({"apiKey": key(i)})).await;
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(
        add_key_as(&stack, &alice, "openai", json!({"apiKey": key(8)}))
            .await
            .0,
        409
    );

    // And the single-key DELETE removes every key of the provider
    let (status, _, _) = super::delete_as(&stack.state, &alice, "openai").await;
    assert_eq!(status, 204);
    let (_, _, listed) = keys_as(&stack, &alice, "openai").await;
    assert_eq!(ids(&listed).len(), 0, "{listed}");
    let (_, _, configs) = list_as(&stack.state, &alice).await;
    assert_eq!(configs["configs"], json!([]));
    // Bob's are untouched
    assert_eq!(ids(&keys_as(&stack, &bob, "openai").await.2).len(), 1);
}

#[tokio::test]
async fn several_keys_a_single_key_delete_stays_one_round_trip() {
    let stack = Stack::new().await;
    let user = unique("keys");
    store_as(&stack, &user, openai(KEY)).await;
    stack.counter.take();
    let (status, _, _) = super::delete_as(&stack.state, &user, "openai").await;
    assert_eq!(status, 204);
    assert_eq!(stack.counter.take(), 1);
}

/// PUT /api/provider-configs/{provider}/keys/{keyId} as `user`.
async fn update_key_as(stack: &Stack, user: &str, provider: &str, id: &str, body: Value) -> Answer {
    let mut event = routed(
        event_for("update-key.json", Some(user)),
        &format!("/api/provider-configs/{provider}/keys/{id}"),
        json!({ "provider": provider, "keyId": id }),
    );
    set_body(&mut event, &body);
    parts(store::handle(&stack.sealing, request(&event)).await)
}

#[tokio::test]
async fn several_keys_label_priority_and_expiry_change_and_never_is_possible_again() {
    let stack = Stack::new().await;
    let user = unique("keys");
    store_as(&stack, &user, openai(KEY)).await;
    let (_, _, added) = add_key_as(
        &stack,
        &user,
        "openai",
        json!({"apiKey": key(1), "label": "old", "expiresAt": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let id = added["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(added["key"]["expiresAt"], "2099-01-01T00:00:00.000Z");

    let (status, _, changed) = update_key_as(
        &stack,
        &user,
        "openai",
        &id,
        json!({"label": "new", "priority": 7, "expiresAt": null}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["key"]["label"], "new");
    assert_eq!(changed["key"]["priority"], 7);
    // Back to never (the bug of LibreChat #4293 is a key that stays expiring)
    assert_eq!(changed["key"]["expiresAt"], Value::Null);
    assert!(!changed.to_string().contains("SeveralKeys"), "{changed}");
    let listed = keys_as(&stack, &user, "openai").await.2;
    assert_eq!(listed["keys"][1]["expiresAt"], Value::Null, "{listed}");
    assert_eq!(listed["keys"][1]["label"], "new");

    // Label removed with null; bad members named; an empty body refused
    let (status, _, changed) =
        update_key_as(&stack, &user, "openai", &id, json!({"label": null})).await;
    assert_eq!(
        (status, changed["key"]["label"].clone()),
        (200, Value::Null)
    );
    let (status, _, refused) = update_key_as(
        &stack,
        &user,
        "openai",
        &id,
        json!({"priority": "high", "expiresAt": "2001-01-01T00:00:00Z", "primary": false}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        detail_fields(&refused),
        ["priority", "expiresAt", "primary"]
    );
    assert_eq!(
        update_key_as(&stack, &user, "openai", &id, json!({}))
            .await
            .0,
        400
    );
    // Another user's id is a 404
    let other = unique("other");
    store_as(&stack, &other, openai(KEY)).await;
    assert_eq!(
        update_key_as(&stack, &other, "openai", &id, json!({"label": "mine"}))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn several_keys_another_key_made_primary_is_what_the_single_key_routes_see() {
    let stack = Stack::new().await;
    let user = unique("keys");
    let settings = json!({"model": "gpt-4o-mini"});
    let (_, _, first) = store_as(
        &stack,
        &user,
        json!({"provider": "openai", "apiKey": KEY, "settings": settings}),
    )
    .await;
    let first_id = first["config"]["id"].as_str().unwrap().to_owned();
    let (_, _, added) = add_key_as(
        &stack,
        &user,
        "openai",
        json!({"apiKey": key(2), "label": "backup", "priority": 4}),
    )
    .await;
    let second_id = added["key"]["id"].as_str().unwrap().to_owned();

    let (status, _, made) = update_key_as(
        &stack,
        &user,
        "openai",
        &second_id,
        json!({"primary": true}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["key"]["primary"], true);
    assert_eq!(made["key"]["label"], "backup");

    // The single-key list shows the new primary, with the provider's settings kept
    let (_, _, configs) = list_as(&stack.state, &user).await;
    let config = &configs["configs"][0];
    assert_eq!(config["id"], second_id.as_str(), "{configs}");
    assert_eq!(config["settings"], settings);
    assert_eq!(config["keys"][1]["id"], first_id.as_str());
    // The former primary took the other's place in the order and keeps its own key
    let listed = keys_as(&stack, &user, "openai").await.2;
    assert_eq!(listed["keys"][1]["priority"], 4);
    assert_eq!(
        super::open_stored_as(&stack, &user, &user, "openai").await,
        Ok(key(2))
    );
    let answer = apikeys::invoke::handle(
        &stack.sealing,
        &json!({"userId": user, "provider": "openai", "keyId": first_id}),
        "req-swapped",
    )
    .await;
    assert_eq!(answer["apiKey"], KEY, "{answer}");
    // Making the primary primary again changes nothing
    let (status, _, again) = update_key_as(
        &stack,
        &user,
        "openai",
        &second_id,
        json!({"primary": true}),
    )
    .await;
    assert_eq!(
        (status, again["key"]["id"].clone()),
        (200, json!(second_id))
    );
    assert_eq!(ids(&keys_as(&stack, &user, "openai").await.2).len(), 2);
}

#[tokio::test]
async fn several_keys_the_sample_events_of_the_key_routes_work_as_written() {
    // `events/add-key.json`, `list-keys.json`, `update-key.json`, `delete-key.json`
    // as `cargo lambda invoke` sends them (their key id replaced by the real one).
    let stack = Stack::new().await;
    let user = unique("events");
    store_as(&stack, &user, openai(KEY)).await;
    let (status, _, added) = run_store(&stack, event_for("add-key.json", Some(&user))).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["key"]["label"], "backup");
    let id = added["key"]["id"].as_str().unwrap().to_owned();
    let listed = parts(
        get_configs::handle(
            &stack.state,
            request(&event_for("list-keys.json", Some(&user))),
        )
        .await,
    );
    assert_eq!(ids(&listed.2).len(), 2, "{}", listed.2);
    let with_id = |name: &str| {
        let text = serde_json::to_string(&event_for(name, Some(&user)))
            .unwrap()
            .replace("5d0f2c1e-7b7a-4c55-9a0e-2f6f4f7d9b11", &id);
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let (status, _, updated) = run_store(&stack, with_id("update-key.json")).await;
    assert_eq!(
        (status, updated["key"]["label"].clone()),
        (200, json!("work")),
        "{updated}"
    );
    let (status, _, _) =
        parts(delete_config::handle(&stack.state, request(&with_id("delete-key.json"))).await);
    assert_eq!(status, 204);
}

async fn run_store(stack: &Stack, event: Value) -> Answer {
    parts(store::handle(&stack.sealing, request(&event)).await)
}

#[tokio::test]
async fn several_keys_the_limit_holds_under_concurrent_adds() {
    // Given a primary and three other keys
    let stack = Stack::new().await;
    let user = unique("keys");
    store_as(&stack, &user, openai(KEY)).await;
    for i in 0..3 {
        let (status, _, body) =
            add_key_as(&stack, &user, "openai", json!({"apiKey": key(i)})).await;
        assert_eq!(status, 201, "{body}");
    }

    // When six more are added at once
    let adds = (10..16).map(|i| add_key_as(&stack, &user, "openai", json!({"apiKey": key(i)})));
    let answers = futures::future::join_all(adds).await;

    // Then exactly one fits, the others are 409s, and the count is exact
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _, _)| *s).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409], "{answers:?}");
    assert_eq!(ids(&keys_as(&stack, &user, "openai").await.2).len(), 5);
    let primary = stack.item(&format!("{user}#openai")).await.unwrap();
    assert_eq!(
        primary.get("keyCount"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::N("4".into()))
    );
}
