#!/usr/bin/env bash
# The one command of the side-by-side benchmark (`make bench-compare` runs it):
# installs the peers from the registries (cached), builds om-node and omring-bench, runs
# omring, etcd and Apache Ozone OM one after another at 1/16/64/256 clients, and writes
# bench/results/{results.json,results.md,throughput.png}.
# Extra arguments go to `omring-bench run` (e.g. --secs 5 --systems omring,etcd --trials 3).
# At the defaults (60 s steps, 5 repeats in ABBA order) it takes several hours on a 2-core
# machine; run it on a quiet machine. `ARGS="--secs 5 --repeats 2"` gives a quick look.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-bench/results}

# Committed results (bench/results and directories under it) must be figures of a commit: refuse
# a dirty tree unless the results go elsewhere (OUT=/tmp/x make bench-compare).
case "$OUT" in bench/results | bench/results/*) committed=1 ;; *) committed=0 ;; esac
if [ "$committed" = 1 ] && [ -n "$(git status --porcelain)" ]; then
  echo "refusing to write bench/results from a tree with uncommitted changes (git status);" \
       "commit first, or set OUT to another directory" >&2
  exit 1
fi

# Not `eval "$(...)"`: eval of an empty string succeeds, so a failed install would not stop the run.
PEERS=$(bench/scripts/setup-peers.sh)
eval "$PEERS"
# The whole workspace, as `make build` does: a subset would resolve features differently and
# compile RocksDB again.
cargo build --workspace --all-targets
# om-node as the benchmarks measure it: fully optimized (the `perf` profile, Cargo.toml).
cargo build --profile perf -p om-node --bin om-node
mkdir -p "$OUT"
echo "load before the run: $(cat /proc/loadavg)" >&2
"$CARGO_TARGET_DIR/debug/omring-bench" run \
  --out "$OUT" \
  --om-node "$CARGO_TARGET_DIR/perf/om-node" \
  --etcd-bin "$ETCD_BIN" \
  --ozone-lib "$OZONE_LIB" \
  --ozone-driver "$OZONE_DRIVER" \
  --reproduce "make bench-compare  (bench/scripts/run-all.sh $*)" \
  "$@" > /dev/null
"$PYTHON" bench/scripts/chart.py "$OUT/results.json" "$OUT/throughput.png"
# Every run is kept, named by when and from which commit it ran.
mkdir -p "$OUT/runs"
cp "$OUT/results.json" "$OUT/runs/$(date -u +%Y%m%dT%H%M%SZ)-$(git rev-parse --short HEAD).json"
echo "wrote $OUT/results.md and $OUT/throughput.png" >&2
