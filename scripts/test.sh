#!/usr/bin/env bash
# Runs every test: unit and golden (test/), in-process integration (test/), and end-to-end (e2e/).
# KEYWAY_TEST_FILTER=<regex> narrows the files; KEYWAY_E2E=0 leaves the e2e tier out;
# KEYWAY_SLOW_TESTS=1 adds the slow checks (regenerating proto/gen even when its inputs are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=(test)
[ "${KEYWAY_E2E:-1}" = "0" ] || dirs+=(e2e)
mapfile -t files < <(find "${dirs[@]}" -name '*.test.ts' 2>/dev/null | sort | grep -E "${KEYWAY_TEST_FILTER:-.}" || true)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency=1 "${files[@]}"
