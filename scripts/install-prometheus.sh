#!/usr/bin/env bash
# Installs Prometheus and promtool (Debian package `prometheus`) for the observability e2e test,
# which scrapes keyway and cache nodes with a real Prometheus. Idempotent: does nothing when both
# binaries are already there. The package's own service is neither needed nor started here.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
# policy-rc.d keeps the package's postinst from starting a system-wide Prometheus on port 9090.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
prometheus --version | head -1
promtool --version | head -1
