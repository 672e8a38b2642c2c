#!/usr/bin/env bash
# The app's servers in TypeScript and Python taking a user's key from use-key with
# their AWS SDKs (v3 @aws-sdk/client-lambda, boto3), against a running local stack:
#   infra/scripts/callers.sh BASE_URL INVOKE_URL ISSUER_DIR PYTHON
# BASE_URL is the local API (to store keys), INVOKE_URL cargo lambda watch's Invoke
# API, ISSUER_DIR the local issuer (for tokens), PYTHON a Python with boto3 and
# pytest (the checks venv). Installs the pinned npm packages (package-lock.json).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/infra/scripts/lib.sh"
callers=$root/infra/e2e/callers
if [ $# -ne 4 ]; then echo "usage: $0 BASE_URL INVOKE_URL ISSUER_DIR PYTHON" >&2; exit 2; fi
base=$1 invoke=$2 issuer=$3 python=$4
suffix=$(date +%s)-$$
token_for() { "$root/target/debug/apikeys-admin" token "$1" --issuer-dir "$issuer"; }
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true

cd "$callers/typescript"
ensure_npm_ci
rm -rf dist
node_modules/.bin/tsc -p tsconfig.json
user=ts-caller-$suffix
APIKEYS_BASE_URL=$base APIKEYS_INVOKE_URL=$invoke APIKEYS_USER=$user APIKEYS_TOKEN=$(token_for "$user") \
  node --test dist/againstLocalStack.test.js

cd "$callers/python"
user=py-caller-$suffix
APIKEYS_BASE_URL=$base APIKEYS_INVOKE_URL=$invoke APIKEYS_USER=$user APIKEYS_TOKEN=$(token_for "$user") \
  "$python" -m pytest -q -p no:cacheprovider test_use_key.py
