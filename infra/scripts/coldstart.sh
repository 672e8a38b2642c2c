#!/usr/bin/env bash
# The cold-start benchmark (`make bench` runs it after the criterion benches):
#
#   1. builds each function and the hello-world baseline (infra/tools/hello) for
#      release, each package on its own (infra/scripts/build.sh): x86_64 to run here,
#      arm64 for the sizes Lambda deploys;
#   2. starts the local AWS emulator (infra/scripts/local-aws.sh; stopped again if this
#      started it) and provisions a table, KMS key and seed secret in it
#      (apikeys-admin provision);
#   3. runs the harness (infra/tools/coldstart): every binary N times against a
#      local Lambda Runtime API, and prints the Markdown table and the budgets.
#
# APIKEYS_BENCH_RUNS (default 15) sets N; APIKEYS_BENCH_WARM (default 20) how many
# warm invocations of the same event follow each cold start (their time and CPU time
# per invocation, for docs/capacity.md); APIKEYS_BENCH_ARM64=0 skips the arm64
# builds (no arm64 sizes then); APIKEYS_AWS_PORT the emulator's port (default 4599).
# Arguments name the packages to build and measure (default: every functions/*/
# and hello), e.g. `infra/scripts/coldstart.sh get-configs hello`. The harness binary
# takes more options: target/release/coldstart --help.
# Nothing leaves 127.0.0.1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}
runs=${APIKEYS_BENCH_RUNS:-15}
warm=${APIKEYS_BENCH_WARM:-20}

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  for manifest in functions/*/Cargo.toml; do
    packages+=("$(basename "$(dirname "$manifest")")")
  done
  packages+=(hello)
fi

say() { printf 'bench: %s\n' "$*" >&2; }

say "release builds, one package at a time: ${packages[*]}"
infra/scripts/build.sh --x86_64 "${packages[@]}" >&2
if [ "${APIKEYS_BENCH_ARM64:-1}" != 0 ]; then
  infra/scripts/build.sh --arm64 "${packages[@]}" >&2
fi
cargo build --release --locked -q -p coldstart

eval "$(infra/scripts/local-aws.sh env)"
started=
if ! infra/scripts/local-aws.sh status >/dev/null 2>&1; then
  infra/scripts/local-aws.sh start
  started=1
fi
cleanup() { if [ -n "$started" ]; then infra/scripts/local-aws.sh stop; fi; }
trap cleanup EXIT

# Names of their own, so the benchmark never touches `make run`'s data.
export APIKEYS_TABLE_NAME=apikeys-bench
export APIKEYS_SEED_SECRET_ID=apikeys-bench/seed
export APIKEYS_KMS_ALIAS=alias/apikeys-bench
say "provisioning $APIKEYS_TABLE_NAME at $AWS_ENDPOINT_URL"
cargo run --locked -q -p apikeys-admin -- provision >&2

say "rustc: $(rustc -V)"
"${CARGO_TARGET_DIR:-$root/target}/release/coldstart" --runs "$runs" --warm "$warm" "${packages[@]}"
