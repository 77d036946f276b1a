#!/usr/bin/env bash
# Python grpcio for the make-before-break integration test (test/integration/grpc-make-before-break.test.ts):
# a venv in .tools/grpcio-venv holding the pinned grpcio (C-core, with its xDS resolver).
set -euo pipefail
cd "$(dirname "$0")/.."
GRPCIO_VERSION=1.85.3
venv=.tools/grpcio-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import grpc, sys; sys.exit(grpc.__version__ != '$GRPCIO_VERSION')" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "grpcio==$GRPCIO_VERSION"
fi
echo "grpcio $GRPCIO_VERSION in $venv"
