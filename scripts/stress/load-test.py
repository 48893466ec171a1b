#!/usr/bin/env python3
"""Load test: N concurrent clients for D seconds on loopback, a mix of search and answer.

    scripts/stress/load-test.py [--clients 50] [--duration 60] [--answer-share 0.3] [--base URL]

Without --base it indexes fixtures/docs into a temporary data directory, starts `shirabe serve`
on a free loopback port, and stops it afterwards (the model, dictionary and ONNX Runtime come from
setup's data directory, SHIRABE_DATA_DIR or ./.data). Each client is a thread with its own
keep-alive connection that sends one request after another with a realistic Japanese question from
fixtures/eval/queries.jsonl, as one of the four fixture users. Prints throughput, latency
percentiles (of all answers and of the 200s alone), counts by status (503 split into "busy", the
service's load shedding, and "other", e.g. its 30 s request timeout) and the number of 5xx answers; exits 1 when any answer was a 5xx or
a transport error (--max-5xx to allow some). Stdlib only.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENS = ["dev-kanri", "dev-jinji", "dev-zaimu", "dev-ippan"]


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def start_service(work):
    data = os.path.abspath(os.environ.get("SHIRABE_DATA_DIR", os.path.join(REPO, ".data")))
    env = dict(os.environ)
    env.update(
        SHIRABE_DATA_DIR=os.path.join(work, "data"),
        SHIRABE_INDEX_DIR=os.path.join(work, "data", "index"),
        SHIRABE_DICT_DIR=os.path.join(data, "dict", "ipadic"),
        SHIRABE_MODEL_DIR=os.path.join(data, "models", "multilingual-e5-small"),
        SHIRABE_ORT_LIBRARY=os.path.join(data, "ort", "libonnxruntime.so"),
        SHIRABE_USERS_FILE=os.path.join(REPO, "fixtures", "users.toml"),
        RUST_LOG=env.get("RUST_LOG", "warn,qdrant_edge=error"),
    )
    os.makedirs(env["SHIRABE_DATA_DIR"], exist_ok=True)
    print("indexing fixtures/docs into a temporary data directory ...", flush=True)
    subprocess.run([os.path.join(REPO, "target/release/shirabe-indexer"), os.path.join(REPO, "fixtures/docs")], env=env, check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(work, "serve.log"), "wb")
    proc = subprocess.Popen([os.path.join(REPO, "target/release/shirabe"), "serve", "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    end = time.time() + 120
    while time.time() < end:
        try:
            urllib.request.urlopen(base + "/readyz", timeout=2)
            return proc, base
        except Exception:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    proc.kill()
    sys.exit("the service did not start; see " + log.name)


class Client(threading.Thread):
    def __init__(self, host, port, queries, answer_share, stop_at, seed, timeout, backoff, unique=False):
        super().__init__(daemon=True)
        self.unique, self.sent = unique, 0
        self.host, self.port, self.queries = host, port, queries
        self.answer_share, self.stop_at, self.timeout, self.backoff = answer_share, stop_at, timeout, backoff
        self.rng = random.Random(seed)
        self.samples = []  # (kind, status, seconds, end time)
        self.errors = Counter()

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def run(self):
        conn = self.connect()
        while time.time() < self.stop_at:
            q = self.rng.choice(self.queries)
            self.sent += 1
            if self.unique:
                q = f"{q}（{self.name}-{self.sent}）"
            token = self.rng.choice(TOKENS)
            if self.rng.random() < self.answer_share:
                kind, path, body = "answer", "/api/answer", {"question": q}
            else:
                kind, path, body = "search", "/api/search", {"query": q, "size": 10}
            payload = json.dumps(body).encode()
            t = time.perf_counter()
            try:
                conn.request("POST", path, payload, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
                r = conn.getresponse()
                raw = r.read()
                status = r.status
                if status == 503:
                    status = "503 busy" if b"problem:busy" in raw else "503 other"
                self.samples.append((kind, status, time.perf_counter() - t, time.time()))
                if r.status == 503 and self.backoff > 0:
                    # a polite client: wait (Retry-After if the service sends one) before the next request
                    time.sleep(float(r.getheader("retry-after") or self.backoff))
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = self.connect()
            except Exception as e:
                self.errors[f"{kind}: {type(e).__name__}"] += 1
                conn.close()
                conn = self.connect()
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds")
    ap.add_argument("--answer-share", type=float, default=0.3, help="fraction of requests that are /api/answer")
    ap.add_argument("--base", help="URL of a running service (default: start one over fixtures/docs)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a request counts as a transport error")
    ap.add_argument("--max-5xx", type=int, default=0)
    ap.add_argument("--busy-backoff", type=float, default=1.0, help="seconds a client waits after a 503 before its next request (0: retry at once)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--unique-questions", action="store_true", help="make every question text unique (a request number in brackets), so no question's embedding is ever cached by the service")
    a = ap.parse_args()

    queries = [json.loads(l)["text"] for l in open(os.path.join(REPO, "fixtures/eval/queries.jsonl"), encoding="utf-8") if l.strip()]
    work = proc = None
    base = a.base
    if not base:
        work = tempfile.mkdtemp(prefix="shirabe-load.")
        proc, base = start_service(work)
    try:
        host, port = base.split("//", 1)[1].rstrip("/").split(":")
        port = int(port)
        print(f"load test: {a.clients} clients for {a.duration:.0f} s against {base}, {a.busy_backoff:g} s back-off after a 503, {a.answer_share:.0%} answer / {1 - a.answer_share:.0%} search, {len(queries)} questions from fixtures/eval{' made unique per request' if a.unique_questions else ''}, {os.cpu_count()} CPU cores", flush=True)
        start = time.time()
        stop_at = start + a.duration
        clients = [Client(host, port, queries, a.answer_share, stop_at, a.seed * 1000 + i, a.timeout, a.busy_backoff, a.unique_questions) for i in range(a.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.time() - start  # includes the drain of requests in flight at stop time
    finally:
        if proc:
            proc.terminate()
            proc.wait()
            shutil.rmtree(work, ignore_errors=True)

    samples = [s for c in clients for s in c.samples]
    errors = sum((c.errors for c in clients), Counter())
    statuses = Counter(s[1] for s in samples)
    n5xx = sum(v for k, v in statuses.items() if str(k) >= "500")
    done_in_window = [s for s in samples if s[3] <= stop_at]
    print(f"requests: {len(samples)} completed in {wall:.1f} s ({len(done_in_window)} within the {a.duration:.0f} s window)")
    print(f"throughput: {len(done_in_window) / a.duration:.2f} requests/s")
    print(f"{'':8} {'count':>6} {'req/s':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in ("search", "answer", "all"):
        lat = sorted(s[2] * 1000 for s in samples if kind == "all" or s[0] == kind)
        ok = [s for s in done_in_window if kind == "all" or s[0] == kind]
        if lat:
            print(f"{kind:8} {len(lat):6d} {len(ok) / a.duration:6.2f} {percentile(lat, 50):8.0f} {percentile(lat, 95):8.0f} {percentile(lat, 99):8.0f} {lat[-1]:8.0f}")
    print("status counts: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))))
    ok = sorted(s[2] * 1000 for s in samples if s[1] == 200)
    if ok:
        print(f"200 only: {len([s for s in done_in_window if s[1] == 200]) / a.duration:.2f} answers/s, p50 {percentile(ok, 50):.0f} ms, p95 {percentile(ok, 95):.0f} ms, p99 {percentile(ok, 99):.0f} ms")
    print(f"transport errors: {sum(errors.values())}" + (" (" + ", ".join(f"{k} x{v}" for k, v in errors.items()) + ")" if errors else ""))
    print(f"5xx: {n5xx}")
    return 0 if n5xx <= a.max_5xx and not errors and samples else 1


if __name__ == "__main__":
    sys.exit(main())
