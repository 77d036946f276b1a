/**
 * The example cache node (docs/observability.md): HTTP and, optionally, gRPC in front of a tiered cache,
 * aware of which shards keyway gave it. It is what keyway routes to in the e2e runs and the
 * dashboards' data source for "does each request reach the node that holds its data".
 *
 * HTTP: `GET /kv/<key>` (and any other path carrying `x-cache-shard`, the path being the key),
 * `GET /metrics`, `GET /healthz`, `GET /v1/ownership`, `GET /v1/warm` (a shard's hot entries, for
 * a node that warms it), `POST|GET /v1/drain` (waits until the node's shards are handed off: a
 * preStop hook). gRPC: `keyway.example.cache.v1.Cache/Get`.
 *
 * Ownership comes from the ownership stream through keyway's agent when the node is given keyway's
 * xDS addresses (`keywayXds`): the node then warms the shards it gains from their serving owners
 * before keyway routes them here (warm.ts). Without them it polls keyway's REST shard map
 * (`keywayUrl`), which says only who serves what.
 *
 * The node checks the pair it is given: a request whose key does not hash (contract 1, with the S
 * of keyway's shard map) to the `x-cache-shard` it carried answers 421 Misdirected Request (gRPC:
 * INVALID_ARGUMENT) and counts in `keyway_cache_misdirected_requests_total`. Before the node has
 * read a shard map it does not know S and accepts.
 *
 * Refused with 400 (gRPC: INVALID_ARGUMENT): an empty key, a key over MAX_KEY_BYTES, a repeated
 * `x-cache-shard` or `x-cache-key`, and a shard no shard map has (before the first map: none at or
 * past keyway's largest S). An absolute-form target (`GET http://host/kv/a`) is served as its
 * origin-form. A store read that fails or passes its bound answers 503 `{error, code}` (gRPC:
 * UNAVAILABLE); concurrent misses of one key share one store read (tiers.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { MAX_SHARD_COUNT } from '../../src/core/limits.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../src/telemetry/prometheus-registry.js';
import { StreamOwnershipSource, type Assignment, type CreateOwnershipAgent } from './agent-ownership.js';
import { createCacheMetrics, DEFAULT_SHARD_SERIES_LIMIT, type CacheMetrics } from './cache-metrics.js';
import type { OwnershipSource } from './ownership-source.js';
import { admitsToL1, ownerLabel, type NodeLocality, type NodeOwnership, type OwnerLabel } from './ownership.js';
import { ServingCapacity } from './serving-capacity.js';
import { ShardMapPoller } from './shardmap-poller.js';
import { StoreReadError, TieredCache, type Tier } from './tiers.js';
import { DEFAULT_WARM_CONCURRENCY, WarmSlots } from './warm-slots.js';
import { BadWarmRequest, DEFAULT_WARM_LIMIT, MAX_WARM_LIMIT, demoteShards, parseWarmQuery, shardEntries, warmShard } from './warm.js';

/** How long `/v1/drain` waits for the handoff unless `?timeoutMs=` says otherwise. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;
/** The longest `/v1/drain` wait a request may ask for. */
export const MAX_DRAIN_TIMEOUT_MS = 600_000;
/**
 * The longest key served, in UTF-8 bytes: Node's limit on an HTTP request line and headers, so it
 * bounds gRPC keys (up to 4 MiB a message otherwise) as HTTP's are. The tiers count entries, not
 * bytes: without it L2 alone could hold 10 000 keys of 4 MiB.
 */
export const MAX_KEY_BYTES = 16_384;
/**
 * How long `close()` lets HTTP requests and gRPC calls under way finish before it ends them, both
 * at once: calls queued behind a simulated serving capacity (`serveRps`) otherwise held the close
 * for queue length / rate seconds (8 queued at 1 rps: 7.7 s); HTTP requests were dropped at once,
 * so a request a draining node had taken (a store read under way) failed behind Envoy as a 503.
 */
export const SHUTDOWN_GRACE_MS = 2_000;
/** Characters of a client's value an error message quotes (a gRPC status travels in a header). */
const QUOTED_CHARS = 200;

export interface CacheNodeOptions {
  /** The node's identity: the endpoint id keyway knows it by. */
  readonly id: string;
  /** keyway's REST base URL, polled for ownership when `keywayXds` is not given. */
  readonly keywayUrl?: string;
  /**
   * Every keyway replica's xDS address ("host:port"): ownership comes from the ownership stream
   * and the node warms the shards it gains. Wins over `keywayUrl`. Without either, the node never
   * learns ownership (owner = unknown).
   */
  readonly keywayXds?: readonly string[];
  /** Builds the ownership agent (default: keyway's, src/agent); tests hand in a stand-in. */
  readonly createAgent?: CreateOwnershipAgent;
  /** Entries a warm-up asks a peer for: at most this (default 5000), the L1 capacity and MAX_WARM_LIMIT (100000). */
  readonly warmLimit?: number;
  /** Warm-ups run at once (default 8); the others wait their turn (warm-slots.ts). */
  readonly warmConcurrency?: number;
  readonly host?: string;
  /** HTTP port; 0 picks a free one. */
  readonly port?: number;
  /** gRPC port; undefined serves no gRPC, 0 picks a free one. */
  readonly grpcPort?: number;
  /** Locality labels; each defaults to what keyway's shard map says about this node. */
  readonly region?: string;
  readonly zone?: string;
  readonly subzone?: string;
  readonly l1Capacity?: number;
  readonly l2Capacity?: number;
  readonly l3DelayMs?: number;
  /**
   * Reads a key from the shared store (default: the simulated store after `l3DelayMs`): where a
   * real node plugs its store in. Concurrent misses of one key share one read (tiers.ts).
   */
  readonly storeRead?: (key: string, signal: AbortSignal) => Promise<string>;
  /**
   * Bound on one store read, ms: past it the requests waiting on it answer 503 (gRPC: UNAVAILABLE).
   * Default DEFAULT_STORE_TIMEOUT_MS (5000) with `storeRead`; the simulated store is not bounded.
   */
  readonly storeTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  /** With `keywayXds`: the load window of the node's load reports, keyway's `hotShards.windowMs` (docs/load-reports.md). */
  readonly loadWindowMs?: number;
  /**
   * Per-shard `shard` labels on the request counters (off by default: the series count would grow
   * with S). When on, each per-shard instrument may hold `shardSeriesLimit` series (default
   * DEFAULT_SHARD_SERIES_LIMIT).
   */
  readonly shardMetrics?: boolean;
  readonly shardSeriesLimit?: number;
  /**
   * Simulated serving capacity, requests per second (a GPU's inference rate): data requests are
   * served one after another, each taking 1/serveRps s (serving-capacity.ts). Absent: unbounded.
   */
  readonly serveRps?: number;
  /** With `serveRps`: service times a request not served from L1 takes (default 1: as a hit). */
  readonly missCost?: number;
  /**
   * Load reports count each request as the service times it takes (1 for an L1 hit, `missCost`
   * for a miss) instead of 1: the node's work, which is what bounds it when misses cost more
   * (docs/load-reports.md "What a node counts"). Every node of a fleet must count the same way.
   */
  readonly loadWork?: boolean;
  /** One line per event worth telling (listening, ownership changed, poll failed). */
  readonly log?: (record: Record<string, unknown>) => void;
}

export interface RunningCacheNode {
  readonly id: string;
  readonly httpPort: number;
  readonly grpcPort?: number;
  /** `http://<host>:<httpPort>`. */
  readonly url: string;
  readonly cache: TieredCache;
  ownership(): NodeOwnership | undefined;
  /** Where ownership comes from: `rest`, `stream`, or undefined (no keyway). */
  readonly ownershipSource: OwnershipSource['kind'] | undefined;
  /** Polls keyway now (tests: no need to wait for the interval). */
  refreshOwnership(): Promise<boolean>;
  readonly metrics: CacheMetrics;
  close(): Promise<void>;
}

export interface Served {
  readonly key: string;
  readonly value: string;
  /** -1 when the shard is not known (no header and no shard map yet). */
  readonly shard: number;
  readonly node: string;
  readonly tier: Tier;
  readonly owner: OwnerLabel;
}

const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cache.proto');

/** Starts the node; resolves once every port listens. */
export async function startCacheNodeServer(opts: CacheNodeOptions): Promise<RunningCacheNode> {
  const log = opts.log ?? (() => {});
  const host = opts.host ?? '127.0.0.1';
  const l1Capacity = opts.l1Capacity ?? 1_000;
  const cache = new TieredCache({
    l1Capacity,
    l2Capacity: opts.l2Capacity ?? l1Capacity * 10,
    l3DelayMs: opts.l3DelayMs ?? 2,
    ...(opts.storeRead ? { read: opts.storeRead } : {}),
    ...(opts.storeTimeoutMs !== undefined ? { storeTimeoutMs: opts.storeTimeoutMs } : {}),
  });
  // Never past MAX_WARM_LIMIT: a peer refuses a larger limit (400), and every warm-up copied nothing.
  const warmLimit = Math.max(1, Math.min(opts.warmLimit ?? DEFAULT_WARM_LIMIT, l1Capacity, MAX_WARM_LIMIT));
  const warmSlots = new WarmSlots(opts.warmConcurrency ?? DEFAULT_WARM_CONCURRENCY);
  const capacity = opts.serveRps === undefined ? undefined : new ServingCapacity(opts.serveRps);
  const missCost = opts.missCost ?? 1;
  // Shards whose warm-up finished while their assignment still says WARMING: a request for a
  // warming shard not in here reached the node before it reported warm.
  const warmed = new Set<number>();
  /** The shards whose L1 entries the last sweep kept; undefined before the first shard map. */
  let keptBefore: ReadonlySet<number> | undefined;
  /**
   * The backup replicas of the last sweep: not kept, yet they admit the requests that reach them
   * (their readers down), so their L1 entries must go too once the shard leaves the node.
   */
  let backupsBefore: ReadonlySet<number> = new Set();

  /**
   * After each ownership change: L1 entries of shards the node read and no longer reads move to L2
   * (moved away and draining, or kept only as a backup replica: a primary demoted to replica, a hot
   * shard's extra reader after the spread ends), so GPU memory goes back to the shards whose
   * requests reach the node. Left in L1 until LRU aged them out, they were a third to all of what
   * the hot-shard policy cost the fleet's L1 (docs/benchmarks.md, "Draining shards leave L1 at
   * once"). A draining shard's stragglers are served from L2; a backup replica that gets requests
   * because the readers are down still admits them to L1 (admitsToL1), and those entries move to L2
   * when the shard leaves the node.
   */
  const sweep = (): void => {
    const o = source?.current();
    if (!o) return;
    const kept = new Set<number>([...o.primary, ...o.readingReplica, ...(o.warming?.keys() ?? [])]);
    // Before the first shard map L1 admitted every shard (admitsToL1): then every shard of L1 not
    // kept is lost, or entries of shards the node never owned stayed in L1 until LRU aged them.
    const lost = new Set([...(keptBefore ?? l1Shards(cache, o.shardCount))].filter((s) => !kept.has(s)));
    // A backup that is still one keeps what its failover traffic brought in; one that left does not.
    for (const s of backupsBefore) if (!admitsToL1(o, s)) lost.add(s);
    keptBefore = kept;
    backupsBefore = new Set([...o.replica].filter((s) => !o.readingReplica.has(s)));
    if (lost.size > 0) {
      const moved = demoteShards(cache, lost, o.shardCount);
      if (moved > 0) log({ msg: 'moved the L1 entries of shards no longer read to L2', shards: lost.size, entries: moved });
    }
    for (const shard of warmed) if (!o.warming?.has(shard)) warmed.delete(shard);
  };
  const onOwnership = (o: NodeOwnership): void => {
    log({ msg: 'ownership changed', version: o.version, primary: o.primary.size, replica: o.replica.size, warming: o.warming?.size ?? 0, draining: o.draining?.size ?? 0 });
    sweep();
  };

  /**
   * The agent's warm-up of a shard this node gains: copies its hot entries from the serving owners.
   * Bounded by the agent's signal, which also aborts at the shard's deadline (the latest keyway
   * sent: it may extend the one in `a` while the warm-up runs).
   */
  const warm = async (a: Assignment, signal: AbortSignal): Promise<void> => {
    const started = performance.now();
    try {
      // The agent starts every gained shard's warm-up at once; the peers answer a few at a time.
      const result = await warmSlots.run(signal, () => warmShard({
        shard: a.shard,
        peers: a.servingOwners.filter((p) => p.id !== opts.id),
        cache,
        limit: warmLimit,
        signal,
        log,
        shardCount: a.shardCount,
      }));
      const seconds = (performance.now() - started) / 1000;
      // `empty` when no serving owner answered or the one that did held nothing of the shard.
      metrics.recordWarm(a.shard, result.imported, seconds, result.offered > 0 ? 'copied' : 'empty');
      warmed.add(a.shard);
      log({ msg: 'warmed shard', shard: a.shard, entries: result.imported, from: result.from ?? null, ms: Math.round(seconds * 1000) });
    } catch (err) {
      metrics.recordWarm(a.shard, 0, (performance.now() - started) / 1000, 'aborted');
      log({ msg: 'warm-up stopped', shard: a.shard, err: (err as Error).message });
      throw err;
    }
  };

  let source: OwnershipSource | undefined;
  if (opts.keywayXds && opts.keywayXds.length > 0) {
    source = StreamOwnershipSource.create({
      nodeId: opts.id,
      servers: opts.keywayXds,
      warm,
      onChange: onOwnership,
      log,
      ...(opts.createAgent ? { createAgent: opts.createAgent } : {}),
      ...(opts.loadWindowMs !== undefined ? { loadWindowMs: opts.loadWindowMs } : {}),
    });
    if (opts.region === undefined && opts.zone === undefined && opts.subzone === undefined) {
      log({ msg: 'locality labels are empty: the ownership stream carries no locality; give --region, --zone and --subzone' });
    }
  } else if (opts.keywayUrl) {
    source = new ShardMapPoller({
      keywayUrl: opts.keywayUrl,
      nodeId: opts.id,
      intervalMs: opts.pollIntervalMs ?? 1_000,
      onChange: onOwnership,
      onError: (err) => log({ msg: 'shard map poll failed; keeping the last ownership', err: err.message }),
    });
  }
  const locality = (): NodeLocality => {
    const known = source?.current()?.locality;
    return { region: opts.region ?? known?.region ?? '', zone: opts.zone ?? known?.zone ?? '', subzone: opts.subzone ?? known?.subzone ?? '' };
  };
  const metrics = createCacheMetrics(
    {
      node: opts.id,
      locality,
      ownership: () => source?.current(),
      lastShardMapRead: () => source?.lastUpdate(),
      entries: () => ({ l1: cache.l1.size, l2: cache.l2.size }),
    },
    { log, ...(opts.shardMetrics ? { shardLabels: { seriesLimit: opts.shardSeriesLimit ?? DEFAULT_SHARD_SERIES_LIMIT } } : {}) },
  );

  /**
   * Serves one key. `shardHeader` is the x-cache-shard value as received (undefined when absent).
   * `clientKey` is the key the client named (the `/kv/` path, the gRPC request's key, or
   * `x-cache-key`): when it and the header are both there, the pair is checked.
   */
  const serve = async (key: string, shardHeader: string | undefined, clientKey: string | undefined): Promise<Served> => {
    // proto3 cannot tell an unset key from "": a Get without one would be served the value of "".
    if (key === '') throw new BadRequest('the key is empty: name the key to read (gRPC: GetRequest.key)');
    checkKeyBytes('key', key);
    if (clientKey !== key) checkKeyBytes('x-cache-key', clientKey);
    const ownership = source?.current();
    const shard = resolveShard(key, shardHeader, ownership);
    if (clientKey !== undefined && shardHeader !== undefined && shard !== undefined && ownership) {
      const expected = keyToShard(clientKey, ownership.shardCount);
      if (expected !== shard) {
        metrics.recordMisdirected(shard);
        throw new Misdirected(clientKey, expected, shard, ownership.shardCount);
      }
    }
    const owner = ownerLabel(ownership, shard);
    if (shard !== undefined && ownership?.warming?.has(shard) && !warmed.has(shard)) metrics.recordRequestWhileWarming(shard);
    // GPU memory is for the shards routed here: non-owned and draining keys stay out of L1. Asked
    // once the value is read (ownership read now): a shard lost, or a first shard map that does not
    // give it, while L3 answered was swept before the value came, and it would stay in L1.
    const admit = (): boolean => {
      const now = source?.current();
      return admitsToL1(now, shard ?? (now ? keyToShard(key, now.shardCount) : undefined));
    };
    const got = await cache.get(key, admit, shard);
    await capacity?.serve(got.tier === 'l1' ? 1 : missCost);
    metrics.recordRequest(shard, owner, got.lookups);
    if (shard !== undefined) source?.recordRequest?.(shard, opts.loadWork && got.tier !== 'l1' ? missCost : 1);
    return { key, value: got.value, shard: shard ?? -1, node: opts.id, tier: got.tier, owner };
  };

  // Responses under way, so close() can end their keep-alive connections (below).
  const httpOpen = new Set<http.ServerResponse>();
  let httpClosing = false;
  const httpServer = http.createServer((req, res) => {
    if (httpClosing) res.setHeader('connection', 'close');
    httpOpen.add(res);
    res.on('close', () => {
      httpOpen.delete(res);
      // A response whose headers went out before close() began kept its connection alive: it is
      // idle from the next turn, and closed then rather than at the end of the grace.
      if (httpClosing) setImmediate(() => httpServer.closeIdleConnections());
    });
    void handleHttp(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String((err as Error).message ?? err) }));
    });
  });

  const handleHttp = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // The absolute-form (`GET http://host/kv/a`, RFC 9112 §3.2.2, which a server must accept) names
    // the same resource as its origin-form: the key must not depend on which one the client sent.
    const target = originForm(req.url ?? '/');
    // Routes and keys from the raw request target: WHATWG URL parsing would resolve `.` and `..`
    // segments and turn `\\` into `/`, serving another key than the one the client named (and hashed).
    const query = target.indexOf('?');
    const path = query < 0 ? target : target.slice(0, query);
    const url = new URL(`http://node/?${query < 0 ? '' : target.slice(query + 1)}`);
    // Node joins a repeated header with ", ": refuse it by name, as keyway's endpoint picker does.
    const counts = cacheHeaderCounts(req.rawHeaders);
    const repeated = counts.shard > 1 ? 'x-cache-shard' : counts.key > 1 ? 'x-cache-key' : undefined;
    const repeats = repeated === 'x-cache-shard' ? counts.shard : counts.key;
    const header = req.headers['x-cache-shard'];
    const shardHeader = Array.isArray(header) ? header[0] : header; // sent once when used
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/metrics') {
      const text = await metrics.render();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text);
      return;
    }
    if (path === '/v1/ownership') {
      const o = source?.current();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          node: opts.id,
          source: source?.kind ?? null,
          locality: locality(),
          version: o?.version ?? null,
          shardCount: o?.shardCount ?? null,
          primary: o ? [...o.primary].sort((a, b) => a - b) : [],
          replica: o ? [...o.replica].sort((a, b) => a - b) : [],
          warming: o?.warming ? [...o.warming.keys()].sort((a, b) => a - b) : [],
          draining: o?.draining ? [...o.draining].sort(([a], [b]) => a - b).map(([shard, untilUnixMs]) => ({ shard, untilUnixMs })) : [],
        }),
      );
      return;
    }
    if (path === '/v1/warm') {
      const shardCount = source?.current()?.shardCount;
      if (shardCount === undefined) {
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no shard count yet: this node has no ownership from keyway' }));
        return;
      }
      let q: { shard: number; limit: number };
      try {
        q = parseWarmQuery(url.searchParams, shardCount);
      } catch (err) {
        if (!(err instanceof BadWarmRequest)) throw err;
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `/v1/warm: ${err.message}` }));
        return;
      }
      const entries = shardEntries(cache.l1, q.shard, shardCount, q.limit, (k, n) => cache.l1ShardOf(k, n));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: opts.id, shard: q.shard, entries }));
      return;
    }
    if (path === '/v1/drain') {
      // GET too: a Kubernetes preStop httpGet cannot POST, and the call changes nothing (it waits).
      if (req.method !== 'POST' && req.method !== 'GET') {
        res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, POST' }).end(JSON.stringify({ error: '/v1/drain: use POST (or GET)' }));
        return;
      }
      const text = url.searchParams.get('timeoutMs');
      const timeoutMs = text === null ? DEFAULT_DRAIN_TIMEOUT_MS : Number(text);
      if (text !== null && (!/^[0-9]{1,9}$/.test(text) || timeoutMs > MAX_DRAIN_TIMEOUT_MS)) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: `/v1/drain: timeoutMs must be an integer in 0..${MAX_DRAIN_TIMEOUT_MS}, got ${JSON.stringify(text)}` }));
        return;
      }
      const startedAt = Date.now();
      // Without keyway the node serves no shard keyway knows of: nothing to hand off.
      const handedOff = source ? await source.waitForHandoff(timeoutMs) : true;
      log({ msg: handedOff ? 'drain: every shard handed off' : 'drain: shards still routed here at the timeout', ms: Date.now() - startedAt, timeoutMs });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ handedOff }));
      return;
    }
    if (repeated !== undefined) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `${repeated} must be sent once, got ${repeats} values` }));
      return;
    }
    const keyHeader = req.headers['x-cache-key'];
    let key: string | undefined;
    let clientKey: string | undefined;
    if (path.startsWith('/kv/') && path.length > 4) {
      try {
        key = clientKey = decodeURIComponent(path.slice(4));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `the key in ${JSON.stringify(path.slice(0, 200))} is not valid percent-encoded UTF-8` }));
        return;
      }
    } else if (shardHeader !== undefined) {
      key = target;
      const named = Array.isArray(keyHeader) ? keyHeader[0] : keyHeader;
      // Node hands header values over as latin1, one char per byte; the key is their UTF-8 (docs/hashing.md).
      clientKey = named === undefined ? undefined : Buffer.from(named, 'latin1').toString('utf8');
    }
    if (key === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no route for ${JSON.stringify(path.slice(0, 200))}: use /kv/<key>` }));
      return;
    }
    let served: Served;
    try {
      served = await serve(key, shardHeader, clientKey);
    } catch (err) {
      if (err instanceof BadRequest) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message }));
        return;
      }
      if (err instanceof StoreReadError) {
        res.writeHead(503, { 'content-type': 'application/json', 'x-served-by': opts.id }).end(JSON.stringify({ error: err.message, code: err.code }));
        return;
      }
      if (err instanceof Misdirected) {
        res
          .writeHead(421, { 'content-type': 'application/json', 'x-served-by': opts.id })
          .end(JSON.stringify({ error: err.message, key: err.key, shard: err.keyShard, carriedShard: err.carriedShard, shardCount: err.shardCount }));
        return;
      }
      throw err;
    }
    res
      .writeHead(200, {
        'content-type': 'application/json',
        'x-served-by': opts.id,
        'x-cache-tier': served.tier,
        'x-cache-owner': served.owner,
      })
      .end(JSON.stringify(served));
  };

  let grpcServer: grpc.Server | undefined;
  let grpcPort: number | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(opts.port ?? 0, host, () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
    if (opts.grpcPort !== undefined) {
      grpcServer = new grpc.Server();
      const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: false, longs: Number, defaults: true })) as unknown as {
        keyway: { example: { cache: { v1: { Cache: grpc.ServiceClientConstructor } } } };
      };
      grpcServer.addService(pkg.keyway.example.cache.v1.Cache.service, {
        Get: (call: grpc.ServerUnaryCall<{ key: string }, Served>, callback: grpc.sendUnaryData<Served>) => {
          // A repeated x-cache-shard reaches grpc-js joined ("1, 2"), which is no integer: refused.
          const header = call.metadata.get('x-cache-shard')[0];
          serve(call.request.key, header === undefined ? undefined : String(header), call.request.key).then(
            (served) => callback(null, served),
            (err: Error) =>
              callback({
                code: grpcCode(err),
                details: err.message,
              }),
          );
        },
      });
      const address = grpcBindAddress(host, opts.grpcPort);
      grpcPort = await new Promise<number>((resolve, reject) =>
        grpcServer!.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) =>
          err ? reject(new Error(`the cache node's gRPC server cannot listen on ${address}: ${err.message}`, { cause: err })) : resolve(port),
        ),
      );
    }
  } catch (err) {
    httpServer.close();
    grpcServer?.forceShutdown();
    await source?.close();
    await metrics.shutdown();
    throw err;
  }
  source?.start();
  const httpPort = (httpServer.address() as AddressInfo).port;
  log({ msg: 'listening', node: opts.id, httpPort, ...(grpcPort !== undefined ? { grpcPort } : {}) });

  let closed: Promise<void> | undefined;
  return {
    id: opts.id,
    httpPort,
    ...(grpcPort !== undefined ? { grpcPort } : {}),
    url: `http://${host.includes(':') ? `[${host}]` : host}:${httpPort}`,
    cache,
    ownership: () => source?.current(),
    ownershipSource: source?.kind,
    refreshOwnership: () => source?.refresh() ?? Promise.resolve(false),
    metrics,
    close: () =>
      (closed ??= (async () => {
        await source?.close();
        // No new connection; idle keep-alive ones close now, and those with a request under way once
        // it is answered, at most after the grace. Node (20) still answers `keep-alive` on a closing
        // server and serves the next request on that connection, so the connection stayed open to
        // the forced close at the end of the grace (every close took the whole 2 s while requests
        // were under way) and a client's request sent then was reset: each answer says
        // `Connection: close` instead, and the connection ends with it.
        httpClosing = true;
        for (const res of httpOpen) if (!res.headersSent) res.setHeader('connection', 'close');
        const httpClosed = new Promise<void>((resolve) => {
          const force = setTimeout(() => httpServer.closeAllConnections(), SHUTDOWN_GRACE_MS);
          httpServer.close(() => {
            clearTimeout(force);
            resolve();
          });
          httpServer.closeIdleConnections();
        });
        const grpcClosed = new Promise<void>((resolve) => {
          const server = grpcServer;
          if (!server) return resolve();
          const force = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, SHUTDOWN_GRACE_MS);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        await Promise.all([httpClosed, grpcClosed]);
        await metrics.shutdown();
      })()),
  };
}

/**
 * The gRPC listen address for `host`: an IPv6 host in brackets. grpc-js reads the target as a
 * name, so `:::7101` (`--host ::`, the dual-stack wildcard) failed with a name-resolution error.
 */
export function grpcBindAddress(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** The gRPC status of a failed Get: the client's error, the store's, or the node's. */
function grpcCode(err: Error): grpc.status {
  if (err instanceof BadRequest || err instanceof Misdirected) return grpc.status.INVALID_ARGUMENT;
  return err instanceof StoreReadError ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL;
}

/** An empty key, a malformed, repeated or out-of-range `x-cache-shard`, or a key too long: the client's error (400 / INVALID_ARGUMENT). */
class BadRequest extends Error {}

/** `text` quoted as JSON, cut to QUOTED_CHARS characters: a message must stay small whatever the client sent. */
function quote(text: string): string {
  return text.length <= QUOTED_CHARS ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, QUOTED_CHARS))} (first ${QUOTED_CHARS} of ${text.length} characters)`;
}

/** Refuses a key over MAX_KEY_BYTES; counts bytes only for a key that may be (a UTF-16 unit is at most 3 bytes of UTF-8). */
function checkKeyBytes(what: string, k: string | undefined): void {
  if (k === undefined || k.length * 3 <= MAX_KEY_BYTES) return;
  const bytes = Buffer.byteLength(k, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new BadRequest(`the ${what} is ${bytes} bytes of UTF-8; the node serves keys of at most ${MAX_KEY_BYTES}`);
}

/**
 * How often the request carried `x-cache-shard` and `x-cache-key`, from the raw header list: a
 * per-request scan of the names, where `req.headersDistinct` built a second copy of every header
 * (about 0.7 µs a request, on the path a benchmark measures).
 */
function cacheHeaderCounts(raw: readonly string[]): { shard: number; key: number } {
  let shard = 0;
  let key = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'x-cache-shard') shard++;
    else if (name.length === 11 && name.toLowerCase() === 'x-cache-key') key++;
  }
  return { shard, key };
}

/** The request target in origin-form: an absolute-form target loses its scheme and authority. */
function originForm(target: string): string {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (!m) return target;
  const rest = target.slice(m[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** A key that hashes to another shard than the one the request carried (421 / INVALID_ARGUMENT). */
class Misdirected extends Error {
  constructor(
    readonly key: string,
    readonly keyShard: number,
    readonly carriedShard: number,
    readonly shardCount: number,
  ) {
    super(
      `key ${quote(key)} hashes to shard ${keyShard} of ${shardCount}, but the request carried x-cache-shard ${carriedShard}: ` +
        `the client's hash is wrong (see docs/hashing.md)`,
    );
  }
}

/** The shards of the entries in L1. */
function l1Shards(cache: TieredCache, shardCount: number): Set<number> {
  return new Set(cache.l1.keys().map((key) => cache.l1ShardOf(key, shardCount)));
}

/**
 * The request's shard: the `x-cache-shard` value when present (what the proxy routed on), else the
 * key's shard by hash contract 1 once the shard count is known.
 */
function resolveShard(key: string, header: string | undefined, ownership: NodeOwnership | undefined): number | undefined {
  if (header !== undefined) {
    const text = header.trim();
    if (!/^[0-9]+$/.test(text)) throw new BadRequest(`x-cache-shard must be a non-negative integer, got ${quote(header)}`);
    const shard = Number(text);
    // Before the first shard map S is unknown, but no S keyway accepts has this shard.
    const shardCount = ownership?.shardCount ?? MAX_SHARD_COUNT;
    if (shard >= shardCount) {
      throw new BadRequest(`x-cache-shard ${text.length <= 16 ? shard : quote(text)} does not exist: shards are 0..${shardCount - 1}${ownership ? '' : ' at most'}`);
    }
    return shard;
  }
  return ownership ? keyToShard(key, ownership.shardCount) : undefined;
}
