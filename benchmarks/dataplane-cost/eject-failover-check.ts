/**
 * Can failover inside a node's cluster do without `previous_priorities` (docs/envoy-findings.md
 * 2c: Envoy builds that plugin for every request)? Real Envoy, three stand-in nodes
 * (e2e/support/cache-nodes.ts), no keyway; each node's cluster as the route table writes it (the
 * node at priority 0, health-checked; the other two at priority 1, unchecked), a matcher on
 * `x-cache-shard` naming the primary's cluster. Three forms of failover:
 * - `priorities`: keyway's (its retry policy as the translator writes it: connect-failure,
 *   refused-stream, reset; 2 retries; `previous_priorities`; outlier detection on 3 consecutive 5xx);
 * - `eject`: the same retry without `previous_priorities`, and outlier detection that ejects a host
 *   on its first locally originated failure (`split_external_local_origin_errors`,
 *   `consecutive_local_origin_failure: 1`): once the primary is ejected, priority 0 has no healthy
 *   host and the retry lands on priority 1. The ejection travels from the worker to the main thread
 *   and back, while the retry waits a random backoff from 0 to 25 ms: a race;
 * - `ring`: no `previous_priorities` either; a RING_HASH cluster whose retry walks the ring to a
 *   catcher (ring-failover.ts).
 * Per form, `--cycles` times: 32 requests in flight to one node's shard, the node stopped (its
 * connections closed: in-flight requests reset, new connects refused), 1 s more, the node back,
 * wait until the shard is on it again. Then 20 s of steady load on all three shards, counting
 * ejections of nodes that were never stopped. The health check interval is keyway's (2 s), so the
 * kill is met by the retry and outlier detection first; the ejection time is 1 s instead of 5 s so
 * that a cycle takes seconds. Every form carries keyway's retry circuit breaker (`max_retries`, no
 * limit: CIRCUIT_BREAKER_LIMIT); `--max-retries 3` puts back Envoy's default, which refuses most
 * retries of a loaded failover (docs/envoy-findings.md 2c).
 *
 *   node --import tsx benchmarks/dataplane-cost/eject-failover-check.ts [--forms priorities,eject,ring] [--cycles 12] [--max-retries N] [--show]
 *
 * Prints, per form: requests and failed requests (not 200) over the kills, ejections, the retry
 * counters, and the same for the steady load with the requests a node other than the shard's
 * primary answered; `--show` prints each failed answer. Exits 1 when keyway's form (`priorities`)
 * or the ring walk failed a request or, in the steady load, missed a primary.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { toJson } from '@bufbuild/protobuf';
import { startCacheNodes } from '../../e2e/support/cache-nodes.js';
import { startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { freePort } from '../../e2e/support/ports.js';
import { HealthCheckSchema } from '../../src/xds/proto.js';
import { CIRCUIT_BREAKER_LIMIT, healthChecks } from '../../src/xds/translator/envoy-failover.js';
import { RING_CLUSTER, ringAssignment, ringRetry } from './ring-failover.js';
import { keywayRetryPolicy, shardTableListener } from './shard-table.js';

type Json = Record<string, unknown>;
type Form = 'priorities' | 'eject' | 'ring';

const { values } = parseArgs({ options: { forms: { type: 'string' }, cycles: { type: 'string' }, 'max-retries': { type: 'string' }, show: { type: 'boolean' } } });
const cycles = Number(values.cycles ?? 12);
const maxRetries = Number(values['max-retries'] ?? CIRCUIT_BREAKER_LIMIT);
const IDS = ['a', 'b', 'c'] as const;
const SHARD_OF = { a: '1', b: '2', c: '3' } as const;
const PRIMARY_OF: Record<string, string> = Object.fromEntries(Object.entries(SHARD_OF).map(([id, shard]) => [shard, id]));

const nodes = await startCacheNodes([...IDS]);
const endpoint = (id: string, checked: boolean): Json => ({
  endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: nodes.byId(id).port } }, ...(checked ? {} : { health_check_config: { disable_active_health_check: true } }) },
});
const outlier = (form: Form): Json => ({
  consecutive_5xx: 3,
  interval: '0.5s',
  base_ejection_time: '1s',
  max_ejection_percent: 100,
  ...(form === 'eject' ? { split_external_local_origin_errors: true, consecutive_local_origin_failure: 1 } : {}),
});
const loadAssignment = (id: string, form: Form): Json => {
  const others = IDS.filter((x) => x !== id);
  if (form !== 'ring') return { cluster_name: `node-${id}`, endpoints: [{ lb_endpoints: [endpoint(id, true)] }, { priority: 1, lb_endpoints: others.map((x) => endpoint(x, false)) }] };
  return ringAssignment(`node-${id}`, endpoint(id, true), others.map((x) => endpoint(x, false)), (i) => others[i]!);
};
const nodeCluster = (id: string, form: Form): Json => ({
  name: `node-${id}`,
  type: 'STATIC',
  connect_timeout: '0.25s',
  ...(form === 'ring' ? RING_CLUSTER : {}),
  load_assignment: loadAssignment(id, form),
  // keyway's checking, as the translator writes it.
  health_checks: [toJson(HealthCheckSchema, healthChecks('http1')[0]!)],
  outlier_detection: outlier(form),
  circuit_breakers: { thresholds: [{ max_retries: maxRetries }] },
  common_lb_config: { update_merge_window: '0s' },
  ignore_health_on_host_removal: true,
});
const retryPolicy = (form: Form): Json => {
  const policy = keywayRetryPolicy();
  if (form !== 'priorities') delete policy.retryPriority;
  if (form === 'ring') ringRetry(policy);
  return policy;
};
const bootstrap = (form: Form, port: number): Json => ({
  node: { id: 'eject-failover-check', cluster: 'check' },
  static_resources: {
    clusters: IDS.map((id) => nodeCluster(id, form)),
    listeners: [shardTableListener(port, Object.fromEntries(IDS.map((id) => [SHARD_OF[id], { cluster: `node-${id}` }])), retryPolicy(form))],
  },
});

interface Tally {
  sent: number;
  failed: number;
  /** Answered by a node other than the shard's primary. */
  elsewhere: number;
  by: Record<string, number>;
}

/** A closed loop of `inFlight` requests over `shards` until `stop()`; who answered, what failed. */
function load(port: number, shards: readonly string[], inFlight = 32): { tally: Tally; stop: () => Promise<void> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
  const tally: Tally = { sent: 0, failed: 0, elsewhere: 0, by: {} };
  let running = true;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const shard = shards[tally.sent++ % shards.length]!;
      const req = http.request({ host: '127.0.0.1', port, path: `/k${tally.sent}`, agent, headers: { 'x-cache-shard': shard } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          if (res.statusCode === 200) {
            const who = String(res.headers['x-served-by']);
            tally.by[who] = (tally.by[who] ?? 0) + 1;
            if (who !== PRIMARY_OF[shard]) tally.elsewhere++;
          } else {
            tally.failed++;
            if (values.show) process.stderr.write(`${res.statusCode} ${body}\n`);
          }
          resolve();
        });
      });
      req.on('error', (err) => {
        if (values.show) process.stderr.write(`error ${err.message}\n`);
        tally.failed++;
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: inFlight }, async () => {
    while (running) await one();
  });
  return {
    tally,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

const ejections = async (envoy: EnvoyProcess): Promise<number> => {
  let n = 0;
  for (const id of IDS) n += (await envoy.statValue(`cluster.node-${id}.outlier_detection.ejections_enforced_total`)) ?? 0;
  return n;
};

/** Until `shard`'s requests reach `id` again (health check passed, ejection over). */
async function waitBack(port: number, shard: string, id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const l = load(port, [shard], 4);
    await sleep(100);
    await l.stop();
    if (l.tally.failed === 0 && (l.tally.by[id] ?? 0) === l.tally.sent) return;
    await sleep(100);
  }
  throw new Error(`shard ${shard} did not return to ${id} within 20 s`);
}

const results: { form: Form; failed: number; steadyFailed: number; steadyElsewhere: number }[] = [];
try {
  for (const form of (values.forms ?? 'priorities,eject,ring').split(',') as Form[]) {
    const port = await freePort();
    const envoy = await startEnvoy({ bootstrap: bootstrap(form, port) });
    try {
      for (const id of IDS) await waitBack(port, SHARD_OF[id], id);
      let sent = 0;
      let failed = 0;
      const killBy: Record<string, number> = {};
      const e0 = await ejections(envoy);
      for (let c = 0; c < cycles; c++) {
        const id = IDS[c % IDS.length]!;
        const l = load(port, [SHARD_OF[id]]);
        await sleep(300);
        await nodes.byId(id).stop();
        await sleep(1_000);
        await l.stop();
        sent += l.tally.sent;
        failed += l.tally.failed;
        for (const [who, n] of Object.entries(l.tally.by)) killBy[who] = (killBy[who] ?? 0) + n;
        await nodes.byId(id).start();
        await waitBack(port, SHARD_OF[id], id);
      }
      const e1 = await ejections(envoy);
      const counters: Record<string, number> = {};
      for (const st of ['upstream_rq_retry', 'upstream_rq_retry_success', 'upstream_rq_retry_overflow', 'upstream_cx_connect_fail']) {
        for (const id of IDS) counters[st] = (counters[st] ?? 0) + ((await envoy.statValue(`cluster.node-${id}.${st}`)) ?? 0);
      }
      const steady = load(port, Object.values(SHARD_OF));
      await sleep(20_000);
      await steady.stop();
      const e2 = await ejections(envoy);
      const row = { form, sent, failed, killBy, steadyBy: steady.tally.by, killEjections: e1 - e0, ...counters, steadySent: steady.tally.sent, steadyFailed: steady.tally.failed, steadyElsewhere: steady.tally.elsewhere, steadyEjections: e2 - e1 };
      results.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    } finally {
      await envoy.stop();
    }
  }
} finally {
  await nodes.stopAll();
}
// keyway's form and the ring walk must lose nothing; ejection is the race this file measures.
const failing = results.filter((r) => r.form !== 'eject' && (r.failed > 0 || r.steadyFailed > 0 || r.steadyElsewhere > 0));
for (const r of failing) process.stdout.write(`form ${r.form} failed ${r.failed} request(s) over the kills; in the steady load ${r.steadyFailed} failed and ${r.steadyElsewhere} missed their primary\n`);
if (failing.length > 0) process.exit(1);
