#!/usr/bin/env bash
# smoke.sh [--ring] [NODES]: brings a real cluster up (up.sh), checks what the e2e scenarios rely
# on, tears it down (down.sh) and checks that the host is as before. Exits non-zero naming the
# first check that failed; the cluster directory (logs) is kept then.
# --ring: the om-node and operator images of images/build-oci.sh (in OMRING_IMAGES_DIR, default
# ~/.cache/omring/images) are imported into every Node, the chart is installed with them (the
# operator as its 2-replica Deployment), and manifests/examples/ring-3.yaml must become
# Available with one member per Node and answer `kubectl exec om-0 -- om-node admin om roles`.
#   - every Node Ready, with its zone label and its bridge address as InternalIP;
#   - a StatefulSet (pause pods, one per Node by anti-affinity, a claim each) Running, with pod
#     IPs from each Node's /24 and local PersistentVolumes pinned to the pod's Node;
#   - CoreDNS answers A records for a Service and for a StatefulSet pod (asked at the kube-dns
#     ClusterIP, through kube-proxy's rules); the `kubernetes` Service reaches the API server;
#   - kubectl logs and kubectl exec (through the kubelets' API);
#   - after down.sh: no bridge, API bridge, KUBE-/CNI- rule, cgroup dir or mount is left,
#     and the sysctls are back.
set -euo pipefail
trap 'echo "smoke: FAILED at line $LINENO (cluster dir ${D:-?})" >&2' ERR
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RING=0; [[ ${1:-} == --ring ]] && { RING=1; shift; }
NODES=${1:-3}
if ((RING)); then
  version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml")
  images=${OMRING_IMAGES_DIR:-$HOME/.cache/omring/images}
  export OMRING_NODE_IMAGES="$images/om-node-$version.oci.tar $images/omring-operator-$version.oci.tar"
  for a in $OMRING_NODE_IMAGES; do [[ -f $a ]] || { echo "smoke: $a missing; build it with images/build-oci.sh" >&2; exit 2; }; done
fi
D=$(mktemp -d /tmp/omring-nodes-smoke.XXXXXX)
source "$HERE/lib.sh"
before=$(host_state)
fail() { echo "smoke: FAILED: $*  (cluster dir $D)" >&2; "$HERE/down.sh" "$D" >/dev/null 2>&1; exit 1; }

export KUBECONFIG
KUBECONFIG=$("$HERE/up.sh" "$D" "$NODES") || { echo "smoke: FAILED: up.sh (logs in $D/logs)" >&2; exit 1; }
source "$D/env"
K=("$OMRING_CP_BIN/kubectl")

for n in $(seq "$NODES"); do
  got=$("${K[@]}" get node "node-$n" -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/zone} {.status.addresses[?(@.type=="InternalIP")].address}')
  [[ $got == "$(zone_of "$n") $(node_ip "$n")" ]] || fail "node-$n: zone and InternalIP are '$got'"
done

"${K[@]}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: smoke}
spec: {clusterIP: None, selector: {app: smoke}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: smoke}
spec:
  serviceName: smoke
  replicas: $NODES
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec:
      terminationGracePeriodSeconds: 2
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: smoke}}}
      containers:
        - {name: pause, image: "$(image_ref pause)", imagePullPolicy: Never,
           volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
EOF
"${K[@]}" rollout status statefulset/smoke --timeout=120s >/dev/null || fail "StatefulSet smoke did not roll out"
for i in $(seq 0 $((NODES - 1))); do
  read -r node ip < <("${K[@]}" get pod "smoke-$i" -o jsonpath='{.spec.nodeName} {.status.podIP}{"\n"}')
  [[ $ip == 10.244.${node#node-}.* ]] || fail "smoke-$i on $node has IP $ip, not from $node's /24"
  pv=$("${K[@]}" get pvc "data-smoke-$i" -o jsonpath='{.spec.volumeName}')
  pinned=$("${K[@]}" get pv "$pv" -o jsonpath='{.spec.local.path} {.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}')
  [[ $pinned == "$D/nodes/$node/volumes/"*" $node" ]] || fail "PV $pv of smoke-$i: '$pinned' is not a local volume on $node"
done
nodes_used=$("${K[@]}" get pods -l app=smoke -o jsonpath='{.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | wc -l)
[[ $nodes_used -eq $NODES ]] || fail "smoke pods on $nodes_used Nodes, not $NODES"

# DNS through the kube-dns ClusterIP (kube-proxy's OUTPUT rules serve the host too).
resolve() { python3 "$HERE/dns-query.py" "$DNS_IP" "$1"; }
svc_ip=$("${K[@]}" -n kube-system get svc kube-dns -o jsonpath='{.spec.clusterIP}')
[[ $(resolve kube-dns.kube-system.svc.cluster.local) == "$svc_ip" ]] || fail "kube-dns.kube-system does not resolve to $svc_ip"
ip0=$("${K[@]}" get pod smoke-0 -o jsonpath='{.status.podIP}')
[[ $(resolve smoke-0.smoke.default.svc.cluster.local) == "$ip0" ]] || fail "smoke-0.smoke.default does not resolve to $ip0"
curl -sfk --max-time 5 https://10.0.0.1/readyz >/dev/null || fail "the kubernetes Service (10.0.0.1:443) does not reach the API server"

dns_pod=$("${K[@]}" -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{.items[0].metadata.name}')
"${K[@]}" -n kube-system logs "$dns_pod" | grep -q CoreDNS || fail "kubectl logs $dns_pod shows no CoreDNS banner"
version_out=$("${K[@]}" -n kube-system exec "$dns_pod" -- /usr/local/bin/coredns -version 2>&1) || true
grep -q CoreDNS <<<"$version_out" || fail "kubectl exec $dns_pod -- coredns -version printed: $version_out"

"${K[@]}" delete statefulset smoke --wait=true >/dev/null

if ((RING)); then
  "$OMRING_CP_BIN/helm" install omring-operator "$ROOT/charts/omring-operator" --namespace omring-system \
    --create-namespace --wait --timeout 120s >/dev/null || fail "helm install of the operator"
  ready=$("${K[@]}" -n omring-system get deployment omring-operator -o jsonpath='{.status.readyReplicas}')
  [[ $ready == 2 ]] || fail "operator Deployment has $ready ready replicas, not 2"
  sed 's/size: 10Gi/size: 64Mi/' "$ROOT/manifests/examples/ring-3.yaml" | "${K[@]}" apply -f - >/dev/null
  "${K[@]}" wait --for=condition=Available omr/om --timeout=180s >/dev/null || fail "ring om not Available"
  members=$("${K[@]}" get pods -l app.kubernetes.io/instance=om -o jsonpath='{.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | wc -l)
  [[ $members -eq 3 ]] || fail "ring members on $members Nodes, not 3"
  leader=$("${K[@]}" get omr om -o jsonpath='{.status.leader}')
  "${K[@]}" exec om-0 -- om-node admin om roles --table | grep -E "\| +$leader +\| +LEADER +\|" >/dev/null ||
    fail "kubectl exec om-0 -- om-node admin om roles --table does not name $leader (status.leader) LEADER"
  "${K[@]}" exec om-0 -- om-node sh volume create /smokevol >/dev/null || fail "volume create through om-0"
  "${K[@]}" exec om-2 -- om-node sh volume list | grep -F '"name" : "smokevol"' >/dev/null || fail "om-2 does not list the volume"
  "${K[@]}" logs "$leader" | grep "initialized a new ring\|joined" >/dev/null || fail "kubectl logs $leader"
  "${K[@]}" delete omr om --wait=true >/dev/null
fi
"$HERE/down.sh" "$D" || fail "down.sh"
after=$(host_state)
[[ $before == "$after" ]] || { echo "smoke: FAILED: the host differs after down.sh:" >&2; diff <(echo "$before") <(echo "$after") >&2; exit 1; }
awk -v d="$D/" 'index($2, d) == 1' /proc/self/mounts | grep -q . && { echo "smoke: FAILED: mounts left under $D" >&2; exit 1; }
rm -rf "$D"
echo "smoke: ok ($NODES real Nodes: pods, local volumes, DNS, Services, logs, exec$( ((RING)) && echo ", the chart's operator and a 3-member ring from the project's images"); host restored)"
