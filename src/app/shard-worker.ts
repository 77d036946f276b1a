/**
 * Full shard-map computations off the event loop (docs/security.md "Work budget"): the O(S x N)
 * rendezvous runs in a worker thread, so /healthz, /readyz and xDS keep answering during a big
 * recompute; the checks before it and the map built around its result run here. Small maps are
 * computed inline, where a thread round trip would cost more than the work.
 */
import { Worker } from 'node:worker_threads';
import type { Endpoint } from '../core/endpoint.js';
import type { ShardingPolicy } from '../core/policy.js';
import type { ShardMap } from '../core/shard-map.js';
import { buildShardMapFrom, prepareShardMapInput, shardMapFromSlots } from '../sharding/index.js';
import type { ShardWorkerReply, ShardWorkerRequest } from './shard-worker-entry.js';

/**
 * Below this much rendezvous work (shards x replicas x endpoints) the map is computed inline:
 * 2^20 takes about 20 ms here (docs/security.md "Work budget").
 */
export const INLINE_SHARD_WORK = 1 << 20;

/** Computes full shard maps, in a worker thread when they are big. */
export interface ShardMapComputer {
  /**
   * The map computeShardMap would give (equal, and ready for incremental updates).
   * @throws KeywayError as computeShardMap (checked here, before any thread work); Error when the worker fails.
   */
  compute(endpoints: readonly Endpoint[], policy: ShardingPolicy): Promise<ShardMap>;
  /** Stops the worker thread; later calls start a new one. */
  close(): Promise<void>;
}

/** A computer with one lazily started worker thread; `inlineBelow` overrides INLINE_SHARD_WORK (tests). */
export function shardMapComputer(opts: { readonly inlineBelow?: number } = {}): ShardMapComputer {
  const inlineBelow = opts.inlineBelow ?? INLINE_SHARD_WORK;
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: ShardWorkerReply) => void; reject: (err: Error) => void }>();

  const failAll = (err: Error): void => {
    worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const start = (): Worker => {
    const w = startWorker();
    w.on('message', (reply: ShardWorkerReply) => {
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      p?.resolve(reply);
    });
    w.on('error', (err) => failAll(new Error(`the shard-map worker failed: ${err.message}`, { cause: err })));
    w.on('exit', (code) => {
      if (worker === w) failAll(new Error(`the shard-map worker exited (code ${code})`));
    });
    // Idle, it must not keep the process alive; while a computation is pending it is referenced.
    w.unref();
    return w;
  };

  return {
    async compute(endpoints, policy) {
      const { sorted, policy: normalized } = prepareShardMapInput(endpoints, policy);
      const work = normalized.shardCount * normalized.replicas * Math.max(sorted.length, 1);
      if (work < inlineBelow) return buildShardMapFrom(sorted, normalized);
      const w = (worker ??= start());
      const id = nextId++;
      const reply = await new Promise<ShardWorkerReply>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.ref();
        w.postMessage({ id, sorted, policy: normalized } satisfies ShardWorkerRequest);
      }).finally(() => {
        if (pending.size === 0) w.unref();
      });
      if ('error' in reply) throw new Error(`the shard-map worker failed: ${reply.error}`);
      return shardMapFromSlots(sorted, normalized, reply.slots);
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
      failAll(new Error('the shard-map worker was stopped'));
    },
  };
}

/**
 * The worker thread. Compiled, its entry is the .js beside this file; under tsx (tests) the .ts,
 * which a worker can only load once tsx's loader is registered in it.
 */
function startWorker(): Worker {
  const underTsx = import.meta.url.endsWith('.ts');
  const entry = new URL(underTsx ? './shard-worker-entry.ts' : './shard-worker-entry.js', import.meta.url);
  if (!underTsx) return new Worker(entry);
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true });
}
