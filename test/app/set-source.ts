/** A Kubernetes source stand-in the runner tests set endpoints on, and pods to set. */
import type { Endpoint } from '../../src/core/endpoint.js';
import type { Source, SourceStatus } from '../../src/sources/source.js';

export class SetSource implements Source {
  endpoints: readonly Endpoint[] = [];
  readonly #listeners = new Set<(e: readonly Endpoint[]) => void>();
  async start() {}
  async stop() {}
  current() {
    return this.endpoints;
  }
  onChange(l: (e: readonly Endpoint[]) => void) {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  status(): SourceStatus {
    return { kind: 'kubernetes', healthy: true, stale: false };
  }
  set(endpoints: readonly Endpoint[]) {
    this.endpoints = endpoints;
    for (const l of this.#listeners) l(endpoints);
  }
}

/** `n` ready pods of weight 1 in two zones. */
export const pods = (n: number): Endpoint[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `pod-${i}`,
    address: `10.2.${(i >> 8) & 255}.${i & 255}`,
    port: 8000,
    locality: { region: '', zone: `z${i % 2}`, subzone: '' },
    weight: 1,
    ready: true,
  }));

/** A source whose stop() waits until released: it holds the runner's queue in the job that replaces it. */
export class HeldStopSource extends SetSource {
  stopCalled!: () => void;
  readonly stopping = new Promise<void>((resolve) => (this.stopCalled = resolve));
  release!: () => void;
  readonly #released = new Promise<void>((resolve) => (this.release = resolve));
  override async stop() {
    this.stopCalled();
    await this.#released;
  }
}
