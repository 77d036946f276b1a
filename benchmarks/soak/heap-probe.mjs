/**
 * Preloaded into the soaked keyway (`node --expose-gc --import heap-probe.mjs bin/keyway.js serve`):
 * every KEYWAY_SOAK_PROBE_MS (default 10 s) it collects garbage and appends one JSON line with
 * process.memoryUsage() and the active handles by kind (timers included) to KEYWAY_SOAK_PROBE_FILE.
 * keyway exports no process metrics, and these are not reachable from outside otherwise.
 */
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { setInterval, setTimeout } from 'node:timers';
import { isMainThread } from 'node:worker_threads';

const file = process.env.KEYWAY_SOAK_PROBE_FILE;
if (isMainThread && file) {
  const every = Number(process.env.KEYWAY_SOAK_PROBE_MS ?? 10_000);
  const sample = () => {
    // After a full collection, heapUsed is what is reachable: the figure a leak grows.
    if (typeof globalThis.gc === 'function') globalThis.gc();
    const resources = {};
    for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), ...process.memoryUsage(), resources })}\n`);
  };
  setInterval(sample, every).unref();
  setTimeout(sample, 1000).unref();
}
