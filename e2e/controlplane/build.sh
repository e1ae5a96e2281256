#!/usr/bin/env bash
# Builds the real control-plane binaries from Go modules (pinned by the wrapper go.mod/go.sum
# files beside this script) into a versioned cache directory, and prints that directory.
# Cached binaries are reused: a second run returns at once.
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  <- k8s-wrapper (k8s.io/kubernetes)
#   etcd <- etcd-wrapper (go.etcd.io/etcd/server/v3)    helm <- helm-wrapper (helm.sh/helm/v3)
# Env: OMRING_CACHE (default ~/.cache/omring), GO (go binary), GOFLAGS (e.g. -p=1), GOMODCACHE.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
HERE=$_cp_dir BIN=$OMRING_K8S_BIN
K8S_BINS="kube-apiserver kube-controller-manager kube-scheduler kubectl"
ALL="$K8S_BINS etcd helm"

missing() { local b; for b in $ALL; do [[ -x $BIN/$b ]] || echo "$b"; done; }
[[ -z $(missing) ]] && { echo "$BIN"; exit 0; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
mkdir -p "$BIN"
exec 9>"$BIN/.build.lock"; flock 9            # one builder per cache directory
export CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-local}
log() { echo "$*" >&2; }
log "omring control plane: k8s v$K8S_VERSION, etcd v$ETCD_VERSION, helm v$HELM_VERSION ($("$GO" version))"
log "cache: $BIN"

# A module's git commit, for the version output (the module proxy records it in the .info file).
commit() { # commit WRAPPER_DIR MODULE VERSION
  (cd "$HERE/$1" && "$GO" mod download "$2") || return 1
  local info; info="$("$GO" env GOMODCACHE)/cache/download/$2/@v/v$3.info"
  [[ -f $info ]] && sed -n 's/.*"Hash": *"\([0-9a-f]*\)".*/\1/p' "$info"
  return 0
}

build() { # build NAME WRAPPER_DIR PACKAGE LDFLAGS
  local name=$1 dir=$2 pkg=$3 ld=$4 t0=$SECONDS
  [[ -x $BIN/$name ]] && return 0
  log "building $name ($pkg) ..."
  ( cd "$HERE/$dir" && "$GO" build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w $ld" -o "$BIN/.$name.tmp" "$pkg" )
  mv -f "$BIN/.$name.tmp" "$BIN/$name"
  log "built $name in $((SECONDS - t0))s ($(du -h "$BIN/$name" | cut -f1))"
}

minor=${K8S_VERSION#*.}; minor=${minor%%.*}
c=$(commit k8s-wrapper k8s.io/kubernetes "$K8S_VERSION")
k8s_ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  k8s_ld+=" -X $p.gitTreeState=clean${c:+ -X $p.gitCommit=$c}"
done
for b in $K8S_BINS; do build "$b" k8s-wrapper "k8s.io/kubernetes/cmd/$b" "$k8s_ld"; done

c=$(commit etcd-wrapper go.etcd.io/etcd/server/v3 "$ETCD_VERSION")
build etcd etcd-wrapper go.etcd.io/etcd/server/v3 "${c:+-X go.etcd.io/etcd/api/v3/version.GitSHA=${c:0:7}}"

# helm's own Makefile sets these; the k8s minor is that of the client-go helm is built with.
helm_k8s_minor=$(cd "$HERE/helm-wrapper" && "$GO" list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
c=$(commit helm-wrapper helm.sh/helm/v3 "$HELM_VERSION")
helm_ld="-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
helm_ld+="${c:+ -X helm.sh/helm/v3/internal/version.gitCommit=$c}"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_k8s_minor"
done
build helm helm-wrapper helm.sh/helm/v3/cmd/helm "$helm_ld"

[[ -z $(missing) ]] || { log "missing after build: $(missing)"; exit 1; }
log "all binaries ready in $BIN"
echo "$BIN"
