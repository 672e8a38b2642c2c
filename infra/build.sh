#!/usr/bin/env bash
# `make build`: every function's release binary for arm64 Lambda (provided.al2023),
# built as `sam build` builds it: `cargo lambda build --release --arm64`, with the
# cargo-lambda (and zig) of .venv, so no cross toolchain is needed. Prints the size
# of each stripped binary (the release profile strips) as a Markdown table.
#
# Binaries land in $CARGO_TARGET_DIR/lambda/<function>/bootstrap (default target/).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export APIKEYS_VENV=${APIKEYS_VENV:-$root/.venv}
infra/local-aws.sh venv

functions=()
packages=()
for manifest in functions/*/Cargo.toml; do
  name=$(basename "$(dirname "$manifest")")
  functions+=("$name")
  packages+=(--package "$name")
done

# cargo-lambda finds zig through the venv's python (the ziglang package).
export PATH=$APIKEYS_VENV/bin:$PATH
cargo-lambda lambda build --release --arm64 --locked "${packages[@]}"

out=${CARGO_TARGET_DIR:-$root/target}/lambda
printf '\n| function | stripped arm64 binary |\n|---|---:|\n'
for name in "${functions[@]}"; do
  bytes=$(stat -c %s "$out/$name/bootstrap")
  printf '| %s | %s bytes (%s MiB) |\n' "$name" "$bytes" \
    "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
done
