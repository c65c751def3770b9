#!/usr/bin/env bash
# Generates the TypeScript types of one of our protocols from its .proto, with the same options its
# loader uses (operator/federation/proto.ts, operator/sitelink/proto.ts): keepCase off, longs as
# Number, enums as String, defaults, oneofs. A test regenerates into a temporary folder and
# compares, so the committed types cannot drift from the .proto.
# Usage: scripts/gen-proto.sh [OUT_DIR [PROTO]]
#   default: operator/federation/generated flotilla/federation/v1/federation.proto
#   the site protocol: scripts/gen-proto.sh operator/sitelink/generated flotilla/site/v1/site.proto
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-operator/federation/generated}"
proto="${2:-flotilla/federation/v1/federation.proto}"
# Start clean so that a message removed from the .proto leaves no stale file behind. One protocol
# per output folder: the folder's flotilla/ tree is this protocol's alone.
rm -rf "$out/$(basename "$proto" .proto).ts" "$out/flotilla"
./node_modules/.bin/node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --longs=Number --enums=String --defaults --oneofs --includeComments \
  --grpcLib=@grpc/grpc-js --importFileExtension=.js \
  -I proto -O "$out" \
  "$proto"
