#!/usr/bin/env bash
# Runs every test after setup: the Rust unit and integration tests (release profile, so the
# dependencies built by setup are reused) and the browser tests of the page. Both suites run even
# if the first fails; the exit status is non-zero if either failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export SHIRABE_DATA_DIR=${SHIRABE_DATA_DIR:-$repo/.data}
export SHIRABE_SHARED_DIR=${SHIRABE_SHARED_DIR:-$repo/../shared}
start=$(date +%s)
status=0
echo "==> tests: cargo test --release"
cargo test --release --locked --workspace --no-fail-fast -- --test-threads=2 || status=1
echo "    cargo tests took $(( $(date +%s) - start )) s"
echo "==> tests: browser tests of the page (Debian chromium)"
scripts/browser-tests.sh || status=1
echo "==> all tests finished in $(( $(date +%s) - start )) s (status $status)"
exit $status
