#!/usr/bin/env bash
# node.sh DIR stop|start node-N: a Node of the cluster up.sh started in DIR fails or comes back.
#   stop   power loss: SIGKILL to the Node's kubelet, to every process of its pods (its cgroup
#          root) and their shims, and to its containerd. Its pods stop without SIGTERM; the API
#          server hears nothing until the Node's heartbeats go missing (NotReady after the
#          controller-manager's grace period).
#   start  the Node's containerd and kubelet again, with the command lines up.sh saved; the
#          kubelet finds its dead sandboxes and starts the pods again.
set -euo pipefail
[[ $# -eq 3 && ($2 == stop || $2 == start) ]] || { echo "usage: $0 DIR stop|start node-N" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(cd "$1" && pwd) ACTION=$2 NODE=$3 ND=$D/nodes/$3
source "$HERE/lib.sh"
[[ -f $ND/kubelet.cmd && -f $ND/containerd.cmd ]] || { echo "node.sh: $NODE is not a Node of the cluster in $D" >&2; exit 2; }
running() { [[ -f $D/pids/$1.pid ]] && [[ -e /proc/$(cat "$D/pids/$1.pid")/exe ]]; }
kill9() { running "$1" && kill -KILL "$(cat "$D/pids/$1.pid")" 2>/dev/null; rm -f "$D/pids/$1.pid"; }

case $ACTION in
  stop)
    kill9 "kubelet-$NODE"
    cg=$(cgroup_of "${NODE#node-}")
    for _ in 1 2 3; do # processes may fork while being killed
      find "/sys/fs/cgroup/pids/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
      sleep 0.2
    done
    pgrep -f "containerd-shim-runc-v2 .*-address $ND/containerd.sock" | xargs -r kill -KILL 2>/dev/null || true
    kill9 "containerd-$NODE"
    echo "$NODE stopped (kubelet, containerd and its pods' processes killed)" >&2 ;;
  start)
    running "containerd-$NODE" || start_saved "containerd-$NODE" "$ND/containerd.cmd"
    for _ in $(seq 100); do ctr -a "$ND/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    ctr -a "$ND/containerd.sock" version >/dev/null 2>&1 || { echo "node.sh: containerd of $NODE did not start (see $D/logs/containerd-$NODE.log)" >&2; exit 1; }
    running "kubelet-$NODE" || start_saved "kubelet-$NODE" "$ND/kubelet.cmd"
    echo "$NODE started (containerd and kubelet)" >&2 ;;
esac
