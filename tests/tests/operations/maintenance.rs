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
