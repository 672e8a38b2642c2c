#!/usr/bin/env bash
# The SDK tests against the fake provider itself, with no proxy between (APIKEYS_DIRECT=1):
# a check of the tests and of infra/emulators/fake_provider.py. It starts the fake on a
# free port of 127.0.0.1, installs the pinned npm packages (package-lock.json) and the
# pinned openai (requirements.txt, into the venv $PROXY_SDKS_VENV, by default
# target/venv-proxy-sdks), runs both tests, and stops the fake.
#   infra/e2e/proxy-sdks/run-direct.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$root/infra/scripts/lib.sh"
venv=${PROXY_SDKS_VENV:-$root/target/venv-proxy-sdks}
state=$(mktemp -d)
fake_pid=
cleanup() {
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT

ensure_pinned_venv "$venv" "$here/requirements.txt" python
python3 "$root/infra/emulators/fake_provider.py" --port-file "$state/port" &
fake_pid=$!
for _ in $(seq 1 50); do [ -s "$state/port" ] && break; sleep 0.1; done
if [ ! -s "$state/port" ]; then echo "${0##*/}: the fake provider did not start" >&2; exit 1; fi

# The fake's default good key stands for the user's token: a JWT left in the
# environment for the proxy would be refused.
unset APIKEYS_TOKEN APIKEYS_PROXY_BASE
export APIKEYS_DIRECT=1 APIKEYS_FAKE_PROVIDER=http://127.0.0.1:$(cat "$state/port")
cd "$here"
ensure_npm_ci
status=0
node --test sdks.test.mjs || status=1
"$venv/bin/python" test_openai_python.py || status=1
exit "$status"
