#!/usr/bin/env bash
# down.sh DIR: stops the cluster that up.sh started in DIR and restores what it changed outside
# DIR: kills every process in the Nodes' cgroups, unmounts what containerd and the kubelets
# mounted under DIR, removes kube-proxy's and the pod network's iptables/nft rules, the bridges,
# the API bridge and the cgroup directories, puts the saved sysctls back and removes the
# host paths that did not exist before. Keeps DIR (logs) for inspection; safe to rerun, and safe
# on a DIR whose up.sh failed halfway.
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ -d $1 ]] || { echo "down.sh: no such directory $1" >&2; exit 0; }
D=$(cd "$1" && pwd)
source "$HERE/lib.sh"
mkdir -p "$LOCK_DIR"; exec 8>"$LOCK_DIR/lock"; flock 8 # one up/down at a time

stop() { # stop NAME...: SIGTERM, up to 10 s, then SIGKILL (only pids still running what was started)
  local name pid pids=()
  for name in "$@"; do
    [[ -f $D/pids/$name.pid ]] || continue; pid=$(cat "$D/pids/$name.pid")
    [[ -e /proc/$pid/exe ]] && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 100); do
    local alive=0; for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break; sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for name in "$@"; do rm -f "$D/pids/$name.pid"; done
}

# Kubelets first (they would restart containers), then every container process, then containerd.
nodes=()
for f in "$D"/pids/kubelet-*.pid; do [[ -f $f ]] && { n=${f##*/kubelet-}; nodes+=("${n%.pid}"); }; done
for nd in "$D"/nodes/node-*; do [[ -d $nd ]] && nodes+=("${nd##*/}"); done
mapfile -t nodes < <(printf '%s\n' "${nodes[@]}" | sort -u | grep .)
stop local-path-provisioner kube-proxy "${nodes[@]/#/kubelet-}"
for node in "${nodes[@]}"; do
  cg=omring-e2e-$node
  for _ in 1 2 3; do # processes may fork while being killed
    find "/sys/fs/cgroup/pids/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    sleep 0.2
  done
done
# Shims are not in the Nodes' cgroups; they exit once their containers are gone, or are killed here.
pgrep -f "containerd-shim-runc-v2 .*-address $D/" | xargs -r kill -KILL 2>/dev/null
stop "${nodes[@]/#/containerd-}"
"$ROOT/e2e/controlplane/down.sh" "$D/cp" 2>/dev/null || true

# Mounts under DIR (overlay snapshots, pod volumes, netns files), deepest first.
for _ in 1 2 3; do
  mounts=$(awk -v d="$D/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
  [[ -z $mounts ]] && break
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done <<<"$mounts"
done

# Rules: kube-proxy removes its own; then any KUBE-/CNI- chain left (kubelet, CNI plugins) and
# the OMRING-E2E- chains of the tests' faults (e2e/src/harness/cluster.rs).
BIN=$(sed -n 's/^OMRING_CP_BIN=//p' "$D/cp/env" 2>/dev/null)
[[ -x $BIN/kube-proxy ]] && "$BIN/kube-proxy" --cleanup >"$D/logs/kube-proxy-cleanup.log" 2>&1
for ipt in iptables ip6tables; do
  if "$ipt-save" 2>/dev/null | grep -qE '^:(KUBE|CNI|OMRING-E2E)-|-j (KUBE|CNI|OMRING-E2E)-'; then
    "$ipt-save" | grep -vE '^:(KUBE|CNI|OMRING-E2E)-|^-A (KUBE|CNI|OMRING-E2E)-|-j (KUBE|CNI|OMRING-E2E)-' | "$ipt-restore"
  fi
done
for t in "ip kube-proxy" "ip6 kube-proxy"; do nft list table $t >/dev/null 2>&1 && nft delete table $t; done

# Interfaces: the bridges (and their veths, which go with the pods' network namespaces) and the
# API bridge of the API server.
for n in $(seq 9); do ip link show "$(bridge_of "$n")" >/dev/null 2>&1 && ip link delete "$(bridge_of "$n")"; done
ip link show "$API_IF" >/dev/null 2>&1 && ip link delete "$API_IF"

# Cgroup directories, leaves first (runc also makes them in the cgroup2 hierarchy, "unified").
for node in "${nodes[@]}"; do
  for c in $CGROUP_CONTROLLERS unified; do
    g=/sys/fs/cgroup/$c/omring-e2e-$node
    [[ -d $g ]] && find "$g" -depth -type d -exec rmdir {} + 2>/dev/null
  done
done

# Host state saved by up.sh.
if [[ -f $D/host/sysctl ]]; then
  while IFS='=' read -r k v; do [[ -n $v ]] && sysctl -qw "$k=$v" 2>/dev/null; done <"$D/host/sysctl"
  while read -r p; do [[ -n $p ]] && rm -rf "$p"; done <"$D/host/absent"
  rm -f "$D/host/sysctl"
fi
find /var/log/containers -maxdepth 1 -lname "$D/*" -delete 2>/dev/null
[[ $(cat "$LOCK_DIR/owner" 2>/dev/null) == "$D" ]] && rm -f "$LOCK_DIR/owner"
left=$(live_pids "$D")
[[ -z $left ]] || { echo "down.sh: still running: $left" >&2; exit 1; }
echo "cluster in $D stopped and the host restored" >&2
