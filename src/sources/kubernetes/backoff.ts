/**
 * Retry delays after Kubernetes API errors: bounded exponential backoff with jitter, so many
 * keyway replicas that lost the API server together do not come back in lockstep.
 */

export interface BackoffOptions {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** Upper bound on any delay. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/**
 * Delay before retry number `attempt` (1-based): `initialMs × 2^(attempt-1)` capped at `maxMs`,
 * then drawn uniformly from its upper half ("equal jitter"), so it is never below half the step.
 */
export function backoffDelay(attempt: number, { initialMs, maxMs }: BackoffOptions, random: () => number = Math.random): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * How long the API server asked to be left alone, in ms: the `Retry-After` of an HTTP 429 (API
 * Priority and Fairness shedding load) or 5xx answer, in seconds or as an HTTP date, as client-go
 * reads it; else a Status's `details.retryAfterSeconds`. Undefined when the answer gave none (or
 * none readable), and for a watch refused so: the client library keeps only its status code.
 */
export function retryAfterMs(err: unknown, now: number = Date.now()): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; headers?: unknown; body?: unknown };
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || (status !== 429 && status < 500)) return undefined;
  const headers = e.headers && typeof e.headers === 'object' ? (e.headers as Record<string, unknown>) : {};
  const header = headers['retry-after'];
  if (typeof header === 'string') {
    const value = header.trim();
    if (/^\d+$/.test(value)) return Number(value) * 1000;
    // An HTTP date starts with the day's name (`Wed, 21 Oct 2015 07:28:00 GMT`); Date.parse alone
    // would also read `-1` as a year.
    const date = /^[A-Za-z]{3}/.test(value) ? Date.parse(value) : Number.NaN;
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const seconds = statusDetails(e.body)?.retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function statusDetails(body: unknown): { retryAfterSeconds?: unknown } | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const details = parsed && typeof parsed === 'object' ? (parsed as { details?: unknown }).details : undefined;
  return details && typeof details === 'object' ? (details as { retryAfterSeconds?: unknown }) : undefined;
}

/**
 * Delay before retry number `attempt` after `err`: the backoff delay, or the server's Retry-After
 * when longer, capped at `maxMs` (a Retry-After of an hour would leave the source stale that long;
 * the staleness contract retries at least every `maxMs`).
 */
export function retryDelay(attempt: number, options: BackoffOptions, err: unknown, now: number = Date.now(), random: () => number = Math.random): number {
  const backoff = backoffDelay(attempt, options, random);
  const asked = retryAfterMs(err, now);
  return asked === undefined ? backoff : Math.min(options.maxMs, Math.max(backoff, asked));
}
