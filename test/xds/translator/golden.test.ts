// Golden files: testdata/golden/<case>/input.yaml (a topology file) and optional proxy.yaml (the
// proxy's locality) in, the exact resources for each flavor out as canonical ProtoJSON
// (<flavor>.json; grpc-picker.json for a gRPC client carrying the shard picker). KEYWAY_UPDATE_GOLDEN=1 rewrites the expected files; review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/index.js';
import { computeShardMap } from '../../../src/sharding/index.js';
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
  for (const name of ['small', 'reject', 'http2', 'not-ready', 'fewer-than-replicas', 'zero-ready']) {
    assert.ok(cases.includes(name), `testdata/golden/${name} is missing`);
  }
});

for (const name of cases) {
  const dir = join(root, name);
  for (const { file: variant, flavor, picker } of variants) {
    test(`golden ${name}: ${variant}`, () => {
      const input = join(dir, 'input.yaml');
      const { topology } = parseConfig(readFileSync(input, 'utf8'), input);
      const shardMap = computeShardMap(topology.endpoints, topology.policy);
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
