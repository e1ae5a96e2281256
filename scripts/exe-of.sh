#!/usr/bin/env bash
# Prints the path of one executable of the workspace build: `exe-of.sh test NAME` (a test target)
# or `exe-of.sh bench NAME`; OMRING_PROFILE=perf picks the benchmarks' profile (default: dev).
# `exe-of.sh tests` lists every test executable instead, one "TARGET PACKAGE_DIR EXECUTABLE" line
# each (unit tests of libraries and binaries, and test targets: what `cargo test` runs), for
# scripts/test-lanes.sh. `exe-of.sh e2e` prints that line for the end-to-end tests alone, after
# building only the workspace's binaries and that test (so they can start before the rest).
# Runs the same `cargo build --workspace --all-targets` as `make build` (`--bins --test e2e` for
# `e2e`: a test target brings in the same dev-dependency features), so nothing is compiled
# again: a filtered `cargo test -p X --test Y` or `cargo bench -p X` resolves dependency features
# for that subset and compiles RocksDB a second time.
set -euo pipefail
# Cargo's default build directory is the Makefile's (./target), so running this by hand reuses
# that build. CARGO_TARGET_DIR is not set here: sccache keys compiles on it (see the Makefile).
usage="usage: exe-of.sh test|bench NAME | exe-of.sh tests | exe-of.sh e2e"
kind=${1:?$usage}
targets=(--all-targets)
case $kind in
  tests) name="" ;;
  e2e) name=e2e targets=(--bins --test e2e) ;;
  test | bench) name=${2:?$usage} ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
cargo build --profile "${OMRING_PROFILE:-dev}" --workspace "${targets[@]}" --message-format=json | python3 -c '
import json, os, sys
kind, name = sys.argv[1], sys.argv[2]
found = None
# Read to the end: leaving early would break the pipe of a cargo still building other targets.
for m in map(json.loads, sys.stdin):
    t = m.get("target", {})
    if not m.get("executable"):
        continue
    if kind in ("tests", "e2e"):
        # What `cargo test` runs: bench targets are built in test mode by --all-targets too.
        if m.get("profile", {}).get("test") and "bench" not in t.get("kind", []) and name in ("", t.get("name")):
            found = found or m["executable"]
            print(t.get("name"), os.path.dirname(m["manifest_path"]), m["executable"])
    elif t.get("name") == name and kind in t.get("kind", []) + (["test"] if m.get("profile", {}).get("test") else []):
        found = found or m["executable"]
if kind == "tests" or (kind == "e2e" and found):
    sys.exit(0)
if not found:
    sys.exit(f"no {kind} executable named {name} in the workspace build")
print(found)
' "$kind" "$name"
