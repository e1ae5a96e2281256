# shellcheck shell=bash
# Sourced by up.sh and down.sh: the cluster's fixed names and addresses (one such cluster per
# machine), and the host state it changes. Expects D (the cluster directory) and HERE.
LOCK_DIR=/run/omring-e2e-nodes
API_IF=omr-e2e0 API_IP=10.243.0.1 DNS_IP=10.0.0.10 SERVICE_CIDR=10.0.0.0/24 # (controlplane/up.sh)
CGROUP_CONTROLLERS="cpu cpuacct cpuset memory devices freezer blkio pids systemd"
# Sysctls the kubelet and the pod network set: saved by up.sh, restored by down.sh.
SYSCTLS="net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory kernel.panic kernel.panic_on_oops"
# Paths outside DIR that kubelets and containerd write; removed by down.sh if they were absent.
HOST_PATHS="/var/log/containers /var/log/pods /var/lib/kubelet /var/lib/cni /run/containerd"

bridge_of() { echo "omr-e2e$1"; }
node_ip() { echo "10.244.$1.1"; }
node_subnet() { echo "10.244.$1.0/24"; }
cgroup_of() { echo "omring-e2e-node-$1"; }
zone_of() { local z=(a b c d e f g h i); echo "zone-${z[$1 - 1]}"; }
image_ref() { echo "docker.io/omring-e2e/$1:local"; }

# Live processes recorded under DIR/pids (only those still running the binary that was started).
live_pids() { # live_pids DIR
  local f pid
  for f in "$1"/pids/*.pid "$1"/cp/pids/*.pid; do
    [[ -f $f ]] || continue; pid=$(cat "$f")
    [[ -e /proc/$pid/exe ]] && echo "$pid"
  done
}

# One cluster per machine: take the machine, or refuse while another live cluster has it. The
# leftovers of one that died without down.sh are cleaned up first.
claim_machine() { # claim_machine DIR
  mkdir -p "$LOCK_DIR"
  exec 8>"$LOCK_DIR/lock"; flock 8
  if [[ -f $LOCK_DIR/owner ]]; then
    local other; other=$(cat "$LOCK_DIR/owner")
    if [[ $other != "$1" && -n $(live_pids "$other") ]]; then
      echo "nodes: the cluster in $other runs on this machine; stop it first: e2e/nodes/down.sh $other" >&2
      exit 1
    fi
    echo "nodes: cleaning up after the cluster in $other" >&2
    exec 8>&-; "$HERE/down.sh" "$other" >&2; exec 8>"$LOCK_DIR/lock"; flock 8
  fi
  echo "$1" >"$LOCK_DIR/owner"
  exec 8>&- # the owner file marks the machine taken; no process of the cluster holds the lock
}

save_host_state() {
  local s p
  : >"$D/host/sysctl"; : >"$D/host/absent"
  for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s" 2>/dev/null || echo '')" >>"$D/host/sysctl"; done
  for p in $HOST_PATHS; do [[ -e $p ]] || echo "$p" >>"$D/host/absent"; done
}

start() { # start NAME CMD...: a process in its own session, outliving this script; logs appended
  local name=$1; shift; setsid "$@" >>"$D/logs/$name.log" 2>&1 </dev/null & echo $! >"$D/pids/$name.pid"; }
save_cmd() { # save_cmd FILE CMD...: the command line, one argument per line, for start_saved
  printf '%s\n' "${@:2}" >"$1"; }
start_saved() { # start_saved NAME FILE: starts what save_cmd wrote (node.sh restarts a Node with it)
  local args; mapfile -t args <"$2"; start "$1" "${args[@]}"; }

host_state() { # what a cluster changes on the host, to compare before up.sh and after down.sh
  ip -br link | awk '{print $1}' | grep -E '^omr-e2e' || true
  iptables-save 2>/dev/null | grep -cE '(KUBE|CNI|OMRING-E2E)-' || true
  nft list tables 2>/dev/null | grep -c kube-proxy || true
  for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s" 2>/dev/null)"; done
  ls -d /sys/fs/cgroup/*/omring-e2e-* 2>/dev/null || true
  for p in $HOST_PATHS; do [[ -e $p ]] && echo "$p"; done
  return 0
}
