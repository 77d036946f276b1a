// What the translator keeps between translations (reuse.ts) must be bounded by the classes still
// served: the gRPC flavor keeps each class's owner-tuple assignments per place (zone, fabric), and a
// place the topology no longer has must not pin the assignments of its last translation forever
// (a fabric renamed by every node-pool rotation would add a full set each time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { translate } from '../../../src/xds/translator/index.js';
import { endpoint, handInput, locality } from './fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A fleet whose nodes sit in `zones`, each zone a place gRPC clients may be in. */
function fleet(zones: readonly string[], tag: string) {
  const nodes = zones.flatMap((z, i) => [endpoint(`${tag}-${i}a`, `10.${i >> 8}.${i & 255}.1`, { locality: locality(z, 'f') }), endpoint(`${tag}-${i}b`, `10.${i >> 8}.${i & 255}.2`, { locality: locality(z, 'f') })]);
  const owners = zones.map((_, i) => [`${tag}-${i}a`, `${tag}-${i}b`]);
  return handInput(nodes, owners);
}

test("the assignments kept for a place the topology no longer has are let go once later maps were translated", async () => {
  const old = zonesOf('old', 20);
  const refs: WeakRef<object>[] = [];
  (() => {
    const input = fleet(old, 'o');
    for (const zone of old) {
      const set = translate(input, { flavor: 'grpc', zone, subzone: 'f' });
      for (const r of set.endpoint) refs.push(new WeakRef(r.message));
    }
  })();
  // The fleet moved to other places; its clients were translated for two later maps.
  const now = zonesOf('new', 2);
  const client: ProxyClass = { flavor: 'grpc', zone: now[0]!, subzone: 'f' };
  translate(fleet(now, 'n'), client);
  translate(fleet(now, 'n'), client);
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.equal(alive, 0, `${alive} of ${refs.length} assignments of gone places are still held`);
});

function zonesOf(tag: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${tag}-zone-${i}`);
}
