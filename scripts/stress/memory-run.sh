#!/usr/bin/env bash
# Peak memory of one indexer run with the default limits over the shared corpus plus the hostile
# files of the bad-input suite, a 64 MB text file without a line break and a PDF whose content
# stream inflates to 1 GiB.
#   scripts/stress/memory-run.sh          (needs ../shared/corpus; about 5 minutes on 2 cores)
# Prints the indexer's own peak and the largest extraction worker's (from the run report), the
# largest resident size of the whole process tree sampled every 100 ms, the wall time, the number
# of failed and truncated files, and the load average.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
corpus=${SHIRABE_SHARED_DIR:-$repo/../shared}/corpus
[ -d "$corpus" ] || { echo "SKIPPED: $corpus not found" >&2; exit 0; }
work=$(mktemp -d /tmp/shirabe-memory-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
stress_env "$work"
mkdir -p "$work/share"
cp -r "$corpus" "$work/share/corpus"
python3 - "$repo" "$work/share/hostile" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "scripts/stress"))
import bad_input
out = sys.argv[2]
files = bad_input.hostile_files(sys.argv[1], 40)
line = "住民票の写しの交付手数料は一通三百円とする".encode()
files.append(("lines/one-line-64mb.txt", line * (64 * 10**6 // len(line)), "", ""))
for name, data, _, _ in files:
    p = os.path.join(out, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(data)
print(f"share: corpus + {len(files)} hostile files")
PY
"$indexer" --report "$work/report.json" "$work/share" > /dev/null 2> "$work/stderr" &
pid=$!
python3 - "$pid" "$work/tree-peak" <<'PY' &
import os, sys, time
root, peak = int(sys.argv[1]), 0
page = os.sysconf("SC_PAGE_SIZE")
def tree(pid):
    out = [pid]
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            out += [c for k in open(f"/proc/{pid}/task/{t}/children").read().split() for c in tree(int(k))]
    except OSError:
        pass
    return out
while os.path.exists(f"/proc/{root}"):
    total = 0
    for p in tree(root):
        try:
            total += int(open(f"/proc/{p}/statm").read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    peak = max(peak, total)
    open(sys.argv[2], "w").write(str(peak))
    time.sleep(0.1)
PY
sampler=$!
start=$(date +%s)
# Exit status 2: the run finished and some files failed (the corpus has scanned PDFs without text).
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 2 ] || { echo "the indexer failed (exit $rc): $(tail -3 "$work/stderr")"; exit 1; }
wait "$sampler" || true
python3 - "$work/report.json" "$(cat "$work/tree-peak")" "$(( $(date +%s) - start ))" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
load = open("/proc/loadavg").read().split()[:3]
print(f"indexer run: {sys.argv[3]} s, {r['documents']} documents, {r['passages']} passages, {len(r['failed'])} failed, "
      f"truncated: {', '.join(os.path.basename(t['path']) for t in r['truncated']) or 'none'}; memory limit: {r['memory_limit']}")
print(f"peak RSS: indexer {r['peak_rss_mib']:.0f} MiB, largest worker {r['worker_peak_rss_mib'] or 0:.0f} MiB, "
      f"whole process tree {int(sys.argv[2]) / 2**20:.0f} MiB (load average {' '.join(load)})")
bomb = [f for f in r["failed"] if f["path"].endswith("flate-bomb-1gib.pdf")]
print("1 GiB bomb: " + (bomb[0]["reason"].split(": ", 1)[-1] if bomb else "NOT reported"))
PY
