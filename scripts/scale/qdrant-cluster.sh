#!/usr/bin/env bash
# A three-node Qdrant cluster on loopback, for proving shirabe against a real distributed engine.
#
#   scripts/scale/qdrant-cluster.sh start     # builds nothing; needs scripts/scale/qdrant-build.sh first
#   scripts/scale/qdrant-cluster.sh status    # which nodes run, and the cluster's peer count
#   scripts/scale/qdrant-cluster.sh kill N    # kill -9 node N (1–3), as a crash would
#   scripts/scale/qdrant-cluster.sh restart N # start node N again on its own storage
#   scripts/scale/qdrant-cluster.sh wait-active C  # until every replica of collection C is Active on
#                                             # every node with equal point counts (prints seconds)
#   scripts/scale/qdrant-cluster.sh stop      # stops every node (storage is kept; `wipe` removes it)
#   scripts/scale/qdrant-cluster.sh wipe      # stop, then delete the nodes' storage
#
# Node N listens on loopback only: REST 16N33, gRPC 16N34 and peer-to-peer 16N35 with N = 3, 4, 5
# for nodes 1–3 (16333/16334/16335, 16343/16344/16345, 16353/16354/16355), so a Qdrant on the
# default ports is never touched. Node 1 starts the deployment; nodes 2 and 3 bootstrap from it.
# Each node has its own storage, snapshots and log under $DATA/qdrant-cluster/nodeN.
#
# The cluster does not create collections: shirabe does, on first connect, with the shard count
# and replication factor of its configuration (vector.qdrant_shards, vector.qdrant_replication).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${SHIRABE_DATA_DIR:-$repo/.data}
tag=${QDRANT_TAG:-v1.15.5}
bin=${QDRANT_BIN:-$data/qdrant/$tag/bin/qdrant}
root=$data/qdrant-cluster

say() { printf '==> qdrant-cluster: %s\n' "$*" >&2; }
fail() { printf 'error: qdrant-cluster: %s\n' "$*" >&2; exit 1; }

http_port() { echo $((16333 + 10 * ($1 - 1))); }
grpc_port() { echo $((16334 + 10 * ($1 - 1))); }
p2p_port() { echo $((16335 + 10 * ($1 - 1))); }
pid_of() { local f=$root/node$1/pid; [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

wait_ready() {
    local n=$1 port
    port=$(http_port "$n")
    for _ in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return 0; fi
        pid_of "$n" >/dev/null || fail "node $n exited; see $root/node$n/qdrant.log"
        sleep 0.5
    done
    fail "node $n not ready after 60 s; see $root/node$n/qdrant.log"
}

start_node() {
    local n=$1 dir=$root/node$1
    if pid_of "$n" >/dev/null; then say "node $n already runs (pid $(pid_of "$n"))"; return; fi
    mkdir -p "$dir/storage" "$dir/snapshots"
    local args=(--uri "http://127.0.0.1:$(p2p_port "$n")")
    # A node that has joined once keeps its peer state in its storage; bootstrapping again is
    # harmless, and node 1 only needs --uri.
    if [[ $n != 1 ]]; then args+=(--bootstrap "http://127.0.0.1:$(p2p_port 1)"); fi
    (
        cd "$dir"
        export QDRANT__SERVICE__HOST=127.0.0.1
        export QDRANT__SERVICE__HTTP_PORT=$(http_port "$n") QDRANT__SERVICE__GRPC_PORT=$(grpc_port "$n")
        export QDRANT__CLUSTER__ENABLED=true QDRANT__CLUSTER__P2P__PORT=$(p2p_port "$n")
        export QDRANT__STORAGE__STORAGE_PATH=$dir/storage QDRANT__STORAGE__SNAPSHOTS_PATH=$dir/snapshots
        export QDRANT__TELEMETRY_DISABLED=true QDRANT__LOG_LEVEL=${QDRANT_LOG_LEVEL:-INFO}
        exec "$bin" "${args[@]}" >>"$dir/qdrant.log" 2>&1
    ) &
    echo $! >"$dir/pid"
    wait_ready "$n"
    say "node $n up: pid $(cat "$dir/pid"), gRPC http://127.0.0.1:$(grpc_port "$n")"
}

peers() {
    curl -fsS "http://127.0.0.1:$(http_port "${1:-1}")/cluster" 2>/dev/null \
        | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(len(r["peers"]), r.get("raft_info",{}).get("role",""))' \
        || echo "0 unreachable"
}

stop_node() {
    local n=$1 pid
    if pid=$(pid_of "$n"); then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        say "node $n stopped"
    fi
    rm -f "$root/node$n/pid"
}

case ${1:-} in
    start)
        [[ -x $bin ]] || fail "no Qdrant server at $bin; run scripts/scale/qdrant-build.sh first"
        for n in 1 2 3; do start_node "$n"; done
        for _ in $(seq 1 60); do
            read -r count _ < <(peers 1)
            [[ $count == 3 ]] && break
            sleep 0.5
        done
        [[ $count == 3 ]] || fail "the cluster has $count peers, expected 3; see $root/node*/qdrant.log"
        say "3 peers; QDRANT_URL=http://127.0.0.1:$(grpc_port 1)"
        ;;
    status)
        for n in 1 2 3; do
            if pid=$(pid_of "$n"); then echo "node $n: pid $pid, peers/role as seen by it: $(peers "$n")"
            else echo "node $n: down"; fi
        done
        ;;
    kill)
        n=${2:?node number 1-3}
        pid=$(pid_of "$n") || fail "node $n is not running"
        kill -9 "$pid"
        rm -f "$root/node$n/pid"
        say "node $n killed (pid $pid)"
        ;;
    restart)
        start_node "${2:?node number 1-3}"
        ;;
    wait-active)
        collection=${2:?collection name}
        started=$(date +%s%N)
        for _ in $(seq 1 600); do
            # Every node's view: all replicas Active, and each shard's copies hold the same count.
            verdict=$(for n in 1 2 3; do curl -fsS "http://127.0.0.1:$(http_port "$n")/collections/$collection/cluster" || echo '{}'; echo; done \
                | python3 -c '
import json, sys
counts, ok = {}, True
for line in sys.stdin:
    r = json.loads(line or "{}").get("result")
    if not r:
        ok = False
        continue
    for s in r["local_shards"]:
        ok &= s["state"] == "Active"
        counts.setdefault(s["shard_id"], set()).add(s["points_count"])
    ok &= all(s["state"] == "Active" for s in r["remote_shards"])
print("yes" if ok and counts and all(len(c) == 1 for c in counts.values()) else "no")')
            if [[ $verdict == yes ]]; then
                echo "{\"replicas_active_and_equal_after_s\": $(( ($(date +%s%N) - started) / 1000000 ))e-3}"
                exit 0
            fi
            sleep 0.5
        done
        fail "collection $collection: replicas not all active with equal counts after 300 s"
        ;;
    stop)
        for n in 3 2 1; do stop_node "$n"; done
        ;;
    wipe)
        for n in 3 2 1; do stop_node "$n"; done
        rm -rf "$root"
        say "removed $root"
        ;;
    *)
        sed -n '2,17p' "$0" >&2
        exit 2
        ;;
esac
