#!/usr/bin/env bash
# The whole test suite, from a clean clone: sets up the pinned tools (.venv, dynalite's
# node_modules), starts the local emulators (and stops again what it started), runs
# the static checks once, then every test twice:
#   1. moto for DynamoDB, KMS and Secrets Manager;
#   2. dynalite for DynamoDB (strict, concurrent, no TTL operations), KMS and
#      Secrets Manager still on moto, routed by the SDK's AWS_ENDPOINT_URL_DYNAMODB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

# A clean run builds every test binary once; incremental caches only help the next
# edit-and-rerun, so a CI run (CI set) goes without them and keeps target/ smaller.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
disk() { df -h "$root" | awk 'NR == 2 { print $4 " free on " $6 }'; }
printf 'test: %s before the run\n' "$(disk)"

started=()
cleanup() {
  local name
  for name in "${started[@]}"; do infra/scripts/local-aws.sh stop "$name" || true; done
}
trap cleanup EXIT
for emulator in moto dynalite; do
  if ! infra/scripts/local-aws.sh status "$emulator" 2>/dev/null; then
    infra/scripts/local-aws.sh start "$emulator"
    started+=("$emulator")
  fi
done

step() { printf '\n==> %s\n' "$*"; }
# Wall time of each run, printed at the end.
timings=()
timed() {
  local label=$1 t0=$SECONDS rc=0
  shift
  "$@" || rc=$?
  timings+=("$(printf '%-28s %5ds%s' "$label" $((SECONDS - t0)) "$([ $rc = 0 ] || echo '  FAILED')")")
  return $rc
}

step "template.yaml and infra/contract/openapi.yaml: cfn-lint, sam validate --lint, OpenAPI schema (offline)"
timed "template checks" infra/scripts/sam.sh check
step "cargo fmt --check"
timed "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy"
timed "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# Each function as a deployment builds it: release, each package on its own (a
# release build once met a compiler query cycle that no debug build showed).
step "release builds of every function, each on its own (x86_64; make build makes the arm64 ones)"
timed "release builds" infra/scripts/build.sh --x86_64

failed=()
for emulator in moto dynalite; do
  eval "$(infra/scripts/local-aws.sh env "$emulator")"
  export APIKEYS_TEST_AWS_ENDPOINT=$AWS_ENDPOINT_URL
  if [ "$emulator" = moto ]; then
    step "cargo test: DynamoDB, KMS and Secrets Manager on moto ($AWS_ENDPOINT_URL)"
  else
    step "cargo test: DynamoDB on dynalite ($AWS_ENDPOINT_URL_DYNAMODB), KMS and Secrets Manager on moto"
  fi
  # Both runs, even when the first fails: a failure on one backend only says which
  # DynamoDB behaviour the code relies on.
  # dynalite implements no transactions (no TransactWriteItems among its actions),
  # which several keys per provider need: those tests (named `several_keys`) run
  # on moto only.
  skip=()
  if [ "$emulator" = dynalite ]; then skip=(-- --skip several_keys); fi
  timed "cargo test ($emulator)" cargo test --workspace --locked --no-fail-fast "${skip[@]}" \
    || failed+=("$emulator")
done

# The local API in front of the real functions (on moto): end-to-end tests,
# schemathesis, the original app's client and the key manager page in Chromium.
eval "$(infra/scripts/local-aws.sh env moto)"
export APIKEYS_TEST_AWS_ENDPOINT=$AWS_ENDPOINT_URL
step "the local API in front of the real functions: end-to-end tests, schemathesis, the original app's client, the page"
timed "local API end-to-end" infra/scripts/local-api-test.sh || failed+=("local API")

step "wall time"
printf '%s\n' "${timings[@]}"
printf '\ntarget/: %s; %s\n' "$(du -sh target 2>/dev/null | cut -f1)" "$(disk)"
if [ ${#failed[@]} -gt 0 ]; then
  printf '\nfailed: %s\n' "${failed[*]}" >&2
  exit 1
fi
