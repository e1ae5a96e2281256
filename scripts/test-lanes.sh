#!/usr/bin/env bash
# Runs `make test`'s tests in two lanes at once:
#   e2e    the end-to-end scenarios (e2e/tests/e2e): about 25 minutes, spent mostly waiting on
#          a real cluster (pods starting, rings electing, Nodes draining). They start as soon as
#          the workspace's binaries and their own test executable are built (`make e2e-build`).
#   tests  the rest of the build (`make build`: the fault suite's om-node variant and every
#          test target), then every other test executable of the workspace, the doc tests, the
#          linearizability checker's own tests and `make chart-check`, all under `nice -n 10`,
#          so the cluster's processes keep their CPU and the e2e deadlines their margin.
# One after the other, the second lane added about 9 minutes to every CI run, and the rest of the
# build 3 more before the first scenario.
# The e2e lane uses copies of om-node and omring-operator (in $CARGO_TARGET_DIR/e2e-bins): the
# fault suite's variant is built to the same path, <target>/debug/om-node, while the scenarios run.
# The executables run directly, each in its package's directory as `cargo test` runs them:
# cargo holds the build directory's lock while its tests run, so two `cargo test` would take
# turns. Each line is prefixed with its lane, and each lane's whole log is also kept in
# $CARGO_TARGET_DIR/test-logs/. Every executable runs even when one fails; the script exits
# non-zero after both lanes finish if either failed, and names the executables that failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
LOGS=$TARGET/test-logs
BINS=$TARGET/e2e-bins
rm -rf "$LOGS" "$BINS" && mkdir -p "$LOGS" "$BINS"

# The e2e executable and the binaries it tests: "TARGET DIR EXECUTABLE" (nothing is compiled again
# after `make e2e-build`: scripts/exe-of.sh resolves features as the whole build does).
scripts/exe-of.sh e2e >"$LOGS/e2e.executable" || { echo "test-lanes: building the e2e tests failed" >&2; exit 1; }
awk '$1 == "e2e" { print $2, $3 }' "$LOGS/e2e.executable" >"$LOGS/e2e.list"
[[ $(wc -l <"$LOGS/e2e.list") -eq 1 ]] || { echo "test-lanes: expected one e2e test executable, found $(wc -l <"$LOGS/e2e.list")" >&2; exit 1; }
# -p: the images the scenarios make of them are rebuilt only when a binary changed.
cp -p "$TARGET/debug/om-node" "$TARGET/debug/omring-operator" "$BINS/" || exit 1

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
  make --no-print-directory build || return 1
  # Every test executable of the workspace build but the e2e tests (the other lane's).
  scripts/exe-of.sh tests >"$LOGS/executables" || return 1
  awk '$1 != "e2e" { print $2, $3 }' "$LOGS/executables" >"$LOGS/tests.list"
  [[ -s $LOGS/tests.list ]] || { echo "test-lanes: no test executables besides e2e" >&2; return 1; }
  run_list "$LOGS/tests.list" || rc=1
  cargo test --workspace --no-fail-fast --doc || rc=1
  (cd scripts/tools && go test ./porcupine-check) || rc=1
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

lane e2e env OMRING_E2E_BIN_DIR="$BINS" bash -c "$(declare -f run_list); run_list $(printf %q "$LOGS/e2e.list")" &
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
