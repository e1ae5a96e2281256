#!/usr/bin/env bash
# smoke.sh [DIR]: brings a control plane up, checks that versions are real, that a hand-made Ready
# Node gets a StatefulSet's Pod bound to it (controller-manager + scheduler work) and that helm
# runs, then brings it down. Exit 0 = all good.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
D=${1:-$(mktemp -d /tmp/omring-cp.XXXXXX)}
t() { echo "[$(date +%T)] $*" >&2; }
BIN=$("$HERE/build.sh")
T0=$SECONDS; export KUBECONFIG; KUBECONFIG=$("$HERE/up.sh" "$D"); t "up.sh took $((SECONDS - T0))s"
trap '"$HERE/down.sh" "$D"' EXIT
K=("$BIN/kubectl")
"${K[@]}" version
"${K[@]}" apply -f - <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: smoke-node, labels: {kubernetes.io/hostname: smoke-node, kubernetes.io/os: linux}}
status:
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
  allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
  conditions: [{type: Ready, status: "True", reason: KubeletReady, message: hand-made}]
---
apiVersion: v1
kind: Service
metadata: {name: smoke, namespace: default}
spec: {clusterIP: None, selector: {app: smoke}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: smoke, namespace: default}
spec:
  serviceName: smoke
  replicas: 1
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec: {containers: [{name: c, image: registry.k8s.io/pause:3.10}]}
EOF
T1=$SECONDS node=""
while [[ -z $node ]] && ((SECONDS - T1 < 60)); do
  node=$("${K[@]}" -n default get pod smoke-0 -o jsonpath='{.spec.nodeName}' 2>/dev/null || true); sleep 0.2
done
"${K[@]}" -n default get statefulset,pod -o wide
[[ $node == smoke-node ]] || { t "FAIL: pod smoke-0 not bound (nodeName='$node')"; exit 1; }
t "pod smoke-0 created and bound to $node in $((SECONDS - T1))s"
"$BIN/helm" version
T2=$SECONDS; "$HERE/down.sh" "$D"; trap - EXIT; t "down.sh took $((SECONDS - T2))s"
t "smoke OK"
