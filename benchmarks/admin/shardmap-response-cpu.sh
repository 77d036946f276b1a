#!/usr/bin/env bash
# keyway's CPU per full GET /v1/shardmap (no If-None-Match; docs/api.md "Shard map"), the answer
# every client fetches after each map change: `npm run build && bash benchmarks/admin/shardmap-response-cpu.sh`.
# A topology of 2000 endpoints, S = 16384, R = 3 (a 1.3 MB body); 20 requests to warm up, then 200
# one at a time, keyway's user + system CPU over them from /proc/<pid>/stat.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT
{
  printf 'shards: 16384\nreplicas: 3\nspread: none\nendpoints:\n'
  for i in $(seq 0 1999); do printf '  - {id: gpu-%04d, address: 10.%d.%d.1, port: 7000, weight: %d}\n' "$i" $((i / 250)) $((i % 250)) $((1 + i % 4)); done
} > "$dir/topology.yaml"
node bin/keyway.js serve --config "$dir/topology.yaml" --http-port 18381 --xds-port 18382 --ext-proc-port off > "$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null localhost:18381/readyz && break; sleep 0.2; done
for _ in $(seq 1 20); do curl -s -o /dev/null localhost:18381/v1/shardmap; done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks)
for _ in $(seq 1 200); do curl -s -o /dev/null localhost:18381/v1/shardmap; done
t1=$(ticks)
hz=$(getconf CLK_TCK)
size=$(curl -s localhost:18381/v1/shardmap | wc -c)
echo "keyway CPU per GET /v1/shardmap: $(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.1f", d * 1000 / hz / 200 }') ms (body $size bytes)"
