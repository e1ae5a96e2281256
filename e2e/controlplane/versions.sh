# shellcheck shell=bash disable=SC2034
# Sourced by build.sh. The pinned versions live in the wrapper go.mod files and are read back
# from there (single source of truth); they name the versioned binary cache directory.
_cp_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_go_tool=$_cp_dir/../../scripts/go-tool.sh
K8S_VERSION=$("$_go_tool" version "$_cp_dir/k8s-wrapper" k8s.io/kubernetes)           # e.g. 1.34.12
ETCD_VERSION=$("$_go_tool" version "$_cp_dir/etcd-wrapper" go.etcd.io/etcd/server/v3) # e.g. 3.6.16
HELM_VERSION=$("$_go_tool" version "$_cp_dir/helm-wrapper" helm.sh/helm/v3)          # e.g. 3.22.0
OMRING_K8S_BIN="${OMRING_CACHE:-$HOME/.cache/omring}/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION/bin"
# The node side of the e2e cluster: CNI plugins, CoreDNS, local-path-provisioner and node-tools (pause, volume-helper),
# each in its own versioned directory (kubelet and kube-proxy share OMRING_K8S_BIN).
CNI_VERSION=$("$_go_tool" version "$_cp_dir/cni-wrapper" github.com/containernetworking/plugins)
COREDNS_VERSION=$("$_go_tool" version "$_cp_dir/coredns-wrapper" github.com/coredns/coredns)
# Our own Go code among the node binaries (node-tools, CoreDNS's plugin list): any change to it
# is a new cache directory.
NODE_TOOLS_VERSION=$(cd "$_cp_dir" && cat node-tools/go.mod node-tools/*/main.go coredns-wrapper/coredns/main.go | sha256sum | cut -c1-12)
LPP_VERSION=$("$_go_tool" version "$_cp_dir/storage-wrapper" github.com/rancher/local-path-provisioner)
OMRING_NODE_BIN="${OMRING_CACHE:-$HOME/.cache/omring}/nodes-cni-$CNI_VERSION-coredns-$COREDNS_VERSION-lpp-$LPP_VERSION-tools-$NODE_TOOLS_VERSION/bin"
