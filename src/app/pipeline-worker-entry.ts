/**
 * The worker thread of pipeline-worker.ts (docs/security.md "Work budget"): the two costly steps
 * of a change, off the event loop. It computes the owner slots of a full shard map and transfers
 * them back, and it parses and validates a big topology file. One request at a time, in order.
 */
import { parentPort } from 'node:worker_threads';
import type { Endpoint } from '../core/endpoint.js';
import { KeywayError, KeywayErrors, type ErrorLocation, type KeywayErrorCode } from '../core/errors.js';
import type { ShardingPolicy } from '../core/policy.js';
import { computeOwnerSlots, ownerSlotBuffers, type OwnerSlots } from '../sharding/index.js';
import type { KeywayConfig } from '../config/index.js';

/** A request: endpoints already checked and sorted by prepareShardMapInput, or a file's text. */
export type PipelineWorkerRequest =
  | { readonly id: number; readonly kind: 'slots'; readonly sorted: readonly Endpoint[]; readonly policy: ShardingPolicy }
  | { readonly id: number; readonly kind: 'config'; readonly text: string; readonly file: string };

/** A KeywayError as it crosses threads. */
export interface ErrorRecord {
  readonly code: KeywayErrorCode;
  readonly message: string;
  readonly location: ErrorLocation;
}

/**
 * The answer to request `id`: the slots; the config (without the `kubernetes:` section's locator,
 * which cannot cross threads: `kubernetes` says one is there); the topology file's problems; or
 * another failure's message.
 */
export type PipelineWorkerReply =
  | { readonly id: number; readonly slots: OwnerSlots }
  | { readonly id: number; readonly config: Omit<KeywayConfig, 'kubernetes'>; readonly kubernetes: boolean }
  | { readonly id: number; readonly problems: readonly ErrorRecord[] }
  | { readonly id: number; readonly error: string };

const port = parentPort;
if (!port) throw new Error('pipeline-worker-entry runs in a worker thread');

/**
 * The topology-file parser (both YAML libraries, validation), loaded with the first file to parse:
 * a worker started for a big shard map alone (a small file, many shards) never needs it, and it
 * would hold some 5 MB of the idle process for good.
 */
let configModule: Promise<typeof import('../config/index.js')> | undefined;
/** Requests are answered one at a time, in order, though a parse may first wait for its module. */
let queue: Promise<void> = Promise.resolve();

const answer = async (req: PipelineWorkerRequest): Promise<void> => {
  try {
    if (req.kind === 'slots') {
      const slots = computeOwnerSlots(req.sorted, req.policy);
      port.postMessage({ id: req.id, slots } satisfies PipelineWorkerReply, ownerSlotBuffers(slots));
      return;
    }
    const { parseConfig } = await (configModule ??= import('../config/index.js'));
    const { kubernetes, ...config } = parseConfig(req.text, req.file);
    port.postMessage({ id: req.id, config, kubernetes: kubernetes !== undefined } satisfies PipelineWorkerReply);
  } catch (err) {
    const problems = err instanceof KeywayErrors ? err.errors : err instanceof KeywayError ? [err] : undefined;
    if (problems) {
      const records = problems.map((e) => ({ code: e.code, message: unlocated(e), location: e.location }));
      port.postMessage({ id: req.id, problems: records } satisfies PipelineWorkerReply);
    } else {
      port.postMessage({ id: req.id, error: (err as Error).message } satisfies PipelineWorkerReply);
    }
  }
};
port.on('message', (req: PipelineWorkerRequest) => {
  // What answer does not handle (a reply that cannot be sent) ends the thread, as a throw from a
  // synchronous handler did: the caller fails the request and starts a new thread.
  queue = queue.then(() => answer(req)).catch((err: unknown) => void setImmediate(() => {
    throw err;
  }));
});

/** The message without the location prefix KeywayError adds, so the main thread rebuilds the same error. */
function unlocated(e: KeywayError): string {
  return e.message.slice(KeywayError.format('', e.location).length);
}
