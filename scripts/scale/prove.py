#!/usr/bin/env python3
"""HTTP side of scripts/scale/prove.sh (standard library only).

  prove.py compare A B QUESTIONS... [--mode M]
                                          same documents from /api/search (mode M, default hybrid)
                                          and /api/answer on two services?
  prove.py load URLS QUESTIONS... --seconds S [--event T:CMD]... [--same]
                                          searches from two clients per service while the events run
                                          (e.g. "10:scripts/scale/qdrant-cluster.sh kill 1"); with
                                          --same every answer must equal the one before the load
  prove.py generation URL                 the index generation a service serves (/metrics)

Each prints one JSON line. Questions are JSONL files with a "question" (eval/corpus-qa) or
"text" (the public eval sets) field. The token is the fixtures' auditor (clearance 3).
"""
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

TOKEN = "dev-kanri"


def post(base, path, body, timeout=60):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, None
    except Exception as e:  # refused, reset, timeout: the client saw no answer
        return "error: " + type(e).__name__, None


def questions(paths):
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    out.append(row.get("question") or row.get("text") or row.get("query"))
    return [q for q in out if q]


def search_view(body):
    return [(r["document"]["id"], [p["passage_id"] for p in r["passages"]]) for r in body["results"]]


def answer_view(body):
    return (body["answerable"], [s["text"] for s in body["sentences"]], [c["passage_id"] for c in body["citations"]])


def ask(base, q, mode):
    s_status, s_body = post(base, "/api/search", {"query": q, "size": 10, "mode": mode})
    a_status, a_body = post(base, "/api/answer", {"question": q})
    return (
        search_view(s_body) if s_status == 200 else s_status,
        answer_view(a_body) if a_status == 200 else a_status,
    )


def compare(a, b, paths, mode="hybrid"):
    qs = questions(paths)
    same_search = same_docs = same_answer = 0
    differences = []
    for q in qs:
        (sa, aa), (sb, ab) = ask(a, q, mode), ask(b, q, mode)
        if sa == sb:
            same_search += 1
        if isinstance(sa, list) and isinstance(sb, list) and [d for d, _ in sa] == [d for d, _ in sb]:
            same_docs += 1
        if aa == ab:
            same_answer += 1
        if sa != sb or aa != ab:
            top = lambda v: [d for d, _ in v][:5] if isinstance(v, list) else v
            differences.append({"question": q, "documents_a": top(sa), "documents_b": top(sb), "same_answer": aa == ab})
    print(json.dumps({
        "compare": [a, b], "search_mode": mode, "questions": len(qs),
        "search_identical": same_search, "search_same_documents_in_order": same_docs,
        "answer_identical": same_answer, "first_differences": differences[:2],
    }, ensure_ascii=False))
    return 0 if not differences else 1


def load(urls, paths, seconds, events, same):
    qs = questions(paths)[:40]
    baseline = {}
    if same:
        for u in urls:
            for q in qs:
                status, body = post(u, "/api/search", {"query": q, "size": 10})
                if status != 200:
                    print(json.dumps({"load": "baseline failed", "url": u, "status": status}))
                    return 1
                baseline[(u, q)] = search_view(body)
    records = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(u, offset):
        i = offset
        while not stop.is_set():
            q = qs[i % len(qs)]
            i += 1
            t = time.monotonic()
            status, body = post(u, "/api/search", {"query": q, "size": 10})
            ms = (time.monotonic() - t) * 1000
            differs = same and status == 200 and search_view(body) != baseline[(u, q)]
            with lock:
                records.append((t, u, status, ms, differs))

    threads = [threading.Thread(target=client, args=(u, k * 7)) for u in urls for k in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    log = []
    for at, cmd in sorted(events):
        time.sleep(max(0.0, started + at - time.monotonic()))
        t = time.monotonic()
        rc = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        log.append({"at_s": round(t - started, 1), "command": cmd, "rc": rc, "took_s": round(time.monotonic() - t, 1)})
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    stop.set()
    for t in threads:
        t.join()
    ms = sorted(r[3] for r in records)
    pick = lambda p: round(ms[min(len(ms) - 1, int(p * len(ms)))], 1) if ms else 0
    failed = [r for r in records if r[2] != 200]
    print(json.dumps({
        "load": urls, "seconds": round(time.monotonic() - started, 1), "requests": len(records),
        "failed": len(failed), "failed_statuses": sorted({str(r[2]) for r in failed}),
        "differing_from_before": sum(1 for r in records if r[4]) if same else None,
        "latency_ms": {"p50": pick(0.5), "p99": pick(0.99), "max": round(ms[-1], 1) if ms else 0},
        "events": log,
    }, ensure_ascii=False))
    return 0 if not failed and all(e["rc"] == 0 for e in log) else 1


def generation(url):
    with urllib.request.urlopen(urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer dev-unyo"}), timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("shirabe_index_generation "):
                print(line.split()[1])
                return 0
    return 1


def main(argv):
    if len(argv) >= 4 and argv[1] == "compare":
        rest = argv[4:]
        mode = "hybrid"
        if "--mode" in rest:
            i = rest.index("--mode")
            mode = rest[i + 1]
            rest = rest[:i] + rest[i + 2:]
        return compare(argv[2], argv[3], rest, mode)
    if len(argv) >= 3 and argv[1] == "generation":
        return generation(argv[2])
    if len(argv) >= 4 and argv[1] == "load":
        urls = argv[2].split(",")
        rest, paths, events, seconds, same = argv[3:], [], [], 30.0, False
        i = 0
        while i < len(rest):
            if rest[i] == "--seconds":
                seconds, i = float(rest[i + 1]), i + 2
            elif rest[i] == "--event":
                at, cmd = rest[i + 1].split(":", 1)
                events.append((float(at), cmd))
                i += 2
            elif rest[i] == "--same":
                same, i = True, i + 1
            else:
                paths.append(rest[i])
                i += 1
        return load(urls, paths, seconds, events, same)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
