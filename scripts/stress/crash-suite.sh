#!/usr/bin/env bash
# Crash suite: kill -9 the indexer at random points while the service keeps answering.
#   scripts/stress/crash-suite.sh [RUNS]     (default 20; STRESS_SEED=N repeats a run's choices;
#                                             STRESS_SMALL=1 uses a smaller share, as CI does)
# Prints one line per run and "runs survived / runs"; exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-20}
work=$(mktemp -d /tmp/shirabe-crash.XXXXXX)
cleanup() { stop_service; rm -rf "$work"; }
trap cleanup EXIT
stress_env "$work"
export SHIRABE_SERVER__RELOAD_INTERVAL_SECS=1 SHIRABE_EMBEDDING__THREADS=2
start_service "$work/serve.log"
python3 "$repo/scripts/stress/crash_suite.py" --runs "$runs" --base "$base" --work "$work" \
  --repo "$repo" --indexer "$indexer" ${STRESS_SEED:+--seed "$STRESS_SEED"} ${STRESS_SMALL:+--small}
