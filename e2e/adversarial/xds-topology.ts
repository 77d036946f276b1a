/**
 * Topology files for the xDS stream cases of the adversarial suite: `count` endpoints over a few
 * zones and fabrics, `shards` shards, written atomically so a reload never reads half a file.
 */
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TopologyFile {
  readonly path: string;
  /** Rewrites the file with one endpoint's weight changed: a new shard map, pushed to proxies. */
  write(weightOfFirst: number): void;
}

export function topologyFile(opts: { shards: number; endpoints: number; replicas?: number }): TopologyFile {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-adv-'));
  const file = path.join(dir, 'topology.yaml');
  const write = (weightOfFirst: number): void => {
    const lines = [`shards: ${opts.shards}`, `replicas: ${opts.replicas ?? 2}`, 'spread: none', 'service: adv-cache', 'endpoints:'];
    for (let i = 0; i < opts.endpoints; i++) {
      lines.push(
        `  - id: node-${i}`,
        `    address: 127.0.0.${1 + (i % 200)}`,
        `    port: ${7000 + i}`,
        `    locality: {region: r, zone: zone-${i % 3}, subzone: fabric-${i % 6}}`,
        `    weight: ${i === 0 ? weightOfFirst : 50}`,
      );
    }
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, lines.join('\n') + '\n');
    renameSync(tmp, file);
  };
  write(50);
  return { path: file, write };
}
