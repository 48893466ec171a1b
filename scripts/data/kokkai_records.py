#!/usr/bin/env python3
"""Turns the weekly speech files of open-politicians-jp/gijiroku-search (records of the NDL
minutes API, renamed) back into the API's own record shape, one JSON object per line.

Usage: kokkai_records.py OUT.jsonl FILE.json...

The files keep every speech of each meeting (speech numbers run from 1 without gaps) but renamed
the fields and dropped the chair's position and the space after the speaker marker
(「○浜田委員長これより…」). The API's shape is restored: field names, speechOrder and issueID from
speechID, the marker separated by an ideographic space, and speakerPosition 委員長/議長/会長 for the
chair where the marker says so. Nothing else is changed.
"""
import json
import re
import sys

# The marker ends at 「…君）」 (政府参考人（植田明浩君）) or at the first title word.
PAREN = re.compile(r"^○([^○]{1,40}?君）)")
TITLE = re.compile(r"^○(.{1,30}?(?:委員長|副議長|議長|副大臣|大臣|政務官|参考人|公述人|委員|会長|君))")
CHAIR = ("委員長", "副議長", "議長", "会長")


def record(r):
    text = r["text"]
    m = PAREN.match(text) or TITLE.match(text)
    position = r.get("position")
    if m:
        marker = m.group(1)
        body = text[len(marker) + 1:].lstrip(" \u3000")
        text = "○" + marker + "\u3000" + body
        head = marker.split("（")[0]
        if not position and head.endswith(CHAIR):
            position = next(c for c in CHAIR if head.endswith(c))
    speech_id = r["id"]
    issue_id, _, order = speech_id.rpartition("_")
    return {
        "speechID": speech_id,
        "issueID": issue_id,
        "session": r.get("session"),
        "nameOfHouse": r.get("house"),
        "nameOfMeeting": r.get("committee"),
        "date": r.get("date"),
        "speechOrder": int(order),
        "speaker": r.get("speaker"),
        "speakerGroup": r.get("party") or "",
        "speakerPosition": position or "",
        "speakerRole": "",
        "speech": text,
        "speechURL": r.get("url"),
    }


def main():
    out, files = sys.argv[1], sys.argv[2:]
    rows = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            rows.extend(record(r) for r in json.load(fh)["data"])
    rows.sort(key=lambda r: (r["date"], r["issueID"], r["speechOrder"]))
    with open(out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} speeches -> {out}")


if __name__ == "__main__":
    main()
