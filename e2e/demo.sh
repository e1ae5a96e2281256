#!/usr/bin/env bash
# e2e/demo.sh up|down|status: omring on a local Kubernetes cluster with real Nodes, the way
# users run it.
#
#   up      builds what is needed, starts a 3-Node cluster on this machine (e2e/nodes/up.sh: a
#           control plane, and per Node a containerd and a kubelet; kube-proxy, CoreDNS and
#           local-path storage), imports the project's om-node and operator images into every
#           Node, installs the operator with helm (its Deployment runs in the cluster), applies
#           manifests/examples/ring-3.yaml, waits until the ring is Available and prints how to
#           use it. Everything keeps running afterwards.
#   down    stops all of it and restores the host (e2e/nodes/down.sh); logs stay in the demo
#           directory until the next `up`.
#   status  what is running.
#
# Needs root (containerd, kubelets, bridges, iptables). State: ${OMRING_DEMO_DIR:-.omring/k8s-demo}.
# Cold first run: the Rust build and the Kubernetes binaries from the Go module proxy (see the
# README for times), cached in ~/.cache/omring afterwards; then about two minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${OMRING_DEMO_DIR:-$ROOT/.omring/k8s-demo}
CLUSTER=$STATE/cluster
TARGET=${CARGO_TARGET_DIR:-$ROOT/target} # not exported: sccache keys compiles on it
RING=om
RING_NS=default
OP_NS=omring-system
RELEASE=omring-operator
SELECTOR=app.kubernetes.io/instance=$RING
T0=$SECONDS

say() { printf '\033[1m[%3ss] %s\033[0m\n' "$((SECONDS - T0))" "$*" >&2; }
die() { echo "demo: $*" >&2; exit 1; }

# Runs "$@" while printing a line every 30 s, so long quiet builds show they are alive.
with_heartbeat() {
  local what=$1; shift
  ( while sleep 30; do say "  ... still $what"; done ) & local hb=$!
  local rc=0; "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  return $rc
}

running() { [[ -f $CLUSTER/cp/pids/kube-apiserver.pid ]] && kill -0 "$(cat "$CLUSTER/cp/pids/kube-apiserver.pid")" 2>/dev/null; }

down() {
  [[ -d $CLUSTER ]] || { echo "nothing to stop ($CLUSTER does not exist)"; return 0; }
  "$ROOT/e2e/nodes/down.sh" "$CLUSTER"
  echo "omring demo stopped and the host restored (logs in $STATE; removed by the next 'up')"
}

status() {
  running || { echo "demo: not running"; return 0; }
  # shellcheck disable=SC1091
  source "$STATE/env"
  kubectl get nodes -L topology.kubernetes.io/zone
  kubectl -n "$OP_NS" get pods -o wide
  kubectl get omr -A -o wide
  kubectl -n "$RING_NS" get pods -o wide -L omring.io/role
}

# `ozone` for the demo shell: the om-node CLI in a running ring pod (kubectl exec), which reads
# the ring's ozone-site.xml from its ConfigMap volume, so it follows the ring through a scale.
write_ozone_wrapper() {
  mkdir -p "$STATE/bin"
  cat >"$STATE/bin/ozone" <<EOF
#!/usr/bin/env bash
# ozone ARGS...: om-node ARGS... in a running pod of ring '$RING' (kubectl exec).
# The first pod that is ready and not being deleted.
pod=\$(kubectl -n $RING_NS get pods -l $SELECTOR \\
  -o jsonpath='{range .items[*]}{.metadata.name}|{.metadata.deletionTimestamp}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
  awk -F'|' '\$2 == "" && \$3 == "True" { print \$1; exit }')
[[ -n \$pod ]] || { echo "ozone: no running pod of ring $RING in namespace $RING_NS" >&2; exit 1; }
exec kubectl -n $RING_NS exec -i "\$pod" -c om -- om-node "\$@"
EOF
  chmod +x "$STATE/bin/ozone"
}

up() {
  [[ $(id -u) -eq 0 ]] || die "needs root: it runs containerd and kubelets and creates bridges (sudo make demo)"
  if running; then
    say "already running; 'make demo-down' stops it"; status; return 0
  fi
  [[ -d $CLUSTER ]] && "$ROOT/e2e/nodes/down.sh" "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf "$STATE"; mkdir -p "$STATE"

  say "[1/5] building om-node and the operator (cargo; cold build times are in the README)"
  "$ROOT/scripts/install-deps.sh"
  with_heartbeat "building Rust binaries" cargo build --workspace --all-targets --manifest-path "$ROOT/Cargo.toml"

  say "[2/5] Kubernetes $(. "$ROOT/e2e/controlplane/versions.sh"; echo "v$K8S_VERSION (with kubelet and kube-proxy), etcd v$ETCD_VERSION, helm v$HELM_VERSION, CoreDNS v$COREDNS_VERSION") from the Go module proxy (cached after the first run)"
  with_heartbeat "building Kubernetes binaries" "$ROOT/e2e/controlplane/build.sh" --node-bin >/dev/null
  BIN=$("$ROOT/e2e/controlplane/build.sh")

  say "[3/5] the om-node and operator images (OCI archives, no container engine needed)"
  # Where the e2e tests keep them too (e2e/src/harness/bins.rs); rebuilt when a binary is newer.
  local images=$TARGET/images version
  version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml")
  if [[ ! $images/om-node-$version.oci.tar -nt $TARGET/debug/om-node ||
        ! $images/omring-operator-$version.oci.tar -nt $TARGET/debug/omring-operator ]]; then
    OMRING_IMAGES_DIR=$images CARGO_TARGET_DIR=$TARGET "$ROOT/images/build-oci.sh" >"$STATE/images.log" 2>&1 ||
      { tail -20 "$STATE/images.log" >&2; die "images/build-oci.sh failed (log: $STATE/images.log)"; }
  fi

  say "[4/5] a cluster of 3 real Nodes (containerd + kubelet each, zones a, b, c), kube-proxy, CoreDNS, local volumes"
  local kubeconfig
  kubeconfig=$(OMRING_NODE_IMAGES="$images/om-node-$version.oci.tar $images/omring-operator-$version.oci.tar" \
    "$ROOT/e2e/nodes/up.sh" "$CLUSTER" 3) || die "e2e/nodes/up.sh failed (logs in $CLUSTER/logs)"
  export KUBECONFIG=$kubeconfig PATH=$STATE/bin:$BIN:$TARGET/debug:$PATH
  write_ozone_wrapper
  cat >"$STATE/env" <<EOF
export KUBECONFIG=$kubeconfig
export PATH=$STATE/bin:$BIN:$TARGET/debug:\$PATH
EOF
  kubectl get nodes -L topology.kubernetes.io/zone

  say "[5/5] helm install $RELEASE (CRD, RBAC, webhook, the operator's Deployment), then kubectl apply -f manifests/examples/ring-3.yaml"
  helm install "$RELEASE" "$ROOT/charts/omring-operator" --namespace "$OP_NS" --create-namespace --wait --timeout 3m
  kubectl -n "$RING_NS" apply -f "$ROOT/manifests/examples/ring-3.yaml"
  local deadline=$((SECONDS + 300)) last=""
  until [[ $(kubectl -n "$RING_NS" get omr "$RING" -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null) == True ]]; do
    ((SECONDS < deadline)) || {
      kubectl -n "$RING_NS" describe omr "$RING" >&2
      kubectl -n "$OP_NS" logs -l app.kubernetes.io/name=omring-operator --tail=30 >&2 || true
      die "ring not Available after 5 min (logs: $CLUSTER/logs, $CLUSTER/nodes/*/pod-logs)"
    }
    local now; now=$(kubectl -n "$RING_NS" get pods -l "$SELECTOR" --no-headers 2>/dev/null | awk '{printf "%s %s %s; ", $1, $2, $3}')
    [[ $now != "$last" ]] && say "  pods: ${now:-none yet}"; last=$now
    sleep 2
  done

  say "ring '$RING' is Available"
  echo
  kubectl -n "$RING_NS" get omr -o wide
  echo
  kubectl -n "$RING_NS" get pods -o wide -L omring.io/role
  echo
  echo "\$ kubectl exec $RING-0 -- om-node admin om roles --table"
  kubectl -n "$RING_NS" exec "$RING-0" -c om -- om-node admin om roles --table
  # Every line between the markers is a command that works when pasted into the shell
  # (e2e/demo-check.sh runs them all).
  cat <<EOF

The ring runs on 3 real Nodes of a local cluster. Use it from this shell after:
  source ${STATE#"$ROOT"/}/env

Commands (each works when pasted):
# --- demo commands ---
kubectl get omr -o wide
kubectl get pods -o wide -L omring.io/role
kubectl describe omr $RING
kubectl exec $RING-0 -- om-node admin om roles --table
kubectl logs $RING-0 --tail=5
ozone sh volume create /vol1
ozone sh bucket create /vol1/bucket1
ozone sh key create /vol1/bucket1/key1 --size 1024
ozone sh key list /vol1/bucket1
ozone admin om roles
kubectl drain \$(kubectl get pod \$(kubectl get omr $RING -o jsonpath='{.status.leader}') -o jsonpath='{.spec.nodeName}') --ignore-daemonsets --delete-emptydir-data --timeout=300s
kubectl get omr -o wide
kubectl uncordon node-1 node-2 node-3
kubectl wait --for=condition=Available omr/$RING --timeout=300s
kubectl scale omr/$RING --replicas=5
kubectl wait --for=jsonpath='{.status.readyReplicas}'=5 omr/$RING --timeout=300s
ozone admin om roles --table
ozone sh key info /vol1/bucket1/key1
kubectl scale omr/$RING --replicas=3
kubectl wait --for=jsonpath='{.status.readyReplicas}'=3 omr/$RING --timeout=300s
# --- end ---

'ozone' runs om-node's Ozone-style CLI in a running ring pod (kubectl exec), so it uses the
ring's own ozone-site.xml and follows the ring through a scale.
Logs: ${CLUSTER#"$ROOT"/}/logs (control plane, kubelets, containerd), kubectl logs for pods.
Stop: make demo-down   (or e2e/demo.sh down): stops everything and restores the host.
EOF
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
