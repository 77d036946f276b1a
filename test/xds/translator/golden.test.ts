// Golden files: testdata/golden/<case>/input.yaml (a topology file) and optional proxy.yaml (the
// proxy's locality) in, the exact resources for each flavor out as canonical ProtoJSON
// (<flavor>.json; grpc-picker.json for a gRPC client carrying the shard picker). An optional load.yaml
// (load snapshots, oldest first) puts the hot-shard policy's decision on the map (docs/hot-shards.md).
// KEYWAY_UPDATE_GOLDEN=1 rewrites the expected files; review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/index.js';
import type { LoadSnapshot } from '../../../src/core/load.js';
import { applyHotShards, computeShardMap, decideHotShards } from '../../../src/sharding/index.js';
import { checkConsistency, resourceSetToJson, translate } from '../../../src/xds/translator/index.js';
import type { ProxyClass, ProxyFlavor } from '../../../src/xds/resources.js';

const root = 'testdata/golden';
const update = process.env.KEYWAY_UPDATE_GOLDEN === '1';
/** Each golden file and the proxy it is for. */
const variants: readonly { file: string; flavor: ProxyFlavor; picker?: true }[] = [
  { file: 'envoy', flavor: 'envoy' },
  { file: 'grpc', flavor: 'grpc' },
  { file: 'grpc-picker', flavor: 'grpc', picker: true },
];

const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

test('golden cases exist', () => {
  for (const name of ['small', 'reject', 'http2', 'not-ready', 'fewer-than-replicas', 'zero-ready', 'hot-shard']) {
    assert.ok(cases.includes(name), `testdata/golden/${name} is missing`);
  }
});

for (const name of cases) {
  const dir = join(root, name);
  for (const { file: variant, flavor, picker } of variants) {
    test(`golden ${name}: ${variant}`, () => {
      const input = join(dir, 'input.yaml');
      const { topology, hotShards } = parseConfig(readFileSync(input, 'utf8'), input);
      const plain = computeShardMap(topology.endpoints, topology.policy);
      const load = join(dir, 'load.yaml');
      const snapshots = existsSync(load) ? (parse(readFileSync(load, 'utf8')) as LoadSnapshot[]) : [];
      const shardMap = applyHotShards(plain, decideHotShards(plain, snapshots, hotShards));
      if (snapshots.length > 0) assert.ok(shardMap.readers && shardMap.readers.size > 0, `${load} makes no hot shard`);
      const where = existsSync(join(dir, 'proxy.yaml')) ? (parse(readFileSync(join(dir, 'proxy.yaml'), 'utf8')) as Partial<ProxyClass>) : {};
      const proxy: ProxyClass = { flavor, zone: where.zone ?? '', subzone: where.subzone ?? '', ...(picker && { picker }) };
      const set = translate({ shardMap, topology }, proxy);
      assert.deepEqual(checkConsistency(set), []);

      const actual = `${JSON.stringify(resourceSetToJson(set), null, 2)}\n`;
      const file = join(dir, `${variant}.json`);
      if (update) writeFileSync(file, actual);
      assert.ok(existsSync(file), `${file} is missing: run with KEYWAY_UPDATE_GOLDEN=1 and review it`);
      assert.equal(actual, readFileSync(file, 'utf8'), `${file} differs: if the change is intended, rerun with KEYWAY_UPDATE_GOLDEN=1`);
    });
  }
}
