#!/usr/bin/env python3
"""Verify the corpus QA set against the real corpus.

For every answerable item, extract the text of the cited source passage,
NFKC-normalise it, remove all whitespace, and assert that every answer span
is a substring of it.

  law XML (xml/*.xml)   all text of the main-provision <Article> whose
                        <ArticleTitle> equals the article part of `where`
                        (e.g. 第二百四十二条の二); when `where` also names a
                        項, the span must also occur in that <Paragraph>
  PDF (pdf/*.pdf)       `pdftotext -enc UTF-8 -f N -l N` for where = "p.N"
  Markdown (html/*.md)  the whole file; `where` must be one of its headings
  Diet minutes (jsonl)  the `speech` of the line whose `id` equals `where`

Also checks the shape of every item (ids, fields, 1-3 spans written already
normalised, unanswerable items with no answers).

Usage: python3 eval/corpus-qa/check.py [--corpus DIR] [FILE.jsonl ...]
The corpus defaults to $SHIRABE_CORPUS, else $SHIRABE_SHARED_DIR/corpus, else ../shared/corpus beside the checkout.
Exits 1 on any failure.  Python 3 stdlib plus the poppler `pdftotext` CLI.
"""
import argparse
import collections
import functools
import json
import os
import re
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FILES = [os.path.join(HERE, "dev.jsonl"), os.path.join(HERE, "heldout.jsonl")]

KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
NUM = "[〇一二三四五六七八九十百千]+"
WHERE_LAW = re.compile(rf"^(第{NUM}条(?:の{NUM})*)(?:第({NUM})項)?$")


def norm(s):
    """NFKC, then drop every whitespace character (incl. U+3000)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def kanji_to_int(s):
    total, cur = 0, 0
    for ch in s:
        if ch in KANJI_DIGITS:
            cur = KANJI_DIGITS[ch]
        else:
            total += (cur or 1) * KANJI_UNITS[ch]
            cur = 0
    return total + cur


@functools.lru_cache(maxsize=None)
def law_articles(path):
    root = ET.parse(path).getroot()
    arts = {}
    for mp in root.iter("MainProvision"):
        for art in mp.iter("Article"):
            title = (art.findtext("ArticleTitle") or "").strip()
            paras = {}
            for i, p in enumerate(art.findall("Paragraph"), 1):
                num = p.get("Num")
                key = int(num) if num and num.isdigit() else i
                paras[key] = norm("".join(p.itertext()))
            arts[title] = (norm("".join(art.itertext())), paras)
    return arts


@functools.lru_cache(maxsize=None)
def pdf_page(path, page):
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-f", str(page), "-l", str(page), path, "-"],
        check=True, capture_output=True)
    return norm(out.stdout.decode("utf-8", "replace"))


@functools.lru_cache(maxsize=None)
def md_file(path):
    raw = open(path, encoding="utf-8").read()
    headings = set()
    for line in raw.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            headings.add(norm(m.group(1)))
    return norm(raw), headings


@functools.lru_cache(maxsize=None)
def speeches(path):
    d = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            d[r["id"]] = norm(r["speech"])
    return d


def passages(corpus, src):
    """Return (kind, [(label, text), ...]) where every text must contain each span."""
    f, where = src["file"], src["where"]
    path = os.path.join(corpus, f)
    if not os.path.isfile(path):
        raise ValueError(f"no such file {f}")
    if f.endswith(".xml"):
        m = WHERE_LAW.match(where)
        if not m:
            raise ValueError(f"bad law where {where!r}")
        arts = law_articles(path)
        if m.group(1) not in arts:
            raise ValueError(f"{m.group(1)} not found in {f}")
        text, paras = arts[m.group(1)]
        out = [(m.group(1), text)]
        if m.group(2):
            k = kanji_to_int(m.group(2))
            if k not in paras:
                raise ValueError(f"{where}: article has no paragraph {k}")
            out.append((where, paras[k]))
        return "law", out
    if f.endswith(".pdf"):
        m = re.match(r"^p\.(\d+)$", where)
        if not m:
            raise ValueError(f"bad pdf where {where!r}")
        return "pdf", [(where, pdf_page(path, int(m.group(1))))]
    if f.endswith(".md"):
        text, heads = md_file(path)
        if norm(where) not in heads:
            raise ValueError(f"heading {where!r} not in {f}")
        return "html", [(f, text)]
    if f.endswith(".jsonl"):
        sp = speeches(path)
        if where not in sp:
            raise ValueError(f"speech id {where} not in {f}")
        return "minutes", [(where, sp[where])]
    raise ValueError(f"unknown file kind {f}")


def main():
    ap = argparse.ArgumentParser()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    shared = os.environ.get("SHIRABE_SHARED_DIR", os.path.join(repo, "..", "shared"))
    ap.add_argument("--corpus", default=os.environ.get("SHIRABE_CORPUS", os.path.join(shared, "corpus")))
    ap.add_argument("files", nargs="*", default=DEFAULT_FILES)
    args = ap.parse_args()

    failures = []
    seen = set()
    for fn in args.files:
        counts = collections.Counter()
        with open(fn, encoding="utf-8") as fh:
            for ln, line in enumerate(fh, 1):
                tag = f"{os.path.basename(fn)}:{ln}"
                try:
                    it = json.loads(line)
                except json.JSONDecodeError as e:
                    failures.append(f"{tag}: bad JSON: {e}")
                    continue
                iid = it.get("id")
                tag = f"{os.path.basename(fn)}:{ln} {iid}"
                if set(it) != {"id", "question", "answerable", "answers", "source"}:
                    failures.append(f"{tag}: unexpected keys {sorted(it)}")
                    continue
                if iid in seen:
                    failures.append(f"{tag}: duplicate id")
                seen.add(iid)
                if not isinstance(it["question"], str) or not it["question"].strip():
                    failures.append(f"{tag}: empty question")
                if not it["answerable"]:
                    counts["unanswerable"] += 1
                    if it["answers"]:
                        failures.append(f"{tag}: unanswerable item has answers")
                    continue
                counts["answerable"] += 1
                spans = it["answers"]
                if not (isinstance(spans, list) and 1 <= len(spans) <= 3):
                    failures.append(f"{tag}: need 1-3 answer spans")
                    continue
                try:
                    kind, texts = passages(args.corpus, it["source"])
                except (ValueError, KeyError, TypeError, subprocess.CalledProcessError) as e:
                    failures.append(f"{tag}: {e}")
                    continue
                counts[kind] += 1
                for s in spans:
                    if s != norm(s):
                        failures.append(f"{tag}: span {s!r} is not normalised (want {norm(s)!r})")
                    for label, text in texts:
                        if norm(s) not in text:
                            failures.append(f"{tag}: span {s!r} not in {it['source']['file']} {label}")
        kinds = " ".join(f"{k}={counts[k]}" for k in ("law", "html", "pdf", "minutes"))
        print(f"{os.path.basename(fn)}: answerable={counts['answerable']} "
              f"unanswerable={counts['unanswerable']} ({kinds})")
    print(f"failures: {len(failures)}")
    for f in failures:
        print("  FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
