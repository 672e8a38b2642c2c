//! The maintenance sweep: keys due for rotation and unused keys.

use apikeys::maintenance::sweep;
use apikeys_integration_tests::Stack;
use time::{Duration, OffsetDateTime};

use super::seeded_item;

#[tokio::test]
async fn maintenance_finds_exactly_the_due_and_unused_keys() {
    // Given fresh, old-but-used, stored-and-never-used, old-and-unused and deleted items
    let stack = Stack::new().await;
    let items = [
        seeded_item("fresh", 1, Some(1), true),
        seeded_item("old-used", 100, Some(2), true),
        seeded_item("never-used", 40, None, true),
        seeded_item("old-unused", 120, Some(60), true),
        seeded_item("deleted", 200, None, false),
    ];
    for item in &items {
        stack
            .state
            .repo
            .put_new(item, Some("akv1.placeholder"))
            .await
            .unwrap();
    }

    // When the sweep runs
    let summary = sweep(
        &stack.state.repo,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();

    // Then it counts exactly the seeded findings
    assert_eq!(summary.scanned, 5);
    assert_eq!(summary.active, 4);
    assert_eq!(summary.rotation_due, 2, "old-used and old-unused");
    assert_eq!(summary.unused, 2, "never-used and old-unused");
}

#[tokio::test]
async fn several_keys_the_sweep_and_stats_see_every_key_of_a_provider() {
    use apikeys_integration_tests::{event_for, parts, request, set_body, unique};
    use serde_json::json;
    // Given a primary that never expires and another key that expires in three days
    let stack = Stack::new().await;
    let user = unique("sweep-keys");
    let mut store = event_for("store.json", Some(&user));
    set_body(
        &mut store,
        &json!({"provider": "openai", "apiKey": "sk-proj-SweepPrimary0123456789abcdefghijklmn"}),
    );
    assert_eq!(
        parts(apikeys::api::store::handle(&stack.sealing, request(&store)).await).0,
        201
    );
    let soon = OffsetDateTime::now_utc() + Duration::days(3);
    let mut add = event_for("store.json", Some(&user));
    add["rawPath"] = json!("/api/provider-configs/openai/keys");
    add["requestContext"]["http"]["path"] = add["rawPath"].clone();
    add["pathParameters"] = json!({"provider": "openai"});
    set_body(
        &mut add,
        &json!({
            "apiKey": "sk-proj-SweepSecond0123456789abcdefghijklmno",
            "expiresAt": apikeys::domain::timestamp(soon),
        }),
    );
    assert_eq!(
        parts(apikeys::api::store::handle(&stack.sealing, request(&add)).await).0,
        201
    );

    // When the sweep and the operator's stats run
    let summary = sweep(
        &stack.state.repo,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();
    let stats = apikeys_admin::stats::stats(
        &stack.state.repo,
        None,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();

    // Then both keys are swept, the second found expiring, and both counted
    assert_eq!((summary.scanned, summary.active), (2, 2), "{summary:?}");
    assert_eq!(summary.expiring, 1, "{summary:?}");
    assert_eq!((stats.active, stats.expiring), (2, 1), "{stats:?}");
}
