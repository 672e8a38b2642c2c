#!/usr/bin/env bash
# AWS SAM CLI and the template checks, from their own venv (.venv-sam, pinned by
# infra/scripts/requirements-sam.txt; kept apart from the local stack's .venv).
#
#   infra/scripts/sam.sh venv       create or refresh .venv-sam
#   infra/scripts/sam.sh check      cfn-lint template.yaml, `sam validate --lint` and the
#                                   OpenAPI schema check of infra/contract/openapi.yaml: offline, with
#                                   a region and dummy credentials, never touching an account
#   infra/scripts/sam.sh ARGS...    any other sam command with your own AWS settings, e.g.
#                                   `infra/scripts/sam.sh build`, `infra/scripts/sam.sh deploy --guided`
#                                   (cargo-lambda of .venv on PATH for `sam build`)
#
# APIKEYS_SAM_VENV picks the venv (default .venv-sam). SAM's telemetry is off unless
# SAM_CLI_TELEMETRY says otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/infra/scripts/lib.sh"
venv=${APIKEYS_SAM_VENV:-$root/.venv-sam}
requirements=$root/infra/scripts/requirements-sam.txt
export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}

say() { printf 'sam: %s\n' "$*" >&2; }

ensure_venv() { ensure_pinned_venv "$venv" "$requirements" sam; }

# The checks read files only: a region and dummy credentials, no profile, no
# metadata endpoint, so nothing can reach (or be charged to) an AWS account.
check() {
  ensure_venv
  cd "$root"
  local offline=(
    env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    AWS_ACCESS_KEY_ID=offline-check AWS_SECRET_ACCESS_KEY=offline-check
    AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  )
  say "cfn-lint template.yaml"
  "${offline[@]}" "$venv/bin/cfn-lint" template.yaml
  say "sam validate --lint"
  "${offline[@]}" "$venv/bin/sam" validate --lint --template-file template.yaml
  say "openapi-spec-validator infra/contract/openapi.yaml"
  "${offline[@]}" "$venv/bin/openapi-spec-validator" infra/contract/openapi.yaml
}

case "${1:-}" in
  venv) ensure_venv ;;
  check) check ;;
  "") echo "usage: $0 venv|check|SAM-ARGS..." >&2; exit 2 ;;
  *)
    ensure_venv
    # `sam build` runs `cargo lambda build`: cargo-lambda (and zig) from .venv.
    if [ -x "$root/.venv/bin/cargo-lambda" ]; then
      export PATH=$root/.venv/bin:$PATH
    fi
    # The four functions built by the Makefile (BuildMethod makefile) build in the
    # workspace itself, with its target/, not in a copy of the repository.
    if [ "$1" = build ]; then
      shift
      exec "$venv/bin/sam" build --build-in-source "$@"
    fi
    exec "$venv/bin/sam" "$@"
    ;;
esac
