#!/usr/bin/env bash
# Bad-input suite: hostile files generated at run time next to fixtures/docs, one indexer run,
# then every good document must still be searchable.
#   scripts/stress/bad-input.sh
# Prints a line per hostile file and "files tried / reported / panics escaped / good documents lost";
# exits non-zero when a file takes the indexer down, a good document is lost or an outcome is
# unexpected. The indexer runs with a 60 s per-file timeout and a 32 MiB size limit so that the
# "too slow" and "too large" paths are reached quickly (STRESS_FILE_TIMEOUT, STRESS_MAX_MIB).
# STRESS_QUICK=1 (CI) shrinks the slow hostile files and uses fewer good documents.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/shirabe-bad-input.XXXXXX)
trap 'rm -rf "$work"' EXIT
stress_env "$work"
max_mib=${STRESS_MAX_MIB:-32}
export SHIRABE_INDEXER__FILE_TIMEOUT_SECS=${STRESS_FILE_TIMEOUT:-60}
export SHIRABE_INDEXER__MAX_FILE_BYTES=$(( max_mib << 20 ))
python3 "$repo/scripts/stress/bad_input.py" --work "$work" --repo "$repo" --indexer "$indexer" \
  --shirabe "$shirabe" --big-mib $(( max_mib + 8 )) --timeout "${STRESS_RUN_TIMEOUT:-1800}" \
  ${STRESS_QUICK:+--quick}
