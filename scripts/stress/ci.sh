#!/usr/bin/env bash
# The short variants of the stress suites, run by scripts/test.sh as its own stage:
# crash (3 runs, small share), bad input (quick set), load (10 clients, 10 s), API fuzzing
# (10 examples per operation) and no outbound traffic. Every suite runs even if one fails; the exit
# status is non-zero if any failed. Prints each suite's time and the total.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
work=$(mktemp -d /tmp/shirabe-stress-ci.XXXXXX)
server_pid=""
cleanup() { stop_service; rm -rf "$work"; }
trap cleanup EXIT
status=0
failed=()
start=$(date +%s)
suite() {
  local name=$1; shift
  local t=$(date +%s)
  echo "==> stress: $name"
  if "$@"; then echo "    $name: ok ($(( $(date +%s) - t )) s)"; else echo "    $name: FAILED ($(( $(date +%s) - t )) s)"; status=1; failed+=("$name"); fi
}

suite "crash (3 runs)" env STRESS_SMALL=1 "$here/crash-suite.sh" 3
suite "bad input (quick)" env STRESS_QUICK=1 STRESS_FILE_TIMEOUT=10 "$here/bad-input.sh"

# load and fuzzing share one service over a small index
(
  stress_env "$work"
  mkdir -p "$work/share"
  cp -r "$repo/fixtures/docs/circulars" "$repo/fixtures/docs/restricted" "$work/share/"
  "$indexer" "$work/share" > "$work/index-report.json" || exit 1
  start_service "$work/serve.log" || exit 1
  suite "load (10 clients, 10 s)" "$venv_python" "$here/load-test.py" --clients 10 --duration 10 --base "$base"
  suite "API fuzzing (10 examples)" env STRESS_BASE="$base" STRESS_FUZZ_LINES=60 "$here/fuzz-api.sh" 10
  stop_service
  exit $status
) || { status=1; failed+=("load/fuzz (see above)"); }

suite "no outbound traffic" env STRESS_SMALL=1 "$here/no-network.sh"

echo "==> stress suites finished in $(( $(date +%s) - start )) s: ${failed[*]:-all ok}"
exit $status
