//! The functions that never seal, open or test a key build without the cipher, the
//! KMS and Secrets Manager SDKs and the HTTP client: their dependency trees, as cargo
//! resolves them for each function alone (the way `infra/scripts/build.sh` and `sam build`
//! build them), hold none of [`SEALING_CRATES`]. A function that does seal keeps them,
//! so the check can tell the two apart.

use std::collections::BTreeSet;
use std::process::Command;

use apikeys_integration_tests::template::repo_root;

/// Crates that only the functions that seal, open or test a key may link.
const SEALING_CRATES: &[&str] = &[
    "aws-sdk-kms",
    "aws-sdk-secretsmanager",
    "reqwest",
    "aes-gcm",
    "pbkdf2",
];

/// The functions that never touch key material.
const LEAN_FUNCTIONS: &[&str] = &[
    "get-configs",
    "update-settings",
    "delete-config",
    "maintenance",
];

/// The names of the crates a package compiles and links (normal and build edges, no
/// dev-dependencies), resolved for that package alone. Offline: the lock file is
/// committed, so nothing needs the network.
fn dependency_names(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "tree",
            "--locked",
            "--offline",
            "--package",
            package,
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: BTreeSet<String> = String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.contains(package),
        "the tree of {package} does not name the package itself: {names:?}"
    );
    names
}

#[test]
fn functions_without_key_material_link_no_cipher_sdk_or_http_client() {
    let mut offenders = Vec::new();
    for function in LEAN_FUNCTIONS {
        let names = dependency_names(function);
        for forbidden in SEALING_CRATES {
            if names.contains(*forbidden) {
                offenders.push(format!("{function} depends on {forbidden}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "functions that never touch a key pull in sealing crates (check the `apikeys` \
         features in their Cargo.toml): {offenders:?}"
    );
}

#[test]
fn functions_that_seal_keys_do_link_the_cipher_and_the_key_checks() {
    for function in ["store", "test-key"] {
        let names = dependency_names(function);
        let missing: Vec<&str> = SEALING_CRATES
            .iter()
            .copied()
            .filter(|name| !names.contains(*name))
            .collect();
        assert!(
            missing.is_empty(),
            "{function} should depend on every sealing crate; missing {missing:?}"
        );
    }
}
