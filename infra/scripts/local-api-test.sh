#!/usr/bin/env bash
# The local API in front of the real functions, as `make test` runs it (after the
# cargo tests, with the AWS emulator running):
#
#   1. builds the function binaries, the local API and apikeys-admin;
#   2. provisions a table and seed of its own in the emulator and a local issuer in a
#      temporary directory, and starts a fake OpenAI (infra/emulators/fake_provider.py);
#   3. starts `cargo lambda watch --only-lambda-apis` (the Runtime and Invoke APIs),
#      each function binary against it, and the local API on a free port;
#   4. runs against that one base URL: the Rust end-to-end tests
#      (infra/tools/local-api/tests/e2e.rs), schemathesis over infra/contract/openapi.yaml, the
#      original app's client in Node (infra/e2e/seed-client), the app's servers calling
#      use-key in TypeScript and Python (infra/e2e/callers), and the key manager page in
#      headless Chromium (infra/e2e/web-test; Debian's chromium, installed here if missing).
#
# Prebuilt binaries instead of the watcher's own `cargo run` per function: nothing is
# compiled while a test waits, and a build error fails here, before any test.
# Everything it starts is stopped on exit; its logs are printed when a step fails.
#
# `--load-only` (what `make load` runs) starts the same stack and runs only the load
# (infra/e2e/load, locust): APIKEYS_LOAD_USERS simulated users for APIKEYS_LOAD_SECONDS
# (defaults: 10 users for 20 s here, the short run of `make test`, with the seed rotated
# and rewrapped midway; `make load` asks for 50 users for 60 s, once plain and once with
# the rotation).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
. infra/scripts/lib.sh
load_only=false
if [ "${1:-}" = --load-only ]; then load_only=true; fi

venv=${APIKEYS_VENV:-$root/.venv}
checks_venv=${APIKEYS_CHECKS_VENV:-$root/.venv-checks}
host=127.0.0.1
say() { printf 'local-api-test: %s\n' "$*" >&2; }

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then eval "$(infra/scripts/local-aws.sh env)"; fi
if ! infra/scripts/local-aws.sh status >/dev/null 2>&1; then
  say "the AWS emulator does not answer at $AWS_ENDPOINT_URL; start it with infra/scripts/local-aws.sh start"
  exit 1
fi
[ -x "$venv/bin/cargo-lambda" ] || infra/scripts/local-aws.sh venv

# Pinned Python tools of these checks (schemathesis), and the load tool (locust) in a
# venv of its own: its dependencies stay out of the checks'.
load_venv=${APIKEYS_LOAD_VENV:-$root/.venv-load}
ensure_pinned_venv "$load_venv" infra/scripts/requirements-load.txt locust
$load_only || ensure_pinned_venv "$checks_venv" infra/scripts/requirements-checks.txt python

chromium=${APIKEYS_CHROMIUM:-/usr/bin/chromium}
if ! $load_only && [ ! -x "$chromium" ]; then
  say "installing Debian's chromium and chromium-driver for the browser test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }
fi

# hello (infra/tools/hello): the load's baseline, a hello-world function served the same way.
functions=(store get-configs update-settings delete-config test-key use-key proxy hello)
say "building the functions, the local API and apikeys-admin"
# The workspace's test feature set, so this reuses what `cargo test --workspace` built.
cargo build --workspace --bins --tests --locked -q

state=$(mktemp -d "${TMPDIR:-/tmp}/apikeys-local-api-test.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    for log in "$state"/*.log; do
      [ -f "$log" ] || continue
      printf '\n--- %s (last 30 lines)\n' "$(basename "$log")" >&2
      tail -n 30 "$log" >&2
    done
  fi
  rm -rf "$state"
}
trap cleanup EXIT

# Any HTTP answer counts: the server is up.
wait_http() {
  local url=$1 pid=$2 what=$3
  for _ in $(seq 1 150); do
    if curl -s --max-time 2 -o /dev/null "$url"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { say "$what exited"; return 1; }
    sleep 0.2
  done
  say "$what does not answer at $url"
  return 1
}

suffix=$(date +%s)-$$
table=apikeys-lapi-$suffix
secret=apikeys-lapi-$suffix/seed
alias=alias/apikeys-lapi-$suffix
issuer_dir=$state/issuer
target/debug/apikeys-admin provision --table "$table" --secret "$secret" --kms-alias "$alias" \
  --issuer-dir "$issuer_dir" >"$state/provision.log"

# The deployment's own keys (off by default; docs/api.md): Mistral's only, so that no
# other check meets them. The callers' test takes one from use-key for a user with no
# Mistral key and reports what its call spent against the monthly allowance.
deployment_secret=apikeys-lapi-$suffix/deployment-keys
deployment_key=DeploymentMistralKey0123456789ab
deployment_env=()
if ! $load_only; then
  "$checks_venv/bin/python" - "$deployment_secret" "$deployment_key" <<'PY'
import json, sys
import boto3
name, key = sys.argv[1:3]
boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps({"mistral": key}))
PY
  deployment_env=(APIKEYS_DEPLOYMENT_KEYS_SECRET_ID="$deployment_secret"
    APIKEYS_DEPLOYMENT_KEY_FALLBACK=true APIKEYS_DEPLOYMENT_MONTHLY_TOKENS=1000)
fi

# Two keys it accepts: the page's test adds a second key of a provider. The proxy's
# SDK tests store an Anthropic and a Gemini key it accepts too, and an OpenAI key it
# answers 429 (Retry-After: 30), the primary their fallback check skips.
claude_key=sk-ant-api03-ProxySdkClaudeKey0123456789abcdefghij-AB
gemini_key=AIzaSyProxySdkGeminiKey0123456789abcdef
rate_limited_key=sk-proj-ProxySdkRateL1mitedKey0123456789abcdef
python3 infra/emulators/fake_provider.py --port-file "$state/provider.port" \
  --good-key sk-proj-G00dKey0123456789abcdefghijklmnopQRST \
  --good-key sk-proj-AnotherG00dKey0123456789abcdefghijQR \
  --good-key 0123456789abcdef0123456789abcdef \
  --good-key "$claude_key" --good-key "$gemini_key" \
  --rate-limited-key "$rate_limited_key" >"$state/fake-provider.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$state/provider.port" ] && break; sleep 0.1; done
provider_url=http://$host:$(cat "$state/provider.port")

watch_port=$(free_port)
CARGO_LAMBDA_IGNORE_FILE=$root/infra/scripts/watch.ignore "$venv/bin/cargo-lambda" lambda watch \
  --only-lambda-apis --invoke-address "$host" --invoke-port "$watch_port" >"$state/watch.log" 2>&1 &
watch_pid=$!
pids+=("$watch_pid")
# GET on the invoke path answers at once (405); other paths are function URLs that
# wait for a function to take the request.
wait_http "http://$host:$watch_port/2015-03-31/functions/store/invocations" "$watch_pid" "cargo lambda watch"

api_port=$(free_port)
base=http://$host:$api_port
# use-key releases a key only with its user's own token of the local issuer, whose
# keys the local API serves: the local stack's default, as run-local.sh does.
user_token_env=(
  APIKEYS_USE_KEY_REQUIRE_USER_TOKEN=true
  APIKEYS_JWT_ISSUER="$(issuer_field "$issuer_dir" issuer)"
  APIKEYS_JWT_AUDIENCE="$(issuer_field "$issuer_dir" audience)"
  APIKEYS_JWT_JWKS_URL="$base/.well-known/jwks.json"
)
for f in "${functions[@]}"; do
  # The functions that test and store keys may take a user endpoint on loopback
  # here: the page's test stores an Azure key whose resource is the fake provider.
  extra=()
  case "$f" in
    store | test-key) extra=(APIKEYS_ALLOW_LOOPBACK_ENDPOINTS=true) ;;
    use-key) extra=("${user_token_env[@]}" "${deployment_env[@]}" APIKEYS_ALLOW_LOOPBACK_ENDPOINTS=true) ;;
    # The proxy checks every caller's token of the same issuer.
    proxy) extra=("${user_token_env[@]:1}" APIKEYS_ALLOW_LOOPBACK_ENDPOINTS=true) ;;
  esac
  # A short keyring max age: the load's seed rotation reaches every function in seconds.
  env APIKEYS_TABLE_NAME="$table" APIKEYS_SEED_SECRET_ID="$secret" "${extra[@]}" \
    APIKEYS_KEYRING_MAX_AGE_SECONDS=5 \
    APIKEYS_OPENAI_BASE_URL="$provider_url" APIKEYS_CLAUDE_BASE_URL="$provider_url" \
    APIKEYS_GOOGLE_AI_BASE_URL="$provider_url" RUST_LOG=info \
    AWS_LAMBDA_FUNCTION_NAME="$f" AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 \
    AWS_LAMBDA_RUNTIME_API="http://$host:$watch_port/.rt/$f" \
    "target/debug/$f" >"$state/$f.log" 2>&1 &
  pids+=($!)
done

APIKEYS_LOCAL_API_PORT=$api_port APIKEYS_INVOKE_URL=http://$host:$watch_port \
  APIKEYS_LOCAL_ISSUER_DIR="$issuer_dir" APIKEYS_INVOKE_TIMEOUT_SECONDS=60 \
  target/debug/apikeys-local-api >"$state/local-api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_http "$base/.well-known/jwks.json" "$api_pid" "the local API"
say "the local API is at $base, the fake OpenAI at $provider_url"

export APIKEYS_TEST_LOCAL_API_URL=$base APIKEYS_LOCAL_ISSUER_DIR=$issuer_dir

# The load: seeded users, each with a key the fake provider accepts, and a token.
run_load() {
  local users=${APIKEYS_LOAD_USERS:-10} seconds=${APIKEYS_LOAD_SECONDS:-20} seeded=$state/load-users-$RANDOM.json
  say "load: $users simulated users for ${seconds}s${1:+, the seed rotated and rewrapped midway} (infra/e2e/load, locust)"
  {
    printf '['
    for i in $(seq 1 "$users"); do
      [ "$i" -gt 1 ] && printf ','
      printf '{"user":"load-%s-%s-%s","token":"%s"}' "$i" "${1:-plain}" "$suffix" \
        "$(target/debug/apikeys-admin token "load-$i-${1:-plain}-$suffix" --issuer-dir "$issuer_dir")"
    done
    printf ']'
  } >"$seeded"
  # With a rotation (the second run of `make load`, the short run of `make test`):
  # the seed is rotated a third of the way in, and rewrap runs once the functions'
  # keyrings (5 s) have caught up.
  local rotate=()
  if [ "${1:-}" = rotate ]; then
    rotate=(APIKEYS_LOAD_ROTATE_SECRET="$secret" APIKEYS_LOAD_TABLE="$table"
      APIKEYS_LOAD_ADMIN="$root/target/debug/apikeys-admin" APIKEYS_LOAD_MAX_AGE=5)
  fi
  env "${rotate[@]}" APIKEYS_LOAD_SECONDS="$seconds" \
  APIKEYS_LOAD_USERS_FILE=$seeded APIKEYS_LOAD_KEY=sk-proj-AnotherG00dKey0123456789abcdefghijQR \
    APIKEYS_INVOKE_URL=http://$host:$watch_port \
    "$load_venv/bin/locust" -f infra/e2e/load/locustfile.py --headless --host "$base" \
    --users "$users" --spawn-rate "$users" --run-time "${seconds}s" --only-summary \
    --stop-timeout 120 \
    --loglevel WARNING
  # (--stop-timeout: at the end every simulated user finishes the call it has under
  # way, so no use is applied by the vault but missed by the count.)
  # No key in any log line of the functions, the local API or the fake provider.
  local leaked
  leaked=$(grep -l -e 'AnotherG00dKey' -e 'LoadTestKey' "$state"/*.log || true)
  if [ -n "$leaked" ]; then say "a key is in the logs: $leaked"; return 1; fi
  say "load: no key in $(ls "$state"/*.log | wc -l) log files"
}

if $load_only; then
  run_load
  run_load rotate
  say "load passed"
  exit 0
fi

say "end-to-end tests (infra/tools/local-api/tests/e2e.rs)"
cargo test --workspace --locked -q --test e2e -- --ignored

say "schemathesis over infra/contract/openapi.yaml"
token=$(target/debug/apikeys-admin token "schemathesis-$suffix" --issuer-dir "$issuer_dir")
"$checks_venv/bin/schemathesis" run infra/contract/openapi.yaml \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,response_headers_conformance \
  --max-examples 20 \
  --seed 1 \
  --generation-database :memory: \
  --no-color

say "the original app's client in Node (infra/e2e/seed-client)"
infra/scripts/seed-client.sh "$base" "$(target/debug/apikeys-admin token "seed-client-$suffix" --issuer-dir "$issuer_dir")"

say "the app's servers in TypeScript and Python calling use-key (infra/e2e/callers)"
APIKEYS_PROVIDER_URL=$provider_url APIKEYS_DEPLOYMENT_KEY=$deployment_key \
  infra/scripts/callers.sh "$base" "http://$host:$watch_port" "$issuer_dir" "$checks_venv/bin/python"

say "the official OpenAI, Anthropic and Gemini SDKs through the proxy (infra/e2e/proxy-sdks)"
proxy_user=proxy-sdks-$suffix
proxy_token=$(target/debug/apikeys-admin token "$proxy_user" --issuer-dir "$issuer_dir")
# A user's key stored through the API as the page stores it (its primary when it is the
# provider's first; a later one beside the primary with a label): prints the key's id.
store_proxy_key() {
  local user_token=$1 provider=$2 key=$3 label=${4:-} url body answer
  if [ -z "$label" ]; then
    url=$base/api/provider-configs body="{\"provider\":\"$provider\",\"apiKey\":\"$key\"}"
  else
    url=$base/api/provider-configs/$provider/keys body="{\"apiKey\":\"$key\",\"label\":\"$label\"}"
  fi
  answer=$(curl -fsS -X POST "$url" -H "Authorization: Bearer $user_token" \
    -H 'content-type: application/json' --data "$body") || return 1
  python3 -c 'import json, sys; a = json.loads(sys.argv[1]); print((a.get("config") or a["key"])["id"])' \
    "$answer"
}
# The user's keys of each provider.
for stored in "openai sk-proj-G00dKey0123456789abcdefghijklmnopQRST" "claude $claude_key" \
  "google-ai $gemini_key"; do
  set -- $stored
  store_proxy_key "$proxy_token" "$1" "$2" >/dev/null
done
# Fallback: a user per SDK (a skipped primary stays marked for its Retry-After), each
# with the rate-limited key as the primary and a good one beside it.
fallback_user() {
  local user_token primary second
  user_token=$(target/debug/apikeys-admin token "proxy-fallback-$1-$suffix" --issuer-dir "$issuer_dir") &&
    primary=$(store_proxy_key "$user_token" openai "$rate_limited_key") &&
    second=$(store_proxy_key "$user_token" openai sk-proj-G00dKey0123456789abcdefghijklmnopQRST second) ||
    return 1
  printf 'APIKEYS_FALLBACK_TOKEN=%s APIKEYS_FALLBACK_PRIMARY_ID=%s APIKEYS_FALLBACK_SECOND_ID=%s\n' \
    "$user_token" "$primary" "$second"
}
fallback_node=$(fallback_user node)
fallback_python=$(fallback_user python)
# Budget: a user with one good key; the test sets its budget and spends it.
budget_token=$(target/debug/apikeys-admin token "proxy-budget-$suffix" --issuer-dir "$issuer_dir")
store_proxy_key "$budget_token" openai sk-proj-G00dKey0123456789abcdefghijklmnopQRST >/dev/null
proxy_sdks_venv=${APIKEYS_PROXY_SDKS_VENV:-$root/.venv-proxy-sdks}
ensure_pinned_venv "$proxy_sdks_venv" infra/e2e/proxy-sdks/requirements.txt python
(cd infra/e2e/proxy-sdks && ensure_npm_ci)
export APIKEYS_PROXY_BASE=$base/proxy APIKEYS_TOKEN=$proxy_token APIKEYS_FAKE_PROVIDER=$provider_url
# $fallback_*: VAR=value words (tokens and ids have no spaces), split on purpose.
# shellcheck disable=SC2086
env $fallback_node APIKEYS_BUDGET_TOKEN="$budget_token" APIKEYS_API_BASE="$base" \
  node --test infra/e2e/proxy-sdks/sdks.test.mjs
# shellcheck disable=SC2086
env $fallback_python "$proxy_sdks_venv/bin/python" infra/e2e/proxy-sdks/test_openai_python.py
unset APIKEYS_PROXY_BASE APIKEYS_TOKEN APIKEYS_FAKE_PROVIDER

run_load rotate

say "the key manager page in headless Chromium (infra/e2e/web-test), with axe-core"
(cd infra/e2e/web-test && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
APIKEYS_BASE_URL=$base APIKEYS_CHROMIUM=$chromium APIKEYS_PROVIDER_URL=$provider_url \
  "$checks_venv/bin/python" -m pytest -q -p no:cacheprovider infra/e2e/web-test

say "all checks passed"
