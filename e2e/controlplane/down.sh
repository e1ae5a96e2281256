#!/usr/bin/env bash
# down.sh DIR: stops the control plane that up.sh started in DIR (scheduler, controller-manager,
# apiserver, then etcd). Keeps DIR (logs, certs, etcd data) for inspection; safe to run twice.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
D=$(cd "$1" && pwd)
for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f=$D/pids/$name.pid; [[ -f $f ]] || continue; pid=$(cat "$f")
  # only signal the pid if it still runs the binary we started (pids get reused)
  if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */$name ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "killing $name ($pid)" >&2; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$f"
done
echo "control plane in $D stopped" >&2
