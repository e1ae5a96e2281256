#!/usr/bin/env bash
# Runs `make test`'s tests in two lanes at once, from the build `make build` made:
#   e2e    the end-to-end scenarios (e2e/tests/e2e): about 20 minutes, spent mostly waiting on
#          a real cluster (pods starting, rings electing, Nodes draining);
#   tests  every other test executable of the workspace, the doc tests and `make chart-check`,
#          under `nice -n 10`, so the cluster's processes keep their CPU and the e2e deadlines
#          their margin.
# One after the other, the second lane added about 9 minutes to every CI run.
# The executables run directly, each in its package's directory as `cargo test` runs them:
# cargo holds the build directory's lock while its tests run, so two `cargo test` would take
# turns. Each line is prefixed with its lane, and each lane's whole log is also kept in
# $CARGO_TARGET_DIR/test-logs/. Every executable runs even when one fails; the script exits
# non-zero after both lanes finish if either failed, and names the executables that failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOGS=${CARGO_TARGET_DIR:-$PWD/target}/test-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"

# "DIR EXECUTABLE" per test executable of the workspace build (nothing is compiled again: the
# selection is the same as `make build`'s, so dependency features resolve the same way).
cargo test --workspace --no-run --message-format=json >"$LOGS/executables.json" ||
  { echo "test-lanes: cargo test --no-run failed" >&2; exit 1; }
python3 - "$LOGS" <<'PY' || exit 1
import json, os, sys
logs = sys.argv[1]
e2e, others = [], []
for line in open(os.path.join(logs, "executables.json")):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    row = f'{os.path.dirname(m["manifest_path"])} {m["executable"]}\n'
    (e2e if m["target"]["name"] == "e2e" and "test" in m["target"]["kind"] else others).append(row)
if len(e2e) != 1 or not others:
    sys.exit(f"test-lanes: expected one e2e test executable and others, found {len(e2e)} and {len(others)}")
open(os.path.join(logs, "e2e.list"), "w").writelines(e2e)
open(os.path.join(logs, "tests.list"), "w").writelines(others)
PY

run_list() { # run_list FILE: runs each "DIR EXECUTABLE" line of FILE; fails if any failed
  local dir exe failed=()
  while read -r dir exe; do
    echo "     Running $exe (in $dir)"
    (cd "$dir" && CARGO_MANIFEST_DIR=$dir "$exe" </dev/null) || failed+=("$exe")
  done <"$1"
  [[ ${#failed[@]} -eq 0 ]] || { echo "test-lanes: failed: ${failed[*]}"; return 1; }
}

other_tests() {
  local rc=0
  run_list "$LOGS/tests.list" || rc=1
  cargo test --workspace --no-fail-fast --doc || rc=1
  make --no-print-directory chart-check || rc=1
  return $rc
}

lane() { # lane NAME CMD...: CMD's output prefixed with [NAME] and kept in $LOGS/NAME.log
  local name=$1 t0=$SECONDS rc; shift
  { "$@" 2>&1; echo "$?" >"$LOGS/$name.status"; } | tee "$LOGS/$name.log" | sed -u "s/^/[$name] /"
  rc=$(cat "$LOGS/$name.status" 2>/dev/null || echo 1)
  echo "test-lanes: the $name lane finished in $((SECONDS - t0)) s (exit $rc)"
  return "$rc"
}

lane e2e run_list "$LOGS/e2e.list" &
e2e=$!
lane tests nice -n 10 bash -c "LOGS=$(printf %q "$LOGS"); $(declare -f run_list other_tests); other_tests" &
tests=$!
failed=()
wait "$tests" || failed+=(tests)
wait "$e2e" || failed+=(e2e)
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "test-lanes: the ${failed[*]} lane(s) failed (whole logs in $LOGS/)" >&2
  exit 1
fi
