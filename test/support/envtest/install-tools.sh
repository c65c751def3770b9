#!/usr/bin/env bash
# Builds the test tools from their official Go modules at the versions pinned in
# tools/*/go.mod (+ go.sum), and caches them outside the repository, one cache
# directory per group of tools:
#
#   install-tools.sh [kubernetes]   (the default) the envtest control plane:
#     ${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}/<stamp>/bin
#       kube-apiserver kube-controller-manager kubectl etcd kwok
#       kubelet kube-scheduler kube-proxy  (for real nodes, test/support/real-node)
#       pause  (the pod sandbox process of the local pause image, tools/pause)
#       kwok-stages.yaml  (kwok's own "fast" node/pod stages, from the pinned module)
#   install-tools.sh helm           helm, for the chart tests:
#     ${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}/<helm stamp>/bin/helm
#   install-tools.sh prometheus     prometheus and promtool, for the monitoring tests:
#     ${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}/<prometheus stamp>/bin/{prometheus,promtool}
#   install-tools.sh dashboard-check   the Grafana foundation SDK's strict dashboard check (tools/dashboard-check):
#     ${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}/<dashboard-check stamp>/bin/dashboard-check
#
# Each group's stamp hashes only its own pins and recipe, so pinning a new helm
# does not rebuild the Kubernetes binaries, nor the other way round.
# Idempotent: a no-op when the cache for the current pins exists. Progress goes
# to stderr; the last line of stdout is the group's bin directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools_src="$here/tools"
tools_dir="${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}"
group="${1:-kubernetes}"

command -v go >/dev/null || { echo "install-tools: go is not on PATH" >&2; exit 1; }

# pinned <tool-module-dir> <module-path>: the version tools/<dir>/go.mod requires.
pinned() {
  local v
  v="$(awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$tools_src/$1/go.mod")"
  [[ -n "$v" ]] || { echo "install-tools: cannot read $2 from $tools_src/$1/go.mod" >&2; exit 1; }
  echo "$v"
}

# build <tool-module-dir> <ldflags> <output file or dir/> <package>...
build() {
  local dir="$1" ldflags="$2" out="$3"
  shift 3
  echo "install-tools: go build $*" >&2
  (cd "$tools_src/$dir" && go build -ldflags="$ldflags" -o "$out" "$@")
}

# kubernetes_tools <staging bin dir>
kubernetes_tools() {
  local k8s_minor="${k8s_version#v1.}" k8s_ldflags="-s -w" pkg stages f
  k8s_minor="${k8s_minor%%.*}"
  # What the upstream release build stamps into the binaries (served at /version).
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    k8s_ldflags+=" -X $pkg.gitTreeState=clean"
  done
  build etcd "-s -w" "$1/etcd" go.etcd.io/etcd/server/v3
  build kwok "-s -w" "$1/kwok" sigs.k8s.io/kwok/cmd/kwok
  # kwok ships no default stages; use the ones kwokctl embeds for the same release.
  stages="$(cd "$tools_src/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    echo "---"
    cat "$stages/$f.yaml"
  done >"$1/kwok-stages.yaml"
  build pause "-s -w" "$1/pause" .
  # One go build for all of them: they share most packages.
  build kubernetes "$k8s_ldflags" "$1/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy
}

# helm_tools <staging bin dir>
helm_tools() {
  # As helm's Makefile stamps a release (`helm version` and .Capabilities.HelmVersion).
  build helm "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    "$1/helm" helm.sh/helm/v4/cmd/helm
}

# prometheus_tools <staging bin dir>
prometheus_tools() {
  # The release, as promu stamps it (`prometheus --version`, /api/v1/status/buildinfo). remove_all_sd
  # keeps only the static, file and http service discoveries (the tests use file_sd); without
  # builtinassets the web UI is absent, the HTTP API is all the tests use.
  local v="github.com/prometheus/common/version"
  build prometheus "-s -w -X $v.Version=$prometheus_release" \
    "$1/" -tags remove_all_sd \
    github.com/prometheus/prometheus/cmd/prometheus \
    github.com/prometheus/prometheus/cmd/promtool
}

# dashboard-check_tools <staging bin dir>
dashboard-check_tools() {
  build dashboard-check "-s -w" "$1/dashboard-check" .
}

case "$group" in
  kubernetes)
    k8s_version="$(pinned kubernetes k8s.io/kubernetes)"
    etcd_version="$(pinned etcd go.etcd.io/etcd/server/v3)"
    kwok_version="$(pinned kwok sigs.k8s.io/kwok)"
    modules=(kubernetes etcd kwok pause)
    name="k8s-${k8s_version}_etcd-${etcd_version}_kwok-${kwok_version}"
    ;;
  helm)
    helm_version="$(pinned helm helm.sh/helm/v4)"
    modules=(helm)
    name="helm-${helm_version}"
    ;;
  prometheus)
    prometheus_version="$(pinned prometheus github.com/prometheus/prometheus)"
    # The Go module v0.3MM.P is Prometheus 3.MM.P.
    minor="${prometheus_version#v0.3}"
    prometheus_release="3.$((10#${minor%%.*})).${minor#*.}"
    modules=(prometheus)
    name="prometheus-${prometheus_release}"
    ;;
  dashboard-check)
    modules=(dashboard-check)
    name="dashboard-check_grafana-foundation-sdk-$(pinned dashboard-check github.com/grafana/grafana-foundation-sdk/go)"
    ;;
  *)
    echo "install-tools: unknown tool group '$group' (kubernetes, helm, prometheus or dashboard-check)" >&2
    exit 2
    ;;
esac

export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly"
platform="$(go env GOOS)-$(go env GOARCH)"
# The stamp changes whenever one of the group's pins (go.mod/go.sum), a build flag or its recipe
# (the functions it runs) changes.
inputs_hash="$(
  {
    # Our own tools (pause) have sources and no go.sum (cat skips it; the hash is of what exists).
    shopt -s nullglob
    for m in "${modules[@]}"; do cat "$tools_src/$m"/go.mod "$tools_src/$m"/go.sum "$tools_src/$m"/*.go 2>/dev/null; done
    declare -f build "${group}_tools"
    echo "$GOFLAGS $CGO_ENABLED"
  } | sha256sum | cut -c1-12
)"
stamp="${name}_${platform}_${inputs_hash}"
bin_dir="$tools_dir/$stamp/bin"

mkdir -p "$tools_dir"
# Serialize concurrent installs (e.g. parallel test workers): later callers wait
# for the first build and then find the cache.
exec 9>"$tools_dir/.lock"
flock 9

if [[ ! -d "$bin_dir" ]]; then
  echo "install-tools: building $stamp (a cold build takes a while)" >&2
  start=$SECONDS
  rm -rf "$tools_dir"/.build.* # left by a killed build (we hold the lock)
  staging="$(mktemp -d "$tools_dir/.build.XXXXXX")"
  chmod 755 "$staging"
  trap 'rm -rf "$staging"' EXIT
  mkdir "$staging/bin"
  "${group}_tools" "$staging/bin"
  # Publish atomically: a killed build never leaves a partial cache behind.
  mv "$staging" "$tools_dir/$stamp"
  trap - EXIT
  echo "install-tools: built $stamp in $((SECONDS - start))s" >&2
fi

echo "$bin_dir"
