// A hot shard whose reader cannot serve (not ready) is not replaced by the next owner: the shard
// has fewer readers, and the owners after the readers stay standbys at priority 1 (src/xds/translator/serving.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterLoadAssignment } from '../../../src/xds/proto.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { endpoint, handInput } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

/** For `shard`: the node ids listed at each priority of the Envoy ClusterLoadAssignment. */
function holdersByPriority(input: TranslatorInput, shard: number): Map<number, string[]> {
  const cla = translate(input, ENVOY).endpoint[0]!.message as ClusterLoadAssignment;
  const out = new Map<number, string[]>();
  for (const l of cla.endpoints) {
    for (const lb of l.lbEndpoints) {
      const shards = lb.metadata?.filterMetadata['envoy.lb']?.['cache-shard'] as string[] | undefined;
      if (lb.hostIdentifier.case !== 'endpoint' || !shards?.includes(String(shard))) continue;
      out.set(l.priority, [...(out.get(l.priority) ?? []), lb.hostIdentifier.value.hostname].sort());
    }
  }
  return out;
}

function hotInput(bReady: boolean): TranslatorInput {
  const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2', { ready: bReady }), endpoint('c', '10.0.0.3')];
  const input = handInput(nodes, [['a', 'b', 'c'], ['c', 'a', 'b']]);
  return { ...input, shardMap: { ...input.shardMap, version: `hot-${bReady}`, readers: new Map([[0, 2]]) } };
}

test('a hot shard read by two owners lists both at priority 0 and the third at priority 1', () => {
  const held = holdersByPriority(hotInput(true), 0);
  assert.deepEqual(held.get(0), ['a', 'b']);
  assert.deepEqual(held.get(1), ['c']);
});

test('a reader that cannot serve is left out, not replaced: the standby after it does not become a reader', () => {
  const held = holdersByPriority(hotInput(false), 0);
  assert.deepEqual(held.get(0), ['a'], 'one reader left: the primary alone takes the shard');
  assert.deepEqual(held.get(1), ['c'], 'c stays a standby');
});
