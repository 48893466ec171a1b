#!/usr/bin/env bash
# Runs every test after setup: the Rust unit and integration tests (release profile, so the
# dependencies built by setup are reused), the browser tests of the page and the short stress
# suites (scripts/stress/ci.sh). Every stage runs even if an earlier one fails; the exit status is
# non-zero if any failed.
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
echo "==> tests: stress suites, short variants (scripts/stress/ci.sh, docs/stress.md)"
stress_start=$(date +%s)
scripts/stress/ci.sh || status=1
echo "    stress suites took $(( $(date +%s) - stress_start )) s"
echo "==> all tests finished in $(( $(date +%s) - start )) s (status $status)"
exit $status
