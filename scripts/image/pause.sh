#!/usr/bin/env bash
# Makes the pod sandbox image of real test nodes (nothing can be pulled here): the static pause
# program built by install-tools.sh, alone in a rootfs, as localhost/flotilla/pause:<its hash>.
# Usage: pause.sh PAUSE_BINARY. Cached by content; prints the image name as the last line of stdout.
set -euo pipefail

binary="${1:?usage: pause.sh PAUSE_BINARY}"
image="localhost/flotilla/pause:$(sha256sum "$binary" | cut -c1-12)"
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
echo "image-pause: making $image" >&2
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
install -m 0755 "$binary" "$rootfs/pause"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
  podman import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' - "$image" >&2
echo "$image"
