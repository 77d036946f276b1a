#!/usr/bin/env bash
# Runs every test: unit and golden (test/), in-process integration (test/), and end-to-end (e2e/).
# KEYWAY_TEST_FILTER=<regex> narrows the files; KEYWAY_E2E=0 leaves the e2e tier out;
# KEYWAY_SLOW_TESTS=1 adds the slow checks (regenerating proto/gen even when its inputs are unchanged).
# KEYWAY_TEST_CONCURRENCY=<n> sets how many test files run at once (default 3; 1 runs them one by one).
# KEYWAY_TEST_FILE_TIMEOUT_MS=<ms> ends a test file still running after it (default 600000), with a reason.
# Skipped tests and tiers are listed after the runner's summary, one SKIPPED line per reason.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=(test)
skipped_tier=""
if [ "${KEYWAY_E2E:-1}" = "0" ]; then skipped_tier="e2e tier (KEYWAY_E2E=0)"; else dirs+=(e2e); fi
# The longest files start first (e2e/, then the ones that compile or start processes), so no long
# file is left to run alone at the end while the other slots sit idle.
slow='^(e2e/|test/manifests/dockerfile|test/cli/|test/admin/openapi/|test/integration/|test/client/package-|test/telemetry/dashboards-grafana|test/telemetry/cache-node/|test/examples/cache-node-(main|warm-limit))'
mapfile -t all < <(find "${dirs[@]}" -name '*.test.ts' 2>/dev/null | sort | grep -E "${KEYWAY_TEST_FILTER:-.}" || true)
mapfile -t files < <({ printf '%s\n' "${all[@]}" | grep -E "$slow"; printf '%s\n' "${all[@]}" | grep -vE "$slow"; } | grep . || true)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi

# Every `keyway serve` a test starts leaves the endpoint picker off unless the test asks for it
# (--ext-proc-port): its default port, 9002, would collide between the tests running at once.
export KEYWAY_EXT_PROC_PORT="${KEYWAY_EXT_PROC_PORT:-off}"

# The CLI and `keyway serve` run in tests as users run them, compiled (bin/keyway.js over dist/):
# build first, so they always run the sources of this checkout.
npm run --silent build

# node:test's own default: spec on a terminal, TAP otherwise (CI reads TAP's "# pass N" / "# fail N").
reporter=tap
[ -t 1 ] && reporter=spec
skips="$(mktemp)"
trap 'rm -f "$skips"' EXIT
status=0
# --test-force-exit: a file's process exits once its tests have finished. grpc-js-xds keeps one
# xDS client per process with no public way to stop it; after its server has closed, it retries
# on timers that sometimes kept a finished proxyless test file alive until the watchdog ended it.
node --import tsx --import ./scripts/test-file-watchdog.mjs --test --test-force-exit --test-concurrency="${KEYWAY_TEST_CONCURRENCY:-3}" \
  --test-reporter="$reporter" --test-reporter-destination=stdout \
  --test-reporter=./scripts/test-skips-reporter.mjs --test-reporter-destination="$skips" \
  "${files[@]}" || status=$?

if [ -n "$skipped_tier" ] || [ -s "$skips" ]; then
  echo "# ================================================================"
  [ -z "$skipped_tier" ] || echo "# SKIPPED: $skipped_tier"
  while IFS= read -r line; do echo "# $line"; done < "$skips"
  echo "# ================================================================"
fi
exit "$status"
