#!/usr/bin/env bash
# Installs sccache (crates.io, local disk cache only) into a versioned directory of the cache and
# prints its path. The Makefile sets it as RUSTC_WRAPPER: each checkout builds in its own
# ./target, and a fresh clone still reuses the compiled dependencies, RocksDB's C++ included
# (the cc crate sees sccache in RUSTC_WRAPPER and wraps the C++ compiler with it too).
# Prints nothing and succeeds if it cannot be installed: the build then runs without a cache.
set -euo pipefail
VERSION=0.19.0
ROOT=${OMRING_CACHE:-$HOME/.cache/omring}/sccache-$VERSION
BIN=$ROOT/bin/sccache
if [[ ! -x $BIN ]]; then
  echo "sccache: installing $VERSION into $ROOT (once, a few minutes)" >&2
  # Its own target dir: the install must not run inside this checkout's RUSTC_WRAPPER.
  if ! env -u RUSTC_WRAPPER CARGO_TARGET_DIR="$ROOT/build" \
      cargo install sccache --version "$VERSION" --locked --no-default-features --root "$ROOT" >&2; then
    echo "sccache: install failed; building without a compiler cache" >&2
    exit 0
  fi
  rm -rf "$ROOT/build"
fi
echo "$BIN"
