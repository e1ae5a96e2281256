#!/usr/bin/env bash
# Runs `make test`'s tests in two lanes at once, from the build `make build` made:
#   e2e    the end-to-end scenarios (e2e/tests/e2e): about 25 minutes, spent mostly waiting on
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

# Every test executable of the workspace build, "TARGET DIR EXECUTABLE" (nothing is compiled
# again: scripts/exe-of.sh selects what `make build` built, so features resolve the same way).
scripts/exe-of.sh tests >"$LOGS/executables" || { echo "test-lanes: listing the test executables failed" >&2; exit 1; }
awk '$1 == "e2e" { print $2, $3 }' "$LOGS/executables" >"$LOGS/e2e.list"
awk '$1 != "e2e" { print $2, $3 }' "$LOGS/executables" >"$LOGS/tests.list"
[[ $(wc -l <"$LOGS/e2e.list") -eq 1 && -s $LOGS/tests.list ]] || {
  echo "test-lanes: expected one e2e test executable and others, found $(wc -l <"$LOGS/e2e.list") and $(wc -l <"$LOGS/tests.list")" >&2
  exit 1
}

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
  "$@" 2>&1 | tee "$LOGS/$name.log" | sed -u "s/^/[$name] /"
  rc=${PIPESTATUS[0]}
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
