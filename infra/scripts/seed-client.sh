#!/usr/bin/env bash
# The original app's client in Node against a running local API:
#   infra/scripts/seed-client.sh BASE_URL TOKEN
# Installs the pinned TypeScript (package-lock.json), compiles src/ into
# target/seed-client and runs its tests with Node's test runner.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/infra/scripts/lib.sh"
client=$root/infra/e2e/seed-client
if [ $# -ne 2 ]; then echo "usage: $0 BASE_URL TOKEN" >&2; exit 2; fi
cd "$client"
ensure_npm_ci
rm -rf "$root/target/seed-client"
node_modules/.bin/tsc -p tsconfig.json
APIKEYS_BASE_URL=$1 APIKEYS_TOKEN=$2 node --test "$root/target/seed-client/againstLocalApi.test.js"
