import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlink, writeFile } from 'node:fs/promises';
import { FileSource } from '../../../src/sources/file/index.js';
import { KeywayErrors } from '../../../src/core/errors.js';
import type { KeywayConfig } from '../../../src/config/index.js';
import { captureLogs, tempTopology, topologyText } from '../../serve/support.js';
import { eventually } from '../../support/eventually.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

test('start() loads the file; a rename-replace reload is seen and announced', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true] }));
  const src = new FileSource({ file: topo.file, ...FAST });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  assert.deepEqual(src.current().map((e) => e.id), ['e0', 'e1']);
  assert.deepEqual(src.status(), { kind: 'file', healthy: true, stale: false, lastUpdate: src.status().lastUpdate });
  const configs: KeywayConfig[] = [];
  const endpointLists: string[][] = [];
  src.onConfig((c) => configs.push(c));
  src.onChange((eps) => endpointLists.push(eps.map((e) => e.id)));

  await topo.write(topologyText({ ready: [true, true, true] }));
  await eventually('the third endpoint', () => src.current().length === 3);
  assert.equal(configs.length, 1);
  assert.deepEqual(endpointLists, [['e0', 'e1', 'e2']]);

  // A settings-only change is a config change but not an endpoint change.
  await topo.write(topologyText({ ready: [true, true, true], extra: 'service: other-cache' }));
  await eventually('the new service name', () => src.config().topology.xds.service === 'other-cache');
  assert.equal(configs.length, 2);
  assert.equal(endpointLists.length, 1);
});

test('an invalid file is logged with its location and the last good topology stays in force', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true] }));
  const { logger, records } = captureLogs();
  const src = new FileSource({ file: topo.file, logger, ...FAST });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  let changes = 0;
  src.onConfig(() => changes++);
  const reported: Error[] = [];
  src.onError((e) => reported.push(e));

  await topo.write('shards: 64\nendpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n    weight: -5\n');
  const err = await eventually('the rejection', () => src.lastError());
  assert.ok(err instanceof KeywayErrors);
  assert.equal(err.errors[0]!.location.line, 6);
  assert.equal(err.errors[0]!.location.field, 'endpoints[0].weight');
  assert.deepEqual(src.current().map((e) => e.id), ['e0', 'e1']);
  const status = src.status();
  assert.equal(status.healthy, false);
  assert.equal(status.stale, true);
  assert.equal(status.lastError, `${topo.file}:6:5: endpoints[0].weight: must be a number >= 0, got -5`);
  const logged = records.find((r) => r.level === 50 && r.msg.includes('keeping the last good topology'));
  assert.ok(logged, 'an error was logged');
  assert.ok(logged.msg.includes(`${topo.file}:6:5: endpoints[0].weight`), logged.msg);
  assert.deepEqual((logged.err as { field: string }[])[0]!.field, 'endpoints[0].weight');
  assert.equal(changes, 0);
  assert.deepEqual(reported, [err], 'onError got the rejection once');
  await topo.write('shards: [64\n'); // does not parse: a second failure
  await eventually('the parse error reported', () => reported.length === 2);
  assert.equal((reported[1] as KeywayErrors).code, 'CONFIG_PARSE');

  // Fixed: the new file takes over and the error clears.
  await topo.write(topologyText({ ready: [true] }));
  await eventually('the fixed file', () => src.current().length === 1);
  assert.equal(src.lastError(), undefined);
  assert.equal(src.status().stale, false);
  assert.equal(changes, 1);
  assert.equal(reported.length, 2, 'a good file reports nothing');
});

test('a deleted file keeps the last good topology; its return is picked up', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true] }));
  const src = new FileSource({ file: topo.file, ...FAST });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  const reported: Error[] = [];
  const unsubscribe = src.onError((e) => reported.push(e));
  await unlink(topo.file);
  const err = await eventually('the read error', () => src.lastError());
  assert.equal((err as KeywayErrors).code, 'CONFIG_READ');
  // Each failed read counts: the periodic check retries the missing file.
  await eventually('two failed reads reported', () => reported.length >= 2);
  assert.ok(reported.every((e) => (e as KeywayErrors).code === 'CONFIG_READ'));
  unsubscribe();
  assert.equal(src.current().length, 2);
  await writeFile(topo.file, topologyText({ ready: [true, true] }));
  await eventually('recovery', () => src.lastError() === undefined);
  assert.equal(src.current().length, 2);
});

test('the periodic stat check alone sees an in-place write (no fs.watch)', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  const src = new FileSource({ file: topo.file, ...FAST, watchDirectory: false });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  await writeFile(topo.file, topologyText({ ready: [true, false] }));
  await eventually('the second endpoint', () => src.current().length === 2);
  assert.equal(src.current()[1]!.ready, false);
});

test('a burst of writes is coalesced into few reloads, ending at the last content', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  const src = new FileSource({ file: topo.file, debounce: { holdOffMs: 150, maxDelayMs: 2000 }, pollIntervalMs: 0 });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  let changes = 0;
  src.onConfig(() => changes++);
  for (let n = 2; n <= 6; n++) await topo.write(topologyText({ ready: Array<boolean>(n).fill(true) }));
  await eventually('the last write', () => src.current().length === 6);
  assert.ok(changes < 5, `expected coalescing, got ${changes} reloads for 5 writes`);
});

test('an atomic replace is read at once; an in-place write waits for the hold-off', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  const holdOffMs = 3000;
  const src = new FileSource({ file: topo.file, debounce: { holdOffMs, maxDelayMs: 10_000 }, pollIntervalMs: 0 });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  const replaced = Date.now();
  await topo.write(topologyText({ ready: [true, true] })); // write a temporary file, rename it over
  await eventually('the replace', () => src.current().length === 2, { timeoutMs: holdOffMs - 500 });
  assert.ok(Date.now() - replaced < holdOffMs, 'read before the hold-off ran out');

  // Past the hold-off of that firing, so this write starts a new burst.
  await new Promise((r) => setTimeout(r, holdOffMs));
  const written = Date.now();
  await writeFile(topo.file, topologyText({ ready: [true, true, true] }));
  await eventually('the in-place write', () => src.current().length === 3, { timeoutMs: 3 * holdOffMs });
  assert.ok(Date.now() - written >= holdOffMs - 50, `an in-place write may be partial: read only after ${holdOffMs} ms of quiet`);
});

test('start() rejects an invalid file with every located problem', async (t) => {
  const topo = await tempTopology('shards: 0\nreplicas: 0\nendpoints: []\n');
  t.after(() => topo.cleanup());
  const src = new FileSource({ file: topo.file, ...FAST });
  await assert.rejects(src.start(), (err: unknown) => {
    assert.ok(err instanceof KeywayErrors);
    assert.deepEqual(err.errors.map((e) => [e.location.field, e.location.line]), [['shards', 1], ['replicas', 2]]);
    return true;
  });
  await src.stop();
});
