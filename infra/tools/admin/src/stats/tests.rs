use apikeys::crypto::{KdfParams, KeyContext, Seed, DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS};
use secrecy::SecretString;

use super::*;

const LEGACY: &str = "v2:gcm:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn ring(current: &str, previous: &[&str]) -> Keyring {
    let seed = |s: &str| Seed::new(s.repeat(4).into_bytes()).unwrap();
    let previous: Vec<Seed> = previous.iter().map(|s| seed(s)).collect();
    let params = KdfParams::new(DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS).unwrap();
    Keyring::derive(&seed(current), &previous, &params)
}

fn sealed(ring: &Keyring) -> String {
    ring.seal(
        &KeyContext::new("u", "openai"),
        &SecretString::from("sk-proj-0123456789abcdefghij"),
    )
    .unwrap()
}

#[test]
fn envelopes_are_named_by_key_id_and_marked_by_the_keyring() {
    let (old, other) = (ring("old-seed", &[]), ring("other-seed", &[]));
    let now = ring("new-seed", &["old-seed"]);
    let known = KnownKeys::of(&now);
    let k = Some(&known);

    let current = now.current_key_id().to_string();
    assert_eq!(current.len(), 8, "hex of four bytes");
    assert_eq!(classify(&sealed(&now), k), (current, SealedUnder::Current));
    assert_eq!(
        classify(&sealed(&old), k),
        (old.current_key_id().to_string(), SealedUnder::Previous)
    );
    assert_eq!(classify(&sealed(&other), k).1, SealedUnder::Unknown);
    assert_eq!(classify(&sealed(&now), None).1, SealedUnder::Unchecked);
    assert_eq!(
        classify(LEGACY, k),
        ("sha256-v2gcm".to_owned(), SealedUnder::Legacy)
    );
    assert_eq!(classify("akv1.x", k).1, SealedUnder::Malformed);
}

#[test]
fn the_current_key_id_is_marked_and_what_is_left_is_said() {
    let (old, now) = (ring("old-seed", &[]), ring("new-seed", &["old-seed"]));
    let known = KnownKeys::of(&now);
    let mut stats = Stats {
        current_key_id: Some(known.current.to_string()),
        not_current: Some(0),
        ..Stats::default()
    };
    stats.count(&sealed(&now), Some(&known));
    stats.count(&sealed(&old), Some(&known));
    stats.count(LEGACY, Some(&known));

    let printed = stats.render(90, 30);

    let (current, previous) = (now.current_key_id(), old.current_key_id());
    assert_eq!(stats.not_current, Some(2));
    assert!(printed.contains(&format!("keys by key id (current {current})")));
    assert!(
        printed.contains(&format!("  {current}           1       current\n")),
        "{printed}"
    );
    assert!(printed.contains(&format!("  {previous}           1       previous seed")));
    assert!(printed.contains("2 not under the current key id: run rewrap"));
}

#[test]
fn nothing_left_under_an_older_seed_is_said_plainly() {
    let now = ring("new-seed", &["old-seed"]);
    let known = KnownKeys::of(&now);
    let mut stats = Stats {
        not_current: Some(0),
        ..Stats::default()
    };
    stats.count(&sealed(&now), Some(&known));

    assert!(stats
        .render(90, 30)
        .contains("every key is under the current key id"));
}

#[test]
fn active_keys_are_counted_by_registry_provider() {
    let mut stats = Stats {
        by_provider: ProviderId::ALL
            .iter()
            .map(|p| (p.as_str().to_owned(), 0))
            .collect(),
        ..Stats::default()
    };
    stats.count_provider("azure");
    stats.count_provider("retired-provider");
    assert_eq!(stats.by_provider.len(), ProviderId::ALL.len() + 1);
    assert!(stats.by_provider.contains(&("azure-openai".into(), 1)));
    assert_eq!(stats.by_provider.last(), Some(&("unknown".into(), 1)));
    let printed = stats.render(90, 90);
    assert!(ProviderId::ALL.iter().all(|p| printed.contains(p.as_str())));
}
