import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createKeywayMetrics, PROCESS_METRICS as P, type KeywayMetrics } from '../../src/telemetry/index.js';
import { parseExposition, type Exposition } from './support/exposition.js';

function metrics(t: { after(fn: () => Promise<void>): void }, processMetrics: boolean): KeywayMetrics {
  const m = createKeywayMetrics({ processMetrics });
  t.after(() => m.shutdown());
  return m;
}

const scrape = async (m: KeywayMetrics): Promise<Exposition> => parseExposition(await m.render());

/**
 * Scrapes until the event-loop delay gauges are there: they need 5 samples of the 10 ms sampler
 * since its last reset, and on a loaded machine a fixed wait can see fewer (the timer ticks late).
 * A scrape without them resets nothing, so the samples (and the delay they hold) carry over.
 */
async function scrapeWithDelay(m: KeywayMetrics): Promise<Exposition> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const exp = await scrape(m);
    if (exp.types.has(P.eventLoopDelayMax)) return exp;
    if (Date.now() > deadline) throw new Error('no event-loop delay gauges after 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Holds the event loop until the process has used `ms` of user CPU (at least as long in wall time),
 * so the CPU counter, the delay sampler and the loop's active time all see it on a loaded machine.
 */
function busy(ms: number): void {
  const start = process.cpuUsage().user;
  while (process.cpuUsage().user - start < ms * 1000);
}

test('every process and runtime name is exposed with its Prometheus type, and documented', async (t) => {
  const m = metrics(t, true);
  const exp = await scrapeWithDelay(m);
  const expectedType: Record<keyof typeof P, string> = {
    cpuTime: 'counter',
    cpuUtilization: 'gauge',
    memory: 'gauge',
    fileDescriptors: 'gauge',
    eventLoopUtilization: 'gauge',
    eventLoopTime: 'counter',
    eventLoopDelayMin: 'gauge',
    eventLoopDelayMax: 'gauge',
    eventLoopDelayMean: 'gauge',
    eventLoopDelayStddev: 'gauge',
    eventLoopDelayP50: 'gauge',
    eventLoopDelayP90: 'gauge',
    eventLoopDelayP99: 'gauge',
    gcDuration: 'histogram',
    heapUsed: 'gauge',
    heapSpaceSize: 'gauge',
    heapSpaceAvailable: 'gauge',
    heapSpacePhysical: 'gauge',
    activeResources: 'gauge',
  };
  // These two appear once there is something to report: a first collection, a first live handle.
  const eventual = new Set(['gcDuration', 'activeResources']);
  const docs = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
  for (const [key, name] of Object.entries(P)) {
    if (!eventual.has(key) || exp.types.has(name)) assert.equal(exp.types.get(name), expectedType[key as keyof typeof P], `${name}: TYPE`);
    assert.ok(docs.includes(`\`${name}\``), `docs/observability.md names ${name}`);
  }
  // Every family the libraries add is in the table, so a dependency update that renames one fails here.
  const known = new Set<string>(Object.values(P));
  const extra = [...exp.types.keys()].filter((n) => !n.startsWith('keyway_') && n !== 'target_info' && !known.has(n));
  assert.deepEqual(extra, [], 'families outside PROCESS_METRICS');
});

test('the figures are this process: RSS, CPU time, event-loop delay and open descriptors follow what it does', async (t) => {
  const m = metrics(t, true);
  const before = await scrape(m);
  const rss = before.value(P.memory);
  assert.ok(Math.abs(rss - process.memoryUsage.rss()) < 0.2 * rss, `RSS ${rss} is the process's`);

  const opened = Array.from({ length: 20 }, () => openSync(new URL(import.meta.url), 'r'));
  // The sampler drops its first interval after a scrape resets it, and on a loaded machine a fixed
  // wait may not see it tick: two blocks a tick apart, so the second is measured whatever came before.
  await new Promise((r) => setTimeout(r, 30));
  busy(300);
  await new Promise((r) => setTimeout(r, 20));
  busy(300);
  const after = await scrapeWithDelay(m);
  for (const fd of opened) closeSync(fd);
  const closed = await scrape(m);

  const fdsBefore = before.value(P.fileDescriptors);
  assert.ok(after.value(P.fileDescriptors) - fdsBefore >= 20, 'twenty more descriptors while the files are open');
  assert.ok(closed.value(P.fileDescriptors) <= after.value(P.fileDescriptors) - 20, 'and twenty fewer once closed');

  const userCpu = (e: Exposition) => e.value(P.cpuTime, { process_cpu_state: 'user' });
  assert.ok(userCpu(after) - userCpu(before) >= 0.29, `300 ms of busy loop is user CPU time (${userCpu(after) - userCpu(before)} s)`);
  assert.ok(after.value(P.eventLoopDelayMax) >= 0.25, `a 300 ms block shows as event-loop delay (${after.value(P.eventLoopDelayMax)} s)`);
  const active = (e: Exposition) => e.value(P.eventLoopTime, { nodejs_eventloop_state: 'active' });
  assert.ok(active(after) - active(before) >= 0.25, 'and as active event-loop time');
});

test('without the option a registry carries only its own metrics (tests and embedders make several)', async (t) => {
  const exp = await scrape(metrics(t, false));
  for (const name of Object.values(P)) assert.equal(exp.types.has(name), false, name);
});
