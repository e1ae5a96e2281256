#!/usr/bin/env bash
# Builds the Go tools the chart and image checks use, pinned by scripts/tools/go.mod and go.sum,
# into a cache directory named after their versions and the go.sum hash, and prints that
# directory's bin/. A second run finds them there and returns at once.
#   kubeconform        validates rendered manifests against JSON schemas
#   crane              validates, flattens and pushes the OCI image archives
#   dockerfile-check   BuildKit's Dockerfile parser and linter (scripts/tools/dockerfile-check)
#   omring-porcupine   the fault suite's linearizability checker (scripts/tools/porcupine-check)
# Env: OMRING_CACHE (default ~/.cache/omring), GO (go binary), GOFLAGS (e.g. -p=1).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
modver() { sed -n "s|^[[:space:]]*\(require \)\{0,1\}$1 v\([^ ]*\).*|\2|p" "$HERE/go.mod" | head -n1; }
KUBECONFORM_VERSION=$(modver github.com/yannh/kubeconform)
CRANE_VERSION=$(modver github.com/google/go-containerregistry)
BUILDKIT_VERSION=$(modver github.com/moby/buildkit)
PORCUPINE_VERSION=$(modver github.com/anishathalye/porcupine)
SUM=$(cat "$HERE/go.sum" "$HERE"/*/*.go | sha256sum | cut -c1-8)
BIN="${OMRING_CACHE:-$HOME/.cache/omring}/tools-kubeconform-$KUBECONFORM_VERSION-crane-$CRANE_VERSION-buildkit-$BUILDKIT_VERSION-porcupine-$PORCUPINE_VERSION-$SUM/bin"

declare -A PKG=(
  [kubeconform]=github.com/yannh/kubeconform/cmd/kubeconform
  [crane]=github.com/google/go-containerregistry/cmd/crane
  [dockerfile-check]=./dockerfile-check
  [omring-porcupine]=./porcupine-check
)
missing() { local b; for b in "${!PKG[@]}"; do [[ -x $BIN/$b ]] || echo "$b"; done; }
[[ -z $(missing) ]] && { echo "$BIN"; exit 0; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
mkdir -p "$BIN"
exec 9>"$BIN/.build.lock"; flock 9 # one builder per cache directory
export CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-local}
for b in "${!PKG[@]}"; do
  [[ -x $BIN/$b ]] && continue
  t0=$SECONDS
  echo "building $b (${PKG[$b]}) into $BIN ..." >&2
  (cd "$HERE" && nice -n 10 "$GO" build -mod=readonly -trimpath -ldflags "-s -w" -o "$BIN/.$b.tmp" "${PKG[$b]}")
  mv -f "$BIN/.$b.tmp" "$BIN/$b"
  echo "built $b in $((SECONDS - t0))s" >&2
done
[[ -z $(missing) ]] || { echo "missing after build: $(missing)" >&2; exit 1; }
echo "$BIN"
