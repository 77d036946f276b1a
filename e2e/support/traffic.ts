/**
 * Requests through Envoy's cache listener, read the way the e2e tests ask their questions: which
 * cache node (header `x-served-by`, set by e2e/support/cache-nodes.ts) answered a request for shard N?
 */
import { httpRequest } from './http.js';
import { eventually, type PollTiming } from '../../test/support/eventually.js';

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
export async function requestShard(listenerUrl: string, shard: string | number | undefined, path = '/cache/key'): Promise<ShardAnswer> {
  const headers: Record<string, string> = shard === undefined ? {} : { 'x-cache-shard': String(shard) };
  const res = await httpRequest(`${listenerUrl}${path}`, { headers, timeoutMs: 5_000 });
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

/** What {@link startTraffic} saw: answers per serving node, and every answer that was not a 200. */
export interface TrafficTally {
  readonly sent: number;
  readonly servedBy: ReadonlyMap<string, number>;
  readonly failed: readonly string[];
}

/**
 * Keeps `inFlight` requests open through `listenerUrl` (a closed loop over `shards`, round robin)
 * until `stop()` resolves with the tally. Many requests in flight when a node dies is what
 * sequential requests cannot show: each of them fails at once and needs its own retry.
 */
export function startTraffic(listenerUrl: string, shards: readonly (string | number)[], inFlight = 32): { stop(): Promise<TrafficTally> } {
  let running = true;
  let sent = 0;
  const servedBy = new Map<string, number>();
  const failed: string[] = [];
  const loops = Array.from({ length: inFlight }, async () => {
    while (running) {
      const shard = shards[sent++ % shards.length]!;
      const a = await requestShard(listenerUrl, shard).catch((err: Error) => ({ status: 0, servedBy: undefined, body: err.message }));
      if (a.status === 200 && a.servedBy !== undefined) servedBy.set(a.servedBy, (servedBy.get(a.servedBy) ?? 0) + 1);
      else failed.push(`shard ${shard}: ${a.status} ${a.body.trim()}`);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { sent, servedBy, failed };
    },
  };
}
