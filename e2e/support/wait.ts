/**
 * Bounded polling for the e2e tier: tests pass on convergence (a condition observed before a
 * deadline), never on sleeps alone.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  readonly intervalMs?: number;
  /** What is awaited, for the error message. */
  readonly what?: string;
}

/** Thrown when a condition is not met before its deadline; `last` is the last value seen. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    message: string,
    readonly last: unknown,
  ) {
    super(message);
  }
}

/**
 * Calls `probe` until `accept(value)` holds and returns that value. A probe that throws counts as
 * "not yet" (a server still starting); its last error is reported on timeout.
 */
export async function waitUntil<T>(
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      last = value;
      lastError = undefined;
      if (accept(value)) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const seen = lastError !== undefined ? `last error: ${(lastError as Error).message ?? String(lastError)}` : `last value: ${show(last)}`;
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'} (${seen})`, last);
    }
    await sleep(intervalMs);
  }
}

function show(value: unknown): string {
  if (value instanceof Map) return JSON.stringify(Object.fromEntries(value));
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
}
