/**
 * The client of the hit-rate benchmark: keep-alive HTTP/1.1 requests through Envoy's listener,
 * each `GET /kv/<key>` with only `x-cache-key` (Envoy picks the node), keys from a Zipf sampler.
 * Every answer's `x-cache-tier` (l1, l2, l3: set by the cache node that served it) is recorded in
 * completion order, so windows of N requests give the L1 hit ratio over time exactly.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyOfRank } from './zipf.js';

/** What one request got: the tier that answered, or an error (non-200, refused, reset). */
export const Outcome = { L1: 0, L2: 1, L3: 2, Error: 3 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface Mark {
  readonly label: string;
  /** Requests completed when the mark was set. */
  readonly index: number;
  /** ms since the load started. */
  readonly atMs: number;
}

/** Where keys come from: a rank per request (ZipfSampler, or a mix of it with a burst). */
export interface RankSampler {
  next(): number;
}

/** One completed request, in completion order (the same order as `Load.outcomes`). */
export interface Observed {
  readonly outcome: Outcome;
  /** The answering node's `x-served-by`; undefined on error. */
  readonly servedBy: string | undefined;
  readonly latencyMs: number;
  /** Which draw of the sampler this request's key was (0 = the first key the load drew). */
  readonly seq: number;
}

export interface LoadOptions {
  readonly port: number;
  readonly sampler: RankSampler;
  /** Called for each completed request just before its outcome is recorded. */
  readonly observe?: (o: Observed) => void;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Bound on one request. */
  readonly timeoutMs?: number;
  /** The key name of a rank (default keyOfRank). */
  readonly keyOf?: (rank: number) => string;
}

export class Load {
  readonly outcomes: Outcome[] = [];
  readonly marks: Mark[] = [];
  readonly #opts: LoadOptions;
  readonly #agent: http.Agent;
  readonly #started = performance.now();
  /** Requests per second while limited; Infinity runs flat out (warm-up). */
  #rate = Infinity;
  #nextSlot = 0;
  /** A rate that takes over once `at` keys have been drawn (setRateFrom). */
  #pendingRate: { readonly at: number; readonly rate: number } | undefined;
  #drawn = 0;
  #running = false;
  #workers: Promise<void>[] = [];
  #errors = new Map<string, number>();

  constructor(opts: LoadOptions) {
    this.#opts = opts;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  }

  get completed(): number {
    return this.outcomes.length;
  }

  /** ms since the load started. */
  now(): number {
    return performance.now() - this.#started;
  }

  /** Errors by cause (HTTP status or error code), for the report. */
  errors(): ReadonlyMap<string, number> {
    return this.#errors;
  }

  mark(label: string): Mark {
    const m = { label, index: this.completed, atMs: this.now() };
    this.marks.push(m);
    return m;
  }

  /** Keys drawn from the sampler so far (sent or about to be). */
  get drawn(): number {
    return this.#drawn;
  }

  /** Requests per second from now on (Infinity: as fast as the machine goes). */
  setRate(rate: number): void {
    this.#pendingRate = undefined;
    this.#rate = rate;
    this.#nextSlot = performance.now();
  }

  /**
   * Switches to `rate` once `at` keys have been drawn: a warm-up of an exact number of requests
   * followed by the measured rate, so every variant is measured on the same draws of a seeded
   * sampler rather than on whatever a timed warm-up left.
   */
  setRateFrom(at: number, rate: number): void {
    this.#pendingRate = { at, rate };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#workers = Array.from({ length: this.#opts.concurrency }, () => this.#worker());
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
    this.#agent.destroy();
  }

  /** Resolves once `n` more requests have completed. */
  async waitFor(n: number): Promise<void> {
    const target = this.completed + n;
    while (this.completed < target) {
      if (!this.#running) throw new Error('the load stopped');
      await sleep(20);
    }
  }

  async #slot(): Promise<void> {
    if (this.#pendingRate && this.#drawn >= this.#pendingRate.at) {
      this.#rate = this.#pendingRate.rate;
      this.#nextSlot = performance.now();
      this.#pendingRate = undefined;
    }
    if (this.#rate === Infinity) return;
    const now = performance.now();
    // No catching up after a stall: a late slot starts the schedule again from now.
    if (this.#nextSlot < now - 50) this.#nextSlot = now;
    const at = this.#nextSlot;
    this.#nextSlot += 1000 / this.#rate;
    if (at > now) await sleep(at - now);
  }

  async #worker(): Promise<void> {
    while (this.#running) {
      await this.#slot();
      if (!this.#running) return;
      const seq = this.#drawn++;
      const key = (this.#opts.keyOf ?? keyOfRank)(this.#opts.sampler.next());
      const sent = performance.now();
      const { outcome, servedBy } = await this.#request(key);
      this.#opts.observe?.({ outcome, servedBy, latencyMs: performance.now() - sent, seq });
      this.outcomes.push(outcome);
    }
  }

  #request(key: string): Promise<{ outcome: Outcome; servedBy: string | undefined }> {
    return new Promise((done) => {
      const resolve = (outcome: Outcome, servedBy?: string): void => done({ outcome, servedBy });
      const fail = (cause: string): void => {
        this.#errors.set(cause, (this.#errors.get(cause) ?? 0) + 1);
        resolve(Outcome.Error);
      };
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.#opts.port,
          path: `/kv/${encodeURIComponent(key)}`,
          agent: this.#agent,
          headers: { 'x-cache-key': key },
          timeout: this.#opts.timeoutMs ?? 5_000,
        },
        (res) => {
          // A failed answer's body names its cause (Envoy's local replies: "no healthy upstream", ...).
          let body = '';
          if (res.statusCode === 200) res.resume();
          else res.on('data', (chunk: Buffer) => void (body.length < 80 && (body += chunk.toString('utf8'))));
          res.on('error', () => fail('response error'));
          res.on('end', () => {
            if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}${body ? `: ${body.slice(0, 80).trim()}` : ''}`);
            const tier = res.headers['x-cache-tier'];
            const by = res.headers['x-served-by'];
            resolve(tier === 'l1' ? Outcome.L1 : tier === 'l2' ? Outcome.L2 : tier === 'l3' ? Outcome.L3 : Outcome.Error, typeof by === 'string' ? by : undefined);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      req.end();
    });
  }
}
