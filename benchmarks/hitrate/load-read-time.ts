/**
 * What one read of the local load source costs keyway's main thread (docs/load-reports.md): the
 * hot-shard policy reads the last 77 windows (its default) at least twice a window.
 * `node --import tsx benchmarks/hitrate/load-read-time.ts [--nodes 2000] [--shards-per-report 24] [--repeat 5]`.
 *
 * An aggregate holding 77 windows of reports from every node (each listing its hottest shards of
 * S = 16384), then: the first read (every window summed: a restart; right after the reports were
 * built, so the garbage collector adds to it), a read with nothing new, a read after one late report
 * for an old window, and a read once the next window closed with every node's report (what each
 * window brings in service). Medians of `--repeat` rounds, in milliseconds.
 */
import { parseArgs } from 'node:util';
import type { LoadReport } from '../../src/core/load.js';
import { LoadAggregate } from '../../src/sources/load/index.js';
import { median } from './stats.js';
import { seededRandom } from './zipf.js';

const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '2000' }, 'shards-per-report': { type: 'string', default: '24' }, repeat: { type: 'string', default: '5' } },
});
const nodes = Number(values.nodes);
const perReport = Number(values['shards-per-report']);
const repeat = Number(values.repeat);
const W = 10_000;
const WINDOWS = 77;
const S = 16_384;
const T0 = 1_800_000_000_000;
const random = seededRandom(7);
const report = (node: number, window: number): LoadReport => ({
  nodeId: `cache-${node}`,
  windowStartMs: T0 + window * W,
  windowMs: W,
  totalRequests: 5000,
  shards: Array.from({ length: perReport }, (_, i) => ({ shard: (node * 8 + i * 131) % S, requests: 1 + Math.floor(random() * 200) })),
});

const times = { first: [] as number[], unchanged: [] as number[], 'after a late report': [] as number[], 'the next window closed': [] as number[] };
for (let r = 0; r < repeat; r++) {
  const agg = new LoadAggregate({ windowMs: () => W });
  for (let w = 0; w < WINDOWS; w++) for (let n = 0; n < nodes; n++) agg.reportLoad(report(n, w));
  let now = T0 + WINDOWS * W + 1;
  const time = (what: keyof typeof times): void => {
    const t = performance.now();
    const read = agg.closed(now, WINDOWS);
    times[what].push(performance.now() - t);
    if (read.length !== WINDOWS) throw new Error(`read ${read.length} windows, expected ${WINDOWS}`);
  };
  time('first');
  time('unchanged');
  agg.reportLoad(report(0, 3));
  time('after a late report');
  for (let n = 0; n < nodes; n++) agg.reportLoad(report(n, WINDOWS));
  now += W;
  time('the next window closed');
}
console.log(`| nodes | shards per report | read | ms (median, min-max) |`);
console.log('|---|---|---|---|');
for (const [what, ts] of Object.entries(times)) {
  console.log(`| ${nodes} | ${perReport} | ${what} | ${median(ts).toFixed(1)} (${Math.min(...ts).toFixed(1)}-${Math.max(...ts).toFixed(1)}) |`);
}
