#!/usr/bin/env bash
# API fuzzing with schemathesis (pinned in setup/requirements-tools.txt) against /openapi.json of a
# service over a temporary index of fixtures/docs (circulars, laws, restricted), with a bearer
# token that may see everything (dev-kanri, auditor).
#   scripts/stress/fuzz-api.sh [MAX_EXAMPLES]      (default 100 per operation and phase)
# Runs every schemathesis check. Prints the schemathesis summary, then requests sent, responses by
# status, server errors (5xx) and failures per check. Exits non-zero on any 5xx, a transport error,
# a service that died, or any failed check (a schema-valid request rejected, a response that does
# not match the schema, ...): the OpenAPI document is a promise to other services.
# STRESS_LENIENT=1 prints check failures without failing. STRESS_BASE=URL fuzzes a service that is
# already running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
examples=${1:-100}
work=$(mktemp -d /tmp/shirabe-fuzz.XXXXXX)
cleanup() { stop_service; rm -rf "$work"; }
trap cleanup EXIT
st=$setup_data/venv/bin/schemathesis
[ -x "$st" ] || { echo "schemathesis missing in $setup_data/venv; run make setup" >&2; exit 2; }
if [ -n "${STRESS_BASE:-}" ]; then
  base=$STRESS_BASE  # a service started by the caller (scripts/stress/ci.sh)
  server_pid=""
else
  stress_env "$work"
  mkdir -p "$work/share"
  cp -r "$repo/fixtures/docs/circulars" "$repo/fixtures/docs/laws" "$repo/fixtures/docs/restricted" "$work/share/"
  "$indexer" "$work/share" > "$work/index-report.json"
  start_service "$work/serve.log"
fi
echo "fuzzing $base/openapi.json with schemathesis $("$st" --version | awk '{print $NF}'), $examples examples per operation"
t=$(date +%s)
set +e
(cd "$work" && "$st" run "$base/openapi.json" -H "Authorization: Bearer dev-kanri" --checks all -n "$examples" --seed "${STRESS_SEED:-1}" \
  --workers 2 --request-timeout 120 --generation-database none --no-color --output-truncate true \
  --report ndjson --report-ndjson-path "$work/events.ndjson" --report-dir "$work/report") > "$work/schemathesis.out" 2>&1  # in $work: it writes .schemathesis/ there
st_rc=$?
set -e
secs=$(( $(date +%s) - t ))
sed -n '/= FAILURES =/,$p' "$work/schemathesis.out" | head -${STRESS_FUZZ_LINES:-250}
alive=yes
wait_ready "$base" 10 || alive=no
python3 - "$work/events.ndjson" "$work/schemathesis.out" "$secs" "$alive" "${STRESS_LENIENT:-0}" "$st_rc" <<'PY'
import collections, json, re, sys
events, out, secs, alive, lenient, st_rc = sys.argv[1], open(sys.argv[2], errors="replace").read(), sys.argv[3], sys.argv[4], sys.argv[5] == "1", int(sys.argv[6])
statuses, transport = collections.Counter(), 0
for line in open(events):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    # every recorded interaction carries its response status; walk the event generically
    stack = [ev]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            r = x.get("response")
            if isinstance(r, dict) and isinstance(r.get("status_code"), int) and isinstance(x.get("request"), dict):
                statuses[r["status_code"]] += 1
            elif "request" in x and isinstance(x.get("request"), dict) and x.get("response") is None and "response" in x:
                transport += 1
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
summary = out[out.find("= SUMMARY ="):]
failed_checks = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*\S*\s*(ST\d+ [^:\n]+): (\d+)$", summary, re.M)}
n5xx = sum(v for k, v in statuses.items() if k >= 500)
print(f"requests: {sum(statuses.values())} in {secs} s; by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
print(f"server errors (5xx): {n5xx}; transport errors: {transport}; service alive afterwards: {alive}")
print("check failures: " + (", ".join(f"{k}: {v}" for k, v in sorted(failed_checks.items())) or "none"))
checks_bad = bool(failed_checks) or (st_rc != 0 and "= SUMMARY =" not in out)
bad = n5xx > 0 or transport > 0 or alive != "yes" or any("Server error" in k for k in failed_checks) or (checks_bad and not lenient)
print("api fuzzing: " + ("FAILED" if bad else "ok (0 server errors, 0 check failures)" if not checks_bad else "ok with check failures (STRESS_LENIENT=1)"))
sys.exit(1 if bad else 0)
PY
