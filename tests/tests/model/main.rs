//! The key model under random concurrent operations, checked against its
//! invariants after every round (DESIGN.md, "Invariants of the key model").
//!
//! Each round draws one to four operations (store, add, update, make-primary,
//! delete-one, delete-all, update-settings, use, report with a lease, a key test,
//! import, migrate-keys, a budget set or removed, a proxied call's spending, a chat
//! completion through the proxy against a fake provider) on
//! three users' OpenAI keys, runs them at once, and then checks the table itself
//! and what the API answers:
//!
//! - no active key without an active configuration; at most five keys; the
//!   primary's count equals its other keys; a deleted configuration holds no key;
//! - a 201 is a kept key: every key acknowledged before or in the round is there
//!   after it, unless a delete acknowledged in the round took it; no key appears
//!   that no operation made, and a deleted key never comes back;
//! - use-key hands out only a key that exists, of its own user, opening to a
//!   plaintext stored under that id; never a key deleted before the round, nor
//!   one whose budget was spent before the round (unless the round set a budget or
//!   stored a key); the proxy calls the provider only with such a key, and with a
//!   plaintext stored under it;
//! - the list and the keys route show exactly the active keys.
//!
//! Seeded and replayable: the seed is printed; `APIKEYS_MODEL_TEST_SEED` replays
//! one (the draws, not the interleaving the backend chose), and
//! `APIKEYS_MODEL_TEST_CASES` sets the number of operations (default 240).
//! The `several_keys` run needs transactions (moto); the single-key run draws only
//! operations dynalite serves and runs on both backends.

mod world;

use world::{Kind, World};

/// Operations of a run unless `APIKEYS_MODEL_TEST_CASES` says otherwise.
const DEFAULT_CASES: usize = 240;

fn cases() -> usize {
    std::env::var("APIKEYS_MODEL_TEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn seed() -> u64 {
    std::env::var("APIKEYS_MODEL_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap())
        })
}

async fn run(kinds: &[Kind], name: &str) {
    let seed = seed();
    let cases = cases();
    eprintln!(
        "{name}: seed {seed}, {cases} operations (replay with APIKEYS_MODEL_TEST_SEED={seed})"
    );
    let mut world = World::new(seed, kinds).await;
    let done = world.run(cases).await;
    eprintln!(
        "{name}: {done} operations in {} rounds, invariants held after each \
         ({} uses refused for a spent budget, {} calls through the proxy); seed {seed}",
        world.rounds, world.budget_refusals, world.proxied
    );
    assert!(done >= cases, "ran {done} of {cases} operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_keys_model_random_concurrent_operations_keep_every_invariant() {
    run(Kind::ALL, "several_keys model").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_single_key_random_concurrent_operations_keep_every_invariant() {
    run(Kind::SINGLE_KEY, "single-key model").await;
}
