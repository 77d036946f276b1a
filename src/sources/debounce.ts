/**
 * Burst coalescing of the sources (docs/architecture.md "One data path": the one debounce between
 * a source event and a push, a hold-off plus a maximum delay).
 */

export interface DebounceOptions {
  /** Quiet time after the last event before firing. */
  readonly holdOffMs: number;
  /** Upper bound on the delay from the first event of a burst, so a steady stream still fires. */
  readonly maxDelayMs: number;
}

/**
 * Returns a trigger that schedules `fire` once per burst: `holdOffMs` after the last trigger, but
 * never later than `maxDelayMs` after the first. `flush()` fires a pending burst now; `cancel()` drops it.
 */
export function debounce(
  fire: () => void,
  { holdOffMs, maxDelayMs }: DebounceOptions,
): { trigger(): void; flush(): void; cancel(): void; pending(): boolean } {
  let timer: NodeJS.Timeout | undefined;
  let firstAt = 0;
  const run = (): void => {
    timer = undefined;
    fire();
  };
  return {
    trigger() {
      const now = Date.now();
      if (timer === undefined) firstAt = now;
      else clearTimeout(timer);
      const wait = Math.max(0, Math.min(holdOffMs, firstAt + maxDelayMs - now));
      timer = setTimeout(run, wait);
    },
    flush() {
      if (timer === undefined) return;
      clearTimeout(timer);
      run();
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
    pending() {
      return timer !== undefined;
    },
  };
}
