#!/usr/bin/env bash
# The proxy's figures (`make bench` runs it after the cold starts; alone:
# infra/scripts/proxy-bench.sh). Release builds of the proxy and of a bare
# pass-through function (infra/tools/passthrough) are served the same way, by
# `cargo lambda watch --only-lambda-apis` with each binary on its Runtime API, the
# local API in front, the fake provider (infra/emulators/fake_provider.py) behind and
# the emulator for the table and the seed; then infra/e2e/proxy-bench/bench.py
# measures: the proxy's added time to first byte over the pass-through (median, p99),
# the whole path through the local API against the fake provider called directly, a
# 10 MB streamed answer's total time, and the proxy's peak RSS while it streams 100 MB.
# BENCH_RUNS (default 200) warm pairs. The local API and store (which stores the
# benchmark user's key) are debug builds. Nothing leaves 127.0.0.1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
. infra/scripts/lib.sh
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}
venv=$APIKEYS_VENV
host=127.0.0.1
say() { printf 'proxy-bench: %s\n' "$*" >&2; }

[ -x "$venv/bin/cargo-lambda" ] || infra/scripts/local-aws.sh venv
say "release builds: proxy, passthrough (each on its own); apikeys-admin and the local API"
infra/scripts/build.sh --x86_64 proxy passthrough >&2
cargo build --locked -q -p apikeys-admin -p apikeys-local-api -p store

eval "$(infra/scripts/local-aws.sh env)"
# BENCH_DYNAMODB=dynalite: the table on dynalite (infra/scripts/local-aws.sh start
# dynalite), KMS and Secrets Manager still on moto, to tell the emulator's own time apart.
if [ "${BENCH_DYNAMODB:-moto}" = dynalite ]; then
  eval "$(infra/scripts/local-aws.sh env dynalite)"
fi
started=
if ! infra/scripts/local-aws.sh status >/dev/null 2>&1; then
  infra/scripts/local-aws.sh start >&2
  started=1
fi
state=$(mktemp -d "${TMPDIR:-/tmp}/apikeys-proxy-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
  if [ -n "$started" ]; then infra/scripts/local-aws.sh stop >&2; fi
}
trap cleanup EXIT

wait_http() {
  for _ in $(seq 1 150); do
    if curl -s --max-time 2 -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  say "nothing answers at $1"
  return 1
}

suffix=$(date +%s)-$$
table=apikeys-bench-proxy-$suffix
secret=apikeys-bench-proxy-$suffix/seed
issuer_dir=$state/issuer
target/debug/apikeys-admin provision --table "$table" --secret "$secret" \
  --kms-alias "alias/apikeys-bench-proxy-$suffix" --issuer-dir "$issuer_dir" >"$state/provision.log"

key=sk-proj-BenchG00dKey0123456789abcdefghijklmnopQ
python3 infra/emulators/fake_provider.py --port-file "$state/provider.port" --good-key "$key" \
  >"$state/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$state/provider.port" ] && break; sleep 0.1; done
provider_url=http://$host:$(cat "$state/provider.port")

watch_port=$(free_port)
CARGO_LAMBDA_IGNORE_FILE=$root/infra/scripts/watch.ignore "$venv/bin/cargo-lambda" lambda watch \
  --only-lambda-apis --invoke-address "$host" --invoke-port "$watch_port" >"$state/watch.log" 2>&1 &
pids+=($!)
wait_http "http://$host:$watch_port/2015-03-31/functions/proxy/invocations"

api_port=$(free_port)
base=http://$host:$api_port
release=${CARGO_TARGET_DIR:-$root/target}/release
common=(AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 RUST_LOG=warn
  APIKEYS_OPENAI_BASE_URL="$provider_url")
env "${common[@]}" RUST_LOG=info AWS_LAMBDA_FUNCTION_NAME=proxy AWS_LAMBDA_RUNTIME_API="http://$host:$watch_port/.rt/proxy" \
  APIKEYS_TABLE_NAME="$table" APIKEYS_SEED_SECRET_ID="$secret" \
  APIKEYS_JWT_ISSUER="$(issuer_field "$issuer_dir" issuer)" \
  APIKEYS_JWT_AUDIENCE="$(issuer_field "$issuer_dir" audience)" \
  APIKEYS_JWT_JWKS_URL="$base/.well-known/jwks.json" \
  "$release/proxy" >"$state/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
env "${common[@]}" AWS_LAMBDA_FUNCTION_NAME=passthrough \
  AWS_LAMBDA_RUNTIME_API="http://$host:$watch_port/.rt/passthrough" PASSTHROUGH_KEY="$key" \
  "$release/passthrough" >"$state/passthrough.log" 2>&1 &
pids+=($!)
# store (a debug build): the benchmark's user stores its key through the API.
env "${common[@]}" AWS_LAMBDA_FUNCTION_NAME=store AWS_LAMBDA_RUNTIME_API="http://$host:$watch_port/.rt/store" \
  APIKEYS_TABLE_NAME="$table" APIKEYS_SEED_SECRET_ID="$secret" \
  target/debug/store >"$state/store.log" 2>&1 &
pids+=($!)

APIKEYS_LOCAL_API_PORT=$api_port APIKEYS_INVOKE_URL=http://$host:$watch_port \
  APIKEYS_LOCAL_ISSUER_DIR="$issuer_dir" target/debug/apikeys-local-api >"$state/local-api.log" 2>&1 &
pids+=($!)
wait_http "$base/.well-known/jwks.json"

user=bench-$suffix
token=$(target/debug/apikeys-admin token "$user" --issuer-dir "$issuer_dir")
curl -fsS -o /dev/null -X POST "$base/api/provider-configs" -H "Authorization: Bearer $token" \
  -H 'content-type: application/json' --data "{\"provider\":\"openai\",\"apiKey\":\"$key\"}"

say "measuring ($(nproc) cores, $(uname -m); BENCH_RUNS=${BENCH_RUNS:-200})"
BENCH_INVOKE_URL=http://$host:$watch_port BENCH_LOCAL_API=$base BENCH_FAKE=$provider_url \
  BENCH_TOKEN=$token BENCH_KEY=$key BENCH_PROXY_PID=$proxy_pid BENCH_PROXY_LOG=$state/proxy.log \
  python3 infra/e2e/proxy-bench/bench.py
