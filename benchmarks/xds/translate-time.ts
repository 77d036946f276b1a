/**
 * What one translation of a large map costs keyway's main thread, per shape (docs/xds.md "Route
 * shape"): the translator's resources for one proxy class, then its snapshot (the consistency
 * check, serializing, hashing), as every map change pays them:
 * `node --import tsx benchmarks/xds/translate-time.ts [--shards 16384] [--replicas 2] [--shapes table,subset,grpc,picker] [--repeat 5]`.
 *
 * Six nodes over three zones (the translator tests' fixture), a real map (hash contract 2). Medians
 * and ranges of `--repeat` translations, in milliseconds. Each starts from nothing: an unrelated
 * map is translated in between (untimed), so the translator has nothing of the previous one to hand
 * back (reuse.ts), and each snapshot is built by a new cache. A map change on a large fleet, where
 * reuse counts, is benchmarks/xds/rebuild-time.ts.
 */
import { parseArgs } from 'node:util';
import type { ProxyClass } from '../../src/xds/resources.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { checkConsistency, translate } from '../../src/xds/translator/index.js';
import { computedInput, endpoint, sixNodes } from '../../test/xds/translator/fixtures.js';
import { median } from '../hitrate/stats.js';

const { values } = parseArgs({
  options: {
    shards: { type: 'string', default: '16384' },
    replicas: { type: 'string', default: '2' },
    shapes: { type: 'string', default: 'table,subset,grpc,picker' },
    repeat: { type: 'string', default: '5' },
  },
});
const policy = { shardCount: Number(values.shards), replicas: Number(values.replicas), spread: 'none' } as const;
const SHAPES: Record<string, { routeShape?: 'table'; proxy: ProxyClass }> = {
  table: { routeShape: 'table', proxy: { flavor: 'envoy', zone: '', subzone: '' } },
  subset: { proxy: { flavor: 'envoy', zone: '', subzone: '' } },
  grpc: { proxy: { flavor: 'grpc', zone: 'za', subzone: 'nvl-a1' } },
  picker: { proxy: { flavor: 'grpc', zone: '', subzone: '', picker: true } },
};
const range = (xs: number[]): string => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;

console.log('| shape | S | R | translate ms | snapshot ms | route bytes |');
console.log('|---|---|---|---|---|---|');
for (const name of values.shapes.split(',')) {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`--shapes: unknown shape ${name}; known: ${Object.keys(SHAPES).join(', ')}`);
  const input = computedInput(sixNodes(), policy, shape.routeShape ? { routeShape: shape.routeShape } : {});
  const translating: number[] = [];
  const snapshotting: number[] = [];
  let bytes = 0;
  const other = computedInput([endpoint('other', '10.9.9.9')], policy);
  const unrelated = { ...other, topology: { ...input.topology, endpoints: other.topology.endpoints } };
  for (let i = 0; i < Number(values.repeat); i++) {
    translate(unrelated, shape.proxy);
    let t = performance.now();
    const set = translate(input, shape.proxy);
    translating.push(performance.now() - t);
    t = performance.now();
    const snapshot = new SnapshotCache({ build: () => set, checkConsistency }).snapshot(shape.proxy);
    snapshotting.push(performance.now() - t);
    if (!snapshot) throw new Error(`${name}: no consistent snapshot`);
    bytes = [...snapshot.kinds.route.resources.values()].reduce((n, r) => n + r.bytes.length, 0);
  }
  console.log(`| ${name} | ${policy.shardCount} | ${policy.replicas} | ${range(translating)} | ${range(snapshotting)} | ${bytes} |`);
}
