//! `apikeys-admin stats`: counts by key id and format.

use std::collections::HashMap;

use apikeys::crypto::KeyContext;
use apikeys_integration_tests::Stack;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use super::{seeded_item, vector};

#[tokio::test]
async fn stats_count_by_key_id_and_format() {
    let stack = Stack::new().await;
    let keyring = stack.sealing.keys.keyring().await.unwrap();
    let (_, _, legacy) = vector("sha256-v2gcm", "shared-v2gcm-0");
    let mut envelopes: HashMap<&str, String> = HashMap::new();
    for user in ["a", "b"] {
        envelopes.insert(
            user,
            keyring
                .seal(
                    &KeyContext::new(user, "openai"),
                    &SecretString::from("sk-proj-stats0123456789abcdefghij"),
                )
                .unwrap(),
        );
    }
    envelopes.insert("c", legacy);
    for (user, envelope) in &envelopes {
        stack
            .state
            .repo
            .put_new(&seeded_item(user, 100, Some(1), true), Some(envelope))
            .await
            .unwrap();
    }
    stack
        .state
        .repo
        .put_new(&seeded_item("d", 5, None, false), None)
        .await
        .unwrap();

    let stats = apikeys_admin::stats::stats(
        &stack.state.repo,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap();

    assert_eq!((stats.total, stats.active, stats.inactive), (4, 3, 1));
    assert_eq!(
        stats.by_format[&format!("akv1/{}", keyring.current_key_id())],
        2
    );
    assert_eq!(stats.by_format["legacy/sha256-v2gcm"], 1);
    assert_eq!(stats.rotation_due, 3);
    assert_eq!(stats.unused, 0);
}
