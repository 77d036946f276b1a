/**
 * The "keyway / Locality" dashboard against the cache nodes' own counts at S = 16384: keyway (in
 * process) publishes a 16384-shard map for four example cache nodes, a client sends each key to
 * its shard's primary (and a share to another node, as a stale client would), and a real
 * Prometheus scrapes the nodes. Every dashboard query that reads the nodes' metrics is evaluated
 * through Prometheus's HTTP API and compared with what the answers said (tier, owner, node), so a
 * series the SDK folds into `otel_metric_overflow` or a label a query misses shows up as a wrong
 * figure, not as a pretty panel.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../src/app/index.js';
import { keyToShard } from '../src/sharding/index.js';
import { startCacheNodeServer, type RunningCacheNode } from '../examples/cache-node/server.js';
import { loadDashboard, queriesOf, substitute, GRAFANA_GLOBALS } from '../test/telemetry/support/dashboards.js';
import { tempTopology, topologyText } from '../test/serve/support.js';
import { eventually } from '../test/support/eventually.js';
import { prometheusSkipReason, startPrometheus, type PrometheusProcess } from './support/prometheus.js';

const S = 16_384;
const NODES = 4;
/** Requests in the measured phase; keys from a skewed draw over KEYS so L1 hits about half. */
const REQUESTS = 12_000;
const KEYS = 20_000;
/** Every this-many requests goes to a node that does not own the shard (a stale client). */
const FOREIGN_EVERY = 10;
const SCRAPE_INTERVAL_S = 1;
/** Shortest query window: 20 scrapes, so rate()'s extrapolation at the window's ends stays within a tenth. */
const MIN_WINDOW_S = 20;
/** Panels whose figures combine series of several nodes (see the tolerance where they are compared). */
const CROSS_NODE_PANELS = new Set(['Requests per node', 'Requests answered per tier', 'Requests served by a non-owner']);
/** Panels that need per-shard labels (an opt-in), so they are empty by default. */
const PER_SHARD_PANELS = new Set(['Shards with the lowest L1 hit rate', 'L1 hit rate by shard']);

const skip = prometheusSkipReason();

interface Answer {
  readonly node: string;
  readonly tier: 'l1' | 'l2' | 'l3';
  readonly owner: string;
}

/** What the answers said, per node: the figures the dashboard must show. */
class Truth {
  readonly byNode = new Map<string, { requests: number; l1: number; tiers: Record<string, number>; foreign: number }>();
  add(a: Answer): void {
    const n = this.byNode.get(a.node) ?? { requests: 0, l1: 0, tiers: { l1: 0, l2: 0, l3: 0 }, foreign: 0 };
    n.requests++;
    n.tiers[a.tier]!++;
    if (a.tier === 'l1') n.l1++;
    if (a.owner === 'false') n.foreign++;
    this.byNode.set(a.node, n);
  }
  total(f: (n: { requests: number; l1: number; tiers: Record<string, number>; foreign: number }) => number): number {
    return [...this.byNode.values()].reduce((a, n) => a + f(n), 0);
  }
}

function get(agent: http.Agent, url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer);
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** A deterministic skewed key: rank r drawn with probability ~ 1/r (a Zipf-like draw by inversion). */
function keyAt(i: number): string {
  const u = ((i * 2654435761) % 1_000_003) / 1_000_003;
  return `k:${Math.floor(Math.pow(KEYS, u))}`;
}

/** Newest sample time (s) of the oldest cache-node target: every target was scraped after it. */
async function oldestScrape(prometheus: PrometheusProcess): Promise<number> {
  const r = await prometheus.query('min(timestamp(up{job="cache-nodes"}))');
  return Number(r.series[0]?.value[1] ?? 0);
}

async function waitScrapedAfter(prometheus: PrometheusProcess, epochS: number): Promise<void> {
  await eventually('every node scraped after the traffic', () => oldestScrape(prometheus), { accept: (t) => t > epochS + 0.5, timeoutMs: 20_000, intervalMs: 250 });
}

const num = (v: [number, string]): number => Number(v[1]);

describe('the Locality dashboard reads the nodes\' own totals at S = 16384 (real Prometheus)', { skip }, () => {
  test('every cache-node panel query equals what the nodes answered', { timeout: 150_000 }, async (t) => {
    const topo = await tempTopology(topologyText({ shards: S, replicas: 2, ready: Array.from({ length: NODES }, () => true) }));
    const keyway = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1' });
    t.after(async () => {
      await keyway.close();
      await topo.cleanup();
    });
    const nodes: RunningCacheNode[] = [];
    t.after(() => Promise.all(nodes.map((n) => n.close())).then(() => {}));
    for (let i = 0; i < NODES; i++) {
      nodes.push(await startCacheNodeServer({ id: `e${i}`, keywayUrl: `http://127.0.0.1:${keyway.httpPort}`, l1Capacity: 2_000, l2Capacity: 8_000, l3DelayMs: 0, pollIntervalMs: 1_000 }));
    }
    const owners = await eventually('every node has its shards', () => nodes.map((n) => n.ownership()), { accept: (os) => os.every((o) => o?.shardCount === S), timeoutMs: 30_000 });
    const primaryOf = new Map<number, number>();
    owners.forEach((o, i) => o!.primary.forEach((s) => primaryOf.set(s, i)));
    assert.equal(primaryOf.size, S);

    const prometheus = await startPrometheus({ jobs: [{ job: 'cache-nodes', targets: nodes.map((n) => `127.0.0.1:${n.httpPort}`) }], scrapeIntervalS: SCRAPE_INTERVAL_S });
    t.after(() => prometheus.stop());

    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    t.after(() => agent.destroy());
    const send = async (from: number, count: number, truth: Truth | undefined): Promise<void> => {
      let next = from;
      const worker = async (): Promise<void> => {
        while (next < from + count) {
          const i = next++;
          const key = keyAt(i);
          const shard = keyToShard(key, S);
          const owner = primaryOf.get(shard)!;
          const to = i % FOREIGN_EVERY === 0 ? (owner + 1) % NODES : owner;
          const a = await get(agent, `${nodes[to]!.url}/kv/${encodeURIComponent(key)}`, { 'x-cache-shard': String(shard) });
          truth?.add(a);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
    };

    // Warm-up: every series a node will count exists before the measured phase (a counter's first
    // sample is Prometheus's baseline), then one scrape of each node while idle.
    const warm = new Truth();
    await send(0, 4_000, warm);
    for (const [node, n] of warm.byNode) assert.ok(n.tiers.l1! > 0 && n.tiers.l2! > 0 && n.tiers.l3! > 0 && n.foreign > 0, `${node} saw every kind of answer in the warm-up`);
    await waitScrapedAfter(prometheus, Date.now() / 1000);
    const idleFrom = Date.now() / 1000;
    await sleep(1_500);

    const truth = new Truth();
    await send(4_000, REQUESTS, truth);
    await waitScrapedAfter(prometheus, Date.now() / 1000);
    // Idle until the window is MIN_WINDOW_S long: rate() extrapolates each target's increase to the
    // window's ends, by up to a scrape interval, so a longer window shrinks that error (below).
    await sleep(Math.max(0, (idleFrom + MIN_WINDOW_S) * 1000 - Date.now()));
    // A window from inside the idle span to now: every sample before the measured phase in it
    // holds the warm-up's totals, so each increase is exactly the measured phase's.
    const windowS = Math.ceil(Date.now() / 1000 - idleFrom);

    // Instant totals: every request each node answered, warm-up included.
    const totals = await prometheus.query('sum by (node) (keyway_cache_requests_total)');
    for (const s of totals.series) {
      const node = s.metric.node!;
      assert.equal(num(s.value), truth.byNode.get(node)!.requests + warm.byNode.get(node)!.requests, `${node}: requests counted`);
    }
    assert.equal(totals.series.length, NODES);
    assert.equal((await prometheus.query('count({__name__=~"keyway_cache_.*", otel_metric_overflow="true"})')).series.length, 0, 'no series overflowed');
    assert.equal((await prometheus.query('count({__name__=~"keyway_cache_.*", shard!=""})')).series.length, 0, 'no per-shard series by default');

    const dashboard = loadDashboard('keyway-locality.json');
    const queries = queriesOf(dashboard).filter((q) => q.expr.includes('keyway_cache_'));
    const subzoneOf = (node: string): string => `f${node.slice(1)}`;
    const all = truth.total((n) => n.requests);
    /** Expected value of one series of a panel, by its labels; undefined: the panel is not checked here. */
    const expected: Record<string, (m: Record<string, string>) => number> = {
      'L1 hit rate by fabric': (m) => {
        const n = [...truth.byNode].find(([id]) => subzoneOf(id) === m.subzone)![1];
        return n.l1 / n.requests;
      },
      'Requests answered per tier': (m) => truth.total((n) => n.tiers[m.tier!]!) / all,
      'Requests served by a non-owner': () => truth.total((n) => n.foreign) / all,
      'Non-owner share by node': (m) => truth.byNode.get(m.node!)!.foreign / truth.byNode.get(m.node!)!.requests,
      // Compared as shares of the total: the rate's unit does not matter.
      'Requests per node': (m) => truth.byNode.get(m.node!)!.requests / all,
    };
    const checked = new Set<string>();
    for (const q of queries) {
      const promql = substitute(q.expr, {}, { ...GRAFANA_GLOBALS, __rate_interval: `${windowS}s`, __range: `${windowS}s` });
      const r = await prometheus.query(promql);
      if (PER_SHARD_PANELS.has(q.panel)) {
        assert.equal(r.series.length, 0, `${q.panel}: per-shard panels are empty without --shard-metrics`);
        continue;
      }
      const want = expected[q.panel];
      assert.ok(want, `${q.panel} [${q.refId}] reads the nodes' metrics but this test does not check it: add its expected figure`);
      assert.ok(r.series.length > 0, `${q.panel}: no data (${promql})`);
      const scale = q.panel === 'Requests per node' ? r.series.reduce((a, s) => a + num(s.value), 0) : 1;
      for (const s of r.series) {
        const got = num(s.value) / scale;
        const exp = want(s.metric);
        // rate() extrapolates each series to the window's ends by up to about one scrape interval,
        // and each target is scraped at its own offset (later, when a scrape of a busy node slips):
        // a figure that compares series of different nodes may be off by that fraction of the
        // window; one computed within a node's own series, by a fraction of a point. A lost or
        // misgrouped series costs far more than either.
        const tolerance = CROSS_NODE_PANELS.has(q.panel) ? Math.max(0.005, (exp * 2 * SCRAPE_INTERVAL_S) / windowS) : 0.005;
        assert.ok(Math.abs(got - exp) <= tolerance, `${q.panel} ${JSON.stringify(s.metric)}: dashboard ${got.toFixed(4)}, nodes ${exp.toFixed(4)}, tolerance ${tolerance.toFixed(4)} (${promql})`);
      }
      checked.add(q.panel);
    }
    assert.deepEqual([...checked].sort(), Object.keys(expected).sort(), 'every expected panel was found in the dashboard');
  });
});
