/**
 * `keyway serve` in the test process, as the CLI assembles it (serveStages: telemetry and xDS
 * sharing one metrics object), on a temporary topology file; everything is closed after the test.
 */
import type { TestContext } from 'node:test';
import { serveStages } from '../../src/app/wiring.js';
import { startServer, type RunningServer, type ServeOptions } from '../../src/app/index.js';
import type { ServeStage } from '../../src/core/stage.js';
import { createKeywayMetrics, type KeywayMetrics } from '../../src/telemetry/index.js';
import { tempTopology } from '../serve/support.js';
import type { XdsTestClient } from './xds-client/xds-client.js';

export interface InProcessKeyway {
  readonly server: RunningServer;
  readonly metrics: KeywayMetrics;
  readonly topo: Awaited<ReturnType<typeof tempTopology>>;
  /** xDS test clients to close when the test ends. */
  readonly clients: XdsTestClient[];
}

/**
 * Starts keyway on `topologyText` (REST and xDS on free ports of 127.0.0.1, or REST on
 * `opts.httpPort`), with the CLI's stages or those `opts.stages` makes around the metrics object.
 */
export async function startKeywayInProcess(
  t: Pick<TestContext, 'after'>,
  topologyText: string,
  opts: Pick<ServeOptions, 'fileWatch' | 'httpPort'> & { readonly stages?: (metrics: KeywayMetrics) => ServeStage[] } = {},
): Promise<InProcessKeyway> {
  const topo = await tempTopology(topologyText);
  const metrics = createKeywayMetrics();
  const { stages = (m: KeywayMetrics) => serveStages({ metrics: m }), ...serve } = opts;
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    xdsPort: 0,
    host: '127.0.0.1',
    stages: stages(metrics),
    ...serve,
  });
  const clients: XdsTestClient[] = [];
  t.after(async () => {
    clients.forEach((c) => c.close());
    await server.close();
    await metrics.shutdown();
    await topo.cleanup();
  });
  return { server, metrics, topo, clients };
}

/**
 * Four cache nodes in two zones (S=32, R=2, spread zone, fast xDS coalescing); changing `weights`
 * only moves ownership, an EDS-only push for Envoy.
 */
export function fourNodeTopology(weights: readonly number[]): string {
  const lines = ['shards: 32', 'replicas: 2', 'spread: zone', 'service: keyway-cache', 'xds: {holdOffMs: 10, maxDelayMs: 100}', 'endpoints:'];
  weights.forEach((w, i) => {
    lines.push(
      `  - id: gpu-${i}`,
      `    address: 10.0.0.${i + 1}`,
      '    port: 8080',
      `    locality: {region: r, zone: z${i % 2}, subzone: nvl-${i}}`,
      `    weight: ${w}`,
    );
  });
  return `${lines.join('\n')}\n`;
}
