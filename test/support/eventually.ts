/**
 * The one polling helper of the test suite (test/ and e2e/): tests pass on convergence, a condition
 * observed before a bounded deadline, never on a sleep alone.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** How long to wait, and how often to look. */
export interface PollTiming {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between attempts (default 20 ms; e2e probes over HTTP pass more). */
  readonly intervalMs?: number;
}

export interface EventuallyOptions<T> extends PollTiming {
  /** When the value is good enough (default: truthy). */
  readonly accept?: (value: T) => boolean;
  /** More state for the timeout message (e.g. what a fake server has seen). */
  readonly describe?: () => unknown;
}

/** Thrown when the awaited condition does not hold before the deadline; `last` is the last value seen. */
export class EventuallyTimeoutError extends Error {
  override readonly name = 'EventuallyTimeoutError';
  constructor(
    message: string,
    readonly last: unknown,
  ) {
    super(message);
  }
}

/**
 * Calls `probe` until its value is accepted (truthy by default) and returns that value. A probe
 * that throws counts as "not yet" (a server still starting). On timeout it throws with `what`,
 * the last value or the last error, and `describe()` if given. The probe runs at least once,
 * and once more after the deadline has passed, so a slow machine never fails a condition that
 * holds by then.
 */
export async function eventually<T>(what: string, probe: () => T | Promise<T>, opts?: EventuallyOptions<T> & { accept?: undefined }): Promise<NonNullable<T>>;
export async function eventually<T>(what: string, probe: () => T | Promise<T>, opts: EventuallyOptions<T> & { accept: (value: T) => boolean }): Promise<T>;
export async function eventually<T>(what: string, probe: () => T | Promise<T>, opts: EventuallyOptions<T> = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 20;
  const accept = opts.accept ?? ((v: T) => Boolean(v));
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    const expired = Date.now() >= deadline;
    try {
      const value = await probe();
      last = value;
      lastError = undefined;
      if (accept(value)) return value;
    } catch (err) {
      lastError = err;
    }
    if (expired) {
      const seen = lastError !== undefined ? `last error: ${(lastError as Error)?.message ?? String(lastError)}` : `last value: ${show(last)}`;
      const extra = opts.describe ? `; state: ${show(opts.describe())}` : '';
      throw new EventuallyTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})${extra}`, last);
    }
    await sleep(Math.max(0, Math.min(intervalMs, deadline - Date.now())));
  }
}

function show(value: unknown): string {
  if (value instanceof Map) return show(Object.fromEntries(value));
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
}
