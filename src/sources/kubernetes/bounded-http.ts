/**
 * The HTTP library of keyway's list requests (the generated API client's `httpApi`): the
 * library's own (node-fetch, as IsomorphicFetchHttpLibrary sends) with a bound on the answer's
 * size. Unbounded, a list answer is read whole into memory before it is parsed: an API server or a
 * proxy in between that sends an endless body grew keyway's memory for as long as the page's
 * listTimeoutMs (30 s) allowed, gigabytes on a fast link.
 */
import { type HttpLibrary, Observable, type RequestContext, ResponseContext } from '@kubernetes/client-node';
import { getHeapStatistics } from 'node:v8';
import { KeywayError } from '../../core/errors.js';
import { clientFetch, isMaxSizeError } from './client-fetch.js';

/**
 * Largest list answer read (bytes), whatever the heap: a page of 500 objects (`listPageSize`) of
 * the largest pods keyway meets (annotations at the API server's 256 KiB limit) is about 130 MiB of
 * JSON. The bound in force is listResponseBound(), lower in a smaller heap.
 */
export const MAX_LIST_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * What part of the V8 heap limit one list answer may take, by kind of answer. An answer of B bytes
 * holds B as a string, then the parsed JSON and the client library's typed objects, all alive at
 * once: about 4 B when the objects are many and ordinary (measured on pod lists: 1.4 B parsed,
 * 1.6 B typed), about 2 B when large strings make the bytes (annotations: the typed objects share
 * them). A page holds at most `listPageSize` objects, so a large page is one of large strings; an
 * unpaged answer holds the whole collection. Within these parts the rest of the process keeps room,
 * so an answer the heap cannot take fails with the bound's error rather than ending the process
 * (V8 aborts when its heap is full). An unpaged list of ordinary pods needs about 3.4 B of old
 * space on top of some 96 MiB the process and the collector's headroom take: a fifth (86 MiB under
 * the shipped 432 MiB limit) was not enough, a list of 86 MiB aborted the process; a seventh leaves
 * room for what `keyway serve` holds beside it (unpaged-list-heap.test.ts).
 */
export const LIST_RESPONSE_HEAP_DIVISOR = { page: 3, whole: 7 } as const;

/**
 * The list answer bound of keyway's Kubernetes list requests: for a page (`limit`) a third of the
 * V8 heap limit (`--max-old-space-size`), for an unpaged list a seventh, at most
 * MAX_LIST_RESPONSE_BYTES. With the shipped `--max-old-space-size=384` (a 432 MiB limit): 144 MiB
 * a page (a page of 500 pods with 256 KiB annotations is about 130 MiB; one of 137.5 MiB
 * completed), 61 MiB unpaged (an unpaged list of 86 MiB of ordinary pods ran that heap out of
 * memory, one of 70.6 MiB needed 320 to 352 MiB of old space). Serves the list requests of
 * keyway's informers (ResourceInformer), pages and the unpaged fallback alike.
 */
export function listResponseBound(answer: keyof typeof LIST_RESPONSE_HEAP_DIVISOR, heapSizeLimit: number = getHeapStatistics().heap_size_limit): number {
  return Math.min(MAX_LIST_RESPONSE_BYTES, Math.floor(heapSizeLimit / LIST_RESPONSE_HEAP_DIVISOR[answer]));
}

/**
 * The list answer bytes the informers of one source may hold at once. Pods, nodes and
 * EndpointSlices list at the same time (at start, and after an outage), and each answer's bound is
 * a part of the heap sized for that answer alone: two pages near the page bound at once (a page
 * of pods with large annotations, 130 MiB, and one of GPU nodes) took more heap than the process
 * has. Each answer counts its bytes here as they arrive, weighted by how much heap a byte of its
 * kind takes (an unpaged byte counts as the page bound over the unpaged bound), and gives them
 * back once its objects are trimmed. When a chunk would pass the budget beside other answers, the
 * answer that holds the fewest counted bytes gives way (ties: the one whose chunk crossed): it is
 * refused, or aborted if it is another, and its bytes no longer count. So the answer holding the
 * most bytes is never refused and always completes: refusing whichever answer crossed killed a
 * pods page at 130 of 144 MiB for a small nodes page that started later, and two lists of pages
 * over half the budget could keep killing each other. One answer alone always fits: the budget is
 * the largest bound.
 */
export class ListAnswerBudget {
  #held = 0;
  readonly #answers = new Set<AnswerShare>();
  /** @param bytes the budget: the page bound (listResponseBound('page'), or the test's bound). */
  constructor(readonly bytes: number) {}

  /** Counted bytes held now. */
  held(): number {
    return this.#held;
  }

  /** A lease for one answer bounded at `answerBound` bytes; release it once the answer is trimmed. */
  lease(answerBound: number): ListAnswerLease {
    const weight = Math.max(1, this.bytes / answerBound);
    const share: AnswerShare = { taken: 0, refused: false, onRefused: undefined, done: [], winner: undefined };
    return {
      budget: this,
      take: (n) => {
        if (share.refused) return false;
        // Whole units: fractional costs (an unpaged byte weighs 144/61 of one) summed in one
        // order and given back in another left held() off zero (negative) after many answers.
        const cost = Math.ceil(n * weight);
        // Alone, an answer is held to its own bound (node-fetch's size): the budget refuses only
        // bytes that would pass it beside other answers.
        while (this.#held + cost > this.bytes && this.#held > share.taken) {
          let smallest = share;
          let largest: AnswerShare | undefined;
          for (const other of this.#answers) {
            if (other === share) continue;
            if (other.taken < smallest.taken) smallest = other;
            if (largest === undefined || other.taken > largest.taken) largest = other;
          }
          this.#refuse(smallest, smallest === share ? largest : share);
          if (smallest === share) return false;
        }
        if (share.taken === 0) this.#answers.add(share);
        this.#held += cost;
        share.taken += cost;
        return true;
      },
      refused: () => share.refused,
      given: () => {
        const winner = share.winner;
        if (winner === undefined || !this.#answers.has(winner)) return Promise.resolve();
        return new Promise((resolve) => winner.done.push(resolve));
      },
      onRefused: (abort) => {
        share.onRefused = abort;
      },
      release: () => this.#drop(share),
    };
  }

  /**
   * Refuses an answer for `winner`'s sake: its bytes stop counting (its answer is being dropped)
   * and it is aborted.
   */
  #refuse(share: AnswerShare, winner: AnswerShare | undefined): void {
    share.refused = true;
    share.winner = winner;
    this.#drop(share);
    share.onRefused?.();
  }

  /** An answer's bytes stop counting; the answers it won over may try again. */
  #drop(share: AnswerShare): void {
    this.#held -= share.taken;
    share.taken = 0;
    this.#answers.delete(share);
    const done = share.done;
    share.done = [];
    for (const d of done) d();
  }
}

/** What a ListAnswerBudget knows of one answer. */
interface AnswerShare {
  taken: number;
  refused: boolean;
  onRefused: (() => void) | undefined;
  /** Called once the answer's bytes stop counting (trimmed, failed or refused). */
  done: (() => void)[];
  /** The answer this one was refused for. */
  winner: AnswerShare | undefined;
}

/**
 * A list answer refused by the source's ListAnswerBudget: the API server answered, keyway put the
 * answer off because another answer holding more bytes was being read. Not an API failure: the
 * informer asks for the same page again once the budget frees (see LIST_BUDGET_RETRY_MS).
 */
export class ListBudgetError extends KeywayError {
  constructor(message: string) {
    super('SOURCE_UNAVAILABLE', message);
  }
}

/** One answer's share of a ListAnswerBudget. */
export interface ListAnswerLease {
  readonly budget: ListAnswerBudget;
  /** Counts `n` more bytes of the answer; false (nothing counted) if the answer is refused. */
  take(n: number): boolean;
  /** Whether the budget refused the answer (on its own chunk, or aborted it for a larger answer). */
  refused(): boolean;
  /**
   * Resolves once the answer this one was refused for stops counting (trimmed, failed or refused
   * in turn): when a refused answer may be asked for again. At once if it was not refused.
   */
  given(): Promise<void>;
  /** What aborts the answer's request when the budget refuses it for another answer's chunk. */
  onRefused(abort: () => void): void;
  /** Gives back what the answer counted. */
  release(): void;
}

/** Sends each request as the client library does; an answer past `maxBytes` fails and is aborted. */
export class BoundedHttpLibrary implements HttpLibrary {
  /** @param lease the answer's share of the source's list answer budget, if it has one. */
  constructor(
    private readonly maxBytes: number,
    private readonly lease?: ListAnswerLease,
  ) {}

  send(request: RequestContext): Observable<ResponseContext> {
    // Our own controller, so an answer cut at the bound stops streaming (node-fetch only stops reading).
    const controller = new AbortController();
    const outer = request.getSignal();
    const onAbort = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    const url = request.getUrl();
    const answer = clientFetch(url, {
      method: request.getHttpMethod().toString(),
      body: request.getBody(),
      headers: request.getHeaders(),
      signal: controller.signal,
      agent: request.getAgent(),
      size: this.maxBytes,
    }).then(
      (resp) => {
        const headers: Record<string, string> = {};
        resp.headers.forEach((value, name) => (headers[name] = value));
        const bounded = <T>(read: () => Promise<T>) => (): Promise<T> => {
          const lease = this.lease;
          // Attached in the same turn as node-fetch's own reader (read()), so no chunk passes uncounted.
          if (lease) {
            lease.onRefused(() => controller.abort());
            resp.body.on('data', (chunk: Buffer) => {
              if (!lease.refused() && !lease.take(chunk.length)) controller.abort();
            });
          }
          const putOff = (): ListBudgetError =>
            new ListBudgetError(
              `list answer from ${new URL(url).pathname} would take the list answers held at once past ${lease!.budget.bytes} bytes (the list answer bound, shared by the resources listed at the same time) beside a larger answer; asking again once that one is trimmed`,
            );
          return read()
            .then((body) => {
              // Refused after its last chunk (for a larger answer's): its bytes no longer count, so it is dropped.
              if (lease?.refused() === true) throw putOff();
              return body;
            })
            .catch((err: unknown) => {
              if (err instanceof ListBudgetError) throw err;
              if (lease?.refused() === true) throw putOff();
              if (!isMaxSizeError(err)) throw abortReason(outer, err);
              controller.abort();
              throw new Error(
                `list answer larger than ${this.maxBytes} bytes from ${new URL(url).pathname} (a broken API server or proxy in between, or a list too large for the heap: the bound follows --max-old-space-size)`,
              );
            })
            .finally(() => outer?.removeEventListener('abort', onAbort));
        };
        return new ResponseContext(resp.status, headers, { text: bounded(() => resp.text()), binary: bounded(() => resp.buffer()) });
      },
      (err: unknown) => {
        outer?.removeEventListener('abort', onAbort);
        throw abortReason(outer, err);
      },
    );
    return new Observable(answer);
  }
}

/**
 * What a request aborted by its caller's signal failed with: the signal's reason when it is an
 * error (the list's time bound, `list not complete within 30000 ms`), as fetch rejects with it;
 * node-fetch rejects with its own `The user aborted a request.` and drops the reason.
 */
function abortReason(outer: AbortSignal | undefined, err: unknown): unknown {
  return outer?.aborted === true && outer.reason instanceof Error && (err as { name?: unknown } | null)?.name === 'AbortError' ? outer.reason : err;
}
