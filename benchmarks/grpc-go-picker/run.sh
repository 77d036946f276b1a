#!/usr/bin/env bash
# grpc-go through keyway, one ownership change at a time: the shard-picking balancer
# (clients/go/shardpicker, one cluster) against a stock grpc-go client (one route per shard, one
# cluster per owner tuple), side by side. Each run is clients/go/shardpicker's TestXDSScale: a real
# grpc-go xDS client in its own process, `keyway serve`, NODES Go gRPC servers; the last node leaves
# and comes back CHANGES times; measured are the client process's CPU seconds (getrusage) and the
# wall time from the topology write until 64 sampled moved shards answer from their new primary.
# Figures and the machine: docs/benchmarks.md "grpc-go shard picker".
#
#   bash benchmarks/grpc-go-picker/run.sh            # picker at S = 16384 and 1024, stock at 1024; 64 nodes
#   bash benchmarks/grpc-go-picker/run.sh --quick    # S = 1024 and 256, 16 nodes, 2 changes (smoke run)
#
# Writes benchmarks/results/grpc-go-picker.json (one object per run; --quick: grpc-go-picker-quick.json,
# not committed). Stock at S = 16384 is left
# out: it does not finish its initial sync in minutes (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
nodes=64 changes=5 big=16384 small=1024 out="benchmarks/results/grpc-go-picker.json"
if [ "${1:-}" = "--quick" ]; then nodes=16 changes=2 big=1024 small=256 out="benchmarks/results/grpc-go-picker-quick.json"; fi
npm run --silent build
lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT
run() { # mode shards
  (cd clients/go && GOTOOLCHAIN=local GOFLAGS=-mod=readonly KEYWAY_REQUIRE_E2E=1 KEYWAY_GO_SCALE=1 \
    KEYWAY_GO_SCALE_MODE="$1" KEYWAY_GO_SCALE_SHARDS="$2" KEYWAY_GO_SCALE_NODES="$nodes" \
    KEYWAY_GO_SCALE_CHANGES="$changes" KEYWAY_GO_SCALE_OUT="$lines" \
    go test -count=1 -timeout 20m -run '^TestXDSScale$' -v ./shardpicker/ | grep -E 'scale_test|^(ok|FAIL)')
}
run picker "$big"
run picker "$small"
run stock "$small"
node -e 'const fs=require("fs");const rows=fs.readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);fs.writeFileSync(process.argv[2],JSON.stringify({machine:require("os").cpus().length+" CPUs",runAt:new Date().toISOString(),runs:rows},null,2)+"\n");for(const r of rows)console.log(`${r.mode.padEnd(6)} S=${String(r.shards).padStart(5)} nodes=${r.nodes}: client CPU per change median ${r.clientCpuMedian.toFixed(3)} s, wall median ${r.wallMedian.toFixed(3)} s`)' "$lines" "$out"
echo "wrote $out"
