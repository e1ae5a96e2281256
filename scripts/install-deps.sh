#!/usr/bin/env bash
# Installs what building and testing omring needs on a fresh Debian machine: clang and libclang
# for RocksDB's bindgen, iproute2 and iptables for the fault suite, containerd, runc and conntrack
# for the e2e cluster's real nodes (kubelet, kube-proxy). Rust and Go come with the machine.
# Safe to rerun: it only installs what is missing.
set -euo pipefail
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v make >/dev/null 2>&1 || need+=(make)
# The fault suite (faults/): network namespaces, veth pairs and a bridge, and iptables rules.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# Real Kubernetes nodes (e2e/nodes/): the container runtime under every kubelet, and conntrack
# for kube-proxy. Debian's containerd 1.6 speaks CRI v1, which kubelet 1.34 accepts.
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
