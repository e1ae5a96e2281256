# shellcheck shell=bash disable=SC2034
# Sourced by build.sh. The pinned versions live in the wrapper go.mod files and are read back
# from there (single source of truth); they name the versioned binary cache directory.
_cp_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_modver() { sed -n "s|^[[:space:]]*\(require \)\{0,1\}$2 v\([^ ]*\).*|\2|p" "$_cp_dir/$1/go.mod" | head -n1; }
K8S_VERSION=$(_modver k8s-wrapper k8s.io/kubernetes)        # e.g. 1.34.12
ETCD_VERSION=$(_modver etcd-wrapper go.etcd.io/etcd/server/v3) # e.g. 3.6.16
HELM_VERSION=$(_modver helm-wrapper helm.sh/helm/v3)          # e.g. 3.22.0
OMRING_K8S_BIN="${OMRING_CACHE:-$HOME/.cache/omring}/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION/bin"
