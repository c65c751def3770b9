#!/usr/bin/env bash
# Installs what real Kubernetes test nodes and the image build need (Debian packages):
# containerd and runc, the CNI plugins, the packet filters kubelet and kube-proxy program,
# busybox for a shell in the base image, podman to build the image. Then gives podman
# default ulimits the host can grant (it withholds CAP_SYS_RESOURCE, so containers asking
# for more than the host's limits fail to start).
#
# Idempotent: apt runs only when a package is missing. Needs root for that; without root
# it says what is missing and exits 0 (the real-node tests then skip and say why).
set -euo pipefail

packages=(
  containerd runc containernetworking-plugins
  iptables nftables conntrack iproute2
  busybox-static podman
)
conf_dir=/etc/containers/containers.conf.d
conf="$conf_dir/flotilla-ulimits.conf"
conf_text='# Written by flotilla scripts/node-packages.sh: limits this host can grant.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]'

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 && "$(cat "$conf" 2>/dev/null)" == "$conf_text" ]]; then
  exit 0
fi
if [[ $EUID -ne 0 ]]; then
  echo "node-packages: not root; missing: ${missing[*]:-none}${missing[*]:+,} $conf (real-node tests will skip)" >&2
  exit 0
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "node-packages: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi
mkdir -p "$conf_dir"
printf '%s\n' "$conf_text" >"$conf"
