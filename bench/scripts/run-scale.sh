#!/usr/bin/env bash
# `make bench-scale`: how omring's costs grow with the namespace (issue 20). Builds om-node and
# omring-bench, installs matplotlib into the bench venv (cached; the charts are skipped with a
# note if that fails), runs `omring-bench scale` and writes $OUT/{scale.json,scale.md,scale.png}
# (OUT defaults to bench/results/scale). Extra arguments go to `omring-bench scale`
# (e.g. --keys 0,100000 --secs 20 --repeats 3 --shapes one-bucket).
# At the defaults (0 to 10,000,000 keys, two shapes, 60 s steps, 5 repeats) it takes many hours
# on a 2-core machine.
# Env: OUT; SCALE_NO_BUILD=1 uses the binaries already in $CARGO_TARGET_DIR/debug;
# SCALE_ALLOW_DIRTY=1 writes bench/results/scale from a tree with uncommitted changes (the report
# lists them).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-bench/results/scale}

# The committed figures must be figures of a commit: refuse a dirty tree unless the results go
# elsewhere or the caller says so.
if [ "$OUT" = bench/results/scale ] && [ -n "$(git status --porcelain)" ] && [ "${SCALE_ALLOW_DIRTY:-}" != 1 ]; then
  echo "refusing to write bench/results/scale from a tree with uncommitted changes (git status);" \
       "commit first, set OUT to another directory, or SCALE_ALLOW_DIRTY=1" >&2
  exit 1
fi

PYTHON_ARG=()
if PEERS=$(ONLY=python bench/scripts/setup-peers.sh); then
  eval "$PEERS"
  PYTHON_ARG=(--python "$PYTHON")
else
  echo "run-scale: could not install matplotlib; the report will say the charts were skipped" >&2
fi
if [ "${SCALE_NO_BUILD:-}" != 1 ]; then
  # The whole workspace, as `make build` does: a subset would resolve features differently and
  # compile RocksDB again.
  cargo build --workspace --all-targets
  # om-node as the benchmarks measure it: fully optimized (the `perf` profile, Cargo.toml).
  cargo build --profile perf -p om-node --bin om-node
fi
mkdir -p "$OUT"
echo "load before the run: $(cat /proc/loadavg)" >&2
"$CARGO_TARGET_DIR/debug/omring-bench" scale \
  --out "$OUT" \
  --om-node "$CARGO_TARGET_DIR/perf/om-node" \
  "${PYTHON_ARG[@]}" \
  --reproduce "make bench-scale  (bench/scripts/run-scale.sh $*)" \
  "$@"
# Every run is kept, named by when and from which commit it ran.
mkdir -p "$OUT/runs"
cp "$OUT/scale.json" "$OUT/runs/$(date -u +%Y%m%dT%H%M%SZ)-$(git rev-parse --short HEAD).json"
echo "wrote $OUT/scale.md" >&2
