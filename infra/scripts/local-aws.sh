#!/usr/bin/env bash
# The local AWS emulators on 127.0.0.1:
#   moto      (moto server: DynamoDB, KMS, Secrets Manager), the default;
#   dynalite  (a second, strict DynamoDB: it validates requests as DynamoDB does,
#              serves requests concurrently, and has no TTL operations).
#
#   infra/scripts/local-aws.sh venv               create .venv with the pinned tools (infra/emulators/requirements.txt)
#   infra/scripts/local-aws.sh start [dynalite]   start moto (or dynalite), pid and log in .local/, wait until it answers
#   infra/scripts/local-aws.sh stop [dynalite]    stop it
#   infra/scripts/local-aws.sh status [dynalite]  say whether it runs
#   infra/scripts/local-aws.sh env [dynalite]     print the variables that point the SDK at moto
#                                                 (with dynalite: DynamoDB at dynalite, the rest at moto)
#
# APIKEYS_AWS_PORT picks moto's port (default 4599), APIKEYS_DYNALITE_PORT dynalite's
# (default 4598). dynalite comes from npm, pinned by infra/emulators/dynalite/package-lock.json
# and installed into infra/emulators/dynalite/node_modules on first use.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/infra/scripts/lib.sh"
venv=${APIKEYS_VENV:-$root/.venv}
state=$root/.local
host=127.0.0.1
moto_port=${APIKEYS_AWS_PORT:-4599}
dynalite_port=${APIKEYS_DYNALITE_PORT:-4598}
dynalite_dir=$root/infra/emulators/dynalite

say() { printf 'local-aws: %s\n' "$*" >&2; }

# Which emulator the command is about: sets name, port, url, pidfile, logfile.
select_emulator() {
  name=${1:-moto}
  case "$name" in
    moto) port=$moto_port ;;
    dynalite) port=$dynalite_port ;;
    *) echo "unknown emulator '$name' (moto or dynalite)" >&2; exit 2 ;;
  esac
  url=http://$host:$port
  pidfile=$state/$name-$port.pid
  logfile=$state/$name-$port.log
}

ensure_venv() { ensure_pinned_venv "$venv" "$root/infra/emulators/requirements.txt" python; }

# node_modules exactly as the lockfile says, reinstalled when the lockfile changes.
# --ignore-scripts: nothing is compiled; dynalite keeps its tables in memory.
ensure_node_modules() {
  local stamp=$dynalite_dir/node_modules/.lock.sha256 want
  want=$(sha256sum "$dynalite_dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$dynalite_dir/node_modules/dynalite/cli.js" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  command -v node >/dev/null || { say "dynalite needs Node.js 20 or later (node is not on PATH)"; return 1; }
  say "installing dynalite into $dynalite_dir/node_modules (npm ci, pinned by package-lock.json)"
  (cd "$dynalite_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
}

# Whether this kind of emulator answers at $url: moto serves its /moto-api/ page,
# dynalite answers a GET with its health line.
answers() {
  python3 - "$name" "$url" <<'PY' 2>/dev/null
import sys, urllib.request
name, url = sys.argv[1], sys.argv[2]
try:
    # dynalite answers any GET with 200, so moto is told by its page's text.
    path, mark = ("/moto-api/", b"moto") if name == "moto" else ("/", b"healthy: dynamodb")
    body = urllib.request.urlopen(url + path, timeout=1).read(8192)
    sys.exit(0 if mark in body.lower() else 1)
except Exception:
    sys.exit(1)
PY
}

# Whether anything at all listens at $url.
listening() {
  python3 - "$host" "$port" <<'PY' 2>/dev/null
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

launch() {
  local command
  case "$name" in
    # Single-threaded: see infra/emulators/moto_server.py.
    moto) command=("$venv/bin/python" "$root/infra/emulators/moto_server.py" -H "$host" -p "$port") ;;
    # In memory. A new table stays CREATING for 50 ms, so provisioning waits for
    # ACTIVE as it must on DynamoDB, without slowing every test by the default 500 ms.
    dynalite) command=(node "$dynalite_dir/node_modules/dynalite/cli.js" --host "$host" --port "$port"
      --createTableMs 50 --deleteTableMs 50 --updateTableMs 50) ;;
  esac
  # setsid: the emulator outlives this script and is not killed with its process group.
  setsid "${command[@]}" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

start() {
  case "$name" in
    moto) ensure_venv ;;
    dynalite) ensure_node_modules ;;
  esac
  mkdir -p "$state"
  if running && answers; then
    say "$name already running at $url (pid $(cat "$pidfile"))"
    return 0
  fi
  if answers; then
    say "$name already answers at $url (started elsewhere)"
    return 0
  fi
  if listening; then
    say "something else already listens at $url; stop it or set $([ "$name" = moto ] && echo APIKEYS_AWS_PORT || echo APIKEYS_DYNALITE_PORT)"
    return 1
  fi
  launch
  for _ in $(seq 1 100); do
    if answers; then
      say "$name running at $url (pid $(cat "$pidfile"), log $logfile)"
      return 0
    fi
    running || break
    sleep 0.2
  done
  say "$name did not come up; its log:"
  tail -n 20 "$logfile" >&2 || true
  return 1
}

stop() {
  if running; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
    say "$name stopped"
  fi
  rm -f "$pidfile"
}

env_vars() {
  cat <<ENV
export AWS_ENDPOINT_URL=http://$host:$moto_port
export AWS_REGION=\${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-us-east-1}
export AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-test}
ENV
  # The SDK's per-service endpoint: DynamoDB goes to dynalite, KMS and Secrets
  # Manager stay on AWS_ENDPOINT_URL.
  case "$name" in
    dynalite) echo "export AWS_ENDPOINT_URL_DYNAMODB=$url" ;;
    *) echo "unset AWS_ENDPOINT_URL_DYNAMODB" ;;
  esac
}

command=${1:-}
select_emulator "${2:-}"
case "$command" in
  venv) ensure_venv ;;
  start) start ;;
  stop) stop ;;
  # Any emulator of that kind answering on the port counts (one started from another
  # checkout too).
  status) if answers; then say "$name running at $url"; else say "$name not running at $url"; exit 1; fi ;;
  env) env_vars ;;
  *) echo "usage: $0 venv|start|stop|status|env [moto|dynalite]" >&2; exit 2 ;;
esac
