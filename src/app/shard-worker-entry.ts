/**
 * The worker thread of shard-worker.ts: computes the owner slots of a full shard map
 * (docs/security.md "Work budget") and transfers them back. One request at a time, in order.
 */
import { parentPort } from 'node:worker_threads';
import type { Endpoint } from '../core/endpoint.js';
import type { ShardingPolicy } from '../core/policy.js';
import { computeOwnerSlots, ownerSlotBuffers } from '../sharding/index.js';

/** A request: endpoints already checked and sorted by prepareShardMapInput. */
export interface ShardWorkerRequest {
  readonly id: number;
  readonly sorted: readonly Endpoint[];
  readonly policy: ShardingPolicy;
}

/** The answer to request `id`: the slots, or the error's message. */
export type ShardWorkerReply =
  | { readonly id: number; readonly slots: ReturnType<typeof computeOwnerSlots> }
  | { readonly id: number; readonly error: string };

const port = parentPort;
if (!port) throw new Error('shard-worker-entry runs in a worker thread');
port.on('message', (req: ShardWorkerRequest) => {
  try {
    const slots = computeOwnerSlots(req.sorted, req.policy);
    port.postMessage({ id: req.id, slots } satisfies ShardWorkerReply, ownerSlotBuffers(slots));
  } catch (err) {
    port.postMessage({ id: req.id, error: (err as Error).message } satisfies ShardWorkerReply);
  }
});
