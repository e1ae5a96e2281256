#!/usr/bin/env bash
# up.sh DIR [NODES]: a real Kubernetes cluster on this machine, state and logs under DIR:
#   - the control plane of ../controlplane/up.sh, its API server on 10.243.0.1 (a portless bridge
#     interface made here) so that pods reach it through the `kubernetes` Service;
#   - NODES (default 3) real Nodes node-1..node-N in zones zone-a, zone-b, ...: for each, its own
#     containerd (root, state, socket) and kubelet (ports, root dir, cgroup root
#     /omring-e2e-node-N), and a bridge omr-e2eN with 10.244.N.1/24 (the Node's IP, the gateway
#     of its pods' /24);
#   - one kube-proxy (iptables mode) for the host, CoreDNS as a Deployment (Service 10.0.0.10),
#     and local-path-provisioner with the default StorageClass omring-local (PersistentVolumes
#     pinned to their Node);
#   - the images in $OMRING_NODE_IMAGES (space-separated OCI archives, e.g. images/build-oci.sh's)
#     imported into every Node's containerd, next to the locally built pause, CoreDNS and
#     volume-helper images.
# Prints the admin kubeconfig path. DIR/env holds what scripts need. Stop with down.sh DIR, which
# also restores everything changed outside DIR (sysctls, iptables, interfaces, cgroups, mounts).
# Every address is on an interface made here; nothing is routed off this machine. kube-proxy's
# rules are global, so one such cluster runs per machine at a time (/run/omring-e2e-nodes).
# Env: OMRING_UP_TIMEOUT (s, default 180), OMRING_NODE_IMAGES.
set -euo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 DIR [NODES]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODES=${2:-3}
[[ $NODES =~ ^[1-9]$ ]] || { echo "up.sh: NODES must be 1..9, not '$NODES'" >&2; exit 2; }
mkdir -p "$1"; D=$(cd "$1" && pwd)
source "$HERE/lib.sh"

claim_machine "$D"
BIN=$("$ROOT/e2e/controlplane/build.sh")
NODE_BIN=$("$ROOT/e2e/controlplane/build.sh" --node-bin)
T0=$SECONDS DEADLINE=$((SECONDS + ${OMRING_UP_TIMEOUT:-180}))
mkdir -p "$D/logs" "$D/pids" "$D/host"
fail() { echo "nodes/up.sh: $*" >&2
  for l in "$D"/logs/*.log; do [[ -f $l ]] && { echo "--- ${l##*/} (tail)" >&2; tail -n 12 "$l" >&2; }; done
  "$HERE/down.sh" "$D" >&2 || true; exit 1; }
trap 'fail "failed at line $LINENO"' ERR

# --- host: what this cluster changes outside DIR is saved first, so down.sh can restore it
save_host_state
ip link add "$API_IF" type bridge && ip addr add "$API_IP/32" dev "$API_IF" && ip link set "$API_IF" up
# Service IPs from the host go out of the API bridge (kube-proxy's rules take them from
# there), never towards the default route.
ip route add "$SERVICE_CIDR" dev "$API_IF" src "$API_IP"
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
for n in $(seq "$NODES"); do
  ip link add "$(bridge_of "$n")" type bridge
  ip addr add "$(node_ip "$n")/24" dev "$(bridge_of "$n")"
  ip link set "$(bridge_of "$n")" up
  for c in $CGROUP_CONTROLLERS; do
    g=/sys/fs/cgroup/$c/$(cgroup_of "$n"); mkdir -p "$g"
    [[ $c == cpuset ]] && { cat "/sys/fs/cgroup/cpuset/cpuset.cpus" >"$g/cpuset.cpus"; cat "/sys/fs/cgroup/cpuset/cpuset.mems" >"$g/cpuset.mems"; }
  done
done

# --- control plane on the API address
KUBECONFIG=$(OMRING_CP_ADDRESS=$API_IP "$ROOT/e2e/controlplane/up.sh" "$D/cp")
P=$D/cp/pki
KC=("$BIN/kubectl" --kubeconfig="$KUBECONFIG")
API_SERVER=$(sed -n 's/^OMRING_CP_APISERVER=//p' "$D/cp/env")
kubeconfig_for() { # kubeconfig_for NAME SUBJECT: a client certificate of the cluster CA, and its kubeconfig
  openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null
  openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 3650 -out "$P/$1.crt" \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n') 2>/dev/null
  rm -f "$P/$1.csr"
  cat >"$D/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: omring-e2e, cluster: {server: "$API_SERVER", certificate-authority: "$P/ca.crt"}}]
users: [{name: $1, user: {client-certificate: "$P/$1.crt", client-key: "$P/$1.key"}}]
contexts: [{name: omring-e2e, context: {cluster: omring-e2e, user: $1}}]
current-context: omring-e2e
EOF
  chmod 600 "$D/$1.kubeconfig"; }

alive() { local f; for f in "$D"/pids/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || fail "${f##*/} died"; done; }
wait_for() { # wait_for WHAT CMD...
  until "${@:2}" >/dev/null 2>&1; do alive; ((SECONDS < DEADLINE)) || fail "timed out waiting for $1"; sleep 0.3; done; }

# --- images: pause, CoreDNS and volume-helper archives, built once per node-tools version
IMAGES=$(dirname "$NODE_BIN")/images
mkdir -p "$IMAGES"
image() { # image NAME: the OCI archive of NODE_BIN/NAME as $LOCAL_REGISTRY/NAME:TAG
  local out=$IMAGES/$1.oci.tar
  if [[ ! -f $out ]]; then
    python3 "$ROOT/images/oci-archive.py" build --binary "$NODE_BIN/$1" --name "$1" \
      --ref "$(image_ref "$1")" --out "$out.tmp" >/dev/null
    mv -f "$out.tmp" "$out"
  fi
  echo "$out"; }
archives=("$(image pause)" "$(image coredns)" "$(image volume-helper)")
# shellcheck disable=SC2206 # a space-separated list of paths
archives+=(${OMRING_NODE_IMAGES:-})

# --- Nodes: containerd, images, CNI config, kubelet
USED=""
port() { local p; while :; do p=$((20000 + RANDOM % 12000))
  [[ " $USED " != *" $p "* && -z $(ss -Htan "( sport = :$p )") ]] && { USED+=" $p"; echo "$p"; return; }; done; }
for n in $(seq "$NODES"); do
  node=node-$n ND=$D/nodes/node-$n
  mkdir -p "$ND/cni/net.d" "$ND/volumes" "$ND/pod-logs" "$ND/kubelet"
  sock=$ND/containerd.sock
  sed -e "s|@ND@|$ND|g" -e "s|@SOCK@|$sock|g" -e "s|@CNI_BIN@|$NODE_BIN|g" \
    -e "s|@PAUSE@|$(image_ref pause)|g" "$HERE/containerd.toml" >"$ND/containerd.toml"
  sed -e "s|@NAME@|omring-e2e|; s|@BRIDGE@|$(bridge_of "$n")|; s|@SUBNET@|$(node_subnet "$n")|" \
    -e "s|@GATEWAY@|$(node_ip "$n")|; s|@IPAM@|$ND/cni/ipam|" "$HERE/cni.conflist" >"$ND/cni/net.d/10-omring-e2e.conflist"
  save_cmd "$ND/containerd.cmd" containerd --config "$ND/containerd.toml"
  start_saved "containerd-$node" "$ND/containerd.cmd"
  wait_for "containerd of $node" ctr -a "$sock" version
  for a in "${archives[@]}"; do
    ctr -a "$sock" -n k8s.io images import "$a" >>"$D/logs/images-$node.log" 2>&1 ||
      fail "importing $a into $node's containerd (see $D/logs/images-$node.log)"
  done
  # Kubelets ask for normalized references (omring/om-node:0.1.0 is docker.io/omring/om-node:0.1.0).
  ctr -a "$sock" -n k8s.io images ls -q | while read -r ref; do
    first=${ref%%/*}
    if [[ $ref != */* ]]; then full=docker.io/library/$ref
    elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then continue
    else full=docker.io/$ref; fi
    ctr -a "$sock" -n k8s.io images tag --force "$ref" "$full" >/dev/null
  done
  kubeconfig_for "kubelet-$node" "/O=system:nodes/CN=system:node:$node"
  sed -e "s|@ND@|$ND|g; s|@SOCK@|$sock|; s|@NODE_IP@|$(node_ip "$n")|" \
    -e "s|@PORT@|$(port)|; s|@HEALTHZ@|$(port)|; s|@CGROUP@|/$(cgroup_of "$n")|" \
    -e "s|@CA@|$P/ca.crt|; s|@DNS_IP@|$DNS_IP|" "$HERE/kubelet.yaml" >"$ND/kubelet.yaml"
  save_cmd "$ND/kubelet.cmd" "$BIN/kubelet" --config="$ND/kubelet.yaml" --kubeconfig="$D/kubelet-$node.kubeconfig" \
    --root-dir="$ND/kubelet" --cert-dir="$ND/kubelet/pki" --hostname-override="$node" \
    --node-ip="$(node_ip "$n")" --node-labels="topology.kubernetes.io/zone=$(zone_of "$n")" --v=1
  start_saved "kubelet-$node" "$ND/kubelet.cmd"
done

# --- kube-proxy for the host
kubeconfig_for kube-proxy /CN=system:kube-proxy
sed -e "s|@KUBECONFIG@|$D/kube-proxy.kubeconfig|; s|@HEALTHZ@|$(port)|; s|@METRICS@|$(port)|" \
  "$HERE/kube-proxy.yaml" >"$D/kube-proxy.yaml"
start kube-proxy "$BIN/kube-proxy" --config="$D/kube-proxy.yaml" --hostname-override=node-1

for n in $(seq "$NODES"); do
  wait_for "node-$n Ready" "${KC[@]}" wait --for=condition=Ready "node/node-$n" --timeout=2s
done

# --- cluster services: DNS and storage
subst() { sed -e "s|\${COREDNS_IMAGE}|$(image_ref coredns)|g; s|\${DNS_IP}|$DNS_IP|g" \
  -e "s|\${HELPER_IMAGE}|$(image_ref volume-helper)|g" "$1"; }
subst "$HERE/manifests/coredns.yaml" | "${KC[@]}" apply -f - >/dev/null
subst "$HERE/manifests/storage.yaml" | "${KC[@]}" apply -f - >/dev/null
mkdir -p "$D/storage"
{
  printf '{"nodePathMap": ['
  for n in $(seq "$NODES"); do
    ((n > 1)) && printf ', '
    printf '{"node": "node-%s", "paths": ["%s"]}' "$n" "$D/nodes/node-$n/volumes"
  done
  printf '],\n "setupCommand": "/usr/local/bin/volume-helper", "teardownCommand": "/usr/local/bin/volume-helper"}\n'
} >"$D/storage/config.json"
sed "s|@IMAGE@|$(image_ref volume-helper)|" "$HERE/helper-pod.yaml" >"$D/storage/helper-pod.yaml"
start local-path-provisioner "$NODE_BIN/local-path-provisioner" start --config "$D/storage/config.json" \
  --kubeconfig "$KUBECONFIG" --namespace kube-system --service-account-name local-path-provisioner \
  --provisioner-name rancher.io/local-path --helper-image "$(image_ref volume-helper)" \
  --helper-pod-file "$D/storage/helper-pod.yaml" --configmap-name local-path-config
wait_for "CoreDNS Available" "${KC[@]}" -n kube-system wait --for=condition=Available deployment/coredns --timeout=2s

cat >>"$D/env" <<EOF
KUBECONFIG=$KUBECONFIG
OMRING_CP_BIN=$BIN
OMRING_NODE_BIN=$NODE_BIN
OMRING_NODES=$NODES
OMRING_DNS_IP=$DNS_IP
EOF
trap - ERR
echo "cluster up in $((SECONDS - T0))s: $NODES Nodes, CoreDNS, local-path storage (logs in $D/logs)" >&2
echo "$KUBECONFIG"
