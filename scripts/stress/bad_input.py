"""Bad-input suite driver (stdlib only); run by scripts/stress/bad-input.sh.

Generates hostile files at run time next to a copy of the good fixture documents, runs
shirabe-indexer once over the lot, and prints, per file, what happened. Then it serves the index
and checks that every good document is still searchable. Figures printed at the end:
files tried / reported (in the report's `failed`, with a reason) / accepted (indexed) /
panics escaped (the indexer process died, or a hostile file was neither indexed nor reported) /
good documents lost.

A hostile file marked "must fail" has to appear under `failed`; one marked "either" may also be
indexed (a PDF named .txt is read as a PDF, Shift-JIS text is decoded), but must not take the
indexer down. When the indexer dies, every hostile file is run alone to name the culprit(s), and
the run is repeated without them so the good documents can still be checked.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib

MUST, EITHER = "must fail", "either"


# ---------------------------------------------------------------- PDF writing (stdlib only)

def pdf_bytes(objects, root=1, trailer_extra=b""):
    """A PDF with a correct xref from a list of object bodies (object i+1 = objects[i])."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, trailer_extra, xref)
    return bytes(out)


def stream(data, extra=b""):
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def text_pdf(lines_per_page, pages=1, shared=False):
    """Pages of ASCII text in Helvetica. shared=True: all pages use one content stream."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []

    def content(n):
        body = b"BT /F1 12 Tf 72 720 Td 14 TL " + b" ".join(b"(%s) '" % l.encode() for l in lines_per_page(n)) + b" ET"
        return stream(body)

    if shared:
        objs.append(content(0))
        shared_id = len(objs)
    for n in range(pages):
        if not shared:
            objs.append(content(n))
        cid = shared_id if shared else len(objs)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % cid)
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % k for k in kids))
    return pdf_bytes(objs)


def nested_array_pdf(depth):
    """A one-page PDF whose catalog holds an array nested `depth` deep."""
    deep = b"[" * depth + b"]" * depth
    return pdf_bytes([
        b"<< /Type /Catalog /Pages 2 0 R /Deep " + deep + b" >>",
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(b"BT /F1 12 Tf 72 720 Td (nested) Tj ET"),
    ])


def nested_dict_pdf(depth):
    deep = b"<< /A " * depth + b"1" + b" >>" * depth
    return pdf_bytes([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Deep " + deep + b" >>",
        stream(b"BT 72 720 Td (nested) Tj ET"),
    ])


def deep_page_tree_pdf(depth):
    """The page tree is a chain of /Pages nodes `depth` deep with one page at the bottom."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for d in range(depth):
        me = len(objs) + 1
        parent = b"/Parent %d 0 R " % (me - 1) if d else b""
        objs.append(b"<< /Type /Pages %s/Count 1 /Kids [%d 0 R] >>" % (parent, me + 1))
    me = len(objs) + 1
    objs.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>" % (me - 1, me + 1))
    objs.append(stream(b"BT 72 720 Td (deep) Tj ET"))
    return pdf_bytes(objs)


def cyclic_page_tree_pdf():
    """Kids point back at the root: a loop in the page tree."""
    return pdf_bytes([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 2 /Kids [3 0 R 2 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(b"BT 72 720 Td (loop) Tj ET"),
    ])


def bomb_stream_pdf(mib):
    """A page whose content stream inflates from a few hundred KiB to `mib` MiB of zeros."""
    raw = zlib.compress(b"\0" * (mib << 20), 9)
    return pdf_bytes([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        stream(raw, b"/Filter /FlateDecode "),
    ])


def empty_pages_pdf(pages):
    """Many pages with nothing on them (no text layer, no images)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None, stream(b"")]
    kids = []
    for _ in range(pages):
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>")
        kids.append(len(objs))
    objs[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % k for k in kids))
    return pdf_bytes(objs)


# ---------------------------------------------------------------- the hostile set

def hostile_files(repo, big_mib, quick=False):
    """(name, bytes, expectation, description) of every hostile file; quick=True shrinks the slow ones."""
    q = (lambda full, small: small) if quick else (lambda full, small: full)
    rng = random.Random(8)
    good_pdf = open(os.path.join(repo, "fixtures/docs/generated/kokuji-59-conveni-kofu-r6.pdf"), "rb").read()
    law = open(os.path.join(repo, "fixtures/docs/laws/kakuu-shi-bunsho-kanri-jorei.xml"), "rb").read()
    circ = open(os.path.join(repo, "fixtures/docs/circulars/soumu-12-juminhyo-tesuryo-r2.txt"), encoding="utf-8").read()
    garbage = bytes(rng.randrange(256) for _ in range(64 << 10))
    files = []

    def add(name, data, expect, what):
        files.append((name, data, expect, what))

    for ext in ("pdf", "txt", "md", "html", "xml", "jsonl"):
        add(f"zero/empty.{ext}", b"", MUST, "zero bytes")
    add("zero/blank.txt", b" \n\t\r\n   \n", MUST, "whitespace only")
    add("pdf/truncated-half.pdf", good_pdf[: len(good_pdf) // 2], MUST, "a real PDF cut in half")
    add("pdf/truncated-header.pdf", good_pdf[:9], MUST, "only the %PDF header")
    add("pdf/no-xref.pdf", good_pdf[: good_pdf.rfind(b"xref")], EITHER, "PDF without xref/trailer (repairable)")
    add("pdf/pdf-header-garbage.pdf", b"%PDF-1.7\n" + garbage, MUST, "%PDF header then random bytes")
    add("pdf/garbage.pdf", garbage, MUST, "random bytes named .pdf")
    add("pdf/html-named.pdf", b"<!doctype html><html><body><h1>404 Not Found</h1></body></html>", MUST, "HTML error page saved as .pdf")
    add("pdf/nested-array-100k.pdf", nested_array_pdf(100_000), EITHER, "array nested 100,000 deep")
    add("pdf/nested-dict-50k.pdf", nested_dict_pdf(50_000), EITHER, "dictionary nested 50,000 deep")
    add("pdf/deep-page-tree-5k.pdf", deep_page_tree_pdf(5_000), EITHER, "page tree 5,000 levels deep")
    add("pdf/cyclic-page-tree.pdf", cyclic_page_tree_pdf(), EITHER, "page tree with a cycle")
    add(f"pdf/flate-bomb-{q(256, 32)}mib.pdf", bomb_stream_pdf(q(256, 32)), EITHER, f"content stream inflating to {q(256, 32)} MiB")
    add("pdf/flate-bomb-1gib.pdf", bomb_stream_pdf(1024), MUST, "content stream inflating to 1 GiB (over indexer.max_file_memory_mib)")
    add(f"pdf/empty-pages-{q(3000, 30)}.pdf", empty_pages_pdf(q(3000, 30)), MUST, f"{q(3000, 30):,} pages, no text, no images")
    add(f"pdf/many-pages-{q(100, 10)}.pdf", text_pdf(lambda n: [f"Page {n + 1} of a long report."], pages=q(100, 10), shared=False), EITHER, f"{q(100, 10)} pages of text")
    add(f"pdf/huge-{big_mib}mib.pdf", text_pdf(lambda n: ["x" * 80] * 40, pages=1)[:-6] + b"%" + b"P" * (big_mib << 20) + b"\n%%EOF\n", MUST, f"{big_mib} MiB, over indexer.max_file_bytes")
    # wrong extensions
    add("ext/pdf-named.txt", good_pdf, EITHER, "a real PDF named .txt (read as PDF)")
    add("ext/law-named.html", law, EITHER, "law XML named .html")
    add("ext/png-named.xml", b"\x89PNG\r\n\x1a\n" + garbage[:4096], MUST, "PNG bytes named .xml")
    add("ext/zip-named.md", b"PK\x03\x04" + garbage[:8192], MUST, "ZIP (docx) bytes named .md")
    add("ext/garbage.html", garbage, MUST, "random bytes named .html")
    add("ext/garbage.jsonl", garbage, MUST, "random bytes named .jsonl")
    add("ext/ignored.docx", garbage, "ignored", "unsupported extension (not walked)")
    # encrypted PDFs (qpdf, from Debian): a user password nobody knows, and an owner password only
    if shutil.which("qpdf"):
        import tempfile
        with tempfile.TemporaryDirectory() as t:
            src = os.path.join(t, "in.pdf")
            open(src, "wb").write(good_pdf)
            for name, user, expect, what in (("pdf/encrypted-user-password.pdf", "secret", MUST, "AES-256, needs a user password"),
                                             ("pdf/encrypted-owner-only.pdf", "", EITHER, "AES-256, owner password only (opens)")):
                out = os.path.join(t, "out.pdf")
                subprocess.run(["qpdf", "--encrypt", user, "owner-secret", "256", "--", src, out], check=True)
                add(name, open(out, "rb").read(), expect, what)
    else:
        print("SKIPPED: encrypted PDFs (qpdf missing; scripts/setup.sh installs it)")
    # XML attacks
    laughs = b'<?xml version="1.0"?>\n<!DOCTYPE Law [\n <!ENTITY l0 "lol">\n'
    for i in range(1, 10):
        laughs += b' <!ENTITY l%d "%s">\n' % (i, b"&l%d;" % (i - 1) * 10)
    laughs += b']>\n<Law Era="Reiwa" Year="6" Num="1" LawType="Ordinance" Lang="ja"><LawNum>lol</LawNum><LawBody><LawTitle>&l9;</LawTitle><MainProvision><Article Num="1"><ArticleTitle>Article 1</ArticleTitle><Paragraph Num="1"><ParagraphSentence><Sentence>&l9;</Sentence></ParagraphSentence></Paragraph></Article></MainProvision></LawBody></Law>\n'
    add("xml/billion-laughs.xml", laughs, EITHER, "entity expansion to 10^9 'lol's")
    quad = b'<?xml version="1.0"?>\n<!DOCTYPE Law [<!ENTITY a "' + b"A" * 50_000 + b'">]>\n<Law><LawBody><LawTitle>' + b"&a;" * 50_000 + b"</LawTitle></LawBody></Law>\n"
    add("xml/quadratic-blowup.xml", quad, EITHER, "50 kB entity referenced 50,000 times")
    add("xml/external-entity.xml", b'<?xml version="1.0"?>\n<!DOCTYPE Law [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<Law><LawBody><LawTitle>&x;</LawTitle></LawBody></Law>\n', EITHER, "external entity (file:///etc/passwd)")
    add("xml/deep-nesting.xml", b'<?xml version="1.0"?><Law><LawBody>' + b"<Part>" * 100_000 + "深い".encode() + b"</Part>" * 100_000 + b"</LawBody></Law>", EITHER, "elements nested 100,000 deep")
    add("xml/unterminated.xml", law[: len(law) // 2], EITHER, "law XML cut in half")
    # encodings
    add("enc/shift-jis.txt", circ.encode("shift_jis", errors="replace"), EITHER, "Shift-JIS text without a declaration")
    add("enc/euc-jp-declared-utf8.html", ('<html><head><meta charset="utf-8"><title>文字コード</title></head><body><p>' + circ + "</p></body></html>").encode("euc_jp", errors="replace"), EITHER, "EUC-JP bytes declared UTF-8")
    add("enc/utf16-bom.md", ("# 見出し\n\n" + circ).encode("utf-16"), EITHER, "UTF-16 with BOM")
    mixed = circ.encode("utf-8")[:3000] + circ.encode("shift_jis", errors="replace")[:3000] + bytes(range(0x80, 0x100)) * 8
    add("enc/mixed-utf8-sjis-invalid.txt", mixed, EITHER, "UTF-8, then Shift-JIS, then invalid bytes")
    add("enc/invalid-utf8.jsonl", b'{"speaker": "\xff\xfe\xfd", "text": "\xc3\x28 invalid"}\n' + b'{"speaker": "\xe3\x81", "text": "\x80\x80"}\n', EITHER, "JSONL lines with invalid UTF-8")
    add("enc/nul-bytes.txt", circ.encode("utf-8").replace("。".encode(), b"\0\0\0"), EITHER, "text with NUL bytes")
    add("enc/bidi-controls.md", ("# \u202e逆順\u202c\n\n" + "\u200b".join(circ[:500]) + "\ufeff\ud7ff").encode("utf-8"), EITHER, "bidi controls, zero-width spaces, stray BOMs")
    # enormous lines
    one_line = "住民票の写しの交付手数料は一通三百円とする".encode()
    add(f"lines/one-line-{q(64, 1)}mb.txt", one_line * (q(64, 1) * 10**6 // len(one_line)), EITHER,
        f"{q(64, 1)} MB of valid UTF-8 without a line break (cut at indexer.max_document_chars)")
    add("lines/spaces-8mib-one-line.txt", b" " * (8 << 20) + "この一行だけが本文である。".encode() + b" " * 1000, EITHER, "8 MiB line of spaces around one sentence")
    add("lines/one-line-20k-chars.md", ("住民票の写しの交付手数料は一通三百円とする" * 1_000).encode(), EITHER, "20,000-character line without punctuation")
    add("lines/jsonl-4mib-line.jsonl", b'{"speaker": "x", "text": "' + "あ".encode() * (4 << 18), MUST, "one unterminated 4 MiB JSON line")
    add(f"lines/html-div-{q(20, 5)}k.html", b"<html><body>" + b"<div>" * q(20_000, 5_000) + "深い入れ子".encode() + b"</div>" * q(20_000, 5_000) + b"</body></html>", EITHER, f"{q(20_000, 5_000):,} nested <div>s on one line")
    return files


# ---------------------------------------------------------------- running and checking

def http(base, method, path, body=None, token="dev-kanri"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def run_indexer(indexer, share, log_prefix, timeout):
    t = time.time()
    try:
        p = subprocess.run([indexer, share], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, -999, (e.stderr or b"").decode(errors="replace"), time.time() - t
    try:
        report = json.loads(p.stdout)
    except Exception:
        report = None
    with open(log_prefix + ".stderr", "wb") as f:
        f.write(p.stderr)
    return report, p.returncode, p.stderr.decode(errors="replace"), time.time() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--indexer", required=True)
    ap.add_argument("--shirabe", required=True)
    ap.add_argument("--big-mib", type=int, default=40)
    ap.add_argument("--timeout", type=int, default=900, help="seconds one indexer run may take")
    ap.add_argument("--quick", action="store_true", help="smaller slow files and good set (CI)")
    a = ap.parse_args()
    share = os.path.join(a.work, "share")
    good_root = os.path.join(share, "good")
    if a.quick:
        for sub in ("circulars", "restricted"):
            shutil.copytree(os.path.join(a.repo, "fixtures/docs", sub), os.path.join(good_root, sub))
        os.makedirs(os.path.join(good_root, "generated"))
        shutil.copy(os.path.join(a.repo, "fixtures/docs/generated/kokuji-59-conveni-kofu-r6.pdf"), os.path.join(good_root, "generated"))
    else:
        shutil.copytree(os.path.join(a.repo, "fixtures/docs"), good_root)
    hostile = hostile_files(a.repo, a.big_mib, a.quick)
    for name, data, _, _ in hostile:
        p = os.path.join(share, "hostile", name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    total_bytes = sum(len(d) for _, d, _, _ in hostile)
    print(f"bad-input suite: {len(hostile)} hostile files ({total_bytes / 2**20:.0f} MiB) next to {sum(len(f) for _, _, f in os.walk(good_root))} files of fixtures/docs", flush=True)

    report, rc, stderr, secs = run_indexer(a.indexer, share, os.path.join(a.work, "run"), a.timeout)
    culprits = []
    if rc == -999:
        print(f"the indexer run did not finish within {a.timeout} s (--timeout); last stderr:\n  " + "\n  ".join(stderr.strip().splitlines()[-5:]))
        print(f"files tried / reported / panics escaped / good documents lost: {len(hostile)} / ? / ? / ?")
        return 1
    if report is None:
        print(f"the indexer died (exit {rc}) after {secs:.0f} s; last stderr:\n  " + "\n  ".join(stderr.strip().splitlines()[-5:]), flush=True)
        print("running every hostile file alone to find the culprit(s) ...", flush=True)
        for name, data, _, _ in hostile:
            alone = os.path.join(a.work, "alone", name.replace("/", "_"))
            os.makedirs(alone)
            shutil.copy(os.path.join(share, "hostile", name), alone)
            env_index = os.path.join(a.work, "alone-index", name.replace("/", "_"))
            try:
                r = subprocess.run([a.indexer, alone], capture_output=True, env=dict(os.environ, SHIRABE_INDEX_DIR=env_index), timeout=a.timeout)
            except subprocess.TimeoutExpired:
                culprits.append((name, "timeout", []))
                print(f"  CULPRIT {name}: did not finish within {a.timeout} s", flush=True)
                continue
            if r.returncode != 0 and not r.stdout.strip().startswith(b"{"):
                tail = r.stderr.decode(errors="replace").strip().splitlines()[-3:]
                culprits.append((name, r.returncode, tail))
                print(f"  CULPRIT {name}: exit {r.returncode}: {' | '.join(tail)}", flush=True)
        for name, _, _ in culprits:
            os.remove(os.path.join(share, "hostile", name))
        report, rc, stderr, secs = run_indexer(a.indexer, share, os.path.join(a.work, "run2"), a.timeout)
        if report is None:
            print(f"the indexer still dies without the culprits (exit {rc}); giving up")
            print(f"files tried / reported / panics escaped / good documents lost: {len(hostile)} / ? / {max(1, len(culprits))} / ?")
            return 1

    failed = {f["path"]: f["reason"] for f in report["failed"]}
    indexed = {i["path"] for k in ("added", "updated", "unchanged", "moved") for i in report[k]}
    caught = stderr.count("panicked at")
    print(f"indexer run: {secs:.0f} s, exit {rc}, {report['documents']} documents, {report['passages']} passages, {len(failed)} failed; panic messages on stderr: {caught}")
    peak, worker_peak = report.get("peak_rss_mib") or 0, report.get("worker_peak_rss_mib") or 0
    print(f"peak memory: indexer {peak:.0f} MiB, largest extraction worker {worker_peak:.0f} MiB (memory limit: {report.get('memory_limit')}); "
          f"truncated: {', '.join(os.path.basename(t['path']) + ' ' + str(t['kept_chars']) + '/' + str(t['total_chars']) for t in report.get('truncated', [])) or 'none'}")
    print()
    print(f"  {'file':<40} {'expect':<9} {'outcome':<9} reason")
    reported = accepted = wrong = 0
    if not culprits and rc != (2 if failed else 0):
        print(f"  exit status {rc} for a run with {len(failed)} failed files (2 expected when files failed, 0 otherwise)  <-- UNEXPECTED")
        wrong += 1
    for name, data, expect, what in hostile:
        path = os.path.join(share, "hostile", name)
        if any(c[0] == name for c in culprits):
            outcome, reason = "CRASHED", "took the indexer down (see above)"
        elif path in failed:
            outcome, reason = "reported", failed[path]
            reported += 1
        elif path in indexed:
            outcome, reason = "indexed", ""
            accepted += 1
        else:
            outcome, reason = "ignored", ""
        bad = (expect == MUST and outcome != "reported") or (expect == EITHER and outcome not in ("reported", "indexed")) or (expect == "ignored" and outcome != "ignored")
        wrong += bad
        reason = " ".join(reason.split())
        print(f"  {name:<40} {expect:<9} {outcome:<9} {reason[:110]}{'  <-- UNEXPECTED' if bad else ''}  ({what})")

    # good documents: each must be in the manifest and searchable by its title through the API
    gen = open(os.path.join(os.environ["SHIRABE_INDEX_DIR"], "CURRENT")).read().strip()
    state = json.load(open(os.path.join(os.environ["SHIRABE_INDEX_DIR"], gen, "state.json")))
    good_files = [os.path.join(dp, f) for dp, _, fs in os.walk(good_root) for f in fs if not f.endswith(".access.toml") and f != "_access.toml"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([a.shirabe, "serve", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(a.work, "serve.log"), "wb"))
    lost = []
    try:
        end = time.time() + 120
        while time.time() < end:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2)
                break
            except Exception:
                time.sleep(0.3)
        for f in sorted(good_files):
            entry = state["files"].get(f)
            if not entry or not entry["doc_ids"]:
                lost.append((f, "not in the index"))
                continue
            for doc_id in entry["doc_ids"]:
                title = state["documents"][doc_id]["title"]
                st, view = http(base, "GET", f"/api/documents/{doc_id}")
                if st != 200 or not view["passages"]:
                    lost.append((f, f"GET /api/documents/{doc_id}: {st}"))
                    continue
                st, res = http(base, "POST", "/api/search", {"query": title, "size": 10})
                ids = [r["document"]["id"] for r in (res or {}).get("results", [])]
                if st != 200 or doc_id not in ids:
                    lost.append((f, f"search for its title {title!r} does not find it (HTTP {st})"))
    finally:
        srv.terminate()
        srv.wait()
    print()
    print(f"good documents: {len(good_files)} files checked, {len(lost)} lost")
    for f, why in lost:
        print(f"  LOST {os.path.relpath(f, good_root)}: {why}")
    escaped = len(culprits) + (0 if report else 1)
    print()
    print(f"files tried: {len(hostile)}  reported: {reported}  indexed: {accepted}  ignored: {len(hostile) - reported - accepted - len(culprits)}  unexpected outcomes: {wrong}")
    print(f"files tried / reported / panics escaped / good documents lost: {len(hostile)} / {reported} / {escaped} / {len(lost)}")
    return 0 if escaped == 0 and not lost and wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
