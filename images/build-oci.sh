#!/usr/bin/env bash
# Builds the om-node and operator images as OCI archives from the binaries cargo built, with no
# container engine and no registry. First the Dockerfiles (which cannot be built here) go
# through BuildKit's parser and linter, and their Rust builder image must be the Rust release
# this machine builds with. Then each archive is checked the way a runtime would use it:
#   1. crane validates the archive (digests, sizes, diff ids);
#   2. crane flattens it into a root filesystem;
#   3. the image's Entrypoint runs `--version` inside that filesystem, as the image's user
#      (chroot as root; otherwise through the image's own dynamic loader and libraries), and must
#      print the workspace version.
# Usage: images/build-oci.sh [BINARY...]   (default: om-node omring-operator)
# Output: ${OMRING_IMAGES_DIR:-~/.cache/omring/images}/<binary>-<version>.oci.tar
# Push one with: crane push ARCHIVE REGISTRY/REPO:TAG   (or docker load -i ARCHIVE)
# Env: CARGO_TARGET_DIR (default: the checkout's target/), OMRING_BIN_DIR (where the binaries are;
# default: its debug/), CRANE (default: scripts/tools.sh's).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${OMRING_CACHE:-$HOME/.cache/omring}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN_DIR=${OMRING_BIN_DIR:-$TARGET/debug}
OUT_DIR=${OMRING_IMAGES_DIR:-$CACHE/images}
TOOLS=$("$ROOT/scripts/tools.sh")
CRANE=${CRANE:-$TOOLS/crane}
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml")
[[ -n $VERSION ]] || { echo "build-oci: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
# Reproducible archives: the time of the last commit, not of the build.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}

declare -A REPO=([om-node]=omring/om-node [omring-operator]=omring/omring-operator)
# om-node's CLI finds the pod's ozone-site.xml without --conf (kubectl exec POD -- om-node admin ...).
declare -A ENV=([om-node]="OZONE_CONF_DIR=/etc/ozone" [omring-operator]="")
declare -A DESC=([om-node]="omring metadata ring node and CLI" [omring-operator]="omring Kubernetes operator")

"$TOOLS/dockerfile-check" "$ROOT"/images/*/Dockerfile >/dev/null
rust=$(rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\).*/\1/p')
for f in "$ROOT"/images/*/Dockerfile; do
  grep -q "^FROM docker.io/library/rust:$rust-" "$f" ||
    { echo "build-oci: $f: the builder stage should use rust:$rust (the Rust this machine and CI build with)" >&2; exit 1; }
done
echo "Dockerfiles ok: BuildKit parser and linter, builder on Rust $rust"

bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=(om-node omring-operator)
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

# Shared libraries the loader resolves for BINARY, and the loader itself.
libs_of() {
  ldd "$1" | awk '
    /not found/ { print "MISSING " $1; next }
    $2 == "=>" && $3 ~ /^\// { print $3; next }
    $1 ~ /^\// { print $1 }'
}

for bin in "${bins[@]}"; do
  t0=$(date +%s%N)
  [[ -n ${REPO[$bin]:-} ]] || { echo "build-oci: unknown binary $bin (known: ${!REPO[*]})" >&2; exit 1; }
  src=$BIN_DIR/$bin
  [[ -x $src ]] || { echo "build-oci: $src not built; run: cargo build -p ${bin/om-node/om-node} --bin $bin" >&2; exit 1; }
  ref=${REPO[$bin]}:$VERSION
  archive=$OUT_DIR/$bin-$VERSION.oci.tar
  strip -o "$WORK/$bin" "$src"
  mapfile -t libs < <(libs_of "$WORK/$bin")
  if printf '%s\n' "${libs[@]}" | grep -q '^MISSING '; then
    echo "build-oci: $bin needs libraries this machine lacks: ${libs[*]}" >&2
    exit 1
  fi
  args=(--binary "$WORK/$bin" --name "$bin" --ref "$ref" --out "$archive"
        --label "org.opencontainers.image.title=${REPO[$bin]#*/}"
        --label "org.opencontainers.image.description=${DESC[$bin]}"
        --label "org.opencontainers.image.version=$VERSION"
        --label "org.opencontainers.image.licenses=Apache-2.0")
  for l in "${libs[@]}"; do args+=(--lib "$l"); done
  [[ -n ${ENV[$bin]} ]] && args+=(--env "${ENV[$bin]}")
  python3 "$ROOT/images/oci-archive.py" build "${args[@]}"

  "$CRANE" validate --tarball "$archive" >/dev/null
  rootfs=$WORK/rootfs-$bin
  mkdir -p "$rootfs"
  "$CRANE" export - - <"$archive" | tar -x -C "$rootfs"
  # The archive's config must match the final stage of the Dockerfile users build.
  read -r entrypoint user < <(python3 "$ROOT/images/oci-archive.py" inspect "$archive" "$ROOT/images/${bin#omring-}/Dockerfile")
  [[ -n $entrypoint ]] || exit 1
  if [[ $(id -u) -eq 0 ]]; then
    # Exactly the image's files: a missing library fails here.
    chroot --userspec="$user" "$rootfs" "$entrypoint" --version >"$WORK/out" 2>&1 || {
      echo "build-oci: $bin: $entrypoint --version failed in the image (chroot as $user):" >&2; cat "$WORK/out" >&2; exit 1; }
    how="chroot as $user"
  else
    # Without root: the image's loader, told to look in the image's library directories first.
    loader=$(cd "$rootfs" && ls lib64/ld-linux-*.so.* 2>/dev/null | head -n1)
    [[ -n $loader ]] || { echo "build-oci: $bin: no dynamic loader in the image" >&2; exit 1; }
    libdirs=$(printf '%s\n' "${libs[@]}" | xargs -n1 dirname | sort -u | sed "s|^|$rootfs|" | paste -sd:)
    "$rootfs/$loader" --inhibit-cache --library-path "$libdirs" "$rootfs$entrypoint" --version >"$WORK/out" 2>&1 || {
      echo "build-oci: $bin: $entrypoint --version failed in the image:" >&2; cat "$WORK/out" >&2; exit 1; }
    how="the image's loader and libraries"
  fi
  grep -q -- "$VERSION" "$WORK/out" || {
    echo "build-oci: $bin: '$entrypoint --version' printed '$(head -c 200 "$WORK/out")', not version $VERSION" >&2; exit 1; }
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '%s ok: %s --version -> "%s" (%s), %s MiB archive, %d.%03ds\n' "$bin" "$entrypoint" "$(head -n1 "$WORK/out")" \
    "$how" "$(( $(stat -c %s "$archive") / 1048576 ))" $((ms / 1000)) $((ms % 1000))
done
