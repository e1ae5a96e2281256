#!/usr/bin/env bash
# Builds pinned Go tools into a versioned cache directory: the one way every Go binary of this
# repository is made (scripts/tools.sh, e2e/controlplane/build.sh, bench/scripts/setup-peers.sh).
#
# The versions are pinned by a local wrapper module, a go.mod and go.sum that require the tools'
# modules; builds are -mod=readonly, so those two files are the whole trust root. The caller
# names the cache directory after the versions, so a cache that has every binary never runs go.
#
# Usage:
#   go-tool.sh version MODULE_DIR MODULE
#       Prints the version (without the leading v) that MODULE_DIR/go.mod requires of MODULE.
#   go-tool.sh have BIN_DIR NAME...
#       Exits 0 when every NAME is an executable in BIN_DIR; builds nothing.
#   go-tool.sh build [--ldflags FLAGS] MODULE_DIR BIN_DIR NAME=PACKAGE...
#       Builds every NAME missing from BIN_DIR from PACKAGE (an import path, or ./dir for a
#       package of the wrapper module itself) in MODULE_DIR with -trimpath -ldflags "-s -w FLAGS",
#       then prints BIN_DIR. One builder at a time per BIN_DIR (flock); a binary is moved into
#       place only when complete, so an interrupted build leaves nothing half-written.
# Env: GO (go binary), GOFLAGS (e.g. -p=1), GOTOOLCHAIN (default local: no toolchain download).
set -euo pipefail
log() { echo "$*" >&2; }
usage() { log "usage: go-tool.sh version MODULE_DIR MODULE | have BIN_DIR NAME... | build [--ldflags FLAGS] MODULE_DIR BIN_DIR NAME=PACKAGE..."; exit 2; }

missing() { # missing BIN_DIR NAME...: the names that are not executables in BIN_DIR
  local dir=$1 b; shift
  for b in "$@"; do [[ -x $dir/$b ]] || echo "$b"; done
}

cmd=${1:-}; shift || true
case $cmd in
  version)
    [[ $# -eq 2 ]] || usage
    v=$(sed -n "s|^[[:space:]]*\(require \)\{0,1\}$2 v\([^ ]*\).*|\2|p" "$1/go.mod" | head -n1)
    [[ -n $v ]] || { log "go-tool: $1/go.mod does not require $2"; exit 1; }
    echo "$v"
    ;;
  have)
    [[ $# -ge 2 ]] || usage
    dir=$1; shift
    [[ -z $(missing "$dir" "$@") ]]
    ;;
  build)
    ld=""
    if [[ ${1:-} == --ldflags ]]; then ld=${2?--ldflags needs a value}; shift 2; fi
    [[ $# -ge 3 ]] || usage
    mod=$1 bin=$2; shift 2
    declare -A pkg=()
    names=()
    for pair in "$@"; do
      [[ $pair == ?*=?* ]] || usage
      names+=("${pair%%=*}"); pkg[${pair%%=*}]=${pair#*=}
    done
    [[ -z $(missing "$bin" "${names[@]}") ]] && { echo "$bin"; exit 0; }

    GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
    mkdir -p "$bin"
    exec 9>"$bin/.build.lock"; flock 9 # one builder per cache directory
    export CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-local}
    for b in "${names[@]}"; do
      [[ -x $bin/$b ]] && continue # built meanwhile by the holder of the lock
      t0=$SECONDS
      log "building $b (${pkg[$b]}) with $("$GO" version | cut -d' ' -f3) into $bin ..."
      (cd "$mod" && nice -n 10 "$GO" build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w $ld" \
        -o "$bin/.$b.tmp" "${pkg[$b]}")
      mv -f "$bin/.$b.tmp" "$bin/$b"
      log "built $b in $((SECONDS - t0))s ($(du -h "$bin/$b" | cut -f1))"
    done
    [[ -z $(missing "$bin" "${names[@]}") ]] || { log "go-tool: missing after build: $(missing "$bin" "${names[@]}")"; exit 1; }
    echo "$bin"
    ;;
  *) usage ;;
esac
