#!/usr/bin/env bash
# No outbound traffic, shown two ways:
#   1. Inside a network namespace that has only loopback (unshare --net, iproute2): index
#      fixtures/docs, serve, and answer a search and a question. Shows that nothing needs the network.
#   2. Outside the namespace, where the network is reachable: run the indexer and the service (with
#      search, answer, document, audit and metrics requests) under `strace -f` and assert that every
#      connect()/sendto()/sendmsg()/bind() target of theirs, and of every child (pdftotext, tesseract), is
#      loopback or a Unix socket. Shows that nothing even tries.
#   scripts/stress/no-network.sh          (STRESS_SMALL=1: a smaller share, as CI uses)
# Each part prints "SKIPPED: …" when its tool (unshare with root or user namespaces / strace) is
# missing; a violation or a failed request exits non-zero.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/shirabe-no-network.XXXXXX)
server_pid=""
cleanup() { stop_service; rm -rf "$work"; }
trap cleanup EXIT
status=0
# STRESS_SMALL=1 (CI): the circulars and one PDF (so pdftotext runs under strace too)
docs=$repo/fixtures/docs
if [ -n "${STRESS_SMALL:-}" ]; then
  docs=$work/docs
  mkdir -p "$docs"
  cp -r "$repo/fixtures/docs/circulars" "$repo/fixtures/docs/generated/kokuji-59-conveni-kofu-r6.pdf" "$docs/"
fi

# The requests both parts send; prints one line per request, fails on a non-200 or an empty result.
cat > "$work/requests.py" <<'EOF'
import json, sys, urllib.request
base = sys.argv[1]
def call(method, path, body=None, token="dev-kanri"):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None, method=method,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
        return r.status, json.loads(raw) if raw.startswith((b"{", b"[")) else raw.decode()
st, s = call("POST", "/api/search", {"query": "住民票の写しの交付手数料", "size": 3})
top = s["results"][0]["document"]
print(f"  search 住民票の写しの交付手数料 -> {st}, {s['total']} documents, top: {top['title']}")
st, ans = call("POST", "/api/answer", {"question": "住民票の写しの交付手数料はいくらですか"})
said = "".join(x["text"] for x in ans["sentences"])[:90] if ans["answerable"] else ans["message"]
print(f"  answer 住民票の写しの交付手数料はいくらですか -> {st}, answerable={ans['answerable']}, {len(ans['citations'])} citations: {said}")
st, d = call("GET", f"/api/documents/{top['id']}")
print(f"  document {top['id']} -> {st}, {len(d['passages'])} passages")
st, _ = call("GET", "/api/audit?n=5")
print(f"  audit tail -> {st}")
st, _ = call("GET", "/metrics")
print(f"  metrics -> {st}")
assert s["results"] and d["passages"]
EOF

cat > "$work/summary.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  indexed {sys.argv[2]}: {r['documents']} documents, {r['passages']} passages, {len(r['failed'])} failed")
EOF

echo "==> 1. indexer and service in a network namespace with only loopback"
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
  ns=(unshare --net)
elif unshare --user --map-root-user --net true 2>/dev/null; then
  ns=(unshare --user --map-root-user --net)
else
  ns=()
  echo "SKIPPED: cannot create a network namespace here (needs root or unprivileged user namespaces)"
fi
if [ ${#ns[@]} -gt 0 ]; then
  stress_env "$work/ns"
  if "${ns[@]}" bash -euo pipefail -c '
    ip link set lo up
    echo "  interfaces in the namespace: $(ip -o link show | awk -F": " "{print \$2}" | tr "\n" " ")"
    python3 -c "
import socket
s = socket.socket()
s.settimeout(3)
try:
    s.connect((\"192.0.2.1\", 443))
    print(\"  outbound connect to 192.0.2.1:443 SUCCEEDED (the namespace is not isolated)\"); raise SystemExit(1)
except OSError as e:
    print(f\"  outbound connect to 192.0.2.1:443 fails as expected: {e.strerror}\")
"
    t=$(date +%s)
    "$1" "$4" > "$3/ns-report.json"
    python3 "$3/summary.py" "$3/ns-report.json" "$4"
    source "$2/scripts/stress/lib.sh"
    start_service "$3/ns-serve.log"
    python3 "$3/requests.py" "$base"
    kill $server_pid; wait $server_pid 2>/dev/null || true
    echo "  namespace part took $(( $(date +%s) - t )) s"
  ' _ "$indexer" "$repo" "$work" "$docs"; then
    echo "  ok: everything works with loopback only"
  else
    echo "FAILED: indexing or serving inside the namespace"; status=1
  fi
fi

echo "==> 2. every connect()/sendto()/sendmsg()/bind() of the indexer and the service under strace"
if ! command -v strace >/dev/null; then
  echo "SKIPPED: strace missing (scripts/setup.sh installs it)"
else
  stress_env "$work/strace"
  trace=(strace -f -qq -e trace=connect,sendto,sendmsg,bind -e signal=none)
  "${trace[@]}" -o "$work/indexer.strace" "$indexer" "$docs" > /dev/null
  port=$(free_port); base=http://127.0.0.1:$port
  "${trace[@]}" -o "$work/serve.strace" "$shirabe" serve --listen "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
  server_pid=$!
  wait_ready "$base" 180 || { echo "FAILED: the traced service did not start"; tail "$work/serve.log"; exit 1; }
  python3 "$work/requests.py" "$base" || status=1
  # strace does not pass SIGTERM on: stop the traced service itself, then strace exits with it
  tracee=$(pgrep -P "$server_pid" || true)
  [ -n "$tracee" ] && kill "$tracee" 2>/dev/null || true
  stop_service
  python3 - "$port" "$work/indexer.strace" "$work/serve.strace" <<'EOF' || status=1
import re, sys
bad, seen = [], {}
port, paths = sys.argv[1], sys.argv[2:]
for path in paths:
    for line in open(path, errors="replace"):
        m = re.search(r"\b(connect|sendto|sendmsg|bind)\((\d+), (.*)", line)
        if not m or "sa_family=" not in line:
            continue  # a send on an already connected socket carries no address
        fam = re.search(r"sa_family=(AF_\w+)", line).group(1)
        if fam == "AF_UNIX":
            ok, target = True, "unix"
        elif fam == "AF_INET":
            ip = re.search(r'inet_addr\("([\d.]+)"\)', line).group(1)
            ok, target = ip.startswith("127."), ip
        elif fam == "AF_INET6":
            ip = re.search(r'inet_pton\(AF_INET6, "([^"]+)"', line).group(1)
            ok, target = ip in ("::1", "::ffff:127.0.0.1") or ip.startswith("::ffff:127."), ip
        elif fam in ("AF_NETLINK", "AF_UNSPEC"):
            ok, target = True, fam  # kernel interface queries / disconnects, not traffic
        else:
            ok, target = False, fam
        key = f"{m.group(1)} {fam} {target}"
        seen[key] = seen.get(key, 0) + 1
        if not ok:
            bad.append(line.strip())
# positive control: the trace must show the service binding its loopback port
if not any(l.startswith("bind AF_INET 127.0.0.1") for l in seen) or f"htons({port})" not in open(paths[1], errors="replace").read():
    print(f"FAILED: the trace does not show the service binding 127.0.0.1:{port}; is strace tracing at all?")
    sys.exit(1)
print("  address families and targets seen: " + (", ".join(f"{k} x{v}" for k, v in sorted(seen.items())) or "none"))
if bad:
    print(f"FAILED: {len(bad)} non-loopback connection attempts:")
    for l in bad[:20]:
        print("    " + l)
    sys.exit(1)
print("  ok: no connection outside loopback")
EOF
fi
[ $status -eq 0 ] && echo "no outbound traffic: ok" || echo "no outbound traffic: FAILED"
exit $status
