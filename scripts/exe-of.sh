#!/usr/bin/env bash
# Prints the path of one executable of the workspace build: `exe-of.sh test NAME` (a test target)
# or `exe-of.sh bench NAME`; OMRING_PROFILE=perf picks the benchmarks' profile (default: dev).
# Runs the same `cargo build --workspace --all-targets` as `make build`,
# so nothing is compiled again: a filtered `cargo test -p X --test Y` or `cargo bench -p X`
# resolves dependency features for that subset and compiles RocksDB a second time.
set -euo pipefail
# Cargo's default build directory is the Makefile's (./target), so running this by hand reuses
# that build. CARGO_TARGET_DIR is not set here: sccache keys compiles on it (see the Makefile).
kind=${1:?usage: exe-of.sh test|bench NAME}
name=${2:?usage: exe-of.sh test|bench NAME}
cargo build --profile "${OMRING_PROFILE:-dev}" --workspace --all-targets --message-format=json | python3 -c '
import json, sys
kind, name = sys.argv[1], sys.argv[2]
found = None
# Read to the end: leaving early would break the pipe of a cargo still building other targets.
for m in map(json.loads, sys.stdin):
    t = m.get("target", {})
    if m.get("executable") and t.get("name") == name and kind in t.get("kind", []) + (["test"] if m.get("profile", {}).get("test") else []):
        found = found or m["executable"]
if not found:
    sys.exit(f"no {kind} executable named {name} in the workspace build")
print(found)
' "$kind" "$name"
