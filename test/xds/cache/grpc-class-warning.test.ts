// Stock gRPC classes are the costly ones (a full translation and a snapshot each at every map
// change; docs/security.md "xDS streams"): past a threshold keyway says so in one warn line, once
// per crossing, not once per class or rebuild. Before, a fleet whose clients sat in many places ran
// keyway past its heap limit with no line naming the cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { miniSet } from '../../support/xds-client/resources.js';

function captured(): { logger: pino.Logger; warnings: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), warnings: () => lines.filter((l) => l.level === 40) };
}

const place = (i: number): ProxyClass => ({ flavor: 'grpc', zone: `z${i}`, subzone: '' });

/** A cache warning past 3 stock gRPC classes, serving each class as `servedClass` says. */
function placeCache(logger: pino.Logger, servedClass: (c: ProxyClass) => ProxyClass): SnapshotCache {
  return new SnapshotCache({ build: () => miniSet({ clusters: { c0: [9001] } }), checkConsistency, logger, grpcClassWarning: 3, servedClass });
}

test('more stock gRPC classes than the threshold: one warning per crossing, naming the count', () => {
  const { logger, warnings } = captured();
  const cache = new SnapshotCache({ build: () => miniSet({ clusters: { c0: [9001] } }), checkConsistency, logger, grpcClassWarning: 3 });
  const stops: (() => void)[] = [];
  const watch = (c: ProxyClass): void => void stops.push(cache.watch(c, 'cluster', () => {}));
  for (let i = 0; i < 3; i++) watch(place(i));
  // Neither Envoy, agents nor the shard picker's clients count: they do not translate per place.
  watch({ flavor: 'envoy', zone: '', subzone: '' });
  watch({ flavor: 'grpc', zone: '', subzone: '', picker: true });
  watch({ flavor: 'agent', zone: '', subzone: '', node: 'n1' });
  assert.equal(warnings().length, 0, 'at the threshold: no warning');
  watch(place(3));
  watch(place(4));
  cache.rebuild();
  assert.equal(warnings().length, 1, 'one warning, not one per class or rebuild');
  assert.equal(warnings()[0]!.grpcClasses, 4);
  assert.equal(warnings()[0]!.threshold, 3);
  assert.match(String(warnings()[0]!.msg), /many stock gRPC proxy classes/);

  // Their clients leave: the classes go at the next rebuild, and a later crossing is told again.
  for (const stop of stops.splice(0)) stop();
  cache.rebuild();
  for (let i = 0; i < 4; i++) watch(place(10 + i));
  assert.equal(warnings().length, 2);
  assert.deepEqual(warnings()[1]!.classes, ['grpc|z10|', 'grpc|z11|', 'grpc|z12|', 'grpc|z13|']);
});

test('classes a re-home empties are dropped in the same rebuild: not counted, not kept', () => {
  const { logger, warnings } = captured();
  // Places served apart until `merged`, then every place as the class without one (as served-class.ts
  // does when a map stops giving places resources of their own).
  let merged = false;
  const cache = placeCache(logger, (c) => (merged ? { ...c, zone: '', subzone: '' } : c));
  for (let i = 0; i < 5; i++) cache.watch(place(i), 'cluster', () => {});
  assert.equal(warnings().length, 1, 'five place classes: past the threshold');
  merged = true;
  const report = cache.rebuild();
  assert.deepEqual(cache.classes().map((c) => c.classKey), ['grpc||'], 'only the class the clients moved to is left');
  assert.deepEqual(report.classes.map((c) => c.classKey), [], 'the emptied classes are not reported as live');
  for (let i = 0; i < 4; i++) cache.watch(place(20 + i), 'cluster', () => {});
  assert.equal(warnings().length, 1, 'one class now: the count went back under the threshold and stays there');
});

test('a re-home that gives every place a new class warns of none: the classes it empties are not counted', () => {
  const { logger, warnings } = captured();
  // Every place served under a new key at once (served-class.ts re-keys places when the map starts or
  // stops giving them a replica order of their own): as many classes after the rebuild as before.
  let rekeyed = false;
  const cache = placeCache(logger, (c) => (rekeyed ? { ...c, zone: `${c.zone}-own` } : c));
  for (let i = 0; i < 3; i++) cache.watch(place(i), 'cluster', () => {});
  rekeyed = true;
  cache.rebuild();
  assert.deepEqual(cache.classes().map((c) => c.classKey), ['grpc|z0-own|', 'grpc|z1-own|', 'grpc|z2-own|']);
  assert.deepEqual(
    warnings().map((w) => w.classes),
    [],
    'three classes before and after: a warning here named the emptied classes as if they were still served',
  );
});

test('a re-home that splits one class past the threshold still warns, once, after the drop', () => {
  const { logger, warnings } = captured();
  let split = false;
  const cache = placeCache(logger, (c) => (split ? c : { ...c, zone: '', subzone: '' }));
  for (let i = 0; i < 5; i++) cache.watch(place(i), 'cluster', () => {});
  assert.equal(warnings().length, 0, 'one class');
  split = true;
  cache.rebuild();
  assert.equal(warnings().length, 1);
  assert.equal(warnings()[0]!.grpcClasses, 5, 'the emptied class is not counted');
});
