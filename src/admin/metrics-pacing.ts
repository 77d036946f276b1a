/**
 * The bound on `GET /metrics` (docs/security.md "REST requests"). The route needs no token, and one
 * render at 5000 endpoints (about 1.6 MB) takes about 45 to 65 ms of the event loop that also serves
 * xDS: 20 clients requesting it in a loop took the whole loop. Every answer is still rendered after
 * its request arrived, so a reader that reads a counter, acts and reads again always sees its action;
 * a flood is made to wait instead of being served an older body:
 *
 * - one render at a time; requests that arrive while one is under way (or paced, below) wait for the
 *   next render and share it, which starts after they all arrived;
 * - renders take at most about a tenth of the event loop over time, past a burst: when the budget
 *   is spent, the next render waits (at most {@link METRICS_MAX_PACE_MS});
 * - at most {@link METRICS_MAX_WAITING} requests wait for the next render; past that, a 503.
 */
import { KeywayError } from '../core/errors.js';
import { envLimit } from '../core/env-limit.js';

/**
 * Renders may take one ms of event loop per this many ms of time (a tenth), as `/readyz` spends
 * at most about a tenth on the proxies' reasons.
 */
export const METRICS_RENDER_RATIO = 10;
/**
 * Rendering time, in ms, that scrapes may spend at once beyond the share (a token bucket's size):
 * a few scrapes close together (two Prometheus servers, a check of a counter before and after an
 * action) each start at once; only a sustained flood waits.
 */
export const METRICS_RENDER_BURST_MS = 100;
/**
 * The longest a render waits for the budget, in ms: under a flood a scrape is answered within this
 * plus the render in flight and its own, far under Prometheus's default scrape timeout (10 s). At
 * 5000 endpoints a render waits about 450 to 650 ms; only a machine over 1.5 times slower reaches
 * the ceiling, and then a flood may take somewhat more than a tenth of the loop.
 */
export const METRICS_MAX_PACE_MS = 1_000;
/**
 * Requests that may wait for the next render. A waiting request costs little (its connection is
 * open anyway), but each is sent the 1.6 MB body, and that write is on the event loop too. 256 is
 * far above what scrapers need (a Prometheus pair, a person with curl).
 */
export const METRICS_MAX_WAITING = 256;
/** The variable `keyway serve` reads METRICS_MAX_WAITING's override from. */
export const METRICS_MAX_WAITING_ENV = 'KEYWAY_ADMIN_METRICS_MAX_WAITING';

/**
 * METRICS_MAX_WAITING, or its override from `env` (a positive integer).
 * @throws KeywayError BAD_ARGUMENT naming the variable
 */
export function metricsMaxWaitingFromEnv(env: NodeJS.ProcessEnv): number {
  return envLimit(env, METRICS_MAX_WAITING_ENV, METRICS_MAX_WAITING);
}

/** A request refused because {@link METRICS_MAX_WAITING} requests already wait: answer 503. */
export class MetricsBusyError extends KeywayError {
  constructor(
    readonly waiting: number,
    /** Seconds after which a new request is likely served (the `Retry-After` header). */
    readonly retryAfterS: number,
  ) {
    super(
      'LIMIT_EXCEEDED',
      `GET /metrics: ${waiting} requests already wait for the next render, the most that may (${METRICS_MAX_WAITING_ENV}); retry after ${retryAfterS} s`,
    );
  }
}

export interface PacedRenderOptions {
  /** Requests that may wait for the next render (default METRICS_MAX_WAITING). */
  readonly maxWaiting?: number;
  /** The clock, in ms (default `performance.now`). */
  readonly now?: () => number;
  /** Waits `ms` (default a timer; tests pass their own). */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface Queued {
  waiting: number;
  promise: Promise<Buffer>;
}

const ignore = (): void => {};

/**
 * `render`, one at a time and paced (see the file's comment). The returned function gives a body
 * rendered wholly after it was called, or throws {@link MetricsBusyError} at once when the queue is
 * full. A failed render fails the requests that share it; the next request renders again.
 */
export function pacedRender(render: () => Promise<string>, opts: PacedRenderOptions = {}): () => Promise<Buffer> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxWaiting = opts.maxWaiting ?? METRICS_MAX_WAITING;
  let budget = METRICS_RENDER_BURST_MS;
  let budgetAt = now();
  let lastRenderMs = 0;
  let running: Promise<Buffer> | undefined;
  let queued: Queued | undefined;

  const refill = (): void => {
    const t = now();
    budget = Math.min(METRICS_RENDER_BURST_MS, budget + (t - budgetAt) / METRICS_RENDER_RATIO);
    budgetAt = t;
  };
  /** How long the next render must wait for the budget, in ms. */
  const paceMs = (): number => {
    refill();
    return budget >= 0 ? 0 : Math.min(METRICS_MAX_PACE_MS, -budget * METRICS_RENDER_RATIO);
  };
  const start = (): Promise<Buffer> => {
    const t0 = now();
    // Deferred a tick, so even a render that throws at once settles after `running` is set.
    const rendering = Promise.resolve()
      .then(render)
      .then((text) => Buffer.from(text, 'utf8'));
    running = rendering;
    const settle = (): void => {
      if (running === rendering) running = undefined;
      refill();
      lastRenderMs = now() - t0;
      budget -= lastRenderMs; // a failed render costs too
    };
    rendering.then(settle, settle);
    return rendering;
  };
  const enqueue = (): Promise<Buffer> => {
    const q: Queued = { waiting: 1, promise: Promise.resolve(Buffer.alloc(0)) };
    queued = q;
    q.promise = (async () => {
      // At least one await before `queued` is cleared: every request joining q arrives before q's render starts.
      await (running ?? Promise.resolve()).then(ignore, ignore);
      const ms = paceMs();
      if (ms > 0) await sleep(ms);
      queued = undefined;
      return start();
    })();
    return q.promise;
  };

  return () => {
    if (queued) {
      if (queued.waiting >= maxWaiting) {
        throw new MetricsBusyError(queued.waiting, Math.max(1, Math.ceil((METRICS_MAX_PACE_MS + 2 * lastRenderMs) / 1000)));
      }
      queued.waiting += 1;
      return queued.promise;
    }
    if (!running && paceMs() === 0) return start();
    return enqueue();
  };
}

/** Refused requests are logged at most once per this many ms (a flood is refused thousands of times). */
export const METRICS_REFUSAL_LOG_INTERVAL_MS = 10_000;

/** The part of a logger the refusal log writes to (pino's and fastify's loggers have it). */
export interface WarnLog {
  warn(fields: object, message: string): void;
}

/**
 * A `warn` line for the first refusal, then at most one per `intervalMs`, with the refusals since
 * the last line. Returns the function to call per refusal.
 */
export function refusalLog(log: WarnLog, intervalMs = METRICS_REFUSAL_LOG_INTERVAL_MS, now: () => number = () => performance.now()): (err: MetricsBusyError) => void {
  let loggedAt = -Infinity;
  let unlogged = 0;
  return (err) => {
    unlogged += 1;
    const t = now();
    if (t - loggedAt < intervalMs) return;
    log.warn(
      { limit: METRICS_MAX_WAITING_ENV, waiting: err.waiting, refused: unlogged },
      `${err.message} (${unlogged} refused since the last such line; logged at most once per ${intervalMs / 1000} s)`,
    );
    loggedAt = t;
    unlogged = 0;
  };
}
