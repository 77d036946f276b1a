/**
 * Requests through Envoy's cache listener, read the way the e2e tests ask their questions: which
 * cache node (header `x-served-by`, set by e2e/support/cache-nodes.ts) answered a request for shard N?
 */
import type http from 'node:http';
import { httpRequest } from './http.js';
import { eventually, type PollTiming } from '../../test/support/eventually.js';
import { closedLoop } from '../../test/support/closed-loop.js';

export interface ShardAnswer {
  readonly status: number;
  /** `x-served-by` of the answer, or `undefined` when Envoy answered by itself (400, 503). */
  readonly servedBy: string | undefined;
  readonly body: string;
}

/**
 * One GET through `listenerUrl` (e.g. `http://127.0.0.1:10000`) carrying `x-cache-shard: shard`;
 * `shard` `undefined` sends no header, `''` sends an empty one.
 */
export async function requestShard(listenerUrl: string, shard: string | number | undefined, path = '/cache/key', agent?: http.Agent): Promise<ShardAnswer> {
  const headers: Record<string, string> = shard === undefined ? {} : { 'x-cache-shard': String(shard) };
  const res = await httpRequest(`${listenerUrl}${path}`, { headers, timeoutMs: 5_000, ...(agent ? { agent } : {}) });
  const by = res.headers['x-served-by'];
  return { status: res.status, servedBy: Array.isArray(by) ? by[0] : by, body: res.body };
}

/**
 * Sends `count` sequential requests for `shard`; returns how many each node served. Answers that did
 * not come from a node are counted under `status:<code>` (e.g. `status:503`).
 */
export async function servedBy(listenerUrl: string, shard: string | number | undefined, count = 10): Promise<Map<string, number>> {
  const tally = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const a = await requestShard(listenerUrl, shard);
    const key = a.servedBy ?? `status:${a.status}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return tally;
}

/**
 * Polls until `count` requests in a row for `shard` are all served by `node` (convergence after a
 * node goes down, comes back or an ownership change); returns every answer seen while waiting, so a
 * test can also assert that none of them failed.
 */
export async function waitForShardOn(
  listenerUrl: string,
  shard: string | number,
  node: string,
  opts: PollTiming & { what?: string; count?: number } = {},
): Promise<ShardAnswer[]> {
  const seen: ShardAnswer[] = [];
  const count = opts.count ?? 5;
  await eventually(opts.what ?? `shard ${shard} to be served only by ${node}`, async () => {
    const batch: ShardAnswer[] = [];
    for (let i = 0; i < count; i++) batch.push(await requestShard(listenerUrl, shard));
    seen.push(...batch);
    return batch.map((a) => a.servedBy ?? `status:${a.status}`);
  }, { accept: (names) => names.every((n) => n === node), timeoutMs: opts.timeoutMs, intervalMs: opts.intervalMs ?? 100 });
  return seen;
}

/** What {@link startTraffic} saw: answers per serving node, and each kind of answer that was not a 200, with its count. */
export interface TrafficTally {
  readonly sent: number;
  readonly servedBy: ReadonlyMap<string, number>;
  readonly failed: readonly string[];
}

/**
 * Keeps `inFlight` requests open through `listenerUrl` (a closed loop over `shards`, round robin,
 * test/support/closed-loop.ts) until `stop()` resolves with the tally. With `agent`, the requests
 * go over its kept-alive connections (the caller destroys it), else one connection each.
 */
export function startTraffic(listenerUrl: string, shards: readonly (string | number)[], inFlight = 32, agent?: http.Agent): { stop(): Promise<TrafficTally> } {
  const FAILED = '\0failed '; // cannot be a node id
  const loop = closedLoop(inFlight, async (n) => {
    const shard = shards[n % shards.length]!;
    const a = await requestShard(listenerUrl, shard, undefined, agent).catch((err: Error) => ({ status: 0, servedBy: undefined, body: err.message }));
    return a.status === 200 && a.servedBy !== undefined ? a.servedBy : `${FAILED}shard ${shard}: ${a.status} ${a.body.trim()}`;
  });
  return {
    stop: async () => {
      const { sent, answers } = await loop.stop();
      const all = [...answers];
      return {
        sent,
        servedBy: new Map(all.filter(([a]) => !a.startsWith(FAILED))),
        failed: all.filter(([a]) => a.startsWith(FAILED)).map(([a, times]) => `${a.slice(FAILED.length)} (${times}x)`),
      };
    },
  };
}
