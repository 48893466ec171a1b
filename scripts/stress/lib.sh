# Shared helpers for the stress suites; sourced, not run.
#
# Each suite works in its own temporary directory with its own data directory (index, audit log),
# so it never touches the index or audit log of `make run`. The dictionary, the E5 model and
# ONNX Runtime are read from setup's data directory (SHIRABE_DATA_DIR, default ./.data).
# Do not export other SHIRABE_* variables: the configuration rejects unknown keys.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
setup_data=${STRESS_SETUP_DATA:-${SHIRABE_DATA_DIR:-$repo/.data}}
setup_data=$(cd "$setup_data" && pwd)
export STRESS_SETUP_DATA=$setup_data  # survives stress_env, for scripts that source this file again
venv_python=$setup_data/venv/bin/python
shirabe=$repo/target/release/shirabe
indexer=$repo/target/release/shirabe-indexer

for f in "$shirabe" "$indexer" "$setup_data/models/multilingual-e5-small/manifest.json" "$setup_data/dict/ipadic/metadata.json" "$setup_data/ort/libonnxruntime.so"; do
  [ -e "$f" ] || { echo "stress: $f is missing; run make setup first" >&2; exit 2; }
done

# stress_env DIR: a fresh data directory under DIR that borrows setup's model, dictionary and ORT.
stress_env() {
  local dir=$1
  mkdir -p "$dir/data"
  export SHIRABE_DATA_DIR=$dir/data
  export SHIRABE_INDEX_DIR=$dir/data/index
  export SHIRABE_DICT_DIR=$setup_data/dict/ipadic
  export SHIRABE_MODEL_DIR=$setup_data/models/multilingual-e5-small
  export SHIRABE_ORT_LIBRARY=$setup_data/ort/libonnxruntime.so
  export SHIRABE_USERS_FILE=$repo/fixtures/users.toml
  export RUST_LOG=${RUST_LOG:-warn,qdrant_edge=error}
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_service LOGFILE [extra serve args]: starts `shirabe serve` on a free loopback port, sets
# $port, $base and $server_pid, and waits until /readyz answers (at most 120 s).
start_service() {
  local log=$1; shift
  port=$(free_port)
  base=http://127.0.0.1:$port
  "$shirabe" serve --listen "127.0.0.1:$port" "$@" > "$log" 2>&1 &
  server_pid=$!
  wait_ready "$base" 120 || { echo "stress: the service did not become ready; log:" >&2; tail -20 "$log" >&2; return 1; }
}

# wait_ready BASE SECONDS
wait_ready() {
  python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request
base, limit = sys.argv[1], float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
EOF
}

stop_service() {
  if [ -n "${server_pid:-}" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
