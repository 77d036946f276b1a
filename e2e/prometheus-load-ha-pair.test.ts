// An HA pair of Prometheus servers behind one address (docs/load-reports.md "source: prometheus"):
// two real Prometheus servers scrape the same two keyway replicas at other phases of the scrape
// interval, and B misses some scrapes, so some windows differ between them (a late report seen by
// A's last scrape of the window and not by B's; B's gap loses a window). A TCP proxy in front of
// them plays the Kubernetes Service: each connection goes to one of them. Reads one window apart,
// each on a new connection, as `keyway serve` reads (Node's fetch closes a connection idle for
// 4 s). Before: a changed check made a replica drop its held steps and read the span again from
// whichever server answered, read after read, so it gave one server's view or a mix, and two
// replicas that asked different servers read different snapshots. Now the pair is named once and
// each window is the max of the answers a replica got for it.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { LoadSnapshot } from '../src/core/load.js';
import { PrometheusLoadSource } from '../src/sources/load/index.js';
import { prometheusConfig, prometheusSkipReason, startRawPrometheus, type RawPrometheus } from './support/prometheus.js';
import { GaugeHistory } from './support/gauge-history.js';

const skip = prometheusSkipReason();
const W = 10_000;
const SCRAPE_MS = 2_000;
const WINDOWS = 60;
/** Steps each read covers. */
const SPAN = 10;
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / W) * W;

/** Windows whose late report for n2 (on replica r1) arrives 7.8 s into the export: after B's last scrape in the read's range, before A's. */
const late = (i: number): boolean => i % 5 === 2;
/** Windows during whose export B scraped neither replica (a restart, a network blip). */
const bGap = (i: number): boolean => i % 7 === 4;

/**
 * One server's history: both replicas export window i from T0 + (i + 1) W to T0 + (i + 2) W. n1
 * and n3 are alike on both; n2 only on r1, late in some windows.
 */
function history(phaseMs: number, gaps: (i: number) => boolean): string {
  const gauges = new GaugeHistory();
  const add = gauges.add.bind(gauges);
  // Grouped by series, each in time order, as promtool wants.
  for (const r of ['r0', 'r1']) {
    const base = `instance="${r}:9000",job="keyway"`;
    const scrapes: { t: number; i: number; into: number }[] = [];
    for (let t = T0 + W + phaseMs; t < T0 + (WINDOWS + 1) * W; t += SCRAPE_MS) {
      const i = Math.floor((t - T0) / W) - 1;
      if (!gaps(i)) scrapes.push({ t, i, into: t - (T0 + (i + 1) * W) });
    }
    for (const s of scrapes) add('keyway_load_window_start_seconds', base, (T0 + s.i * W) / 1000, s.t);
    for (const s of scrapes) add('keyway_load_node_requests_per_second', `${base},node="n1"`, 1000 - s.i, s.t);
    for (const s of scrapes) add('keyway_load_node_requests_per_second', `${base},node="n3"`, 150, s.t);
    if (r === 'r1') for (const s of scrapes) if (!late(s.i) || s.into >= 7_800) add('keyway_load_node_requests_per_second', `${base},node="n2"`, 40, s.t);
    for (const s of scrapes) add('keyway_load_shard_requests_per_second', `${base},shard="7"`, 500 - s.i, s.t);
  }
  return gauges.text();
}

/**
 * A TCP proxy that sends each connection to one of `backends`: in turn, or (with `seed`) drawn at
 * random from that seed (kube-proxy's iptables mode).
 */
async function balancer(backends: readonly string[], seed?: number): Promise<{ url: string; connections: () => number; cut: () => Promise<void>; close: () => Promise<void> }> {
  let state = seed ?? 0;
  let turn = 0;
  const draw = (): number => {
    if (seed === undefined) return turn++ % backends.length;
    // In 32-bit integer arithmetic: the product in doubles passes 2^53 and loses its low bits.
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((state / 2 ** 31) * backends.length);
  };
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = new URL(backends[draw()]!);
    count++;
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    // Ends every open connection: the client's next request opens a new one (Node's fetch closes
    // an idle connection after 4 s, and keyway reads once per window).
    cut: async () => {
      for (const s of sockets) s.end();
      // Until the client has seen each close (a bounded wait: the sockets are local).
      for (let i = 0; i < 100 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 5));
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

type Balancer = Awaited<ReturnType<typeof balancer>>;

describe('load snapshots from an HA pair of Prometheus servers behind one address', { skip }, () => {
  let a: RawPrometheus;
  let b: RawPrometheus;
  const proxies: Balancer[] = [];
  before(async () => {
    [a, b] = await Promise.all([
      startRawPrometheus({ config: prometheusConfig([]), openMetrics: history(500, () => false) }),
      startRawPrometheus({ config: prometheusConfig([]), openMetrics: history(1_500, bGap) }),
    ]);
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });
  const proxy = async (backends: readonly string[], seed?: number): Promise<Balancer> => {
    const p = await balancer(backends, seed);
    proxies.push(p);
    return p;
  };

  /** A replica's source at `url` reading at `now` (lagMs 0), with the steps of each query it sends and what it logged. */
  const replica = (url: string, now: () => number) => {
    const steps: number[] = [];
    const severalServers: string[] = [];
    const src = new PrometheusLoadSource({
      url,
      lagMs: 0,
      windowMs: () => W,
      now,
      onSeveralServers: (e) => severalServers.push(e.message),
      fetch: ((input: string | URL | Request, init?: RequestInit) => {
        const q = new URL(String(input)).searchParams;
        steps.push(Math.round((Number(q.get('end')) - Number(q.get('start'))) / (W / 1000)) + 1);
        return fetch(input, init);
      }) as typeof fetch,
    });
    return { src, steps, severalServers };
  };
  /** The windows of a read by index from T0, with their nodes. */
  const view = (s: readonly LoadSnapshot[]): string[] => s.map((g) => `${(g.windowStartMs - T0) / W}:${g.nodes.map((n) => `${n.nodeId}=${n.requests}`).join('/')}`);
  /** A view without the newest window a read at step k can give (k - 2), and that window alone. */
  const older = (v: readonly string[], k: number): string => v.filter((e) => !e.startsWith(`${k - 2}:`)).join(' ');
  const newest = (v: readonly string[], k: number): string => v.filter((e) => e.startsWith(`${k - 2}:`)).join(' ');

  test('servers taking turns: the pair is named once, no read asks for the span again, and every window but the newest is the max over both servers', async () => {
    let now = 0;
    // Each replica's connections take turns, starting at another server.
    const x = replica((await proxy([a.url, b.url])).url, () => now);
    const y = replica((await proxy([b.url, a.url])).url, () => now);
    const max = replica(a.url, () => now); // B only misses figures: A's answers are the max
    const onB = replica(b.url, () => now);
    const cut = async (): Promise<void> => {
      for (const p of proxies) await p.cut();
    };
    try {
      let differ = 0;
      for (let k = SPAN + 2; k < WINDOWS; k++) {
        now = T0 + k * W + 1;
        const [whole, fromB] = [view(await max.src.latest(SPAN)), view(await onB.src.latest(SPAN))];
        if (whole.join() !== fromB.join()) differ++;
        for (const r of [x, y]) {
          await cut();
          r.steps.length = 0;
          const named = r.severalServers.length > 0;
          const got = view(await r.src.latest(SPAN));
          if (named) assert.ok(r.steps.every((n) => n <= 8) && r.steps.length <= 2, `read ${k} asks for its new step and the newest held ones, not the span (${r.steps})`);
          // Past the reads that held steps from before the pair was seen (it is named within a few
          // reads): every held window was asked for on two reads, one on each server.
          if (k >= SPAN + 12) {
            assert.equal(older(got, k), older(whole, k), `read ${k}: every window but the newest is the max over both servers`);
            assert.ok([newest(whole, k), newest(fromB, k)].includes(newest(got, k)), `read ${k}: the newest window is one server's`);
          }
        }
      }
      assert.ok(differ > 10, `the servers differ in ${differ} of the reads' spans`);
      for (const r of [x, y]) {
        assert.equal(r.severalServers.length, 1, 'the pair is named once');
        assert.match(r.severalServers[0]!, /several Prometheus servers answer at this URL without deduplication/);
      }
    } finally {
      for (const r of [x, y, max, onB]) await r.src.close();
    }
  });

  test('figures: servers drawn at random for each read', async (t) => {
    let now = 0;
    const p = await proxy([a.url, b.url], Number(process.env.KEYWAY_HA_SEED ?? 7));
    const x = replica(p.url, () => now);
    const y = replica(p.url, () => now);
    const max = replica(a.url, () => now);
    const onB = replica(b.url, () => now);
    const figures = { readMs: 0, steps: 0, reads: 0, wholeReads: 0, wholeReadsAfterNamed: 0, neitherServer: 0, notMaxOlderWindows: 0, replicasApart: 0, replicasApartOlderWindows: 0, steadyWindows: 0, steadyReplicasApart: 0, steadyReplicasApartOlderWindows: 0 };
    try {
      for (let k = SPAN + 2; k < WINDOWS; k++) {
        now = T0 + k * W + 1;
        const [whole, fromB] = [view(await max.src.latest(SPAN)), view(await onB.src.latest(SPAN))];
        const got: string[][] = [];
        for (const r of [x, y]) {
          await p.cut();
          r.steps.length = 0;
          const named = r.severalServers.length > 0;
          const t0 = performance.now();
          got.push(view(await r.src.latest(SPAN)));
          figures.readMs += performance.now() - t0;
          figures.steps += r.steps.reduce((s, n) => s + n, 0);
          figures.reads++;
          const whole_ = k > SPAN + 2 && r.steps.reduce((s, n) => s + n, 0) > 8;
          if (whole_) figures.wholeReads++;
          if (whole_ && named) figures.wholeReadsAfterNamed++;
          if (got.at(-1)!.join() !== whole.join() && got.at(-1)!.join() !== fromB.join()) figures.neitherServer++;
          if (older(got.at(-1)!, k) !== older(whole, k)) figures.notMaxOlderWindows++;
        }
        if (got[0]!.join() !== got[1]!.join()) figures.replicasApart++;
        if (older(got[0]!, k) !== older(got[1]!, k)) figures.replicasApartOlderWindows++;
        // Once every window of the span was first read after the pair was named.
        if (k >= SPAN + 12) {
          figures.steadyWindows++;
          if (got[0]!.join() !== got[1]!.join()) figures.steadyReplicasApart++;
          if (older(got[0]!, k) !== older(got[1]!, k)) figures.steadyReplicasApartOlderWindows++;
        }
      }
      t.diagnostic(JSON.stringify({ ...figures, readMs: Math.round(figures.readMs) }));
      assert.deepEqual([x.severalServers.length, y.severalServers.length], [1, 1], 'each replica names the pair once');
      assert.equal(figures.wholeReadsAfterNamed, 0, 'once the pair is named, no read asks for the span again');
    } finally {
      for (const r of [x, y, max, onB]) await r.src.close();
    }
  });
});
