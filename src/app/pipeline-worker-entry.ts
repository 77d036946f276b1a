/**
 * The worker thread of pipeline-worker.ts (docs/security.md "Work budget"): the two costly steps
 * of a change, off the event loop. It computes the owner slots of a full shard map and transfers
 * them back, and it parses and validates a big topology file. One request at a time, in order.
 */
import { parentPort } from 'node:worker_threads';
import { parseConfig } from '../config/index.js';
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
port.on('message', (req: PipelineWorkerRequest) => {
  try {
    if (req.kind === 'slots') {
      const slots = computeOwnerSlots(req.sorted, req.policy);
      port.postMessage({ id: req.id, slots } satisfies PipelineWorkerReply, ownerSlotBuffers(slots));
      return;
    }
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
});

/** The message without the location prefix KeywayError adds, so the main thread rebuilds the same error. */
function unlocated(e: KeywayError): string {
  return e.message.slice(KeywayError.format('', e.location).length);
}
