/** `keyway shardmap`'s report and table (docs/cli.md) from a `/v1/shardmap` body. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointBody, ShardMapBody } from '../../../src/admin/api-types.js';
import { CliError } from '../../../src/cli/commands/options.js';
import { renderShardMap, shardMapReport } from '../../../src/cli/commands/shardmap.js';

const endpoint = (id: string, zone: string, subzone: string): EndpointBody => ({
  id,
  address: '10.0.0.1',
  port: 80,
  locality: { region: '', zone, subzone },
  weight: 1,
  ready: true,
  draining: false,
  shardsOwned: 0,
  shardsPrimary: 0,
});

function body(shardCount: number, replicas: number, endpoints: EndpointBody[]): ShardMapBody {
  const ids = endpoints.map((e) => e.id);
  const shards = Array.from({ length: shardCount }, (_, shard) => ({ shard, owners: ids.slice(0, replicas).map((_, i) => ids[(shard + i) % ids.length]!) }));
  return { version: 'v1', shardCount, replicas, spread: 'none', shards, endpoints, warnings: [], updatedAt: '', stale: false, sources: [] } as unknown as ShardMapBody;
}

test('a filter naming nothing lists the known values quoted, so an empty zone or subzone is visible', () => {
  const map = body(4, 1, [endpoint('a', '', 'f1'), endpoint('b', 'z1', '')]);
  const fails = (filters: Partial<Parameters<typeof shardMapReport>[1]>, message: string): void => {
    assert.throws(
      () => shardMapReport(map, { endpoints: [], zones: [], subzones: [], ...filters }, false),
      (err: CliError) => err instanceof CliError && err.exitCode === 1 && err.message === message,
    );
  };
  fails({ zones: ['z9'] }, 'no zone "z9" in shard map v1; known: "", "z1"');
  fails({ subzones: ['f9'] }, 'no subzone "f9" in shard map v1; known: "", "f1"');
  fails({ endpoints: ['c'] }, 'no endpoint "c" in shard map v1; known: "a", "b"');
  // The empty value itself is a known zone.
  assert.deepEqual(shardMapReport(map, { endpoints: [], zones: [''], subzones: [] }, false).endpoints.map((e) => e.id), ['a']);
});

test('--shards over 131072 shards renders (a Math.max spread of them overflowed the call stack); one replica is "1 replica"', () => {
  const map = body(131_072, 1, [endpoint('a', 'z', 'f'), endpoint('b', 'z', 'f')]);
  const out = renderShardMap(shardMapReport(map, { endpoints: [], zones: [], subzones: [] }, true));
  assert.match(out, /^shard map v1: 131072 shards, 1 replica, spread none/);
  assert.match(out, /\n SHARD {2}PRIMARY\n/, 'one owner per shard: no REPLICAS column');
  assert.match(out, /\n131071 {2}b\n$/);
  const one = renderShardMap(shardMapReport(body(1, 2, [endpoint('a', 'z', 'f'), endpoint('b', 'z', 'f')]), { endpoints: [], zones: [], subzones: [] }, true));
  assert.match(one, /^shard map v1: 1 shard, 2 replicas/);
  assert.match(one, /\nSHARD {2}PRIMARY {2}REPLICAS\n {4}0 {2}a {8}b\n$/);
});

test('fabrics are (region, zone, subzone): a subzone name reused in two regions is two rows, with a REGION column', () => {
  const at = (id: string, region: string, subzone: string): EndpointBody => ({ ...endpoint(id, 'a', subzone), locality: { region, zone: 'a', subzone } });
  const map = body(8, 2, [at('east-1', 'us-east', 'nvl-1'), at('east-2', 'us-east', 'nvl-2'), at('west-1', 'us-west', 'nvl-1'), at('west-2', 'us-west', 'nvl-2')]);
  const report = shardMapReport(map, { endpoints: [], zones: [], subzones: [] }, false);
  assert.deepEqual(
    report.subzones.map((s) => [s.subzone, s.zone, s.region, s.endpoints, s.weightShare]),
    [
      ['nvl-1', 'a', 'us-east', 1, 0.25],
      ['nvl-1', 'a', 'us-west', 1, 0.25],
      ['nvl-2', 'a', 'us-east', 1, 0.25],
      ['nvl-2', 'a', 'us-west', 1, 0.25],
    ],
  );
  const out = renderShardMap(report);
  assert.match(out, /\nSUBZONE {2}ZONE {2}REGION {3}ENDPOINTS {2}WEIGHT% {2}PRIMARY% {2}OWNED%\nnvl-1 {4}a {5}us-east {10}1 {4}25\.0%/);
  assert.match(out, /\nnvl-1 {4}a {5}us-west {10}1 {4}25\.0%/);
  // One region: no REGION column, as before.
  const one = renderShardMap(shardMapReport(map, { endpoints: ['east-1', 'east-2'], zones: [], subzones: [] }, false));
  assert.match(one, /\nSUBZONE {2}ZONE {2}ENDPOINTS {2}WEIGHT% {2}PRIMARY% {2}OWNED%\nnvl-1 {4}a {13}1 {4}25\.0%/);
});
