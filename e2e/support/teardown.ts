/**
 * The usual end of an e2e suite: Envoy first (so it stops retrying), then keyway, then the cache
 * nodes, then the suite's temp dir unless KEYWAY_E2E_KEEP=1. Every part may be missing (a
 * `before` that failed half-way).
 */
import { rmSync } from 'node:fs';
import type { CacheNodes } from './cache-nodes.js';
import type { EnvoyProcess } from './envoy.js';
import type { KeywayProcess } from './keyway.js';

export async function stopStack(parts: { envoy?: EnvoyProcess; keyway?: KeywayProcess; nodes?: CacheNodes; dir?: string }): Promise<void> {
  await parts.envoy?.stop();
  await parts.keyway?.stop();
  await parts.nodes?.stopAll();
  if (parts.dir && process.env.KEYWAY_E2E_KEEP !== '1') rmSync(parts.dir, { recursive: true, force: true });
}
