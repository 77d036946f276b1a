/**
 * Idle background CPU of one example cache node per way of learning its shards:
 * `node --import tsx benchmarks/dataplane-cost/idle-node.ts [S]` (default S = 16384). One keyway
 * (`bin/keyway.js serve`) and three nodes with no traffic: `--keyway-url` (REST: a conditional
 * GET of `/v1/shardmap` every second), `--keyway-xds` (the ownership stream), and none. Prints the
 * CPU ms per second each spent over 10 s, and keyway's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { cpuMs } from './cpu.js';
import { startCacheNode } from './nodes.js';

const SECONDS = 10;

async function main(): Promise<void> {
  const shards = Number(process.argv[2] ?? 16_384);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-idle-node-'));
  const ports = await freePorts(3);
  writeFileSync(path.join(dir, 'topology.yaml'), `shards: ${shards}\nreplicas: 2\nendpoints:\n  - {id: a, address: 127.0.0.1, port: ${ports[0]}}\n  - {id: b, address: 127.0.0.1, port: ${ports[1]}}\n`);
  const keyway = await startKeyway({ configPath: path.join(dir, 'topology.yaml'), httpPort: 0, xdsPort: 0 });
  try {
    const nodes = [
      await startCacheNode('a', ports[0]!, ['--keyway-url', keyway.httpUrl], dir),
      await startCacheNode('b', ports[1]!, ['--keyway-xds', `127.0.0.1:${keyway.xdsPort}`], dir),
      await startCacheNode('c', ports[2]!, [], dir),
    ];
    try {
      await sleep(3_000);
      const before = nodes.map((n) => cpuMs(n.pid));
      const keyway0 = cpuMs(keyway.pid());
      await sleep(SECONDS * 1000);
      const per = (ms: number): string => (ms / SECONDS).toFixed(2);
      process.stdout.write(
        `${JSON.stringify({ shards, restMsPerS: per(cpuMs(nodes[0]!.pid) - before[0]!), streamMsPerS: per(cpuMs(nodes[1]!.pid) - before[1]!), noKeywayMsPerS: per(cpuMs(nodes[2]!.pid) - before[2]!), keywayMsPerS: per(cpuMs(keyway.pid()) - keyway0) })}\n`,
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  } finally {
    await keyway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
