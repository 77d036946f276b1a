/**
 * What flip ticks (`handoff.flipIntervalMs`, docs/ownership.md "Flip ticks") spare Envoy when warm
 * reports trickle in: `node --import tsx benchmarks/dataplane-cost/flip-ticks.ts [--rounds N]
 * [--shards 1024,16384] [--intervals 0,1000] [--shape subset|table] [--warm-ms W] [--rate R] [--seconds S]`
 * (docs/benchmarks.md "Flip ticks: a trickle of warm reports through Envoy").
 *
 * Per variant (S, flipIntervalMs) and round, on fresh processes: `keyway serve` (handoff on,
 * `warmTimeoutMs` 60 s, hot shards off) over eight plain cache nodes (e2e/support/cache-nodes.ts),
 * one real Envoy (`--concurrency 1`) over ADS, and an open-loop client at `rate` requests per second
 * with the key in `x-cache-key`. After `seconds` quiet, a ninth node joins. Its ownership agent
 * (src/agent, in this process) warms each shard it gains for a time drawn from the shard number,
 * uniform in 0..W ms and the same in every variant, as warm-ups that copy shards of different sizes
 * take, and reports each batch as it finishes. Measured from the join for W + 2 s: the requests'
 * p99 and max (from their due time), failures, Envoy's EDS updates (RDS updates with `--shape table`), the agent's warm reports and the
 * shards still warming at the end. The node then leaves. Variants alternate order between rounds.
 * Writes benchmarks/results/flip-ticks.json (flip-ticks-table.json with `--shape table`).
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import type { CacheNodes } from '../../e2e/support/cache-nodes.js';
import { startEnvoy } from '../../e2e/support/envoy.js';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePort } from '../../e2e/support/ports.js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { median } from '../hitrate/stats.js';
import { alternateRounds, cell, drive, fmt, KEYS, NODE_COUNT, type Phase, SERVICE, waitHealthy, writeAtomic } from './open-loop.js';

interface Row {
  readonly variant: string;
  readonly shards: number;
  readonly flipIntervalMs: number;
  readonly round: number;
  readonly quiet: Phase;
  readonly join: Phase;
  /** Envoy's EDS updates (RDS with the table shape) from the join to the end of the span. */
  readonly updates: number;
  /** ReportWarm calls the joining node's agent made. */
  readonly reports: number;
  /** Shards the joining node was still warming when the span ended (0: the handoff finished inside it). */
  readonly warmingLeft: number;
}

/** The warm-up time of `shard`: a fixed scramble of its number into 0..warmMs, the same in every variant. */
function warmTime(shard: number, warmMs: number): number {
  const x = Math.imul(shard ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return (x % 1000) * (warmMs / 1000);
}

async function runOnce(
  nodes: CacheNodes,
  shards: number,
  flipIntervalMs: number,
  o: { rate: number; seconds: number; warmMs: number; shape: 'subset' | 'table' },
  dir: string,
): Promise<Omit<Row, 'variant' | 'round'>> {
  const port = await freePort();
  const topology = path.join(dir, 'topology.yaml');
  let writes = 0;
  const write = (joined: boolean): void => {
    const members = nodes.nodes.slice(0, joined ? NODE_COUNT + 1 : NODE_COUNT);
    const lines = [
      `shards: ${shards}`,
      'replicas: 2',
      `service: ${SERVICE}`,
      `envoy: {listenerPort: ${port}, missingHeader: any, routeShape: ${o.shape}}`,
      'routing: {keyHeader: x-cache-key}',
      `handoff: {enabled: true, warmTimeoutMs: 60000, flipIntervalMs: ${flipIntervalMs}}`,
      'hotShards: {enabled: false}',
      'endpoints:',
      ...members.map((n) => `  - {id: ${n.id}, address: 127.0.0.1, port: ${n.port}, weight: 10}`),
    ];
    writeAtomic(topology, `${lines.join('\n')}\n`, writes++);
  };
  write(false);
  const keyway = await startKeyway({ configPath: topology, readyTimeoutMs: 60_000 });
  const joining = nodes.nodes[NODE_COUNT]!.id;
  let reports = 0;
  const agent = new OwnershipAgent({
    nodeId: joining,
    servers: [`127.0.0.1:${keyway.xdsPort}`],
    warm: (a, signal) => sleep(warmTime(a.shard, o.warmMs), undefined, { signal }),
    log: (r) => {
      if (r.msg === 'reported warm') reports++;
    },
    timing: { loadWindowMs: 0 },
  });
  const client = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    agent.start();
    const envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'envoy-flip-ticks' }) });
    try {
      const stat = o.shape === 'table' ? `http.${SERVICE}.rds.${SERVICE}.update_success` : `cluster.${SERVICE}.update_success`;
      if (o.shape === 'table') await waitHealthy(envoy, `${SERVICE}/node/${nodes.nodes[0]!.id}`, 1);
      else await waitHealthy(envoy, SERVICE, NODE_COUNT);
      await drive({ port, rate: o.rate, seconds: 2, agent: client, firstKey: 1, keys: KEYS }); // connections, Envoy's first requests
      const quiet = await drive({ port, rate: o.rate, seconds: o.seconds, agent: client, firstKey: 2, keys: KEYS });
      const before = (await envoy.statValue(stat)) ?? 0;
      const span = drive({ port, rate: o.rate, seconds: (o.warmMs + 2000) / 1000, agent: client, firstKey: 3, keys: KEYS });
      write(true);
      const join = await span;
      const updates = ((await envoy.statValue(stat)) ?? 0) - before;
      const handoff = (await (await fetch(`${keyway.httpUrl}/v1/handoff?node=${joining}`)).json()) as { warming?: number };
      write(false);
      await sleep(1000);
      return { shards, flipIntervalMs, quiet, join, updates, reports, warmingLeft: handoff.warming ?? -1 };
    } finally {
      await envoy.stop();
    }
  } finally {
    client.destroy();
    await agent.close();
    await keyway.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: 'string' }, shards: { type: 'string' }, intervals: { type: 'string' }, shape: { type: 'string' }, 'warm-ms': { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' } },
  });
  const rounds = Number(values.rounds ?? 3);
  const shape = values.shape ?? 'subset';
  if (shape !== 'subset' && shape !== 'table') throw new Error(`--shape must be subset or table, got ${shape}`);
  const o = { rate: Number(values.rate ?? 500), seconds: Number(values.seconds ?? 5), warmMs: Number(values['warm-ms'] ?? 3000), shape } as const;
  const variants = (values.shards ?? '1024,16384')
    .split(',')
    .map(Number)
    .flatMap((shards) => (values.intervals ?? '0,1000').split(',').map((i) => ({ shards, flipIntervalMs: Number(i), name: `S=${shards} flipIntervalMs=${i}` })));
  const rows: Row[] = await alternateRounds(
    rounds,
    variants,
    (nodes, v, dir) => runOnce(nodes, v.shards, v.flipIntervalMs, o, dir),
    (v, _round, r) =>
      `${v.name.padEnd(26)} quiet p99 ${fmt(r.quiet.p99)} ms, join p99 ${fmt(r.join.p99)} max ${fmt(r.join.max)} ms, ` +
      `${r.updates} ${o.shape === 'table' ? 'RDS' : 'EDS'} updates, ${r.reports} warm reports, ${r.warmingLeft} still warming, errors ${r.quiet.errors + r.join.errors}`,
  );
  const lines = [
    `Open loop at ${o.rate} req/s, route shape ${o.shape}; a ninth node joins and warms its shards over 0-${o.warmMs} ms each; medians (min-max) over ${rounds} rounds.`,
    '',
    `| variant | p99 quiet ms | p99 join ms | max join ms | ${o.shape === 'table' ? 'RDS' : 'EDS'} updates | warm reports | still warming | errors |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const v of variants) {
    const rs = rows.filter((r) => r.variant === v.name);
    lines.push(
      `| ${v.name} | ${cell(rs.map((r) => r.quiet.p99))} | ${cell(rs.map((r) => r.join.p99))} | ${cell(rs.map((r) => r.join.max))} | ${median(rs.map((r) => r.updates))} | ${median(rs.map((r) => r.reports))} | ${Math.max(...rs.map((r) => r.warmingLeft))} | ${rs.reduce((a, r) => a + r.quiet.errors + r.join.errors, 0)} |`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
  const out = path.join('benchmarks', 'results', o.shape === 'table' ? 'flip-ticks-table.json' : 'flip-ticks.json');
  writeFileSync(out, `${JSON.stringify({ ...o, rounds, rows }, null, 1)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
