#!/usr/bin/env bash
# An owners-table change by RDS (file-based here) reaches the module without draining the listener:
# three stand-in nodes (ports 19101-19103), Envoy on 19210 (admin 19200), shard 0 moved from
# 19101 to 19103 while one keep-alive connection sends requests. Needs the module built (make).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
sed "s|@DIR@|$dir|g" "$here/envoy.yaml" > "$dir/envoy.yaml"
python3 "$here/rds.py" 127.0.0.1:19101,127.0.0.1:19102 > "$dir/rds.yaml"
for p in 19101 19102 19103; do node "$here/up.cjs" $p & done
ENVOY_DYNAMIC_MODULES_SEARCH_PATH="$here/../build" "${KEYWAY_ENVOY:-$repo/.venv/bin/envoy}" -c "$dir/envoy.yaml" \
  --disable-hot-restart --concurrency 1 -l warning > "$dir/envoy.log" 2>&1 &
sleep 3
(cd "$dir" && RDS_PY="$here/rds.py" node "$here/client.cjs")
curl -s http://127.0.0.1:19200/stats | grep -E 'listener_manager.(listener_modified|total_filter_chains_draining|total_listeners_draining)|rds.r.update_(success|rejected)|http.t.downstream_cx_total'
