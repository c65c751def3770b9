#!/usr/bin/env bash
# `npm run image`: builds localhost/flotilla:<package.json version> with podman from the Containerfile,
# with nothing pulled and no network: FROM the base made here (base.sh), with the compiled dist/
# (run `npm run build` first; `npm run image` does), the CRDs and protos the program reads, and the
# production dependencies only (npm ci --omit=dev in a context folder kept under out/image, redone
# only when package-lock.json changes). Prints the image name as the last line of stdout.
#
# Options: --tag NAME (default localhost/flotilla:<version>).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
node="$repo/node_modules/.bin/node"
version="$("$node" -p 'require("./package.json").version')"
tag="localhost/flotilla:$version"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    *) echo "usage: build.sh [--tag NAME]" >&2; exit 2 ;;
  esac
done
command -v podman >/dev/null || { echo "image: podman missing: run scripts/node-packages.sh" >&2; exit 1; }
[[ -f dist/operator/cli/main.js ]] || { echo "image: dist/ missing: run npm run build" >&2; exit 1; }

context="$repo/out/image"
mkdir -p "$context"
# One build at a time per checkout (parallel test workers share the context folder).
exec 9>"$context/.lock"
flock 9
base="$(bash scripts/image/base.sh | tail -1)"

# Production dependencies, reinstalled only when the lockfile changed. No install scripts: none of
# the production dependencies needs one, and the root package's own (a build) must not run here.
lock_hash="$(sha256sum package.json package-lock.json | sha256sum | cut -c1-16)"
if [[ "$(cat "$context/node_modules/.flotilla-lock" 2>/dev/null)" != "$lock_hash" ]]; then
  echo "image: npm ci --omit=dev" >&2
  rm -rf "$context/deps"
  mkdir -p "$context/deps"
  cp package.json package-lock.json "$context/deps/"
  (cd "$context/deps" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  # Type declarations and source maps are never loaded at run time.
  find "$context/deps/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
  rm -rf "$context/node_modules"
  mv "$context/deps/node_modules" "$context/node_modules"
  rm -rf "$context/deps"
  echo "$lock_hash" >"$context/node_modules/.flotilla-lock"
fi

# The program and the files it reads next to package.json (its package root).
rm -rf "$context/app"
mkdir -p "$context/app/dist"
cp package.json "$context/app/"
cp -r crds proto "$context/app/"
tar -C dist -c --exclude='*.map' --exclude='*.d.ts' operator | tar -C "$context/app/dist" -x
chmod 0755 "$context/app/dist/operator/cli/main.js"
# A folder, not a file: COPY keeps the symbolic links inside a folder but follows a single one.
rm -rf "$context/bin"
mkdir -p "$context/bin"
ln -s /app/dist/operator/cli/main.js "$context/bin/flotilla"

revision="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
podman build --pull=never --network=none --layers \
  --build-arg "BASE=$base" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -f Containerfile -t "$tag" "$context" >&2
echo "$tag"
