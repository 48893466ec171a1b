#!/usr/bin/env bash
# shirabe on a real Qdrant cluster, proven end to end on one machine (issue 18; figures in
# docs/scale.md). From a clean work directory, reusing the Qdrant build when present:
#
#   scripts/scale/prove.sh                # PROVE_POINTS (default 1000000) for the vector benchmark
#
# 1. builds (or reuses) the Qdrant server and starts a three-node cluster on loopback;
# 2. runs the vector-store conformance suite, the failover test and the shared-collection test
#    against the cluster (shards 3, replication 2);
# 3. indexes ../shared/corpus twice with shirabe-indexer: embedded (the default) and into the
#    cluster, then asks every question of eval/corpus-qa through /api/search and /api/answer of
#    both services and compares them;
# 4. two query nodes serve the cluster-backed index (each lists the three Qdrant nodes, in a
#    different order); under search traffic node 1 gets kill -9 and is restarted; then a nightly
#    run adds a document and publishes while both serve, and both must pick it up;
# 5. a million vectors, embedded store and cluster in the same run (shirabe-bench vectors).
#
# Work goes to $SHIRABE_DATA_DIR/prove (removed at the start; PROVE_KEEP=1 keeps it, the
# cluster's storage and the two indexes, to repeat the later steps). Each step prints one JSON
# line or a line starting with "==>"; the script stops at the first failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
data=${SHIRABE_DATA_DIR:-$repo/.data}
shared=${SHIRABE_SHARED_DIR:-$repo/../shared}
work=$data/prove
points=${PROVE_POINTS:-1000000}
cluster=scripts/scale/qdrant-cluster.sh
nodes=http://127.0.0.1:16334,http://127.0.0.1:16344,http://127.0.0.1:16354
nodes_b=http://127.0.0.1:16344,http://127.0.0.1:16354,http://127.0.0.1:16334
py=scripts/scale/prove.py
questions=(eval/corpus-qa/dev.jsonl eval/corpus-qa/heldout.jsonl)

say() { printf '==> prove: %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "$cluster" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

[[ -d $shared/corpus ]] || { echo "error: prove: no shared corpus at $shared/corpus (set SHIRABE_SHARED_DIR)" >&2; exit 1; }
export SHIRABE_DATA_DIR=$data SHIRABE_ASSETS_DIR=$data SHIRABE_USERS_FILE=$repo/fixtures/users.toml
export RUST_LOG=${RUST_LOG:-warn,qdrant_edge=error}

say "1. Qdrant server and cluster"
scripts/scale/qdrant-build.sh
cargo build --release --workspace --quiet
if [[ ${PROVE_KEEP:-0} != 1 ]]; then
    "$cluster" wipe
    rm -rf "$work"
fi
"$cluster" start
mkdir -p "$work/extra"
rm -f "$work/extra/"*

say "2. conformance, failover and shared-collection tests against the cluster (shards 3, replication 2)"
QDRANT_URL=$nodes QDRANT_SHARDS=3 QDRANT_REPLICATION=2 \
    cargo test --release --workspace -- server_conformance vector::server a_shared_collection >"$work/server-tests.log" 2>&1 \
    || { grep -E 'panicked|FAILED' "$work/server-tests.log" >&2; echo "error: prove: the server tests failed against the cluster" >&2; exit 1; }
grep -E '^test .*ok$|SKIPPED' "$work/server-tests.log"

say "3. the shared corpus indexed embedded and into the cluster"
index() { # name, then environment assignments
    local name=$1; shift
    if [[ ${PROVE_KEEP:-0} == 1 && -f $work/$name/run.json ]]; then echo "{\"reused\": \"$name\"}"; return; fi
    mkdir -p "$work/$name"
    local t0=$(date +%s%N)
    env SHIRABE_DATA_DIR="$work/$name" "$@" target/release/shirabe-indexer --report "$work/$name/run.json" \
        "$shared/corpus" "$work/extra" >/dev/null
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"indexed": sys.argv[2], "seconds": round(float(sys.argv[3]),1), "generation": r.get("generation"), "documents": r.get("documents"), "passages": r.get("passages"), "failed": len(r.get("failed", []))}))' \
        "$work/$name/run.json" "$name" "$(( ($(date +%s%N) - t0) / 1000000 ))e-3"
}
cluster_env=(SHIRABE_VECTOR__BACKEND=qdrant SHIRABE_VECTOR__QDRANT_URL=$nodes SHIRABE_VECTOR__QDRANT_COLLECTION=shirabe_prove
             SHIRABE_VECTOR__QDRANT_SHARDS=3 SHIRABE_VECTOR__QDRANT_REPLICATION=2)
index embedded
index cluster "${cluster_env[@]}"
curl -fsS http://127.0.0.1:16333/collections/shirabe_prove/cluster \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(json.dumps({"collection": "shirabe_prove", "shard_count": r["shard_count"], "node1_local_shards": [[s["shard_id"], s["points_count"], s["state"]] for s in r["local_shards"]], "replicas_elsewhere": len(r["remote_shards"])}))'

serve() { # index name, port, then environment assignments
    local name=$1 port=$2; shift 2
    # Each service has its own data directory (its audit log); the index directory is shared.
    mkdir -p "$work/node-$port"
    env SHIRABE_DATA_DIR="$work/node-$port" SHIRABE_INDEX_DIR="$work/$name/index" SHIRABE_SERVER__RELOAD_INTERVAL_SECS=1 "$@" \
        target/release/shirabe serve --listen "127.0.0.1:$port" >>"$work/serve-$port.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0; sleep 0.5; done
    echo "error: prove: service on $port did not start; see $work/serve-$port.log" >&2; exit 1
}
serve embedded 18180
serve cluster 18181 "${cluster_env[@]}"
# The second query node lists the Qdrant nodes in another order, so the two start on different nodes.
serve cluster 18182 "${cluster_env[@]/$nodes/$nodes_b}"
say "the embedded service against query node A, then query node A against query node B"
# Differences here are stated, not fatal: see docs/scale.md (the embedded store's HNSW graph).
for mode in hybrid keyword vector; do
    python3 "$py" compare http://127.0.0.1:18180 http://127.0.0.1:18181 "${questions[@]}" --mode "$mode" || true
done
python3 "$py" compare http://127.0.0.1:18181 http://127.0.0.1:18182 "${questions[@]}"

say "4a. kill -9 of Qdrant node 1 (query node A's first node) under search traffic, then its restart"
python3 "$py" load http://127.0.0.1:18181,http://127.0.0.1:18182 "${questions[@]}" --seconds 40 --same \
    --event "10:$cluster kill 1" --event "25:$cluster restart 1"
"$cluster" wait-active shirabe_prove
python3 "$py" compare http://127.0.0.1:18181 http://127.0.0.1:18182 "${questions[@]}"

say "4b. a nightly run publishes while both query nodes serve and Qdrant node 3 is down; node 3 then catches up"
before_a=$(python3 "$py" generation http://127.0.0.1:18181)
cp fixtures/docs/circulars/soumu-88-telework-r3.md "$work/extra/"
python3 "$py" load http://127.0.0.1:18181,http://127.0.0.1:18182 "${questions[@]}" --seconds 30 \
    --event "1:$cluster kill 3" \
    --event "2:env SHIRABE_DATA_DIR=$work/cluster ${cluster_env[*]} target/release/shirabe-indexer $shared/corpus $work/extra" \
    --event "15:$cluster restart 3 && $cluster wait-active shirabe_prove"
for port in 18181 18182; do
    gen=$(python3 "$py" generation "http://127.0.0.1:$port")
    found=$(curl -fsS -X POST "http://127.0.0.1:$port/api/search" -H 'Authorization: Bearer dev-kanri' \
        -H 'Content-Type: application/json' -d '{"query":"テレワーク勤務の実施要領"}' | grep -c 'テレワーク' || true)
    echo "{\"query_node\": $port, \"generation_before\": $before_a, \"generation_now\": $gen, \"new_document_found\": $([[ $found -gt 0 ]] && echo true || echo false)}"
    [[ $gen -gt $before_a && $found -gt 0 ]] || { echo "error: prove: query node $port did not follow the new generation" >&2; exit 1; }
done
"$cluster" wait-active shirabe_prove
python3 "$py" compare http://127.0.0.1:18181 http://127.0.0.1:18182 "${questions[@]}"

say "5. $points vectors: the embedded store, then the cluster (shards 3, replication 2)"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()
bench=(target/release/shirabe-bench vectors --points "$points" --dir "$work/vectors" --embedding-cache "$data/cache/bench-embeddings.bin"
       --docs "$shared/eval/jsquad/docs.jsonl" --queries "$shared/eval/jsquad/queries.jsonl")
"${bench[@]}" --store embedded
"${bench[@]}" --store qdrant --url "$nodes" \
    --pid "$(cat "$data/qdrant-cluster/node1/pid")" --pid "$(cat "$data/qdrant-cluster/node2/pid")" \
    --pid "$(cat "$data/qdrant-cluster/node3/pid")"
say "done"
