/** The real Envoy binary for validating bootstraps: $KEYWAY_ENVOY, else scripts/install-envoy.sh's .venv/bin/envoy. */
import { accessSync, constants } from 'node:fs';
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
