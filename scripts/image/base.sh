#!/usr/bin/env bash
# Makes the base of Flotilla's image on this machine, with nothing pulled: the node binary of the
# pinned `node` package, the shared libraries ldd lists for it, busybox (a shell and the usual
# tools, /usr/bin/env for the CLI's shebang) and the non-root user 65532 in a minimal rootfs,
# imported into podman as localhost/flotilla/base:<hash of those inputs>.
#
# Cached by content: when an image with that tag exists, nothing is rebuilt. Prints the image name
# as the last line of stdout.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
node="$(readlink -f "$repo/node_modules/node/bin/node")"
busybox="$(command -v busybox || true)"
[[ -x "$node" ]] || { echo "image-base: $repo/node_modules/node/bin/node missing: run npm install" >&2; exit 1; }
[[ -n "$busybox" ]] || { echo "image-base: busybox missing: run scripts/node-packages.sh" >&2; exit 1; }
file "$(readlink -f "$busybox")" | grep -q 'statically linked' ||
  { echo "image-base: $busybox is not static (install busybox-static)" >&2; exit 1; }

# The libraries as the dynamic loader resolves them: "name => /path (addr)" or "/path (addr)".
mapfile -t libraries < <(ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

# /etc files of the rootfs (their text is part of the hash).
passwd='root:x:0:0:root:/root:/sbin/nologin
flotilla:x:65532:65532:flotilla:/tmp:/sbin/nologin'
group='root:x:0:
flotilla:x:65532:'

hash="$(
  { sha256sum "$node" "$(readlink -f "$busybox")" "${BASH_SOURCE[0]}";
    for lib in "${libraries[@]}"; do echo "$lib"; sha256sum "$(readlink -f "$lib")"; done; } |
    sha256sum | cut -c1-12
)"
image="localhost/flotilla/base:$hash"
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi

echo "image-base: making $image" >&2
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,usr/bin,usr/local/bin,tmp,root}
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
cp "$node" "$rootfs/usr/local/bin/node"
for lib in "${libraries[@]}"; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
cp -L "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [[ -e "$rootfs/bin/$applet" ]] || ln -s busybox "$rootfs/bin/$applet"
done
ln -s ../../bin/busybox "$rootfs/usr/bin/env"
printf '%s\n' "$passwd" >"$rootfs/etc/passwd"
printf '%s\n' "$group" >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
  podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV HOME=/tmp' \
    --message "node $("$node" --version), its libraries, busybox, user 65532" \
    - "$image" >&2
echo "$image"
