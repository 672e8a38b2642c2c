#!/usr/bin/env bash
# The whole test suite, from a clean clone: sets up the pinned tools, starts the
# local AWS emulator (and stops it again if it started it), then runs the checks.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

eval "$(infra/local-aws.sh env)"
export APIKEYS_TEST_AWS_ENDPOINT=$AWS_ENDPOINT_URL

started=
if ! infra/local-aws.sh status 2>/dev/null; then
  infra/local-aws.sh start
  started=1
fi
cleanup() { if [ -n "$started" ]; then infra/local-aws.sh stop; fi; }
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }
step "template.yaml and infra/openapi.yaml: cfn-lint, sam validate --lint, OpenAPI schema (offline)"
infra/sam.sh check
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test"
cargo test --workspace --locked
step "the local API in front of the real functions: end-to-end tests, schemathesis, the original app's client"
infra/local-api-test.sh
