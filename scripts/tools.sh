#!/usr/bin/env bash
# Builds the Go tools the chart and image checks use, pinned by scripts/tools/go.mod and go.sum,
# into a cache directory named after their versions and the go.sum hash, and prints that
# directory's bin/. A second run finds them there and returns at once (scripts/go-tool.sh).
#   kubeconform        validates rendered manifests against JSON schemas
#   crane              validates, flattens and pushes the OCI image archives
#   dockerfile-check   BuildKit's Dockerfile parser and linter (scripts/tools/dockerfile-check)
#   omring-porcupine   the fault suite's linearizability checker (scripts/tools/porcupine-check)
# Env: OMRING_CACHE (default ~/.cache/omring), GO (go binary), GOFLAGS (e.g. -p=1).
set -euo pipefail
GO_TOOL=$(dirname "${BASH_SOURCE[0]}")/go-tool.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/tools" && pwd)
modver() { "$GO_TOOL" version "$HERE" "$1"; }
KUBECONFORM_VERSION=$(modver github.com/yannh/kubeconform)
CRANE_VERSION=$(modver github.com/google/go-containerregistry)
BUILDKIT_VERSION=$(modver github.com/moby/buildkit)
PORCUPINE_VERSION=$(modver github.com/anishathalye/porcupine)
SUM=$(cat "$HERE/go.sum" "$HERE"/*/*.go | sha256sum | cut -c1-8)
BIN="${OMRING_CACHE:-$HOME/.cache/omring}/tools-kubeconform-$KUBECONFORM_VERSION-crane-$CRANE_VERSION-buildkit-$BUILDKIT_VERSION-porcupine-$PORCUPINE_VERSION-$SUM/bin"

exec "$GO_TOOL" build "$HERE" "$BIN" \
  kubeconform=github.com/yannh/kubeconform/cmd/kubeconform \
  crane=github.com/google/go-containerregistry/cmd/crane \
  dockerfile-check=./dockerfile-check \
  omring-porcupine=./porcupine-check
