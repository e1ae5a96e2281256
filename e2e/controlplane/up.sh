#!/usr/bin/env bash
# up.sh DIR: starts a real local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler; no kubelets) on free loopback ports, state/logs/pids under DIR, and prints the
# admin kubeconfig path (DIR/kubeconfig). DIR/env holds the ports for scripts. Stop: down.sh DIR.
# No kubelets: Nodes are whatever tests create (status included). So the node lifecycle controller
# (it would mark them unreachable) and the TaintNodesByCondition admission plugin (not-ready taint)
# are off, and the "kubernetes" Service has no Endpoints (a loopback address is not a valid one).
# For the same reason the endpoint controllers are off: pods of the node agent have loopback
# addresses, which Endpoints and EndpointSlices refuse; the agent publishes DNS itself.
# Env: OMRING_UP_TIMEOUT (s, default 120); OMRING_KCM_CONTROLLERS (default: all but the node
# lifecycle and endpoint controllers, see KCM_CONTROLLERS below).
# OMRING_CP_ADDRESS=IP (set by e2e/nodes/up.sh, for real kubelets): the API server binds and
# advertises IP (an address the caller made on this machine, that pods reach), every controller
# runs, the endpoint reconciler and admission plugins are the defaults, and the API server has a
# client certificate for the kubelets (logs, exec, port-forward).
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"; D=$(cd "$1" && pwd)
for f in "$D"/pids/*.pid; do
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && { echo "already running in $D (down.sh $D)" >&2; exit 1; }
done
BIN=$("$HERE/build.sh")
rm -rf "$D/pki" "$D/etcd" "$D/logs" "$D/pids"; mkdir -p "$D/pki" "$D/logs" "$D/pids"
P=$D/pki T0=$SECONDS DEADLINE=$((SECONDS + ${OMRING_UP_TIMEOUT:-120}))

# --- free ports: random, below the ephemeral range, not in use, distinct
USED=""
port() { local p; while :; do p=$((20000 + RANDOM % 12000))
  [[ " $USED " != *" $p "* && -z $(ss -Htan "( sport = :$p )") ]] && { echo "$p"; return; }; done; }
ETCD_PORT=$(port); USED+=" $ETCD_PORT"; PEER_PORT=$(port); USED+=" $PEER_PORT"
API_PORT=$(port); USED+=" $API_PORT"; KCM_PORT=$(port); USED+=" $KCM_PORT"; SCHED_PORT=$(port)

# --- PKI: cluster CA, front-proxy CA, serving + client certs, service-account key pair
ssl() { openssl "$@" 2>/dev/null; }
ca() { ssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" -keyout "$P/$1.key" -out "$P/$1.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"; }
cert() { # cert NAME CA SUBJECT EXTS
  ssl req -new -newkey rsa:2048 -nodes -subj "$3" -keyout "$P/$1.key" -out "$P/$1.csr"
  ssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial -days 3650 -out "$P/$1.crt" \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$4")
  rm -f "$P/$1.csr"; }
CLIENT="extendedKeyUsage=clientAuth"
ADDR=${OMRING_CP_ADDRESS:-127.0.0.1} REAL_NODES=0; [[ $ADDR != 127.0.0.1 ]] && REAL_NODES=1
ca ca omring-e2e-ca; ca front-proxy-ca omring-e2e-front-proxy-ca
cert apiserver ca /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=IP:$ADDR,IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin ca "/O=system:masters/CN=omring-e2e-admin" "$CLIENT"
# Kubelets or none: the API server's flags for one and the other.
NODE_FLAGS=(--disable-admission-plugins=TaintNodesByCondition --endpoint-reconciler-type=none)
((REAL_NODES)) && {
  cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" "$CLIENT"
  NODE_FLAGS=(--kubelet-preferred-address-types=InternalIP --kubelet-client-certificate="$P/apiserver-kubelet-client.crt"
    --kubelet-client-key="$P/apiserver-kubelet-client.key"); }
cert kcm ca /CN=system:kube-controller-manager "$CLIENT"
cert scheduler ca /CN=system:kube-scheduler "$CLIENT"
cert front-proxy-client front-proxy-ca /CN=front-proxy-client "$CLIENT"
ssl genrsa -out "$P/sa.key" 2048; ssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub"

SERVER=https://$ADDR:$API_PORT
kubeconfig() { # kubeconfig FILE CERTNAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: omring-e2e, cluster: {server: "$SERVER", certificate-authority-data: $(base64 -w0 "$P/ca.crt")}}]
users: [{name: $2, user: {client-certificate-data: $(base64 -w0 "$P/$2.crt"), client-key-data: $(base64 -w0 "$P/$2.key")}}]
contexts: [{name: omring-e2e, context: {cluster: omring-e2e, user: $2}}]
current-context: omring-e2e
EOF
  chmod 600 "$1"; }
kubeconfig "$D/kubeconfig" admin; kubeconfig "$D/kcm.kubeconfig" kcm; kubeconfig "$D/scheduler.kubeconfig" scheduler
cat >"$D/env" <<EOF
KUBECONFIG=$D/kubeconfig
OMRING_CP_BIN=$BIN
OMRING_CP_APISERVER=$SERVER
OMRING_CP_ETCD=http://127.0.0.1:$ETCD_PORT
OMRING_CP_PORTS="etcd=$ETCD_PORT etcd-peer=$PEER_PORT apiserver=$API_PORT kcm=$KCM_PORT scheduler=$SCHED_PORT"
EOF

# --- processes (own session, so they outlive the caller's shell; down.sh stops them)
fail() { echo "up.sh: $*" >&2; for l in "$D"/logs/*.log; do echo "--- ${l##*/} (tail)" >&2; tail -n 15 "$l" >&2; done
  "$HERE/down.sh" "$D" >&2 || true; exit 1; }
start() { local name=$1; shift; setsid "$BIN/$name" "$@" >"$D/logs/$name.log" 2>&1 </dev/null & echo $! >"$D/pids/$name.pid"; }
alive() { local f; for f in "$D"/pids/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || fail "${f##*/} died"; done; }
wait_for() { # wait_for WHAT CMD...
  until "${@:2}" >/dev/null 2>&1; do alive; ((SECONDS < DEADLINE)) || fail "timed out waiting for $1"; sleep 0.2; done; }

start etcd --name=e2e --data-dir="$D/etcd" --unsafe-no-fsync --log-level=warn \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$PEER_PORT" \
  --initial-cluster="e2e=http://127.0.0.1:$PEER_PORT"
wait_for etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address="$ADDR" --advertise-address="$ADDR" --secure-port="$API_PORT" "${NODE_FLAGS[@]}" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true --enable-aggregator-routing=true \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --requestheader-client-ca-file="$P/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$P/front-proxy-client.crt" --proxy-client-key-file="$P/front-proxy-client.key"
KC=("$BIN/kubectl" --kubeconfig="$D/kubeconfig")
wait_for kube-apiserver "${KC[@]}" get --raw /readyz

common=(--bind-address=127.0.0.1 --leader-elect=false)
KCM_CONTROLLERS="*,-node-lifecycle-controller,-endpoints-controller,-endpointslice-controller,-endpointslice-mirroring-controller"
((REAL_NODES)) && KCM_CONTROLLERS="*"
start kube-controller-manager "${common[@]}" --secure-port="$KCM_PORT" \
  --kubeconfig="$D/kcm.kubeconfig" --authentication-kubeconfig="$D/kcm.kubeconfig" \
  --authorization-kubeconfig="$D/kcm.kubeconfig" --use-service-account-credentials=true \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --service-cluster-ip-range=10.0.0.0/24 --cluster-name=omring-e2e \
  --controllers="${OMRING_KCM_CONTROLLERS:-$KCM_CONTROLLERS}"
start kube-scheduler "${common[@]}" --secure-port="$SCHED_PORT" \
  --kubeconfig="$D/scheduler.kubeconfig" --authentication-kubeconfig="$D/scheduler.kubeconfig" \
  --authorization-kubeconfig="$D/scheduler.kubeconfig"

wait_for kube-controller-manager curl -sfk "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler curl -sfk "https://127.0.0.1:$SCHED_PORT/healthz"
wait_for "default ServiceAccount" "${KC[@]}" -n default get serviceaccount default
wait_for readyz "${KC[@]}" get --raw /readyz
echo "control plane up in $((SECONDS - T0))s (apiserver $SERVER, logs in $D/logs)" >&2
echo "$D/kubeconfig"
