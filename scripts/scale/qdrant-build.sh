#!/usr/bin/env bash
# Builds the Qdrant server from source, offline, once per tag, into the data directory.
#
#   scripts/scale/qdrant-build.sh            # builds $QDRANT_TAG (default v1.15.5), or reuses it
#
# No package registry ships the Qdrant server, and the build machine reaches no GitHub. The
# sources come from bare git mirrors (the tool library's `fetch` puts them under
# $QDRANT_MIRROR/<owner>+<name>/repo): qdrant/qdrant and its four git dependencies
# (qdrant/wal, qdrant/tar-rs, stusmall/murmur3, qdrant/rust-stemmers). Cargo fetches those
# through the git command line with `insteadOf` rules pointing at the mirrors, so Qdrant's own
# Cargo.lock is used unchanged (`--locked`). crates.io is reachable for the rest.
#
# The build takes about an hour on two cores and is not part of `make test`. The `rocksdb`
# default feature is left out (it needs a C++ build of RocksDB and libclang). The result is
# $DATA/qdrant/<tag>/bin/qdrant with a sha256 file beside it; a later run with the same tag and
# a matching checksum reuses it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
data=${SHIRABE_DATA_DIR:-$repo/.data}
tag=${QDRANT_TAG:-v1.15.5}
mirror=${QDRANT_MIRROR:-/work/.mirror}
root=$data/qdrant/$tag
bin=$root/bin/qdrant

say() { printf '==> qdrant-build: %s\n' "$*" >&2; }
fail() { printf 'error: qdrant-build: %s\n' "$*" >&2; exit 1; }

if [[ -x $bin && -f $bin.sha256 ]] && (cd "$root/bin" && sha256sum --quiet -c qdrant.sha256); then
    say "reusing $bin ($("$bin" --version 2>/dev/null || echo "$tag"))"
    exit 0
fi

command -v protoc >/dev/null || fail "protoc is missing: apt-get install protobuf-compiler"
for name in qdrant+qdrant qdrant+wal qdrant+tar-rs stusmall+murmur3 qdrant+rust-stemmers; do
    [[ -d $mirror/$name/repo ]] || fail "no mirror of ${name/+//} at $mirror/$name/repo (fetch github:${name/+//} first)"
done

say "exporting qdrant $tag"
rm -rf "$root/src"
mkdir -p "$root/src" "$root/bin"
git --git-dir="$mirror/qdrant+qdrant/repo" archive "$tag" | tar -x -C "$root/src"

# Cargo fetches git dependencies with the git command line, which follows these rules.
gitconfig=$root/gitconfig
: > "$gitconfig"
for pair in "qdrant/wal.git qdrant+wal" "qdrant/wal qdrant+wal" "qdrant/tar-rs qdrant+tar-rs" \
            "stusmall/murmur3 stusmall+murmur3" "qdrant/rust-stemmers.git qdrant+rust-stemmers" \
            "qdrant/rust-stemmers qdrant+rust-stemmers"; do
    set -- $pair
    git config --file "$gitconfig" --add "url.file://$mirror/$2/repo.insteadOf" "https://github.com/$1"
done

say "building (about an hour on two cores; log: $root/build.log)"
started=$(date +%s)
(
    cd "$root/src"
    export GIT_CONFIG_GLOBAL=$gitconfig CARGO_NET_GIT_FETCH_WITH_CLI=true
    export CARGO_TARGET_DIR=$root/target
    cargo build --release --locked --no-default-features --bin qdrant
) > "$root/build.log" 2>&1 || fail "cargo build failed; see $root/build.log"
cp "$root/target/release/qdrant" "$bin"
(cd "$root/bin" && sha256sum qdrant > qdrant.sha256)
say "built $bin in $(( $(date +%s) - started )) s"
