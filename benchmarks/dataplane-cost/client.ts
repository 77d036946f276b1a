/**
 * The benchmark's client: keep-alive HTTP/1.1 `GET /kv/<key>` through Envoy's listener, keys from
 * a Zipf sampler. `x-cache-key` carries the key (Envoy hashes it: keyway's Lua filter, or
 * ring_hash's hash policy); with `sendShard` the client computes the shard itself (hash contract 1)
 * and sends `x-cache-shard`, as a client of keyway's without the Lua filter does.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { keyOfRank, type ZipfSampler } from '../hitrate/zipf.js';

export interface Burst {
  readonly completed: number;
  readonly errors: number;
  /** Answers served from the node's L1. */
  readonly l1: number;
  /** Answers that needed the store fetch (the node's L3, `--l3-delay-ms`). */
  readonly l3: number;
  readonly seconds: number;
}

/** How a variant's client names a key's shard (run.ts's and paired.ts's variants carry these too). */
export interface ShardNaming {
  /** The client computes the shard (hash contract 1) and sends `x-cache-shard` instead of `x-cache-key`. */
  readonly sendShard?: boolean;
  /** With `sendShard`: the value sent for a key's shard (default the shard itself). */
  readonly shardAlias?: (shard: number) => number;
  /** With `sendShard`: the shard also names the request's authority (`Host: s<shard>`), for a route table of one virtual host per shard. */
  readonly shardInHost?: boolean;
}

/** The naming fields of `v` alone (a variant holds more, such as its own `port`). */
export function shardNaming(v: ShardNaming): ShardNaming {
  return { sendShard: v.sendShard === true, ...(v.shardAlias ? { shardAlias: v.shardAlias } : {}), shardInHost: v.shardInHost === true };
}

export interface ClientOptions extends ShardNaming {
  readonly port: number;
  readonly sampler: ZipfSampler;
  readonly shardCount: number;
}

export class CacheClient {
  readonly #opts: ClientOptions;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(opts: ClientOptions) {
    this.#opts = opts;
  }

  close(): void {
    this.#agent.destroy();
  }

  /**
   * `concurrency` workers send back to back until `requests` completed or `seconds` passed; with
   * `rate`, the requests are paced to that many per second in all (no catching up after a stall).
   */
  async run(opts: { concurrency: number; requests?: number; seconds?: number; rate?: number }): Promise<Burst> {
    const started = performance.now();
    const deadline = opts.seconds === undefined ? Infinity : started + opts.seconds * 1000;
    const limit = opts.requests ?? Infinity;
    let issued = 0;
    let completed = 0;
    let errors = 0;
    let l1 = 0;
    let l3 = 0;
    let nextSlot = started;
    const worker = async (): Promise<void> => {
      while (issued < limit && performance.now() < deadline) {
        issued++;
        if (opts.rate !== undefined) {
          const now = performance.now();
          if (nextSlot < now - 50) nextSlot = now;
          const at = nextSlot;
          nextSlot += 1000 / opts.rate;
          if (at > now) await sleep(at - now);
        }
        const tier = await this.#get(keyOfRank(this.#opts.sampler.next()));
        completed++;
        if (tier === undefined) errors++;
        else if (tier === 'l1') l1++;
        else if (tier === 'l3') l3++;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    return { completed, errors, l1, l3, seconds: (performance.now() - started) / 1000 };
  }

  /** One request; the `x-cache-tier` that answered, or undefined on an error. */
  #get(key: string): Promise<string | undefined> {
    const shard = (): number => {
      const s = keyToShard(key, this.#opts.shardCount);
      return this.#opts.shardAlias ? this.#opts.shardAlias(s) : s;
    };
    const headers: Record<string, string> = this.#opts.sendShard ? { 'x-cache-shard': String(shard()) } : { 'x-cache-key': key };
    if (this.#opts.sendShard && this.#opts.shardInHost) headers.host = `s${headers['x-cache-shard']}`;
    return new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: this.#opts.port, path: `/kv/${encodeURIComponent(key)}`, agent: this.#agent, headers, timeout: 5_000 }, (res) => {
        res.resume();
        res.on('error', () => resolve(undefined));
        res.on('end', () => {
          const tier = res.headers['x-cache-tier'];
          resolve(res.statusCode === 200 && typeof tier === 'string' ? tier : undefined);
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(undefined));
      req.end();
    });
  }
}
