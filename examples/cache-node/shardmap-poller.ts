/**
 * Polls keyway's `GET /v1/shardmap` and keeps the last good ownership: when keyway is unreachable
 * the node keeps serving with what it last knew, as keyway's own sources do. The REST ownership
 * source: the fallback when the node is not given keyway's xDS address (`--keyway-url` only).
 * Each poll is conditional (If-None-Match with the last ETag): while the map is unchanged keyway
 * answers 304 with no body, so an idle node neither downloads nor parses the whole map.
 */
import { getJsonIfChanged } from './get-json.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OwnershipSource } from './ownership-source.js';
import { ownershipFromShardMap, servedShards, type NodeOwnership } from './ownership.js';

export interface ShardMapPollerOptions {
  /** keyway's REST base URL, e.g. `http://127.0.0.1:8080`. */
  readonly keywayUrl: string;
  readonly nodeId: string;
  readonly intervalMs: number;
  /** Bound on one request (default 2 s). */
  readonly timeoutMs?: number;
  /** A poll failed (keyway down, a bad body); the last ownership stays in force. */
  readonly onError?: (err: Error) => void;
  /** The shard-map version changed. */
  readonly onChange?: (ownership: NodeOwnership) => void;
}

/** How often `waitForHandoff` reads the shard map while it waits. */
const HANDOFF_POLL_MS = 250;

export class ShardMapPoller implements OwnershipSource {
  readonly kind = 'rest';
  readonly #opts: ShardMapPollerOptions;
  #ownership: NodeOwnership | undefined;
  /** The ETag of the map `#ownership` came from. */
  #etag: string | undefined;
  #lastSuccess: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The poll under way: concurrent callers share it. */
  #inFlight: Promise<boolean> | undefined;
  /** The handoff watch every `waitForHandoff` shares, and how many wait on it. */
  #handoff: Promise<boolean> | undefined;
  #waiters = 0;
  /** Aborted by `close()`: pending handoff waits answer false and their timers go. */
  readonly #closing = new AbortController();

  constructor(opts: ShardMapPollerOptions) {
    this.#opts = opts;
  }

  /** The last ownership read, or undefined before the first successful poll. */
  current(): NodeOwnership | undefined {
    return this.#ownership;
  }

  /** Epoch ms of the last successful poll. */
  lastSuccess(): number | undefined {
    return this.#lastSuccess;
  }

  /** Polls once now, then every interval, until `stop()`. */
  start(): void {
    this.#stopped = false;
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  lastUpdate(): number | undefined {
    return this.#lastSuccess;
  }

  /** Stops polling; a pending `waitForHandoff` resolves false (as the agent's close does). */
  close(): Promise<void> {
    this.stop();
    this.#closing.abort();
    return Promise.resolve();
  }

  refresh(): Promise<boolean> {
    return this.pollOnce();
  }

  /**
   * Reads the shard map until one, read now, routes no shard to this node (the routed map of
   * docs/api: a shard in transition still lists its previous owners), or until the timeout.
   */
  async waitForHandoff(timeoutMs: number): Promise<boolean> {
    if (this.#closing.signal.aborted) return false;
    const deadline = Date.now() + timeoutMs;
    if ((await this.pollOnce()) && servedShards(this.#ownership) === 0) return true;
    const left = deadline - Date.now();
    if (left <= 0 || this.#closing.signal.aborted) return false;
    // One watch for every waiter: each `/v1/drain` (an unauthenticated GET, up to 10 minutes) used
    // to poll keyway four times a second on its own, so N of them cost keyway 4N requests a second.
    this.#waiters++;
    this.#handoff ??= this.#watchHandoff();
    // Its timer goes on close too: a closed node's wait (up to 10 minutes) kept its process alive.
    const timer = new AbortController();
    const onClose = (): void => timer.abort();
    this.#closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      return await Promise.race([this.#handoff, sleep(left, false, { signal: timer.signal }).catch(() => false)]);
    } finally {
      this.#closing.signal.removeEventListener('abort', onClose);
      timer.abort();
      this.#waiters--;
    }
  }

  /** Reads the shard map every HANDOFF_POLL_MS while anyone waits: true once a read routes no shard here. */
  async #watchHandoff(): Promise<boolean> {
    try {
      for (;;) {
        await sleep(HANDOFF_POLL_MS, undefined, { signal: this.#closing.signal }).catch(() => undefined);
        // A closed node polls keyway no more.
        if (this.#waiters === 0 || this.#closing.signal.aborted) return false;
        if ((await this.pollOnce()) && servedShards(this.#ownership) === 0) return true;
      }
    } finally {
      this.#handoff = undefined;
    }
  }

  /** One poll (the one under way, if any); resolves true when it succeeded. Never rejects. */
  pollOnce(): Promise<boolean> {
    this.#inFlight ??= this.#poll().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #poll(): Promise<boolean> {
    try {
      const url = new URL('/v1/shardmap', this.#opts.keywayUrl).toString();
      const answer = await getJsonIfChanged(url, this.#opts.timeoutMs ?? 2_000, this.#ownership ? this.#etag : undefined);
      if (answer.notModified) {
        this.#lastSuccess = Date.now();
        return true;
      }
      const next = ownershipFromShardMap(answer.body, this.#opts.nodeId);
      const changed = next.version !== this.#ownership?.version;
      this.#ownership = next;
      this.#etag = answer.etag;
      this.#lastSuccess = Date.now();
      if (changed) this.#opts.onChange?.(next);
      return true;
    } catch (err) {
      this.#opts.onError?.(err as Error);
      return false;
    }
  }

  async #loop(): Promise<void> {
    if (this.#stopped) return;
    await this.pollOnce();
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#loop(), this.#opts.intervalMs);
    this.#timer.unref();
  }
}
