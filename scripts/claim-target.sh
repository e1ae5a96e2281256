#!/usr/bin/env bash
# The build directory ($CARGO_TARGET_DIR, ~/.cache/omring/target by default) is shared by every
# checkout on the machine so RocksDB is compiled once. Cargo judges the workspace's own crates
# fresh by file times, so after another checkout built there it can reuse that checkout's
# binaries, with its paths compiled in (CARGO_MANIFEST_DIR) and possibly its sources. When the
# last build came from another checkout, this removes the workspace crates' outputs (not the
# dependencies') so they are built from this checkout's sources.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/omring/target}
STAMP=$TARGET/omring-checkout
if [[ -f $STAMP && $(cat "$STAMP") != "$ROOT" ]]; then
  echo "claim-target: $TARGET was last built from $(cat "$STAMP"); rebuilding the workspace crates from $ROOT" >&2
  packages=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
  # shellcheck disable=SC2086
  (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo clean $packages)
fi
mkdir -p "$TARGET"
printf '%s' "$ROOT" > "$STAMP"
