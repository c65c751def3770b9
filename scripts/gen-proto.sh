#!/usr/bin/env bash
# Generates the TypeScript types of the federation protocol from its .proto, with the same options
# that operator/federation/proto.ts loads it with (keepCase off, longs as Number, enums as String,
# defaults, oneofs). A test regenerates into a temporary folder and compares, so the committed types
# cannot drift from the .proto.
# Usage: scripts/gen-proto.sh [OUT_DIR]   (default: operator/federation/generated)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-operator/federation/generated}"
# Start clean so that a message removed from the .proto leaves no stale file behind.
rm -rf "$out/federation.ts" "$out/flotilla"
./node_modules/.bin/node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --longs=Number --enums=String --defaults --oneofs --includeComments \
  --grpcLib=@grpc/grpc-js --importFileExtension=.js \
  -I proto -O "$out" \
  flotilla/federation/v1/federation.proto
