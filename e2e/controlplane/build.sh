#!/usr/bin/env bash
# Builds the real control-plane binaries from Go modules (pinned by the wrapper go.mod/go.sum
# files beside this script) into a versioned cache directory, and prints that directory.
# Cached binaries are reused: a second run returns at once (scripts/go-tool.sh builds them).
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  <- k8s-wrapper (k8s.io/kubernetes)
#   kubelet kube-proxy  <- k8s-wrapper as well (the e2e cluster's real Nodes)
#   etcd <- etcd-wrapper (go.etcd.io/etcd/server/v3)    helm <- helm-wrapper (helm.sh/helm/v3)
#   bridge host-local loopback <- cni-wrapper          coredns <- coredns-wrapper
#   local-path-provisioner <- storage-wrapper            pause volume-helper <- node-tools/
#   (all of the last line's and the line above's into OMRING_NODE_BIN)
# Prints the control-plane bin dir. With --node-bin it also builds the node binaries (those two
# lines above) and prints their dir instead.
# Env: OMRING_CACHE (default ~/.cache/omring), GO (go binary), GOFLAGS (e.g. -p=1), GOMODCACHE.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
HERE=$_cp_dir BIN=$OMRING_K8S_BIN GO_TOOL=$_go_tool
K8S_BINS="kube-apiserver kube-controller-manager kube-scheduler kubectl"
NODE_BIN=$OMRING_NODE_BIN CNI_BINS="bridge host-local loopback"
NODE_BINS="$CNI_BINS coredns local-path-provisioner pause volume-helper"

# shellcheck disable=SC2086 # word lists
NODES=0 out=$BIN; [[ ${1:-} == --node-bin ]] && NODES=1 out=$NODE_BIN
((NODES)) && K8S_BINS+=" kubelet kube-proxy"
ready() { "$GO_TOOL" have "$BIN" $K8S_BINS etcd helm && { ((!NODES)) || "$GO_TOOL" have "$NODE_BIN" $NODE_BINS; }; }
ready && { echo "$out"; exit 0; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GO GOTOOLCHAIN=${GOTOOLCHAIN:-local}
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

build() { # build WRAPPER_DIR LDFLAGS NAME=PACKAGE...
  local dir=$1 ld=$2; shift 2
  "$GO_TOOL" build --ldflags "$ld" "$HERE/$dir" "$BIN" "$@" >/dev/null
}

minor=${K8S_VERSION#*.}; minor=${minor%%.*}
c=$(commit k8s-wrapper k8s.io/kubernetes "$K8S_VERSION")
k8s_ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  k8s_ld+=" -X $p.gitTreeState=clean${c:+ -X $p.gitCommit=$c}"
done
k8s_pkgs=()
for b in $K8S_BINS; do k8s_pkgs+=("$b=k8s.io/kubernetes/cmd/$b"); done
build k8s-wrapper "$k8s_ld" "${k8s_pkgs[@]}"

c=$(commit etcd-wrapper go.etcd.io/etcd/server/v3 "$ETCD_VERSION")
build etcd-wrapper "${c:+-X go.etcd.io/etcd/api/v3/version.GitSHA=${c:0:7}}" etcd=go.etcd.io/etcd/server/v3

# helm's own Makefile sets these; the k8s minor is that of the client-go helm is built with.
helm_k8s_minor=$(cd "$HERE/helm-wrapper" && "$GO" list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
c=$(commit helm-wrapper helm.sh/helm/v3 "$HELM_VERSION")
helm_ld="-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
helm_ld+="${c:+ -X helm.sh/helm/v3/internal/version.gitCommit=$c}"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_k8s_minor"
done
build helm-wrapper "$helm_ld" helm=helm.sh/helm/v3/cmd/helm

if ((NODES)); then
cni_pkgs=(bridge=github.com/containernetworking/plugins/plugins/main/bridge
  host-local=github.com/containernetworking/plugins/plugins/ipam/host-local
  loopback=github.com/containernetworking/plugins/plugins/main/loopback)
"$GO_TOOL" build --ldflags "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v$CNI_VERSION" \
  "$HERE/cni-wrapper" "$NODE_BIN" "${cni_pkgs[@]}" >/dev/null
"$GO_TOOL" build --ldflags "-X github.com/coredns/coredns/coremain.GitCommit=v$COREDNS_VERSION" \
  "$HERE/coredns-wrapper" "$NODE_BIN" coredns=./coredns >/dev/null
"$GO_TOOL" build --ldflags "-X main.VERSION=v$LPP_VERSION" \
  "$HERE/storage-wrapper" "$NODE_BIN" local-path-provisioner=github.com/rancher/local-path-provisioner >/dev/null
"$GO_TOOL" build "$HERE/node-tools" "$NODE_BIN" pause=./pause volume-helper=./volume-helper >/dev/null
fi

ready || { log "missing after build in $BIN or $NODE_BIN"; exit 1; }
log "all binaries ready in $BIN and $NODE_BIN"
echo "$out"
