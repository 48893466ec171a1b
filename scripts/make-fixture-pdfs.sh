#!/usr/bin/env bash
# Renders the fixture PDF sources to PDF with headless Chromium.
#
#   scripts/make-fixture-pdfs.sh OUTDIR
#
# Every fixtures/pdf-src/NAME.html becomes OUTDIR/NAME.pdf. A PDF that is already newer than
# its source is left alone, so running the script twice does no work the second time. Chromium is
# needed only when something has to be rendered; if it is then missing, the script stops with an
# error that says how to install it.
#
# Environment:
#   CHROMIUM            the browser to run (default: chromium, else chromium-browser, from PATH)
#   SHIRABE_PDF_SRC     folder of the HTML sources (default: fixtures/pdf-src of this repo)
#   PDF_RENDER_TIMEOUT  seconds allowed for one page (default: 120)
#
# Fonts: the sources ask for "Noto Serif CJK JP" / "Noto Sans CJK JP" (Debian: fonts-noto-cjk).
set -euo pipefail

die() { echo "make-fixture-pdfs: error: $*" >&2; exit 1; }

if [[ $# -ne 1 || -z ${1:-} || $1 == -h || $1 == --help ]]; then
    echo "usage: $0 OUTDIR" >&2
    echo "renders fixtures/pdf-src/*.html to OUTDIR/<name>.pdf with headless chromium" >&2
    exit 2
fi

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=${SHIRABE_PDF_SRC:-$script_dir/../fixtures/pdf-src}
[[ -d $src_dir ]] || die "source folder not found: $src_dir"
src_dir=$(cd "$src_dir" && pwd)

out_dir=$1
mkdir -p "$out_dir" || die "cannot create output folder: $out_dir"
out_dir=$(cd "$out_dir" && pwd)

timeout_s=${PDF_RENDER_TIMEOUT:-120}

# Resolved on first use, so that an up-to-date OUTDIR needs no browser.
chromium_bin=""
find_chromium() {
    [[ -n $chromium_bin ]] && return 0
    local c
    if [[ -n ${CHROMIUM:-} ]]; then
        chromium_bin=$(command -v "$CHROMIUM" 2>/dev/null) \
            || die "CHROMIUM=$CHROMIUM is not an executable command"
        return 0
    fi
    for c in chromium chromium-browser; do
        if command -v "$c" >/dev/null 2>&1; then
            chromium_bin=$(command -v "$c")
            return 0
        fi
    done
    die "chromium not found on PATH (looked for: chromium, chromium-browser). Install it, e.g. 'apt-get install -y chromium fonts-noto-cjk' on Debian, or set CHROMIUM=/path/to/chromium."
}

# (Captured first: with pipefail, `fc-list | grep -q` can fail on SIGPIPE.)
fonts=$(fc-list 2>/dev/null || true)
if ! grep -q "Noto S[a-z]* CJK JP" <<<"$fonts"; then
    echo "make-fixture-pdfs: warning: no Noto CJK JP font found (Debian: fonts-noto-cjk); Japanese text may render with a fallback font or as boxes" >&2
fi

# file:// URL for an absolute path: escape the few characters that would break it.
file_url() {
    local p=$1
    p=${p//%/%25}
    p=${p// /%20}
    p=${p//#/%23}
    p=${p//\?/%3F}
    printf 'file://%s' "$p"
}

tmp_dirs=()
cleanup() {
    local d
    for d in "${tmp_dirs[@]}"; do rm -rf -- "$d"; done
}
trap cleanup EXIT

shopt -s nullglob
sources=("$src_dir"/*.html)
((${#sources[@]} > 0)) || die "no *.html files in $src_dir"

rendered=0
skipped=0
for src in "${sources[@]}"; do
    name=$(basename "$src" .html)
    out="$out_dir/$name.pdf"
    if [[ -s $out && $out -nt $src ]]; then
        echo "up to date: $out"
        skipped=$((skipped + 1))
        continue
    fi
    find_chromium
    profile=$(mktemp -d "${TMPDIR:-/tmp}/shirabe-chromium.XXXXXX")
    tmp_dirs+=("$profile")
    tmp_out="$out_dir/.$name.pdf.tmp.$$"
    log="$profile/chromium.log"
    if ! timeout "$timeout_s" "$chromium_bin" --headless --no-sandbox --disable-gpu \
        --disable-dev-shm-usage --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --user-data-dir="$profile" --no-pdf-header-footer \
        --print-to-pdf="$tmp_out" "$(file_url "$src")" >"$log" 2>&1; then
        rm -f -- "$tmp_out"
        tail -n 20 "$log" >&2 || true
        die "chromium failed to render $src"
    fi
    if [[ ! -s $tmp_out ]] || [[ $(head -c 5 "$tmp_out") != "%PDF-" ]]; then
        rm -f -- "$tmp_out"
        tail -n 20 "$log" >&2 || true
        die "chromium produced no PDF for $src"
    fi
    mv -f -- "$tmp_out" "$out"
    echo "rendered: $src -> $out"
    rendered=$((rendered + 1))
    rm -rf -- "$profile"
done

echo "make-fixture-pdfs: $rendered rendered, $skipped up to date, in $out_dir"
