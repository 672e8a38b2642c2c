#!/usr/bin/env bash
# `make run`: the HTTP API at one base URL on 127.0.0.1, from a clean clone.
#
#   1. sets up .venv with the pinned tools and starts the local AWS emulator
#      (infra/scripts/local-aws.sh),
#   2. provisions the table, KMS key and seed secret there, and the local token
#      issuer under .local/issuer (apikeys-admin provision),
#   3. serves the functions with `cargo lambda watch` (rebuilding on change), and
#   4. in front of them the local API (infra/tools/local-api): the routes of template.yaml,
#      tokens verified as API Gateway's JWT authorizer does, the key manager page at /.
#
# APIKEYS_LOCAL_API_PORT picks the API's port (default 3000), APIKEYS_PORT the
# watcher's (default: a free port chosen at start, its URL written to
# .local/invoke-url, readable by you only), APIKEYS_AWS_PORT the emulator's (default 4599),
# APIKEYS_VENV the venv (default .venv). The table and secret names come from
# APIKEYS_TABLE_NAME, APIKEYS_SEED_SECRET_ID and APIKEYS_KMS_ALIAS
# (defaults: apikeys-local, apikeys-local/seed, alias/apikeys-local). To accept the
# tokens of another issuer (a Cognito user pool) instead of the local one, set
# APIKEYS_JWT_ISSUER and APIKEYS_JWT_AUDIENCE (and APIKEYS_JWT_JWKS_URL if the issuer
# has no OpenID discovery document).
#
# Nothing here leaves 127.0.0.1, except the key checks of test-key and the JWKS of
# an issuer you name.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
. infra/scripts/lib.sh

# One venv for the emulator and cargo-lambda; local-aws.sh reads the same variable.
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}
# The watcher's invoke API serves every function, use-key included, to anyone who
# finds it: no fixed port, and its URL only in a file of yours.
port=${APIKEYS_PORT:-$(free_port)}
api_port=${APIKEYS_LOCAL_API_PORT:-3000}
host=127.0.0.1
base=http://$host:$api_port

say() { printf 'run-local: %s\n' "$*" >&2; }

# Region, test credentials, AWS_EC2_METADATA_DISABLED and AWS_ENDPOINT_URL (the emulator).
eval "$(infra/scripts/local-aws.sh env)"
infra/scripts/local-aws.sh start

export APIKEYS_TABLE_NAME=${APIKEYS_TABLE_NAME:-apikeys-local}
export APIKEYS_SEED_SECRET_ID=${APIKEYS_SEED_SECRET_ID:-apikeys-local/seed}
export APIKEYS_KMS_ALIAS=${APIKEYS_KMS_ALIAS:-alias/apikeys-local}
export APIKEYS_LOCAL_ISSUER_DIR=${APIKEYS_LOCAL_ISSUER_DIR:-$root/.local/issuer}

# One build for both: one feature set, so the shared crate is compiled once for them.
say "building apikeys-admin and the local API (a first build takes minutes)"
cargo build --locked -q -p apikeys-admin -p apikeys-local-api
say "provisioning table $APIKEYS_TABLE_NAME, secret $APIKEYS_SEED_SECRET_ID and the local issuer"
target/debug/apikeys-admin provision

# cargo-lambda from the venv; on PATH, `cargo lambda …` finds it too.
export PATH=$APIKEYS_VENV/bin:$PATH
# Rebuild on source changes only, not on git, emulator or editor churn elsewhere.
export CARGO_LAMBDA_IGNORE_FILE=$root/infra/scripts/watch.ignore
if ! command -v cargo-lambda >/dev/null; then
  say "cargo-lambda is missing from $APIKEYS_VENV/bin; run infra/scripts/local-aws.sh venv"
  exit 1
fi

# What the functions see. Exported (the watcher passes its environment on) and
# repeated with --env-var; values must not contain commas (--env-var splits on them).
# No identity variable: the only identity is a token the local API verified.
export RUST_LOG=${RUST_LOG:-info}
function_env=(
  APIKEYS_TABLE_NAME="$APIKEYS_TABLE_NAME"
  APIKEYS_SEED_SECRET_ID="$APIKEYS_SEED_SECRET_ID"
  AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL"
  AWS_REGION="$AWS_REGION"
  AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION"
  AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
  AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
  AWS_EC2_METADATA_DISABLED=true
  RUST_LOG="$RUST_LOG"
)
# use-key releases a key only with its user's own token (UseKeyRequireUserToken=true),
# of the issuer the local API accepts: a page or another local user who reaches the
# watcher still needs a token, which only you can mint (.local/issuer is yours).
# APIKEYS_USE_KEY_REQUIRE_USER_TOKEN=false in this shell is the background-job opt-out.
if [ -n "${APIKEYS_JWT_ISSUER:-}" ]; then
  function_env+=(APIKEYS_JWT_ISSUER="$APIKEYS_JWT_ISSUER")
  [ -n "${APIKEYS_JWT_JWKS_URL:-}" ] && function_env+=(APIKEYS_JWT_JWKS_URL="$APIKEYS_JWT_JWKS_URL")
  # The audience list may hold commas: it reaches the functions through the
  # environment the watcher passes on (exported), not --env-var.
else
  function_env+=(
    APIKEYS_JWT_ISSUER="$(issuer_field "$APIKEYS_LOCAL_ISSUER_DIR" issuer)"
    APIKEYS_JWT_AUDIENCE="$(issuer_field "$APIKEYS_LOCAL_ISSUER_DIR" audience)"
    APIKEYS_JWT_JWKS_URL="$base/.well-known/jwks.json"
  )
fi
function_env+=(APIKEYS_USE_KEY_REQUIRE_USER_TOKEN="${APIKEYS_USE_KEY_REQUIRE_USER_TOKEN:-true}")
env_args=()
for pair in "${function_env[@]}"; do
  env_args+=(--env-var "$pair")
done
# Provider base URLs set in this shell (e.g. APIKEYS_OPENAI_BASE_URL) reach the functions.
while IFS= read -r name; do
  env_args+=(--env-var "$name=${!name}")
done < <(compgen -e | grep -E '^APIKEYS_[A-Z_]+_BASE_URL$' || true)

watch_pid=
api_pid=
stop() {
  trap - INT TERM EXIT
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  say "stopped; the emulator still runs (infra/scripts/local-aws.sh stop)"
}
trap stop INT TERM EXIT

cargo-lambda lambda watch \
  --invoke-address "$host" \
  --invoke-port "$port" \
  "${env_args[@]}" &
watch_pid=$!
mkdir -p "$root/.local"
(umask 077 && echo "http://$host:$port" >"$root/.local/invoke-url")

APIKEYS_LOCAL_API_PORT=$api_port APIKEYS_INVOKE_URL=http://$host:$port \
  target/debug/apikeys-local-api &
api_pid=$!

for _ in $(seq 1 100); do
  curl -s --max-time 2 -o /dev/null "$base/.well-known/jwks.json" && break
  kill -0 "$api_pid" 2>/dev/null || { say "the local API did not start"; exit 1; }
  sleep 0.2
done

cat >&2 <<INFO

run-local: the API is at $base (functions build on their first request: minutes the first time)
  key manager page:  $base/
  a token (1 hour):  TOKEN=\$(target/debug/apikeys-admin token alice)
                     or: curl -s -X POST $base/local/dev-token -d '{"user":"alice"}'
  then, e.g.:        curl -s -H "Authorization: Bearer \$TOKEN" $base/api/provider-configs
  routes (template.yaml):
    POST   $base/api/provider-configs
    GET    $base/api/provider-configs
    PUT    $base/api/provider-configs
    POST   $base/api/test-api-key
    DELETE $base/api/provider-configs/<provider>
  without a valid token every route answers 401 {"message":"Unauthorized"}, as deployed.
  the streaming proxy (the user's token where the provider key would go):
    OpenAI SDKs: baseURL $base/proxy/openai/v1   Anthropic SDK: baseURL $base/proxy/claude
    Gemini:      $base/proxy/google-ai/v1beta/models/<model>:streamGenerateContent?alt=sse
  the watcher's invoke API: http://$host:$port (also in .local/invoke-url, yours only);
  cargo lambda invoke works on it with the events of events/:
    ${APIKEYS_VENV#"$root"/}/bin/cargo-lambda lambda invoke store --data-file events/store.json --invoke-address $host --invoke-port $port
  use-key (the app's servers; Invoke API only, no route; the user's own token required):
    ${APIKEYS_VENV#"$root"/}/bin/cargo-lambda lambda invoke use-key --invoke-address $host --invoke-port $port \\
      --data-ascii "{\"userToken\": \"\$TOKEN\", \"provider\": \"openai\"}"
    or an AWS SDK's Lambda client with endpoint \$(cat .local/invoke-url) (docs/api.md: "The app's servers")
  AWS emulator: $AWS_ENDPOINT_URL (table $APIKEYS_TABLE_NAME, secret $APIKEYS_SEED_SECRET_ID)
  stop: Ctrl-C, then \`infra/scripts/local-aws.sh stop\` for the emulator

INFO

wait -n "$watch_pid" "$api_pid"
