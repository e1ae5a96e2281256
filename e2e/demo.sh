#!/usr/bin/env bash
# e2e/demo.sh up|down|status: omring on a local Kubernetes control plane, the way users run it.
#
#   up      builds what is needed, starts a real control plane (etcd, kube-apiserver,
#           controller-manager, scheduler), the node agent playing the kubelet for 3 Nodes,
#           installs the operator with helm, applies manifests/examples/ring-3.yaml, waits until
#           the ring is Available and prints how to use it. Everything keeps running afterwards.
#   down    stops all of it (state stays in the demo directory until the next `up`).
#   status  what is running.
#
# State: ${OMRING_DEMO_DIR:-.omring/k8s-demo}. Cold first run: 25-45 min Rust build + ~13 min for
# the control plane binaries (cached in ~/.cache/omring afterwards; then about a minute).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${OMRING_DEMO_DIR:-$ROOT/.omring/k8s-demo}
DEBUG_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug # not exported: sccache keys compiles on it
AGENT=$DEBUG_BIN/omring-node-agent
OPERATOR=$DEBUG_BIN/omring-operator
RING=om
RING_NS=default
OP_NS=omring-system
RELEASE=omring-operator
T0=$SECONDS

say() { printf '\033[1m[%3ss] %s\033[0m\n' "$((SECONDS - T0))" "$*" >&2; }
die() { echo "demo: $*" >&2; exit 1; }
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Runs "$@" while printing a line every 30 s, so long quiet builds show they are alive.
with_heartbeat() {
  local what=$1; shift
  ( while sleep 30; do say "  ... still $what"; done ) & local hb=$!
  local rc=0; "$@" || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  return $rc
}

free_port() { local p; while :; do p=$((20000 + RANDOM % 12000)); [[ -z $(ss -Htan "( sport = :$p )") ]] && { echo "$p"; return; }; done; }

stop_pid() { # stop_pid FILE SECONDS: SIGTERM, wait, SIGKILL
  local f=$1 pid; alive "$f" || { rm -f "$f"; return 0; }; pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $(($2 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true; rm -f "$f"
}

down() {
  [[ -d $STATE ]] || { echo "nothing to stop ($STATE does not exist)"; return 0; }
  stop_pid "$STATE/operator.pid" 10
  stop_pid "$STATE/agent.pid" 20
  [[ -d $STATE/cp ]] && "$ROOT/e2e/controlplane/down.sh" "$STATE/cp" >/dev/null 2>&1 || true
  echo "omring demo stopped (logs and state in $STATE; removed by the next 'up')"
}

status() {
  local k=0
  alive "$STATE/cp/pids/kube-apiserver.pid" && { echo "control plane: running ($STATE/cp)"; k=1; } || echo "control plane: stopped"
  alive "$STATE/agent.pid" && echo "node agent: running (pid $(cat "$STATE/agent.pid"))" || echo "node agent: stopped"
  alive "$STATE/operator.pid" && echo "operator: running (pid $(cat "$STATE/operator.pid"))" || echo "operator: stopped"
  if ((k)); then
    # shellcheck disable=SC1091
    source "$STATE/env"; kubectl get nodes; kubectl get omr -A -o wide
  fi
}

up() {
  if alive "$STATE/cp/pids/kube-apiserver.pid"; then
    say "already running; 'e2e/demo.sh down' stops it"; status; return 0
  fi
  down >/dev/null 2>&1 || true
  rm -rf "$STATE"; mkdir -p "$STATE"

  say "[1/6] building om-node, the operator and the node agent (cargo; cold 25-45 min, then cached)"
  "$ROOT/scripts/install-deps.sh"
  with_heartbeat "building Rust binaries" \
    cargo build --workspace --all-targets --manifest-path "$ROOT/Cargo.toml"

  say "[2/6] Kubernetes $(. "$ROOT/e2e/controlplane/versions.sh"; echo "v$K8S_VERSION, etcd v$ETCD_VERSION, helm v$HELM_VERSION") from the Go module proxy (cold about 13 min, then cached)"
  BIN=$(with_heartbeat "building control-plane binaries" "$ROOT/e2e/controlplane/build.sh")

  say "[3/6] starting the control plane"
  KUBECONFIG=$("$ROOT/e2e/controlplane/up.sh" "$STATE/cp")
  export KUBECONFIG PATH=$BIN:$DEBUG_BIN:$PATH

  say "[4/6] node agent: 3 Nodes in zones a, b, c; their pods run as local processes"
  setsid "$AGENT" --dir "$STATE/agent" run --kubeconfig "$KUBECONFIG" --bin-dir "$DEBUG_BIN" --agent-id demo \
    --node node-1:zone-a --node node-2:zone-b --node node-3:zone-c >"$STATE/agent.log" 2>&1 </dev/null &
  echo $! >"$STATE/agent.pid"
  for _ in $(seq 600); do
    [[ -f $STATE/agent/agent.json ]] && grep -q "\"pid\": $(cat "$STATE/agent.pid")," "$STATE/agent/agent.json" && break
    alive "$STATE/agent.pid" || { tail -20 "$STATE/agent.log" >&2; die "node agent exited"; }
    sleep 0.1
  done
  kubectl get nodes -L topology.kubernetes.io/zone

  say "[5/6] helm install $RELEASE (CRD, RBAC, webhook) and the operator as its ServiceAccount"
  local wport mport
  wport=$(free_port); mport=$(free_port)
  helm install "$RELEASE" "$ROOT/charts/omring-operator" --namespace "$OP_NS" --create-namespace \
    --set replicaCount=0 --set "webhook.url=https://127.0.0.1:$wport/validate-eviction" --wait --timeout 2m
  local token ca server
  token=$(kubectl -n "$OP_NS" create token "$RELEASE" --duration=168h)
  server=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  (umask 077; cat >"$STATE/operator.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: demo, cluster: {server: "$server", certificate-authority-data: $ca}}]
users: [{name: $RELEASE, user: {token: $token}}]
contexts: [{name: $RELEASE, context: {cluster: demo, user: $RELEASE, namespace: $OP_NS}}]
current-context: $RELEASE
EOF
  )
  local help flags
  help=$("$OPERATOR" --help 2>&1 || true)
  flags=(--metrics-addr="127.0.0.1:$mport" --webhook-addr="127.0.0.1:$wport"
    --webhook-config-name="$RELEASE-$OP_NS-eviction" --cluster-domain=cluster.local)
  [[ $help == *--webhook-service-name* ]] && flags+=(--webhook-service-name="$RELEASE-webhook")
  [[ $help == *--webhook-host* ]] && flags+=(--webhook-host=127.0.0.1)
  [[ $help == *--leader-election* ]] && flags+=(--leader-election)
  [[ $help == *--lease-name* ]] && flags+=(--lease-name="$RELEASE-leader")
  KUBECONFIG=$STATE/operator.kubeconfig POD_NAMESPACE=$OP_NS POD_NAME=omring-operator-demo \
    OMRING_HOSTS_FILE=$STATE/agent/hosts RUST_LOG=${RUST_LOG:-info} \
    setsid "$OPERATOR" "${flags[@]}" >"$STATE/operator.log" 2>&1 </dev/null &
  echo $! >"$STATE/operator.pid"
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null 2>&1 && break
    alive "$STATE/operator.pid" || { tail -20 "$STATE/operator.log" >&2; die "operator exited"; }
    sleep 0.1
  done

  say "[6/6] kubectl apply -f manifests/examples/ring-3.yaml; waiting until the ring is Available"
  kubectl -n "$RING_NS" apply -f "$ROOT/manifests/examples/ring-3.yaml"
  local deadline=$((SECONDS + 300)) last=""
  until [[ $(kubectl -n "$RING_NS" get omr "$RING" -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null) == True ]]; do
    ((SECONDS < deadline)) || { kubectl -n "$RING_NS" describe omr "$RING" >&2; tail -30 "$STATE/operator.log" >&2; die "ring not Available after 5 min"; }
    local now; now=$(kubectl -n "$RING_NS" get pods -l "app.kubernetes.io/instance=$RING" --no-headers 2>/dev/null | awk '{printf "%s %s %s; ", $1, $2, $3}')
    [[ $now != "$last" ]] && say "  pods: ${now:-none yet}"; last=$now
    sleep 2
  done
  kubectl -n "$RING_NS" get cm "$RING-config" -o jsonpath='{.data.ozone-site\.xml}' >"$STATE/ozone-site.xml"
  cat >"$STATE/env" <<EOF
export KUBECONFIG=$KUBECONFIG
export PATH=$BIN:$DEBUG_BIN:\$PATH
export OMRING_AGENT_DIR=$STATE/agent
export OMRING_HOSTS_FILE=$STATE/agent/hosts
EOF

  say "ring '$RING' is Available"
  echo
  kubectl -n "$RING_NS" get omr -o wide
  echo
  "$AGENT" --dir "$STATE/agent" exec -n "$RING_NS" "$RING-0" -- om-node --conf /etc/ozone/ozone-site.xml admin om roles --table
  cat <<EOF

The ring runs on a real API server; its pods are processes run by the node agent.
Use it from this shell after:   source ${STATE#"$ROOT"/}/env

  kubectl get omr -o wide                     # replicas, ready, leader, Available
  kubectl get pods -o wide -L omring.io/role  # pods, their Nodes and Raft roles
  kubectl describe omr $RING                       # conditions and events
  kubectl scale omr/$RING --replicas=5             # two nodes bootstrap and join
  kubectl drain node-1 --ignore-daemonsets --delete-emptydir-data   # leadership moves first
  kubectl uncordon node-1

  kubectl logs om-0                           # served by the node agent

  # the CLI inside a pod (kubectl exec needs a real kubelet; the agent runs it instead):
  omring-node-agent exec $RING-0 -- om-node --conf /etc/ozone/ozone-site.xml admin om roles --table
  omring-node-agent logs $RING-0
  omring-node-agent kill $RING-1                   # crash a node (kill -9); it restarts

  # the ring from this machine (client config copied from ConfigMap $RING-config):
  om-node --conf ${STATE#"$ROOT"/}/ozone-site.xml sh volume create /vol1
  om-node --conf ${STATE#"$ROOT"/}/ozone-site.xml sh key create /vol1/b1/k1 --size 1024   # after: sh bucket create /vol1/b1

Logs: ${STATE#"$ROOT"/}/{operator.log,agent.log,cp/logs/,agent/logs/}
Stop: make demo-down   (or e2e/demo.sh down)
EOF
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
