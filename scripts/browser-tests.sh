#!/usr/bin/env bash
# Browser tests of the page: index fixtures/docs into a temporary index, start the service on a
# free loopback port, run web/tests/page.test.mjs in Debian's Chromium, stop the service.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export SHIRABE_DATA_DIR=${SHIRABE_DATA_DIR:-$repo/.data}
tmp=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export SHIRABE_INDEX_DIR=$tmp/index SHIRABE_USERS_FILE=$repo/fixtures/users.toml RUST_LOG=warn,qdrant_edge=error
target/release/shirabe-indexer fixtures/docs > "$tmp/report.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SHIRABE_DATA_DIR=$SHIRABE_DATA_DIR target/release/shirabe serve --listen "127.0.0.1:$port" 2> "$tmp/serve.log" &
server=$!
for _ in $(seq 1 100); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "http://127.0.0.1:$port/healthz" 2>/dev/null && break
  sleep 0.2
done
secret=$(python3 -c '
import json, sys
state = json.load(open(sys.argv[1]))
print(next(d["id"] for d in state["documents"].values() if d["source_path"].endswith("jinji-hyoka-unyo-r6.txt")))' "$SHIRABE_INDEX_DIR/$(cat "$SHIRABE_INDEX_DIR/CURRENT")/state.json")
BASE_URL="http://127.0.0.1:$port" OUT="$repo/test-output/browser" SECRET_DOC_ID="$secret" node web/tests/page.test.mjs
