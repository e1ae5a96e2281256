#!/usr/bin/env bash
# Builds cert-manager's certificate controllers (main.go beside this script; the version is
# pinned by go.mod and go.sum) into a versioned cache directory and prints its bin/. A second
# run finds the binary there and returns at once (scripts/go-tool.sh).
#   omring-cert-manager   the controllers, run by the e2e suite as a host process
# Env: OMRING_CACHE (default ~/.cache/omring), GO (go binary), GOFLAGS (e.g. -p=1).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GO_TOOL=$HERE/../../scripts/go-tool.sh
VERSION=$("$GO_TOOL" version "$HERE" github.com/cert-manager/cert-manager)
SUM=$(cat "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-8)
BIN="${OMRING_CACHE:-$HOME/.cache/omring}/cert-manager-$VERSION-$SUM/bin"
exec "$GO_TOOL" build "$HERE" "$BIN" omring-cert-manager=.
