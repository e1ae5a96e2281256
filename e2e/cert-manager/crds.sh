#!/usr/bin/env bash
# Writes cert-manager's CRDs for the version go.mod beside this script pins into a versioned
# cache directory and prints that directory. They come from the module zip the Go module proxy
# serves (the same one main.go builds from): the chart's templates/crd-*.yaml, with their Helm
# templating stripped here, so none of cert-manager's files is kept in this repository.
# Env: OMRING_CACHE (default ~/.cache/omring), GO (go binary).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
VERSION=$("$HERE/../../scripts/go-tool.sh" version "$HERE" github.com/cert-manager/cert-manager)
OUT="${OMRING_CACHE:-$HOME/.cache/omring}/cert-manager-crds-$VERSION"
[[ -s $OUT/crds.yaml ]] && { echo "$OUT"; exit 0; }

DIR=$(cd "$HERE" && GOTOOLCHAIN=${GOTOOLCHAIN:-local} "$GO" mod download -json "github.com/cert-manager/cert-manager@v$VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
TEMPLATES=$DIR/deploy/charts/cert-manager/templates
[[ -d $TEMPLATES ]] || { echo "crds.sh: no $TEMPLATES in the module" >&2; exit 1; }
mkdir -p "$OUT"
tmp=$(mktemp "$OUT/.crds.XXXXXX")
for f in "$TEMPLATES"/crd-*.yaml; do
  # Keep the CRD as the chart renders it with crds.enabled=true and crds.keep=false: drop the
  # outer if/end, the keep block, and put the chart's labels in place of their include.
  awk '
    /^[[:space:]]*\{\{-? *if \.Values\.crds\.keep/ { skip = 1; next }
    skip && /^[[:space:]]*\{\{-? *end/ { skip = 0; next }
    skip { next }
    /^[[:space:]]*\{\{-? *if or \.Values\.crds\.enabled/ { next }
    /^[[:space:]]*\{\{-? *end *-?\}\}[[:space:]]*$/ { next }
    /\{\{-? *include "cert-manager\.crd-labels"/ {
      match($0, /^[[:space:]]*/); pad = substr($0, 1, RLENGTH)
      if (pad == "") pad = "    "
      print pad "app.kubernetes.io/name: cert-manager"
      print pad "app.kubernetes.io/instance: cert-manager"
      next
    }
    { print }
  ' "$f" >>"$tmp"
  echo "---" >>"$tmp"
done
if grep -n '{{' "$tmp" >&2; then
  echo "crds.sh: Helm templating left in cert-manager v$VERSION's CRDs (above); teach this script about it" >&2
  rm -f "$tmp"; exit 1
fi
mv -f "$tmp" "$OUT/crds.yaml"
echo "$OUT"
