#!/usr/bin/env bash
# Installs LuaJIT (Debian package `luajit`), the Lua that Envoy embeds, so
# test/xds/translator/key-shard-lua.test.ts can run the generated key-to-shard script on the hash
# vectors without Envoy. Idempotent.
set -euo pipefail
if command -v luajit >/dev/null 2>&1; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq luajit
luajit -v
