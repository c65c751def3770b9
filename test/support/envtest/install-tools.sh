#!/usr/bin/env bash
# Builds the envtest control-plane binaries from their official Go modules at
# the versions pinned in tools/*/go.mod (+ go.sum), and caches them outside
# the repository:
#
#   ${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}/<stamp>/bin
#     kube-apiserver kube-controller-manager kubectl etcd kwok
#     kwok-stages.yaml  (kwok's own "fast" node/pod stages, from the pinned module)
#
# Idempotent: a no-op when the cache for the current pins exists. Progress goes
# to stderr; the last line of stdout is the bin directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools_src="$here/tools"
tools_dir="${FLOTILLA_TOOLS_DIR:-$HOME/.cache/flotilla/tools}"

command -v go >/dev/null || { echo "install-tools: go is not on PATH" >&2; exit 1; }

# pinned <tool-module-dir> <module-path>: the version tools/<dir>/go.mod requires.
pinned() {
  awk -v m="$2" '$1 == m { print $2; exit }' "$tools_src/$1/go.mod"
}
k8s_version="$(pinned kubernetes k8s.io/kubernetes)"
etcd_version="$(pinned etcd go.etcd.io/etcd/server/v3)"
kwok_version="$(pinned kwok sigs.k8s.io/kwok)"
for v in k8s_version etcd_version kwok_version; do
  [[ -n "${!v}" ]] || { echo "install-tools: cannot read $v from $tools_src/*/go.mod" >&2; exit 1; }
done

k8s_minor="${k8s_version#v1.}"
k8s_minor="${k8s_minor%%.*}"
# What the upstream release build stamps into the binaries (served at /version).
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
done

export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly"
platform="$(go env GOOS)-$(go env GOARCH)"
# The stamp changes whenever a pin (go.mod/go.sum), a build flag or this recipe changes.
inputs_hash="$(
  { cat "$tools_src"/*/go.mod "$tools_src"/*/go.sum "${BASH_SOURCE[0]}"; echo "$GOFLAGS $CGO_ENABLED"; } |
    sha256sum | cut -c1-12
)"
stamp="k8s-${k8s_version}_etcd-${etcd_version}_kwok-${kwok_version}_${platform}_${inputs_hash}"
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

  # build <tool-module-dir> <ldflags> <output file or dir/> <package>...
  build() {
    local dir="$1" ldflags="$2" out="$3"
    shift 3
    echo "install-tools: go build $*" >&2
    (cd "$tools_src/$dir" && go build -ldflags="$ldflags" -o "$out" "$@")
  }
  build etcd "-s -w" "$staging/bin/etcd" go.etcd.io/etcd/server/v3
  build kwok "-s -w" "$staging/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
  # kwok ships no default stages; use the ones kwokctl embeds for the same release.
  stages="$(cd "$tools_src/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    echo "---"
    cat "$stages/$f.yaml"
  done >"$staging/bin/kwok-stages.yaml"
  build kubernetes "$k8s_ldflags" "$staging/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl

  # Publish atomically: a killed build never leaves a partial cache behind.
  mv "$staging" "$tools_dir/$stamp"
  trap - EXIT
  echo "install-tools: built $stamp in $((SECONDS - start))s" >&2
fi

echo "$bin_dir"
