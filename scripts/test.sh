#!/usr/bin/env bash
# Runs every test after setup: the Rust unit and integration tests (release profile, so the
# dependencies built by setup are reused) and the browser tests of the page.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export SHIRABE_DATA_DIR=${SHIRABE_DATA_DIR:-$repo/.data}
export SHIRABE_SHARED_DIR=${SHIRABE_SHARED_DIR:-$repo/../shared}
start=$(date +%s)
echo "==> tests: cargo test --release"
cargo test --release --locked --workspace --no-fail-fast -- --test-threads=2
echo "==> tests finished in $(( $(date +%s) - start )) s"
