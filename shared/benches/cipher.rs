//! The envelope budget of DESIGN.md: seal + open of a 100-byte key with a warm
//! keyring under 2 µs on one core; and the once-per-cold-start keyring derivation.
//!
//! Run with `cargo bench -p apikeys --bench cipher`.

use std::hint::black_box;
use std::time::Duration;

use apikeys::crypto::{KdfParams, KeyContext, Keyring, Seed};
use criterion::{criterion_group, criterion_main, Criterion};
use secrecy::{ExposeSecret, SecretString};

const SEED: &[u8] = b"benchmark seed: thirty-two bytes or more, not secret";

/// A 100-byte ASCII provider key.
fn plaintext() -> SecretString {
    let key = format!("sk-proj-{}", "x".repeat(92));
    assert_eq!(key.len(), 100);
    SecretString::from(key)
}

fn warm_keyring() -> Keyring {
    Keyring::derive(
        &Seed::new(SEED.to_vec()).unwrap(),
        &[],
        &KdfParams::default(),
    )
}

fn envelope(c: &mut Criterion) {
    let ring = warm_keyring();
    let ctx = KeyContext::new("user-0123456789", "openai");
    let plaintext = plaintext();
    let stored = ring.seal(&ctx, &plaintext).unwrap();

    c.bench_function("seal_open_100b", |b| {
        b.iter(|| {
            let stored = ring.seal(black_box(&ctx), black_box(&plaintext)).unwrap();
            let opened = ring.open(black_box(&ctx), black_box(&stored)).unwrap();
            black_box(opened.secret.expose_secret().len())
        })
    });
    c.bench_function("seal_100b", |b| {
        b.iter(|| black_box(ring.seal(black_box(&ctx), black_box(&plaintext)).unwrap()))
    });
    c.bench_function("open_100b", |b| {
        b.iter(|| black_box(ring.open(black_box(&ctx), black_box(&stored)).unwrap()))
    });
}

fn keyring_derive(c: &mut Criterion) {
    let seed = Seed::new(SEED.to_vec()).unwrap();
    let params = KdfParams::default();
    c.bench_function("keyring_derive_default", |b| {
        b.iter(|| black_box(Keyring::derive(black_box(&seed), &[], black_box(&params))))
    });
}

criterion_group!(envelope_benches, envelope);
criterion_group! {
    name = derive_benches;
    // 100,000 PBKDF2 iterations take tens of milliseconds: few samples suffice.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    targets = keyring_derive
}
criterion_main!(envelope_benches, derive_benches);
