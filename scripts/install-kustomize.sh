#!/usr/bin/env bash
# Installs kustomize (pinned) into .tools/bin for the manifest tests, built from its Go module
# through the Go module proxy. Idempotent: does nothing when the pinned version is already there.
# The first build takes about two minutes on two cores; later runs reuse Go's build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.1}"
bin="$PWD/.tools/bin"
if [ -x "$bin/kustomize" ] && [ "$("$bin/kustomize" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "install-kustomize: Go is required (go install builds kustomize)" >&2; exit 1; }
mkdir -p "$bin"
GOBIN="$bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
"$bin/kustomize" version
