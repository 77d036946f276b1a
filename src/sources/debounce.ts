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
 *
 * `trigger({ complete: true })` says the event itself ends a change (an atomic replace: the new
 * content is whole when it appears), so there is nothing to wait for: it fires on the next turn of
 * the event loop, unless the last firing was less than `holdOffMs` ago (a burst of replaces is
 * still coalesced). Any later plain trigger re-arms the hold-off as usual.
 */
export function debounce(
  fire: () => void,
  { holdOffMs, maxDelayMs }: DebounceOptions,
): { trigger(event?: { readonly complete?: boolean }): void; flush(): void; cancel(): void; pending(): boolean } {
  let timer: NodeJS.Timeout | undefined;
  let firstAt = 0;
  let firedAt = -Infinity;
  const run = (): void => {
    timer = undefined;
    firedAt = Date.now();
    fire();
  };
  return {
    trigger(event) {
      const now = Date.now();
      if (timer === undefined) firstAt = now;
      else clearTimeout(timer);
      const settled = event?.complete === true && now - firedAt >= holdOffMs;
      const wait = settled ? 0 : Math.max(0, Math.min(holdOffMs, firstAt + maxDelayMs - now));
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
