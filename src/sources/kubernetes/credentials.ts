/**
 * Bounds the credentials of every Kubernetes API request. The client library fetches them before
 * each list and watch request (a kubeconfig `exec` plugin such as `aws eks get-token` or
 * `gke-gcloud-auth-plugin` runs then, until its token is cached) and awaits them with no bound: a
 * plugin that hangs held the informer forever, never retried, and shown healthy while its
 * endpoints went stale.
 */
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * The same KubeConfig, whose credentials (`applyToFetchOptions` for watches,
 * `applySecurityAuthentication` for lists) fail after `timeoutMs`, so the request is retried with
 * backoff and the source turns stale. One credentials call runs at a time: a call
 * that hangs is waited on, not repeated, so a plugin that never exits leaves one process behind,
 * not one per retry; a request that gives up waiting leaves nothing queued.
 */
export function withCredentialTimeout(kc: KubeConfig, timeoutMs: number): KubeConfig {
  const turns = new OneAtATime();
  const bounded = <V>(what: string, call: () => Promise<V>): Promise<V> => {
    const signal = AbortSignal.timeout(timeoutMs);
    return settledBy(turns.run(call, signal), signal, () => new Error(`credentials for the ${what} request not ready within ${timeoutMs} ms (a kubeconfig exec plugin that hangs?)`));
  };
  const delegate = Object.create(kc) as KubeConfig;
  delegate.applyToFetchOptions = (opts) => bounded('watch', () => kc.applyToFetchOptions(opts));
  delegate.applySecurityAuthentication = (context) => bounded('list', () => kc.applySecurityAuthentication(context));
  return delegate;
}

/** Runs calls one at a time, in order; a call whose signal aborts while it waits is dropped. */
class OneAtATime {
  #busy = false;
  readonly #waiting = new Set<() => void>();

  async run<V>(call: () => Promise<V>, signal: AbortSignal): Promise<V> {
    await this.#turn(signal);
    // A call that throws rather than rejects must still hand the turn on.
    const result = (async () => call())();
    void result.then(
      () => this.#next(),
      () => this.#next(),
    );
    return result;
  }

  #turn(signal: AbortSignal): Promise<void> {
    if (!this.#busy) {
      this.#busy = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiting.delete(granted);
        reject(new Error('gave up waiting for the credentials call in flight'));
      };
      const granted = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#waiting.add(granted);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Hands the turn to the oldest waiting call, if any. */
  #next(): void {
    const first = this.#waiting.values().next();
    if (first.done) {
      this.#busy = false;
      return;
    }
    this.#waiting.delete(first.value);
    first.value();
  }
}

/** `work`, or `error()` once `signal` aborts first (what `work` does later is then ignored). */
function settledBy<V>(work: Promise<V>, signal: AbortSignal, error: () => Error): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const onAbort = (): void => reject(error());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
