/**
 * Overrides of keyway's built-in limits from the environment (the `KEYWAY_*` variables of
 * docs/security.md "Limits"), read one way everywhere.
 */
import { KeywayError } from './errors.js';
import { MAX_TIMER_MS } from './limits.js';

export interface EnvLimitOptions {
  /** The least value: 1 (default) or 0 (0 turns the thing off). */
  readonly min?: 0 | 1;
  /** A duration in ms: at most MAX_TIMER_MS, past which a timer would fire after 1 ms. */
  readonly ms?: boolean;
}

/**
 * The integer in `env[name]`, or `fallback` when it is unset or empty. A malformed value is an
 * error rather than silently the default: a limit left at its default would surprise the operator
 * who set it, and a duration past MAX_TIMER_MS would act at once (a write-stall limit of
 * 3000000000 meant as "never" cut every answer with a byte pending).
 * @throws KeywayError BAD_ARGUMENT naming the variable (not CONFIG_INVALID: that would read as a bad topology file)
 */
export function envLimit(env: NodeJS.ProcessEnv, name: string, fallback: number, opts: EnvLimitOptions = {}): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const min = opts.min ?? 1;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    const what = `${min === 0 ? 'a non-negative' : 'a positive'} integer${opts.ms ? ' of ms' : ''}`;
    throw new KeywayError('BAD_ARGUMENT', `${name} must be ${what}, got ${JSON.stringify(raw)}`);
  }
  if (opts.ms && n > MAX_TIMER_MS) {
    throw new KeywayError('BAD_ARGUMENT', `${name} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${JSON.stringify(raw)}`);
  }
  return n;
}
