#!/usr/bin/env bash
# down.sh DIR: stops the control plane that up.sh started in DIR (scheduler, controller-manager and
# apiserver together, then etcd). Keeps DIR (logs, certs, etcd data) for inspection; safe to rerun.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
D=$(cd "$1" && pwd)
stop() { # stop NAME...: SIGTERM, wait up to 15 s, then SIGKILL
  local name pid pids=()
  for name in "$@"; do
    [[ -f $D/pids/$name.pid ]] || continue; pid=$(cat "$D/pids/$name.pid")
    # only signal a pid that still runs the binary we started (pids get reused)
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */$name ]] && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 150); do
    local alive=0; for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break; sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null && echo "killed $pid" >&2; done
  for name in "$@"; do rm -f "$D/pids/$name.pid"; done
}
stop kube-scheduler kube-controller-manager kube-apiserver
stop etcd
echo "control plane in $D stopped" >&2
