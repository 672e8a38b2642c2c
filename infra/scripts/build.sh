#!/usr/bin/env bash
# `make build`: every function's release binary for arm64 Lambda (provided.al2023),
# built as `sam build` builds it: `cargo lambda build --release --arm64`, with the
# cargo-lambda (and zig) of .venv, so no cross toolchain is needed. Prints the size
# of each stripped binary (the release profile strips) as a Markdown table.
#
#   infra/scripts/build.sh [--arm64 | --x86_64 | --both] [--artifacts DIR] [PACKAGE...]
#
# --artifacts DIR copies each arm64 bootstrap into DIR (`sam build`'s ARTIFACTS_DIR,
# from the Makefile's build-<Function> targets).
#
# Default: --arm64, every package under functions/. --x86_64 builds with plain
# `cargo build --release` for this machine (the cold-start benchmark runs those).
#
# Each package is built ON ITS OWN (one cargo invocation per package): cargo unifies
# the features of the packages of one invocation, so building them together would
# hand store's cipher and SDK clients to get-configs as well.
#
# A function whose binary crate Cargo.toml builds at opt-level "z" (the ones that never
# seal or open a key) gets the shared library at "z" too, for that build only
# (`--config profile.release.package.apikeys.opt-level="z"`): the library is where the
# cipher's generic code is instantiated, so store, test-key, use-key and proxy keep it
# at 3.
#
# Binaries land in $CARGO_TARGET_DIR (default target/): lambda/<name>/bootstrap for
# arm64, release/<name> for x86_64.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}

arm64=1 x86_64= artifacts=
packages=()
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --artifacts) artifacts=${1:?--artifacts needs a directory}; shift ;;
    --arm64) arm64=1 x86_64= ;;
    --x86_64) arm64= x86_64=1 ;;
    --both) arm64=1 x86_64=1 ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build: unknown option $arg" >&2; exit 2 ;;
    *) packages+=("$arg") ;;
  esac
done
if [ ${#packages[@]} -eq 0 ]; then
  for manifest in functions/*/Cargo.toml; do
    packages+=("$(basename "$(dirname "$manifest")")")
  done
fi

if [ -n "$arm64" ]; then
  infra/scripts/local-aws.sh venv
  # cargo-lambda finds zig through the venv's python (the ziglang package).
  export PATH=$APIKEYS_VENV/bin:$PATH
fi

# The package's own line in Cargo.toml: [profile.release.package.<name>] opt-level = "z".
for_size() {
  awk -v section="[profile.release.package.$1]" '
    $0 == section { inside = 1; next }
    /^\[/ { inside = 0 }
    inside && /^opt-level *= *"z"/ { found = 1 }
    END { exit !found }' Cargo.toml
}

out=${CARGO_TARGET_DIR:-$root/target}
for name in "${packages[@]}"; do
  size=()
  if for_size "$name"; then size=(--config 'profile.release.package.apikeys.opt-level="z"'); fi
  if [ -n "$x86_64" ]; then
    printf 'build: %s (x86_64%s)\n' "$name" "${size:+, library for size}" >&2
    cargo build --release --locked --package "$name" "${size[@]}"
  fi
  if [ -n "$arm64" ]; then
    printf 'build: %s (arm64%s)\n' "$name" "${size:+, library for size}" >&2
    cargo-lambda lambda build --release --arm64 --locked --package "$name" "${size[@]}"
    if [ -n "$artifacts" ]; then
      mkdir -p "$artifacts"
      cp "$out/lambda/$name/bootstrap" "$artifacts/bootstrap"
    fi
  fi
done

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row() { # path -> "bytes (MiB)" cell, or a dash when it is not there
  if [ -f "$1" ]; then
    local bytes
    bytes=$(stat -c %s "$1")
    printf '%s bytes (%s MiB)' "$bytes" "$(mib "$bytes")"
  else
    printf '—'
  fi
}
# Only what this invocation built, so no column shows an older binary.
head='| package |' rule='|---|'
[ -n "$arm64" ] && head+=' stripped arm64 | arm64 gzip -9 |' rule+='---:|---:|'
[ -n "$x86_64" ] && head+=' stripped x86_64 |' rule+='---:|'
printf '\n%s\n%s\n' "$head" "$rule"
for name in "${packages[@]}"; do
  line="| $name |"
  if [ -n "$arm64" ]; then
    arm=$out/lambda/$name/bootstrap
    line+=" $(row "$arm") | $(mib "$(gzip -9 -c "$arm" | wc -c)") MiB |"
  fi
  [ -n "$x86_64" ] && line+=" $(row "$out/release/$name") |"
  printf '%s\n' "$line"
done
