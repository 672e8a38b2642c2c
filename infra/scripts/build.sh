#!/usr/bin/env bash
# `make build`: every function's release binary for arm64 Lambda (provided.al2023),
# built as `sam build` builds it: `cargo lambda build --release --arm64`, with the
# cargo-lambda (and zig) of .venv, so no cross toolchain is needed. Prints the size
# of each stripped binary (the release profile strips) as a Markdown table.
#
#   infra/scripts/build.sh [--arm64 | --x86_64 | --both] [PACKAGE...]
#
# Default: --arm64, every package under functions/. --x86_64 builds with plain
# `cargo build --release` for this machine (the cold-start benchmark runs those).
#
# Each package is built ON ITS OWN (one cargo invocation per package): cargo unifies
# the features of the packages of one invocation, so building them together would
# hand store's cipher and SDK clients to get-configs as well.
#
# Binaries land in $CARGO_TARGET_DIR (default target/): lambda/<name>/bootstrap for
# arm64, release/<name> for x86_64.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}

arm64=1 x86_64=
packages=()
for arg in "$@"; do
  case $arg in
    --arm64) arm64=1 x86_64= ;;
    --x86_64) arm64= x86_64=1 ;;
    --both) arm64=1 x86_64=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

out=${CARGO_TARGET_DIR:-$root/target}
for name in "${packages[@]}"; do
  if [ -n "$x86_64" ]; then
    printf 'build: %s (x86_64)\n' "$name" >&2
    cargo build --release --locked --package "$name"
  fi
  if [ -n "$arm64" ]; then
    printf 'build: %s (arm64)\n' "$name" >&2
    cargo-lambda lambda build --release --arm64 --locked --package "$name"
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
