/** A StartClock whose time moves only when the test advances it (start()'s timeouts without waiting). */
import type { StartClock } from '../../../src/sources/kubernetes/index.js';

/** Time moves only on advance(); due timers fire in order. */
export class FakeClock implements StartClock {
  #now = 1_000_000;
  #timers: { due: number; fn: () => void; id: number }[] = [];
  #ids = 0;
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#ids;
    this.#timers.push({ due: this.#now + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = this.#timers.filter((t) => t.due <= until).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.due;
      next.fn();
    }
    this.#now = until;
  }
}
