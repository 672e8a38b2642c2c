#!/usr/bin/env bash
# The local AWS emulator (moto server: DynamoDB, KMS, Secrets Manager) on 127.0.0.1.
#
#   infra/local-aws.sh venv     create .venv with the pinned tools (infra/requirements.txt)
#   infra/local-aws.sh start    start the emulator (pid file in .local/), wait until it answers
#   infra/local-aws.sh stop     stop it
#   infra/local-aws.sh status   say whether it runs
#   infra/local-aws.sh env      print the variables that point the SDK at it
#
# APIKEYS_AWS_PORT picks the port (default 4599).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${APIKEYS_VENV:-$root/.venv}
state=$root/.local
port=${APIKEYS_AWS_PORT:-4599}
host=127.0.0.1
pidfile=$state/moto-$port.pid
logfile=$state/moto-$port.log
url=http://$host:$port

say() { printf 'local-aws: %s\n' "$*" >&2; }

ensure_venv() {
  local stamp=$venv/.requirements.sha256 want
  want=$(sha256sum "$root/infra/requirements.txt" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "setting up $venv (pinned tools from infra/requirements.txt)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/infra/requirements.txt"
  echo "$want" >"$stamp"
}

answers() {
  python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1).read(1)
except Exception:
    sys.exit(1)
PY
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
  ensure_venv
  mkdir -p "$state"
  if running && answers; then
    say "already running at $url (pid $(cat "$pidfile"))"
    return 0
  fi
  if answers; then
    say "something else already answers at $url; stop it or set APIKEYS_AWS_PORT"
    return 1
  fi
  # setsid: the emulator outlives this script and is not killed with its process group.
  # Single-threaded: see infra/moto_server.py.
  setsid "$venv/bin/python" "$root/infra/moto_server.py" -H "$host" -p "$port" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if answers; then
      say "running at $url (pid $(cat "$pidfile"), log $logfile)"
      return 0
    fi
    running || break
    sleep 0.2
  done
  say "the emulator did not come up; its log:"
  tail -n 20 "$logfile" >&2 || true
  return 1
}

stop() {
  if running; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
    say "stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  venv) ensure_venv ;;
  start) start ;;
  stop) stop ;;
  # Any emulator answering on the port counts (one started from another venv too).
  status) if answers; then say "running at $url"; else say "not running"; exit 1; fi ;;
  env)
    cat <<ENV
export AWS_ENDPOINT_URL=$url
export AWS_REGION=\${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-us-east-1}
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-test}
ENV
    ;;
  *) echo "usage: $0 venv|start|stop|status|env" >&2; exit 2 ;;
esac
