#!/usr/bin/env bash
# Tests the client libraries outside TypeScript against the shared vectors (testdata/vectors):
# Python (clients/python, pytest in clients/python/.venv, made on first run; its ShardMapClient
# tests run `keyway serve`, the compiled CLI) and Go (clients/go: the
# hash contract, and the shard-picking grpc-go balancer in clients/go/shardpicker, whose grpc-go is
# pinned by go.mod/go.sum and fetched through the Go module proxy on first run; its end-to-end test
# needs node and builds keyway first). Prints a pass/fail line per language; exits non-zero if any
# fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST_VERSION=8.4.2
# mypy: clients/python/tests/test_typing.py checks the package's type hints with mypy --strict.
MYPY_VERSION=1.20.2
failed=()

# The Python ShardMapClient tests and the Go shard picker's end-to-end test run `keyway serve`, the
# compiled CLI: build it from this checkout once (as scripts/test.sh does), and make a missing CLI a
# failure rather than a skip (KEYWAY_REQUIRE_E2E=1).
echo "== npm run build"
built=yes
npm run --silent build || built=no
export KEYWAY_REQUIRE_E2E=1

echo "== clients/python: pytest"
py=clients/python
if (
  set -e
  [ "$built" = yes ]
  if [ ! -x "$py/.venv/bin/python" ]; then
    python3 -m venv "$py/.venv"
  fi
  if ! "$py/.venv/bin/python" -m pytest --version 2>/dev/null | grep -q "pytest $PYTEST_VERSION" ||
    ! "$py/.venv/bin/python" -m mypy --version 2>/dev/null | grep -q "mypy $MYPY_VERSION"; then
    "$py/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "pytest==$PYTEST_VERSION" "mypy==$MYPY_VERSION"
  fi
  cd "$py" && .venv/bin/python -m pytest -q
); then
  echo "PASS clients/python"
else
  echo "FAIL clients/python"
  failed+=(python)
fi

echo "== clients/go: go test"
# The shard picker's end-to-end test runs a real grpc-go xDS client against `keyway serve` (built
# above). -mod=readonly: go.sum must already pin every module.
if (
  set -e
  [ "$built" = yes ]
  cd clients/go
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly KEYWAY_BIN="$PWD/../../bin/keyway.js"
  go vet ./...
  go test -count=1 -v ./...
); then
  echo "PASS clients/go"
else
  echo "FAIL clients/go"
  failed+=(go)
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "client tests FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "client tests passed: python, go"
