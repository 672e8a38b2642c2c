//! `apikeys-admin stats`: counts by key id, marked by the operator's keyring.

use apikeys::crypto::{KeyContext, Keyring, LegacyPolicy, Seed};
use apikeys_admin::rewrap::rewrap;
use apikeys_admin::stats::{stats, KeyIdCount, KnownKeys, SealedUnder, Stats};
use apikeys_integration_tests::{Stack, TEST_SEED};
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use super::{params, seeded_item, vector};

/// A seed the stack no longer seals under.
const OLD_SEED: &str = "stats-old-seed-0123456789abcdefghijklmnop";

async fn count(stack: &Stack, known: Option<&KnownKeys>) -> Stats {
    stats(
        &stack.state.repo,
        known,
        OffsetDateTime::now_utc(),
        Duration::days(90),
        Duration::days(30),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn stats_count_by_key_id_and_show_when_no_key_is_left_under_an_older_seed() {
    // Given two keys under the current seed, one under an older seed, one legacy
    // value and a deleted item without a key
    let stack = Stack::new().await;
    let (legacy_seed, _, legacy) = vector("sha256-v2gcm", "shared-v2gcm-0");
    let seed = |s: &str| Seed::new(s.as_bytes().to_vec()).unwrap();
    let old = Keyring::derive(&seed(OLD_SEED), &[], &params());
    let operator = Keyring::derive(&seed(TEST_SEED), &[seed(OLD_SEED)], &params()).with_legacy(
        &[Seed::legacy(legacy_seed.into_bytes())],
        LegacyPolicy::Allow,
    );
    let functions = stack.sealing.keys.keyring().await.unwrap();
    assert_eq!(operator.current_key_id(), functions.current_key_id());
    let seal = |ring: &Keyring, user: &str| {
        ring.seal(
            &KeyContext::new(user, "openai"),
            &SecretString::from("sk-proj-stats0123456789abcdefghij"),
        )
        .unwrap()
    };
    let items = [
        ("a", seal(&operator, "a")),
        ("b", seal(&operator, "b")),
        ("c", seal(&old, "c")),
        ("d", legacy),
    ];
    for (user, envelope) in &items {
        let item = seeded_item(user, 100, Some(1), true);
        assert!(stack
            .state
            .repo
            .put_new(&item, Some(envelope))
            .await
            .unwrap());
    }
    let deleted = seeded_item("e", 5, None, false);
    assert!(stack.state.repo.put_new(&deleted, None).await.unwrap());
    let known = KnownKeys::of(&operator);
    let (current, previous) = (
        operator.current_key_id().to_string(),
        old.current_key_id().to_string(),
    );

    // When stats count with the operator's keyring
    let before = count(&stack, Some(&known)).await;

    // Then every key is counted under its key id (legacy by format), marked
    assert_eq!((before.total, before.active, before.inactive), (5, 4, 1));
    assert_eq!((before.rotation_due, before.unused), (4, 0));
    let marked = |count, sealed_under| KeyIdCount {
        count,
        sealed_under,
    };
    assert_eq!(before.by_key_id.len(), 3, "{:?}", before.by_key_id);
    assert_eq!(before.by_key_id[&current], marked(2, SealedUnder::Current));
    assert_eq!(
        before.by_key_id[&previous],
        marked(1, SealedUnder::Previous)
    );
    assert_eq!(
        before.by_key_id["sha256-v2gcm"],
        marked(1, SealedUnder::Legacy)
    );
    assert_eq!(before.current_key_id.as_deref(), Some(current.as_str()));
    assert_eq!(before.not_current, Some(2));
    let printed = before.render(90, 30);
    assert!(
        printed.contains(&format!("(current {current})")),
        "{printed}"
    );
    assert!(
        printed.contains("2 not under the current key id"),
        "{printed}"
    );

    // And without a seed they are counted all the same, unmarked
    let unchecked = count(&stack, None).await;
    assert_eq!(
        unchecked.by_key_id[&current],
        marked(2, SealedUnder::Unchecked)
    );
    assert_eq!(
        (unchecked.current_key_id, unchecked.not_current),
        (None, None)
    );

    // When rewrap has run
    let report = rewrap(&stack.state.repo, &operator, None, |_| {})
        .await
        .unwrap();
    assert_eq!((report.rewrapped, report.legacy_converted), (1, 1));

    // Then stats show no key left under an older seed
    let after = count(&stack, Some(&known)).await;
    assert_eq!(after.by_key_id.len(), 1, "{:?}", after.by_key_id);
    assert_eq!(after.by_key_id[&current], marked(4, SealedUnder::Current));
    assert_eq!(after.not_current, Some(0));
    assert!(after
        .render(90, 30)
        .contains("none is left under an older seed"));
}
