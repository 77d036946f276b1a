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
