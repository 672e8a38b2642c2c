#!/usr/bin/env bash
# `make load`: the local stack under load, measured. Starts the AWS emulator (moto) if
# it does not answer, then runs the load of infra/e2e/load (locust) through
# local-api-test.sh --load-only: 50 simulated users for 60 s by default
# (APIKEYS_LOAD_USERS, APIKEYS_LOAD_SECONDS). Prints requests per second, p50/p95/p99
# per route and errors by status; fails on any error but the key test's 429, on usage
# counts that differ from the successful uses, or on a key in the logs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
eval "$(infra/scripts/local-aws.sh env moto)"
infra/scripts/local-aws.sh start moto >&2
export APIKEYS_LOAD_USERS=${APIKEYS_LOAD_USERS:-50} APIKEYS_LOAD_SECONDS=${APIKEYS_LOAD_SECONDS:-60}
exec infra/scripts/local-api-test.sh --load-only
