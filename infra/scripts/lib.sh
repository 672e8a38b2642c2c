# Helpers the scripts of infra/scripts/ share; sourced, never run.

# A venv at $1 with exactly the pinned tools of the requirements file $2, (re)made
# when the file changes; $3 is the program whose presence says the venv is whole.
ensure_pinned_venv() {
  local venv=$1 requirements=$2 probe=$3 stamp=$1/.requirements.sha256 want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$venv/bin/$probe" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  printf '%s: setting up %s (pinned tools from %s)\n' "${0##*/}" "$venv" "${requirements#"$root"/}" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A field of a local issuer's issuer.json (its directory $1): issuer, audience, kid.
issuer_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/issuer.json" "$2"; }

# node_modules of the package in the current directory exactly as its lockfile says,
# installed again when the lockfile changes.
ensure_npm_ci() {
  local stamp=node_modules/.lock.sha256 want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund --silent "$@"
    echo "$want" >"$stamp"
  fi
}
