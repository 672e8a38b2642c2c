#!/usr/bin/env bash
# `make run`: every function served on 127.0.0.1, from a clean clone.
#
#   1. sets up .venv with the pinned tools and starts the local AWS emulator
#      (infra/local-aws.sh),
#   2. provisions the table, KMS key and seed secret there (apikeys-admin provision),
#   3. serves the functions with `cargo lambda watch`, rebuilding on change.
#
# APIKEYS_PORT picks the port of the functions (default 9000), APIKEYS_AWS_PORT the
# emulator's (default 4599), APIKEYS_VENV the venv (default .venv). The table and
# secret names come from APIKEYS_TABLE_NAME, API_KEY_ENCRYPTION_SEED_SECRET_ID and
# APIKEYS_KMS_ALIAS (defaults: apikeys-local, apikeys-local/seed, alias/apikeys-local).
#
# Nothing here leaves 127.0.0.1: the SDK talks to the emulator only.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# One venv for the emulator and cargo-lambda; local-aws.sh reads the same variable.
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}
port=${APIKEYS_PORT:-9000}
host=127.0.0.1

say() { printf 'run-local: %s\n' "$*" >&2; }

# Region, test credentials, AWS_EC2_METADATA_DISABLED and AWS_ENDPOINT_URL (the emulator).
eval "$(infra/local-aws.sh env)"
infra/local-aws.sh start

export APIKEYS_TABLE_NAME=${APIKEYS_TABLE_NAME:-apikeys-local}
export API_KEY_ENCRYPTION_SEED_SECRET_ID=${API_KEY_ENCRYPTION_SEED_SECRET_ID:-apikeys-local/seed}
export APIKEYS_KMS_ALIAS=${APIKEYS_KMS_ALIAS:-alias/apikeys-local}

say "provisioning table $APIKEYS_TABLE_NAME and secret $API_KEY_ENCRYPTION_SEED_SECRET_ID (a first build takes minutes)"
cargo run --locked -q -p apikeys-admin -- provision

# cargo-lambda from the venv; on PATH, `cargo lambda …` finds it too.
export PATH=$APIKEYS_VENV/bin:$PATH
# Rebuild on source changes only, not on git, emulator or editor churn elsewhere.
export CARGO_LAMBDA_IGNORE_FILE=$root/infra/watch.ignore
if ! command -v cargo-lambda >/dev/null; then
  say "cargo-lambda is missing from $APIKEYS_VENV/bin; run infra/local-aws.sh venv"
  exit 1
fi

# What the functions see. Exported (the watcher passes its environment on) and
# repeated with --env-var; values must not contain commas (--env-var splits on them).
export RUST_LOG=info
export APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER=true # local only: user id from a header
function_env=(
  APIKEYS_TABLE_NAME="$APIKEYS_TABLE_NAME"
  API_KEY_ENCRYPTION_SEED_SECRET_ID="$API_KEY_ENCRYPTION_SEED_SECRET_ID"
  AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL"
  AWS_REGION="$AWS_REGION"
  AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION"
  AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
  AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
  AWS_EC2_METADATA_DISABLED=true
  RUST_LOG="$RUST_LOG"
  APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER=true
)
env_args=()
for pair in "${function_env[@]}"; do
  env_args+=(--env-var "$pair")
done

base=http://$host:$port/lambda-url
functions=()
for manifest in functions/*/Cargo.toml; do
  if [ -f "$manifest" ]; then
    functions+=("$(basename "$(dirname "$manifest")")")
  fi
done

cat >&2 <<INFO

run-local: serving on http://$host:$port (functions build on their first request)
  functions: ${functions[*]:-none yet}
  each one at $base/<function>/<path>, e.g.
    POST   $base/store/api/provider-configs
    GET    $base/get-configs/api/provider-configs
    PUT    $base/update-settings/api/provider-configs
    POST   $base/test-key/api/test-api-key
    DELETE $base/delete-config/api/provider-configs/<provider>
  no authorizer runs locally: pass the user id in the x-apikeys-local-user header, e.g.
    curl -s -H 'x-apikeys-local-user: alice' $base/get-configs/api/provider-configs
  or invoke one with an API Gateway event (claims included) from events/:
    ${APIKEYS_VENV#"$root"/}/bin/cargo-lambda lambda invoke store --data-file events/store.json --invoke-address $host --invoke-port $port
  AWS emulator: $AWS_ENDPOINT_URL (table $APIKEYS_TABLE_NAME, secret $API_KEY_ENCRYPTION_SEED_SECRET_ID)
  stop: Ctrl-C, then \`infra/local-aws.sh stop\` for the emulator

INFO

exec cargo-lambda lambda watch \
  --invoke-address "$host" \
  --invoke-port "$port" \
  "${env_args[@]}"
