"""Crash suite driver (stdlib only); run by scripts/stress/crash-suite.sh, which starts the service.

Each run mutates the share (adds, modifies, deletes and moves files), starts shirabe-indexer on the
index the service is serving, kills it with SIGKILL after a random delay, and checks:
  * the service answered every search while the indexer ran and after the kill (HTTP 200),
  * CURRENT names a complete generation whose manifest is either the previous state or the new
    state (the state a run to completion produces for the same share),
  * the service serves that generation, and its document and passage counts are those of one of
    the two states,
  * a re-run after the kill succeeds (stale lock taken over).
At the end the share is indexed once more from scratch into a separate index, uninterrupted, and
the converged index must hold the same documents, files and passages (ids and texts).
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

TOKEN = "dev-kanri"


def http(base, method, path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:  # connection refused, timeout
        return 0, str(e).encode()


def current_state(index_dir):
    """(generation number, manifest) of CURRENT; raises if CURRENT or the manifest is incomplete."""
    name = open(os.path.join(index_dir, "CURRENT")).read().strip()
    gen = os.path.join(index_dir, name)
    for sub in ("keyword", "vectors", "state.json"):
        if not os.path.exists(os.path.join(gen, sub)):
            raise RuntimeError(f"CURRENT names {name}, which lacks {sub}")
    with open(os.path.join(gen, "state.json")) as f:
        state = json.load(f)
    return int(name.split("-")[-1]), state


def signature(state, share):
    """What must agree between two indexes of the same share: documents and files."""
    docs = sorted(
        (d["id"], os.path.relpath(d["source_path"], share), d["content_hash"], json.dumps(d.get("access"), sort_keys=True))
        for d in state["documents"].values()
    )
    files = sorted((os.path.relpath(p, share), e["hash"], tuple(sorted(e["doc_ids"]))) for p, e in state["files"].items())
    return json.dumps([docs, files])


def passages(base, state):
    """Passage ids and a hash of their texts for every document, read through the API."""
    out = {}
    for doc_id in sorted(state["documents"]):
        status, body = http(base, "GET", f"/api/documents/{doc_id}")
        if status != 200:
            out[doc_id] = f"HTTP {status}"
            continue
        view = json.loads(body)
        ps = view.get("passages", [])
        out[doc_id] = [(p.get("id") or p.get("passage_id"), hashlib.sha256(p.get("text", "").encode()).hexdigest()[:16]) for p in ps]
    return out


def served_index(base):
    """The served generation and its counts, from /metrics (the token's user is an auditor):
    /readyz answers without a login and says only whether the service is ready."""
    status, body = http(base, "GET", "/metrics", timeout=10)
    if status != 200:
        return None
    text = body.decode() if isinstance(body, bytes) else body
    values = {}
    for line in text.splitlines():
        for key in ("generation", "documents", "passages"):
            if line.startswith(f"shirabe_index_{key} "):
                values[key] = int(float(line.split()[1]))
    if values.get("generation") == 0:
        values["generation"] = None
    return values if len(values) == 3 else None


def wait_served(base, generation, limit=30):
    end = time.time() + limit
    while time.time() < end:
        r = served_index(base)
        if r and r.get("generation") == generation:
            return r
        time.sleep(0.2)
    return served_index(base)


class Poller(threading.Thread):
    """Searches continuously; records every non-200 answer."""

    def __init__(self, base, queries):
        super().__init__(daemon=True)
        self.base, self.queries = base, queries
        self.stop = threading.Event()
        self.ok = 0
        self.bad = []

    def run(self):
        while not self.stop.is_set():
            q = random.choice(self.queries)
            status, body = http(self.base, "POST", "/api/search", {"query": q, "size": 5}, timeout=60)
            if status == 200:
                self.ok += 1
            else:
                self.bad.append((status, body[:200].decode(errors="replace")))
            time.sleep(0.1)


class Share:
    """The mutable copy of the corpus."""

    def __init__(self, root, sources):
        self.root = root
        self.sources = sources  # text files whose content seeds new documents
        self.extra = []
        self.n = 0

    def mutate(self, rng):
        done = []
        # add one or two new documents
        for _ in range(rng.choice((1, 1, 2))):
            self.n += 1
            src = rng.choice(self.sources)
            ext = os.path.splitext(src)[1]
            text = open(src, encoding="utf-8").read()
            name = os.path.join(self.root, "extra", f"run-{self.n:03d}{ext}")
            os.makedirs(os.path.dirname(name), exist_ok=True)
            with open(name, "w", encoding="utf-8") as f:
                f.write(text + f"\n\n第{self.n}回の追記：この文書は耐障害試験のために複製された。\n")
            self.extra.append(name)
            done.append("add")
        # modify an existing one
        if self.extra and rng.random() < 0.8:
            name = rng.choice(self.extra)
            with open(name, "a", encoding="utf-8") as f:
                f.write(f"\n変更{self.n}：窓口の受付時間を{rng.randint(8, 10)}時からに改める。\n")
            done.append("modify")
        # delete one once there are a few
        if len(self.extra) > 3 and rng.random() < 0.7:
            name = self.extra.pop(rng.randrange(len(self.extra) - 1))  # not the one just added
            os.remove(name)
            done.append("delete")
        # move one
        if len(self.extra) > 2 and rng.random() < 0.3:
            i = rng.randrange(len(self.extra))
            old = self.extra[i]
            new = os.path.join(self.root, "extra", "moved", os.path.basename(old))
            os.makedirs(os.path.dirname(new), exist_ok=True)
            os.rename(old, new)
            self.extra[i] = new
            done.append("move")
        return done


def run_indexer(indexer, share, report, env=None):
    with open(report, "wb") as out:
        return subprocess.run([indexer, "--report", report + ".json", share], stdout=out, stderr=subprocess.PIPE, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--base", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--indexer", required=True)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--small", action="store_true", help="share of the circulars and restricted documents only (CI)")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"crash suite: {a.runs} runs, seed {seed}", flush=True)

    index_dir = os.environ["SHIRABE_INDEX_DIR"]
    share = os.path.join(a.work, "share")
    if a.small:
        for sub in ("circulars", "restricted"):
            shutil.copytree(os.path.join(a.repo, "fixtures/docs", sub), os.path.join(share, sub))
    else:
        shutil.copytree(os.path.join(a.repo, "fixtures/docs"), share)
    circ = os.path.join(a.repo, "fixtures/docs/circulars")
    sources = [os.path.join(circ, f) for f in sorted(os.listdir(circ)) if f.endswith((".txt", ".md", ".html"))]
    queries = [json.loads(l)["text"] for l in open(os.path.join(a.repo, "fixtures/eval/queries.jsonl"), encoding="utf-8") if l.strip()]
    sh = Share(share, sources)

    t0 = time.time()
    p = run_indexer(a.indexer, share, os.path.join(a.work, "initial"))
    if p.returncode != 0:
        print("the initial indexer run failed:", p.stderr.decode(errors="replace")[-2000:])
        return 1
    duration = time.time() - t0
    gen, state = current_state(index_dir)
    served = wait_served(a.base, gen)
    print(f"initial index: generation {gen}, {served['documents']} documents, {served['passages']} passages, {duration:.1f} s", flush=True)

    survived = 0
    killed_mid_run = 0
    published_before_kill = 0
    failures = []
    total_ok = 0
    run_times = []
    for i in range(1, a.runs + 1):
        problems = []
        prev_gen, prev_state = current_state(index_dir)
        prev_sig = signature(prev_state, share)
        prev_counts = (served["documents"], served["passages"])
        ops = sh.mutate(rng)
        est = sum(run_times[-5:]) / len(run_times[-5:]) if run_times else 6.0
        delay = rng.uniform(0.05, max(0.5, est))
        poller = Poller(a.base, queries)
        poller.start()
        err_path = os.path.join(a.work, f"killed-{i}.stderr")
        with open(err_path, "wb") as err:
            proc = subprocess.Popen([a.indexer, share], stdout=subprocess.DEVNULL, stderr=err)
        time.sleep(delay)
        finished_first = proc.poll() is not None
        if not finished_first:
            os.kill(proc.pid, signal.SIGKILL)
            killed_mid_run += 1
        proc.wait()
        if finished_first and proc.returncode != 0:
            tail = open(err_path, errors="replace").read().strip().splitlines()[-3:]
            problems.append(f"the indexer exited {proc.returncode} on its own before the kill: {' | '.join(tail)}")
        # the state right after the kill
        try:
            k_gen, k_state = current_state(index_dir)
            k_sig = signature(k_state, share)
        except Exception as e:
            problems.append(f"after the kill: {e}")
            k_gen, k_sig = None, None
        if k_gen is not None and k_gen != prev_gen:
            published_before_kill += 1
        k_served = wait_served(a.base, k_gen) if k_gen is not None else None
        if not k_served or k_served.get("generation") != k_gen:
            problems.append(f"the service does not serve CURRENT (generation {k_gen}) after the kill: {k_served}")
        status, _ = http(a.base, "POST", "/api/search", {"query": rng.choice(queries)})
        if status != 200:
            problems.append(f"search after the kill answered {status}")
        # run to completion
        t = time.time()
        p = run_indexer(a.indexer, share, os.path.join(a.work, f"rerun-{i}"))
        run_times.append(time.time() - t)
        poller.stop.set()
        poller.join()
        total_ok += poller.ok
        if poller.bad:
            problems.append(f"{len(poller.bad)} searches failed while the indexer ran, first: {poller.bad[0]}")
        if p.returncode != 0:
            problems.append(f"the re-run failed (exit {p.returncode}): {p.stderr.decode(errors='replace')[-500:]}")
        try:
            n_gen, n_state = current_state(index_dir)
            n_sig = signature(n_state, share)
        except Exception as e:
            problems.append(f"after the re-run: {e}")
            n_gen, n_sig = None, None
        served = wait_served(a.base, n_gen) if n_gen is not None else served_index(a.base)
        new_counts = (served["documents"], served["passages"]) if served else None
        if k_sig is not None and n_sig is not None and k_sig not in (prev_sig, n_sig):
            problems.append("the state after the kill is neither the previous nor the new state")
        if k_served and (k_served["documents"], k_served["passages"]) not in (prev_counts, new_counts):
            problems.append(f"served counts after the kill {(k_served['documents'], k_served['passages'])} match neither {prev_counts} nor {new_counts}")
        if not served or served.get("generation") != n_gen:
            problems.append(f"the service does not serve the re-run's generation {n_gen}: {served}")
        what = "killed" if not finished_first else "finished before the kill"
        kept = "unchanged" if k_sig == prev_sig == n_sig else ("new" if k_sig == n_sig else ("previous" if k_sig == prev_sig else "?"))
        line = f"run {i:2d}/{a.runs}: {'+'.join(ops):<28} {what} after {delay:4.1f} s, served {kept} state; re-run {run_times[-1]:4.1f} s -> {new_counts[0] if new_counts else '?'} docs / {new_counts[1] if new_counts else '?'} passages; {poller.ok} searches ok"
        if problems:
            failures.append((i, problems))
            print(line + "  FAILED", flush=True)
            for pr in problems:
                print("    " + pr, flush=True)
        else:
            survived += 1
            print(line + "  ok", flush=True)

    # convergence: an uninterrupted run from scratch over the final share
    print("convergence: indexing the final share from scratch, uninterrupted ...", flush=True)
    ref_index = os.path.join(a.work, "reference-index")
    env = dict(os.environ, SHIRABE_INDEX_DIR=ref_index, SHIRABE_DATA_DIR=os.path.join(a.work, "reference-data"))
    os.makedirs(env["SHIRABE_DATA_DIR"], exist_ok=True)
    p = run_indexer(a.indexer, share, os.path.join(a.work, "reference"), env=env)
    converged = False
    if p.returncode != 0:
        print("  the reference run failed:", p.stderr.decode(errors="replace")[-1000:])
    else:
        _, ref_state = current_state(ref_index)
        _, got_state = current_state(index_dir)
        same_manifest = signature(ref_state, share) == signature(got_state, share)
        # passages of both indexes, through a second service on the reference index
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ref_port = sock.getsockname()[1]
        ref_base = f"http://127.0.0.1:{ref_port}"
        srv = subprocess.Popen([os.path.join(os.path.dirname(a.indexer), "shirabe"), "serve", "--listen", f"127.0.0.1:{ref_port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = time.time() + 120
            while time.time() < end and not served_index(ref_base):
                time.sleep(0.3)
            ref_p = passages(ref_base, ref_state)
            got_p = passages(a.base, got_state)
        finally:
            srv.terminate()
            srv.wait()
        n_ref = sum(len(v) for v in ref_p.values() if isinstance(v, list))
        n_got = sum(len(v) for v in got_p.values() if isinstance(v, list))
        same_passages = ref_p == got_p
        converged = same_manifest and same_passages and n_ref > 0
        print(f"  manifest (documents, files, hashes, access) identical: {same_manifest}")
        print(f"  passages (ids and texts) identical: {same_passages} ({n_got} served vs {n_ref} from the clean run)")
        if not same_passages:
            diff = [d for d in set(ref_p) | set(got_p) if ref_p.get(d) != got_p.get(d)]
            print(f"  documents that differ: {diff[:10]}")
    gens = sorted(d for d in os.listdir(index_dir) if d.startswith("gen-"))
    print(f"generation directories left in the index: {len(gens)} ({', '.join(gens[-4:])})")
    print(f"kills: {killed_mid_run} mid-run, {a.runs - killed_mid_run} runs finished before their kill; {published_before_kill} kills came after the new generation was published")
    print(f"searches answered 200 while indexing: {total_ok}, failed: {sum(len(p) for _, p in failures if any('searches failed' in x for x in p))}")
    print(f"converged to the uninterrupted result: {'yes' if converged else 'NO'}")
    print(f"runs survived / runs: {survived} / {a.runs}")
    return 0 if survived == a.runs and converged else 1


if __name__ == "__main__":
    sys.exit(main())
