/**
 * The costly steps of a change off the event loop (docs/security.md "Work budget"): a full
 * shard-map computation's O(S x N) rendezvous and the parse of a big topology file run in a worker
 * thread, so /healthz, /readyz and xDS keep answering meanwhile. The checks before the rendezvous
 * and the map built around its result run here. Small inputs are handled inline, where a thread
 * round trip would cost more than the work.
 */
import { Worker } from 'node:worker_threads';
import { type KeywayConfig, parseConfig } from '../config/index.js';
import type { Endpoint } from '../core/endpoint.js';
import { KeywayError, KeywayErrors } from '../core/errors.js';
import type { ShardingPolicy } from '../core/policy.js';
import type { ShardMap } from '../core/shard-map.js';
import { buildShardMap, prepareShardMapInput, shardMapFromSlots } from '../sharding/index.js';
import type { PipelineWorkerReply, PipelineWorkerRequest } from './pipeline-worker-entry.js';

/**
 * Below this much rendezvous work (shards x replicas x endpoints) a map is computed inline: 2^20
 * takes 20 to 40 ms here (docs/security.md "Work budget").
 */
export const INLINE_SHARD_WORK = 1 << 20;
/** Topology files shorter than this (64 KiB, about 500 endpoints, some 50 ms of parsing) are parsed inline. */
export const INLINE_CONFIG_BYTES = 65_536;

/** Full shard maps and topology-file parses, in a worker thread when they are big. */
export interface PipelineWorker {
  /**
   * The map computeShardMap would give (equal, and ready for incremental updates).
   * @throws KeywayError as computeShardMap (checked here, before any thread work); KeywayError INTERNAL when the worker fails.
   */
  computeShardMap(endpoints: readonly Endpoint[], policy: ShardingPolicy): Promise<ShardMap>;
  /**
   * What parseConfig gives for `text` (the topology-file contract, docs/configuration.md).
   * @throws KeywayErrors as parseConfig; KeywayError INTERNAL when the worker fails.
   */
  parseConfig(text: string, file: string): Promise<KeywayConfig>;
  /** Stops the worker thread; later calls start a new one. */
  close(): Promise<void>;
}

/** Overrides of the inline thresholds (tests send everything to the worker with 0). */
export interface PipelineWorkerOptions {
  readonly inlineShardWork?: number;
  readonly inlineConfigBytes?: number;
}

type Request = PipelineWorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A pipeline worker with one lazily started thread. */
export function pipelineWorker(opts: PipelineWorkerOptions = {}): PipelineWorker {
  const inlineShardWork = opts.inlineShardWork ?? INLINE_SHARD_WORK;
  const inlineConfigBytes = opts.inlineConfigBytes ?? INLINE_CONFIG_BYTES;
  let worker: Worker | undefined;
  let nextId = 0;
  /** Requests under way, each with the thread it was posted to. */
  const pending = new Map<number, { w: Worker; resolve: (r: PipelineWorkerReply) => void; reject: (err: Error) => void }>();
  const busy = (w: Worker): boolean => [...pending.values()].some((p) => p.w === w);
  /** Threads close() terminates: their requests fail as stopped, not as a crash. */
  const stopped = new WeakSet<Worker>();

  /**
   * Thread `w` is gone: its requests fail. Only its own: a request made while close() stopped it
   * went to a new thread, which answers it and which the next close() stops.
   */
  const failAll = (w: Worker, err: Error): void => {
    if (worker === w) worker = undefined;
    for (const [id, p] of pending) {
      if (p.w !== w) continue;
      pending.delete(id);
      p.reject(err);
    }
  };
  const start = (): Worker => {
    const w = startWorker();
    w.on('message', (reply: PipelineWorkerReply) => {
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      p?.resolve(reply);
    });
    w.on('error', (err) => failAll(w, internal(`the pipeline worker failed: ${err.message}`, err)));
    w.on('exit', (code) => {
      if (!stopped.has(w)) failAll(w, internal(`the pipeline worker exited (code ${code})`));
    });
    // Idle, it must not keep the process alive; while a request is pending it is referenced.
    w.unref();
    return w;
  };
  const ask = async (req: Request): Promise<PipelineWorkerReply> => {
    const w = (worker ??= start());
    const id = nextId++;
    const reply = await new Promise<PipelineWorkerReply>((resolve, reject) => {
      pending.set(id, { w, resolve, reject });
      w.ref();
      w.postMessage({ ...req, id } as PipelineWorkerRequest);
    }).finally(() => {
      if (!busy(w)) w.unref();
    });
    if ('error' in reply) throw internal(`the pipeline worker failed: ${reply.error}`);
    return reply;
  };

  return {
    async computeShardMap(endpoints, policy) {
      const { sorted, policy: normalized } = prepareShardMapInput(endpoints, policy);
      const work = normalized.shardCount * normalized.replicas * Math.max(sorted.length, 1);
      if (work < inlineShardWork) return buildShardMap(sorted, normalized);
      const reply = await ask({ kind: 'slots', sorted, policy: normalized });
      if (!('slots' in reply)) throw internal('the pipeline worker answered a shard-map request with something else');
      return shardMapFromSlots(sorted, normalized, reply.slots);
    },
    async parseConfig(text, file) {
      if (text.length < inlineConfigBytes) return parseConfig(text, file);
      const reply = await ask({ kind: 'config', text, file });
      if ('problems' in reply) {
        throw new KeywayErrors(reply.problems.map((p) => new KeywayError(p.code, p.message, p.location)));
      }
      if (!('config' in reply)) throw internal('the pipeline worker answered a parse request with something else');
      // The `kubernetes:` section's locator cannot cross threads; such a file lists no endpoints,
      // so parsing it again here is cheap.
      return reply.kubernetes ? parseConfig(text, file) : reply.config;
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (!w) return;
      stopped.add(w);
      await w.terminate();
      failAll(w, internal('the pipeline worker was stopped'));
    },
  };
}

/** The errors {@link internal} made. */
const workerFailures = new WeakSet<Error>();

/**
 * Did the worker itself fail (it crashed, exited, was stopped or answered nonsense), rather than the
 * input? The same input may then succeed on the next call, which starts a new thread.
 */
export function isWorkerFailure(err: unknown): boolean {
  return err instanceof Error && workerFailures.has(err);
}

/** A failure of the worker itself, not of the input (docs/errors.md `INTERNAL`). */
function internal(message: string, cause?: unknown): KeywayError {
  const err = new KeywayError('INTERNAL', message, {}, cause === undefined ? undefined : { cause });
  workerFailures.add(err);
  return err;
}

/**
 * The worker thread. Compiled, its entry is the .js beside this file; under tsx (tests) the .ts,
 * which a worker can only load once tsx's loader is registered in it.
 */
function startWorker(): Worker {
  const underTsx = import.meta.url.endsWith('.ts');
  const entry = new URL(underTsx ? './pipeline-worker-entry.ts' : './pipeline-worker-entry.js', import.meta.url);
  if (!underTsx) return new Worker(entry);
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true });
}
