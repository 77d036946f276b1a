#!/usr/bin/env bash
# Regenerates proto/gen (TypeScript for the Envoy API subset listed in proto/files.txt, from the
# protos that ship in @grpc/grpc-js-xds's deps/, and keyway's own protos under proto/keyway, see
# docs/ownership.md) with @bufbuild/buf and protoc-gen-es.
#
# Why a patch: that package's copy of protoc-gen-validate's validate.proto predates the
# `ignore_empty` rules the Envoy protos use, so a strict compiler rejects them. We copy it and add
# the missing fields (the numbers upstream gave them) in a scratch workspace; nothing is vendored.
# It also writes OUT_DIR/INPUTS.txt, the hashes and versions of its inputs: the drift test
# (test/xds/proto-drift.test.ts) recomputes that cheaply and regenerates only when it differs.
# Usage: scripts/gen-proto.sh [OUT_DIR]   (default proto/gen; the drift test passes a temp dir)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/proto/gen}")"
deps="$root/node_modules/@grpc/grpc-js-xds/deps"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for d in envoy-api xds googleapis; do ln -s "$deps/$d" "$work/$d"; done
# keyway's protos are one more module, rooted at proto/ so their import path is keyway/v1/...
mkdir -p "$work/keyway-api"
ln -s "$root/proto/keyway" "$work/keyway-api/keyway"
mkdir -p "$work/pgv/validate"
# Add `optional bool ignore_empty = N;` to each *Rules message that lacks it.
awk '
  BEGIN { n["Int32Rules"]=8; n["Int64Rules"]=8; n["UInt32Rules"]=8; n["UInt64Rules"]=8;
          n["SInt32Rules"]=8; n["SInt64Rules"]=8; n["Fixed32Rules"]=8; n["Fixed64Rules"]=8;
          n["SFixed32Rules"]=8; n["SFixed64Rules"]=8; n["FloatRules"]=8; n["DoubleRules"]=8;
          n["StringRules"]=26; n["BytesRules"]=14; n["RepeatedRules"]=5; n["MapRules"]=6 }
  /^message [A-Za-z0-9]+Rules \{/ { msg=$2; has=0 }
  /ignore_empty/ { has=1 }
  /^\}/ && msg != "" { if ((msg in n) && !has) print "    optional bool ignore_empty = " n[msg] ";"; msg="" }
  { print }
' "$deps/protoc-gen-validate/validate/validate.proto" > "$work/pgv/validate/validate.proto"

cat > "$work/buf.yaml" <<YAML
version: v2
modules: [{path: envoy-api}, {path: xds}, {path: googleapis}, {path: pgv}, {path: keyway-api}]
YAML
cat > "$work/buf.gen.yaml" <<YAML
version: v2
plugins:
  - local: $root/node_modules/.bin/protoc-gen-es
    out: gen
    include_imports: true
    opt: [target=ts, import_extension=js]
YAML
paths=()
while read -r f; do
  case "$f" in ''|'#'*) continue ;; esac
  # xds/... (the CNCF xds module, e.g. TypedStruct) lives beside the Envoy API, not in it.
  case "$f" in xds/*) paths+=(--path "xds/$f") ;; *) paths+=(--path "envoy-api/$f") ;; esac
done < "$root/proto/files.txt"
keyway_protos=(keyway/v1/ownership.proto)
for f in "${keyway_protos[@]}"; do paths+=(--path "keyway-api/$f"); done
(cd "$work" && "$root/node_modules/.bin/buf" generate "${paths[@]}")
{
  echo "# Written by scripts/gen-proto.sh from its inputs; test/xds/proto-drift.test.ts recomputes it."
  for f in proto/files.txt scripts/gen-proto.sh "${keyway_protos[@]/#/proto/}"; do echo "sha256 $f $(sha256sum "$root/$f" | cut -d' ' -f1)"; done
  for p in @grpc/grpc-js-xds @bufbuild/buf @bufbuild/protoc-gen-es; do
    echo "version $p $(node -p 'require(process.argv[1]).version' "$root/node_modules/$p/package.json")"
  done
} > "$work/gen/INPUTS.txt"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$work/gen" "$out"
