import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, linkSync, openSync, unlinkSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { FileSource } from '../../../src/sources/file/index.js';
import { KeywayError, KeywayErrors } from '../../../src/core/errors.js';
import { type KeywayConfig, parseConfig } from '../../../src/config/index.js';
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

test('a FIFO in place of the file is refused at once: the last good topology stays, stop() does not hang', { skip: process.platform === 'win32' }, async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true] }));
  const src = new FileSource({ file: topo.file, ...FAST });
  t.after(async () => {
    // A read stuck in open() (as before the fix) holds a threadpool thread: a writer releases it.
    try {
      closeSync(openSync(topo.file, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch {
      // no reader waiting (ENXIO): nothing to release
    }
    await topo.cleanup();
  });
  await src.start();
  await unlink(topo.file);
  execFileSync('mkfifo', [topo.file]);
  const err = await eventually('the refusal', () => (/FIFO/.test(src.lastError()?.message ?? '') ? src.lastError() : undefined), { timeoutMs: 3000 });
  assert.equal((err as KeywayErrors).code, 'CONFIG_READ');
  assert.equal(err.message, `${topo.file}: cannot read the topology file: it is a FIFO (named pipe), not a regular file`);
  assert.equal(src.current().length, 2);
  const stopped = await Promise.race([src.stop().then(() => 'stopped'), setTimeout(2000, 'stop() still waiting', { ref: false })]);
  assert.equal(stopped, 'stopped');
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

test('a ConfigMap `..data` swap is read at once', async (t) => {
  // The layout kubelet gives a ConfigMap volume: the file is a symlink through `..data`.
  const dir = await mkdtemp(join(tmpdir(), 'keyway-configmap-'));
  await mkdir(join(dir, '..v1'));
  await writeFile(join(dir, '..v1', 'topology.yaml'), topologyText({ ready: [true] }));
  await symlink('..v1', join(dir, '..data'));
  await symlink(join('..data', 'topology.yaml'), join(dir, 'topology.yaml'));
  const holdOffMs = 3000;
  const src = new FileSource({ file: join(dir, 'topology.yaml'), debounce: { holdOffMs, maxDelayMs: 10_000 }, pollIntervalMs: 0 });
  t.after(async () => {
    await src.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await src.start();
  const swapped = Date.now();
  // kubelet's update: the new files in a new directory, then `..data` renamed over.
  await mkdir(join(dir, '..v2'));
  await writeFile(join(dir, '..v2', 'topology.yaml'), topologyText({ ready: [true, true] }));
  await symlink('..v2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await eventually('the swap', () => src.current().length === 2, { timeoutMs: holdOffMs - 500 });
  assert.ok(Date.now() - swapped < holdOffMs, 'read before the hold-off ran out');
});

test('a rename onto the file and an in-place write both wait for the hold-off', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  const holdOffMs = 1500;
  const src = new FileSource({ file: topo.file, debounce: { holdOffMs, maxDelayMs: 10_000 }, pollIntervalMs: 0 });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  // Linux reports a rename onto the file as it reports the file's creation: no proof of whole content.
  const replaced = Date.now();
  await topo.write(topologyText({ ready: [true, true] })); // write a temporary file, rename it over
  await eventually('the replace', () => src.current().length === 2, { timeoutMs: 3 * holdOffMs });
  assert.ok(Date.now() - replaced >= holdOffMs - 50, `a rename onto the file is read only after ${holdOffMs} ms of quiet`);

  const written = Date.now();
  await writeFile(topo.file, topologyText({ ready: [true, true, true] }));
  await eventually('the in-place write', () => src.current().length === 3, { timeoutMs: 3 * holdOffMs });
  assert.ok(Date.now() - written >= holdOffMs - 50, `an in-place write may be partial: read only after ${holdOffMs} ms of quiet`);
});

test('a re-created file whose writer pauses mid-write: its valid first part never goes live', async (t) => {
  const full = topologyText({ ready: Array<boolean>(8).fill(true) });
  // The header and the first 4 endpoints (6 lines each): on its own a valid 4-endpoint file.
  const firstPart = `${full.split('\n').slice(0, 4 + 4 * 6).join('\n')}\n`;
  assert.equal(parseConfig(firstPart, 'first-part').topology.endpoints.length, 4);
  const topo = await tempTopology(topologyText({ ready: [true, true] }));
  const elsewhere = await mkdtemp(join(tmpdir(), 'keyway-writer-'));
  const src = new FileSource({ file: topo.file, debounce: { holdOffMs: 1000, maxDelayMs: 10_000 }, pollIntervalMs: 0 });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
    await rm(elsewhere, { recursive: true, force: true });
  });
  await src.start();
  const seen: number[] = [];
  src.onConfig((c) => seen.push(c.topology.endpoints.length));
  // Deleted and created again already holding its first part, in one turn: what keyway sees when
  // the creation's event reaches it after the writer's first write (a hard link from an unwatched
  // directory makes that deterministic). Then the writer pauses and writes the rest.
  const partial = join(elsewhere, 'partial.yaml');
  await writeFile(partial, firstPart);
  unlinkSync(topo.file);
  linkSync(partial, topo.file);
  await setTimeout(100);
  await appendFile(topo.file, full.slice(firstPart.length));
  await eventually('the whole file', () => src.current().length === 8, { timeoutMs: 5000 });
  assert.deepEqual(seen, [8], 'only the whole file was published');
});

test('a reload that changes any one setting is announced: topology, xds timing, handoff, hot shards, kubernetes', async (t) => {
  const base = topologyText({ ready: [true, true] });
  const topo = await tempTopology(base);
  const { logger, records } = captureLogs();
  const src = new FileSource({ file: topo.file, logger, ...FAST, watchDirectory: false, pollIntervalMs: 0 });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  const configs: KeywayConfig[] = [];
  src.onConfig((c) => configs.push(c));
  const changes: [string, (c: KeywayConfig) => unknown, unknown][] = [
    ['service: other-cache', (c) => c.topology.xds.service, 'other-cache'],
    ['xds: {holdOffMs: 50, maxDelayMs: 500}', (c) => c.xdsTiming.maxDelayMs, 500],
    ['handoff: {warmTimeoutMs: 1234}', (c) => c.handoff.warmTimeoutMs, 1234],
    ['handoff: {enabled: false}', (c) => c.handoff.enabled, false],
    ['hotShards: {maxReaders: 2}', (c) => c.hotShards.maxReaders, 2],
    ['hotShards: {enabled: false}', (c) => c.hotShards.enabled, false],
  ];
  for (const [extra, read, expected] of changes) {
    const before = configs.length;
    await writeFile(topo.file, `${base}${extra}\n`);
    await src.reload();
    assert.equal(configs.length, before + 1, `${extra}: announced`);
    assert.deepEqual(read(configs.at(-1)!), expected, extra);
  }
  // The kubernetes section: compared by its values (its locator is a function).
  const k8s = (services: string) => `shards: 64\nkubernetes:\n  services: [${services}]\n`;
  await writeFile(topo.file, k8s('cache'));
  await src.reload();
  const before = configs.length;
  await writeFile(topo.file, k8s('cache, other'));
  await src.reload();
  assert.equal(configs.length, before + 1, 'a kubernetes change is announced');
  await writeFile(topo.file, `# same settings\n${k8s('cache, other')}`);
  await src.reload();
  assert.equal(configs.length, before + 1, 'a comment alone is no change');
  assert.ok(records.some((r) => r.msg === 'topology file rewritten without a change of settings'));
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

test('a parse that fails through no fault of the file (the parsing worker failed) is retried on the next reload, not held as rejected', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true] }));
  let failNext = false;
  const src = new FileSource({
    file: topo.file,
    ...FAST,
    parse: (text, file) => {
      if (failNext) {
        failNext = false;
        throw new KeywayError('INTERNAL', 'the pipeline worker stopped');
      }
      return parseConfig(text, file);
    },
  });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  failNext = true;
  await topo.write(topologyText({ ready: [true] }));
  await eventually('the failure reported', () => src.lastError()?.message === 'the pipeline worker stopped');
  assert.equal(src.current().length, 2, 'the last good topology stays');
  await src.reload(); // SIGHUP: the same text, read again
  assert.equal(src.current().length, 1, 'the unchanged file is applied once the parse works');
  assert.equal(src.lastError(), undefined);
});
