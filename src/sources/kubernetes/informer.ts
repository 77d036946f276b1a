/**
 * A thin runner around one @kubernetes/client-node informer (ListWatch): it adds what the
 * library leaves to its caller — retry with backoff after errors (ListWatch stops on any error
 * other than 410 Gone, which it handles itself by relisting), a health state, watch bookmarks and
 * timeouts, paged lists (each page bounded in time), and a watchdog against silently dead connections.
 */
import {
  type HttpLibrary,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Observable,
  type ObservableMiddleware,
  Watch,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, type BackoffOptions, retryAfterMs, retryDelay } from './backoff.js';
import { boundedWatch, MAX_WATCH_LINE_BYTES } from './watch-stream.js';
import { BoundedHttpLibrary, ListAnswerBudget, ListBudgetError, listResponseBound } from './bounded-http.js';

/** Timing of list and watch calls. */
export interface InformerTiming {
  readonly backoff: BackoffOptions;
  /** A list page that has not fully arrived by then is aborted (and the list retried with backoff). */
  readonly listTimeoutMs: number;
  /**
   * Largest list answer (bytes) before the list fails (see bounded-http.ts); default
   * listResponseBound(), which follows the heap limit (lower for an unpaged answer than for a page).
   */
  readonly maxListResponseBytes?: number;
  /** The budget of list answer bytes the source's informers share; default one of maxListResponseBytes (tests pass one to watch it). */
  readonly listAnswerBudget?: ListAnswerBudget;
  /**
   * Objects per list page (`limit`), as client-go's informers ask: each page is trimmed before the
   * next is read and has its own listTimeoutMs, so a large collection neither sits whole in memory
   * nor has to arrive in one listTimeoutMs. 0 lists in one request.
   */
  readonly listPageSize: number;
  /** Watches ask the server to end after a random time in [min, 2·min) seconds, as client-go does. */
  readonly minWatchTimeoutSeconds: number;
  /** A watch still open this long after its timeoutSeconds is presumed dead and aborted. */
  readonly watchGraceMs: number;
  /**
   * Longest watch event line (bytes) before the watch fails and is retried (see watch-stream.ts);
   * default MAX_WATCH_LINE_BYTES.
   */
  readonly maxWatchLineBytes?: number;
}

export interface InformerState {
  /** The first list has completed (the cache holds a full view). */
  readonly synced: boolean;
  /** The last list or watch request succeeded and no error has happened since. */
  readonly connected: boolean;
  /** Consecutive failures since a watch last stayed open for `backoff.maxMs` (see ObservedWatch). */
  readonly failures: number;
  /** When the current run of failures began (epoch ms); undefined while connected. */
  readonly failingSince?: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

export interface InformerHooks {
  /** Any add/update/delete in the cache, including those a relist produces, with the object as kept. */
  onObjectChange(obj: KubernetesObject): void;
  /** `state()` changed (synced, connected, failed). */
  onStateChange(): void;
  onRetry?(resource: string, error: string, delayMs: number, failures: number): void;
  /** A list page arrived (any list: the first, a relist, one started again), with the list's progress. */
  onListPage?(progress: ListProgress): void;
  /**
   * A request was refused with 429 Too Many Requests (the API server is up and sheds load), or a
   * list answer was put off by the source's answer budget (ListBudgetError).
   */
  onThrottled?(): void;
  /**
   * A list answer was put off by the source's list answer budget (ListBudgetError): the API server
   * answered, another answer holding more bytes was being read. Not an API failure: the same
   * request is asked again after at most `delayMs`.
   */
  onPutOff?(resource: string, error: string, delayMs: number): void;
  /**
   * A continue token expired (410 Expired): the unpaged list that replaces the paged one starts,
   * with `timeoutMs` to arrive (see unpagedTimeoutMs).
   */
  onUnpagedList?(timeoutMs: number): void;
}

/** What to watch: an API path and the list call for it. */
export interface WatchedResource<T extends KubernetesObject> {
  /** Short name for logs and status, e.g. `endpointslices`. */
  readonly name: string;
  /** Collection path, e.g. `/api/v1/namespaces/cache/pods`. */
  readonly path: string;
  readonly labelSelector?: string;
  /**
   * What the cache keeps of each listed or watched object (client-go's SetTransform): the fields
   * the source reads, so a Node's status.images is not held for every node. Default: all of it.
   */
  readonly keep?: (obj: T) => T;
  /**
   * One list request: `page` is the generated API's `limit` and `_continue` (pass both through),
   * `options` the abort signal middleware.
   */
  list(page: ListPage, options: ListOptions): Promise<KubernetesListObject<T>>;
}

/** The generated API's per-call options: the abort signal middleware and the bounded HTTP library. */
export interface ListOptions {
  readonly middleware: ObservableMiddleware[];
  readonly middlewareMergeStrategy: 'append';
  readonly httpApi: HttpLibrary;
}

/** How far a paged list has come. */
export interface ListProgress {
  readonly pages: number;
  readonly objects: number;
  /** The list is the unpaged one that replaced a paged list whose continue token expired. */
  readonly unpaged?: boolean;
}

/** A list answer without its items. */
type ListEnvelope = Omit<KubernetesListObject<KubernetesObject>, 'items'>;

/** Paging parameters of one list request; absent when the list is not paged. */
export interface ListPage {
  readonly limit?: number;
  readonly _continue?: string;
}

/** One resource kept in sync by a real ListWatch informer. */
export class ResourceInformer<T extends KubernetesObject> {
  readonly informer: ListWatch<T>;
  private current: InformerState = { synced: false, connected: false, failures: 0 };
  private retryTimer: NodeJS.Timeout | undefined;
  /** When the server's Retry-After for the last failure ends (epoch ms); 0 when it gave none. */
  private retryNotBefore = 0;
  private stopped = true;
  private readonly stopSignal = new AbortController();
  /** The last watched object found equal to the cached one but for its resourceVersion (see keepWatched). */
  private unchanged: T | undefined;
  private readonly watch: ObservedWatch;
  /** The paged list under way (since its last restart): pages and objects read so far. */
  private listing: ListProgress | undefined;
  private brokenPaging = false;
  /** The answer bound of list pages (`limit`) and of unpaged lists (see listResponseBound). */
  private readonly pageBound: number;
  private readonly wholeBound: number;

  constructor(
    kubeConfig: KubeConfig,
    readonly resource: WatchedResource<T>,
    private readonly timing: InformerTiming,
    private readonly hooks: InformerHooks,
    private readonly now: () => number = Date.now,
    /** The list answer bytes this informer shares with the others of its source (default: its own). */
    private readonly budget: ListAnswerBudget = new ListAnswerBudget(timing.maxListResponseBytes ?? listResponseBound('page')),
  ) {
    this.pageBound = timing.maxListResponseBytes ?? listResponseBound('page');
    this.wholeBound = timing.maxListResponseBytes ?? listResponseBound('whole');
    this.watch = new ObservedWatch(kubeConfig, timing, (obj, phase) => this.keepWatched(obj as T, phase), {
      closed: () => this.stopped,
      stopSignal: this.stopSignal.signal,
      onEarlyEnds: (message, delayMs, count) => {
        this.update({ lastError: message, lastErrorAt: this.now() });
        this.hooks.onRetry?.(this.resource.name, message, delayMs, count);
      },
      onCacheFilled: () => this.update({ synced: true }),
      onEstablished: () => this.update({ connected: true, failingSince: undefined }),
      onHealthy: () => this.update({ failures: 0 }),
    });
    this.informer = new ListWatch<T>(resource.path, this.watch, () => this.listCall(), false, resource.labelSelector);
    const changed = (obj: T): void => this.hooks.onObjectChange(obj);
    this.informer.on('add', changed);
    this.informer.on('update', (obj: T) => {
      const same = obj === this.unchanged;
      this.unchanged = undefined;
      if (!same) changed(obj);
    });
    this.informer.on('delete', changed);
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  state(): InformerState {
    return this.current;
  }

  /**
   * What the cache keeps of a watched object. A MODIFIED object equal to the cached one but for its
   * resourceVersion changed nothing keyway reads (a pod's status, a node's heartbeat: what `keep`
   * drops), so its update is not reported as a change. Reported, the steady stream of such updates
   * in a large cluster (each Node reports its status every few minutes: several a second over
   * 2000 nodes) re-armed the debounce's hold-off before it ever elapsed, so every real change waited
   * for maxDelayMs, and each stream of them cost a full recompute.
   */
  private keepWatched(obj: T, phase: string): T {
    const kept = this.resource.keep ? this.resource.keep(obj) : obj;
    if (phase === 'MODIFIED') {
      const name = kept.metadata?.name;
      const cached = name !== undefined ? this.informer.get(name, kept.metadata?.namespace) : undefined;
      if (cached !== undefined && sameButVersion(cached, kept)) this.unchanged = kept;
    }
    return kept;
  }

  /**
   * The list under way, if any: what has arrived so far. A start that times out names it, so a
   * list that is slow (a large collection) is not mistaken for one the API server never answered.
   */
  listProgress(): ListProgress | undefined {
    return this.listing;
  }

  /** Objects in the cache (the last known state, also while the API server is unreachable). */
  list(): readonly T[] {
    return this.informer.list();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.informer.start();
  }

  /** Whether a retry after a failure is waiting out its backoff delay. */
  waiting(): boolean {
    return this.retryTimer !== undefined;
  }

  /**
   * Retries at once rather than at the end of the backoff delay, or, when the server asked to wait
   * (Retry-After), as soon as that wait is over; no-op when no retry is waiting.
   */
  retryNow(): void {
    if (!this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const asked = this.retryNotBefore - this.now();
    if (asked > 0) this.scheduleRetry(asked);
    else if (!this.stopped) void this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopSignal.abort();
    await this.informer.stop();
  }

  private async listCall(): Promise<KubernetesListObject<T>> {
    // A relist after watches expired in a row waits here, so the watch that follows it starts at once.
    await this.watch.pauseAfterEarlyEnd();
    const list = await this.pagedList();
    // The API server answered: the cache is about to hold its current state. Failures are only
    // reset once a watch has stayed up (ObservedWatch), so a list-ok/watch-fails loop still backs off.
    this.update({ connected: true, failingSince: undefined });
    return list;
  }

  /**
   * The whole collection, read `listPageSize` objects at a time and trimmed page by page. All
   * pages are of one snapshot (the first page's resourceVersion), which the watch then resumes
   * from. A continue token that expired (410: etcd compacted past the snapshot, every 5 minutes by
   * default) is followed by one list without paging, as client-go's pager does (FullListIfExpired):
   * pages of the old snapshot cannot be completed consistently, and starting the paged list again
   * never ends for a list whose pages take longer than a token lives (a large collection, a slow
   * or throttled API server). That one answer is bounded by the list answer bound; if it fails, the
   * list is retried with backoff, paged again.
   */
  private async pagedList(): Promise<KubernetesListObject<T>> {
    try {
      const list = await this.pagesOfOneSnapshot();
      this.brokenPaging = false;
      return list;
    } catch (err) {
      this.brokenPaging = err instanceof BrokenPagingError;
      throw err;
    } finally {
      this.listing = undefined;
    }
  }

  /**
   * Whether the last list failed because the server, or a proxy in between, breaks paging (it
   * ignores `continue`, or cuts the list short): listing again reads the same pages and cannot
   * complete, so a start does not take those pages for progress.
   */
  pagingBroken(): boolean {
    return this.brokenPaging;
  }

  private async pagesOfOneSnapshot(): Promise<KubernetesListObject<T>> {
    const limit = this.timing.listPageSize > 0 ? this.timing.listPageSize : undefined;
    const items: T[] = [];
    const pages = new PageGuard(this.resource.name);
    let first: ListEnvelope | undefined;
    let next: string | undefined;
    let pageCount = 0;
    /** Objects the last page said remain after it (remainingItemCount), if it said. */
    let remaining: number | undefined;
    this.listing = { pages: 0, objects: 0 };
    try {
      do {
        const envelope = await this.keptPage({ ...(limit !== undefined ? { limit } : {}), ...(next !== undefined ? { _continue: next } : {}) }, items, pages);
        this.listing = { pages: ++pageCount, objects: items.length };
        this.hooks.onListPage?.(this.listing);
        first ??= envelope;
        remaining = envelope.metadata?.remainingItemCount;
        next = limit !== undefined && envelope.metadata?._continue ? envelope.metadata._continue : undefined;
        if (next === undefined) pages.last(envelope.metadata?.remainingItemCount);
        else pages.token(next);
      } while (next !== undefined);
    } catch (err) {
      // As client-go's pager: only a 410 whose reason is Expired, on a continue request, says the
      // list's snapshot was compacted away. Another 410 (reason Gone, "too old resource version",
      // or a proxy's bare 410) is an error like any other, retried with backoff.
      if (next === undefined || !isExpired(err) || this.stopped) throw err;
      const timeout = unpagedTimeoutMs(this.timing.listTimeoutMs, pageCount, remaining, limit);
      this.hooks.onRetry?.(
        this.resource.name,
        `${describeError(err)} (list continue token expired after ${pageCount} pages, ${items.length} objects; listing again in one request without paging, within ${timeout.ms} ms)`,
        0,
        1,
      );
      items.length = 0;
      return await this.unpagedList(timeout);
    }
    const { _continue: _c, remainingItemCount: _r, ...metadata } = first.metadata ?? {};
    return { ...first, metadata, items };
  }

  /**
   * The whole collection in one answer (no `limit`, the Kubernetes list API unpaged): the API
   * server serves it from one snapshot, so no token can expire. Only after a continue token
   * expired: unpaged, the whole answer sits in memory untrimmed, up to the unpaged answer bound.
   */
  private async unpagedList(timeout: UnpagedTimeout): Promise<KubernetesListObject<T>> {
    const items: T[] = [];
    const pages = new PageGuard(this.resource.name);
    this.listing = { pages: 0, objects: 0, unpaged: true };
    this.hooks.onUnpagedList?.(timeout.ms);
    const envelope = await this.keptPage({}, items, pages, timeout);
    this.listing = { pages: 1, objects: items.length, unpaged: true };
    this.hooks.onListPage?.(this.listing);
    pages.last(envelope.metadata?.remainingItemCount);
    const { _continue: _c, remainingItemCount: _r, ...metadata } = envelope.metadata ?? {};
    return { ...envelope, metadata, items };
  }

  /**
   * Reads one page, adds what `keep` leaves of its items to `items` and returns the page without
   * its items. A function of its own so the whole page is garbage once it returns: held by
   * pagedList (as the first page, or in a variable of its suspended frame while the next page was
   * awaited), a page of 500 pods with 200 KB annotations (100 MB) stayed alive beside the next
   * one, and 2000 such pods ran a 384 MiB heap out of memory.
   */
  private async keptPage(request: ListPage, items: T[], pages: PageGuard, timeout?: UnpagedTimeout): Promise<ListEnvelope> {
    const bound = request.limit !== undefined ? this.pageBound : this.wholeBound;
    // A page put off by the budget is asked again, not the list from its first page: restarted,
    // a list refused at page k read its k pages again, and could be refused again. The page's own
    // time bound limits how long it is put off.
    const putOffUntil = Date.now() + (timeout?.ms ?? this.timing.listTimeoutMs);
    let putOff: ListBudgetError | undefined;
    for (;;) {
      if (putOff && this.stopped) throw putOff;
      // The answer's bytes count against the source's budget until its objects are trimmed.
      const lease = this.budget.lease(bound);
      let page: KubernetesListObject<T>;
      try {
        page = await this.listPage(request, new BoundedHttpLibrary(bound, lease), timeout);
        for (const item of page.items ?? []) {
          pages.object(item);
          items.push(this.resource.keep ? this.resource.keep(item) : item);
        }
        return { ...(page.apiVersion !== undefined ? { apiVersion: page.apiVersion } : {}), ...(page.kind !== undefined ? { kind: page.kind } : {}), ...(page.metadata !== undefined ? { metadata: page.metadata } : {}) };
      } catch (err) {
        if (!(err instanceof ListBudgetError) || this.stopped || Date.now() >= putOffUntil) throw err;
        putOff = err;
        // The API server answered: the start counts it as an answer, as a 429.
        this.hooks.onThrottled?.();
        this.hooks.onPutOff?.(this.resource.name, describeError(err), LIST_BUDGET_RETRY_MS);
      } finally {
        lease.release();
      }
      // Once the larger answer it gave way to is trimmed (or failed), or after LIST_BUDGET_RETRY_MS at most.
      const waited = new AbortController();
      const onStop = (): void => waited.abort();
      this.stopSignal.signal.addEventListener('abort', onStop, { once: true });
      await Promise.race([lease.given(), sleep(LIST_BUDGET_RETRY_MS, undefined, { signal: waited.signal, ref: false }).catch(() => undefined)]);
      waited.abort();
      this.stopSignal.signal.removeEventListener('abort', onStop);
    }
  }

  /** One list request, aborted after listTimeoutMs (an unpaged fallback: `timeout`) or when the informer stops. */
  private async listPage(page: ListPage, httpApi: HttpLibrary, timeout?: UnpagedTimeout): Promise<KubernetesListObject<T>> {
    // Not AbortSignal.any over the lifelong stop signal: Node 20 keeps an entry in it for every
    // signal made from it, for the informer's life (one per list page; each failed watch relists).
    const controller = new AbortController();
    const stop = this.stopSignal.signal;
    const onStop = (): void => controller.abort(stop.reason);
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    const ms = timeout?.ms ?? this.timing.listTimeoutMs;
    const why = timeout ? `unpaged list not complete within ${ms} ms (${timeout.why})` : `list not complete within ${ms} ms`;
    const timer = setTimeout(() => controller.abort(new DOMException(why, 'TimeoutError')), ms);
    timer.unref();
    const withSignal: ObservableMiddleware = {
      pre: (ctx) => {
        ctx.setSignal(controller.signal);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    };
    try {
      return await this.resource.list(page, { middleware: [withSignal], middlewareMergeStrategy: 'append', httpApi });
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  /** ListWatch gave up after an error: record it and start it again after a backoff delay. */
  private failed(err: unknown): void {
    if (this.stopped) return;
    const at = this.now();
    const message = describeError(err);
    if (err instanceof ListBudgetError) {
      // Put off past its page's time bound by answers holding more bytes: the API server answered,
      // so the informer stays connected (not stale) and the API backoff does not grow.
      this.hooks.onThrottled?.();
      this.hooks.onPutOff?.(this.resource.name, message, LIST_BUDGET_RETRY_MS);
      if (!this.retryTimer) this.scheduleRetry(LIST_BUDGET_RETRY_MS);
      return;
    }
    const failures = this.current.failures + 1;
    if (statusOf(err) === 429) this.hooks.onThrottled?.();
    this.update({ connected: false, failures, failingSince: this.current.failingSince ?? at, lastError: message, lastErrorAt: at });
    if (this.retryTimer) return;
    // A server shedding load (429) says how long to stay away: at least that, up to backoff.maxMs.
    // Only a refused list carries it: the library keeps just the status code of a refused watch
    // (that retry takes the backoff alone, which grows to backoff.maxMs as refusals repeat).
    const delay = retryDelay(failures, this.timing.backoff, err, at);
    const asked = retryAfterMs(err, at);
    this.retryNotBefore = asked === undefined ? 0 : at + Math.min(asked, this.timing.backoff.maxMs);
    this.hooks.onRetry?.(this.resource.name, asked === undefined ? message : `${message} (Retry-After ${Math.ceil(asked / 1000)} s)`, delay, failures);
    this.scheduleRetry(delay);
  }

  /** Starts the informer again after `delayMs`. */
  private scheduleRetry(delayMs: number): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) void this.informer.start();
    }, delayMs);
  }

  private update(patch: Partial<InformerState>): void {
    const next = { ...this.current, ...patch };
    for (const k of Object.keys(next) as (keyof InformerState)[]) if (next[k] === undefined) delete next[k];
    const changed = (Object.keys({ ...this.current, ...next }) as (keyof InformerState)[]).some((k) => this.current[k] !== next[k]);
    this.current = next;
    if (changed) this.hooks.onStateChange();
  }
}

/**
 * The library's Watch with ten additions:
 * - it hands ListWatch each object reduced by `keep`, which is what its cache then holds;
 * - it bounds an event line (`maxWatchLineBytes`, see watch-stream.ts): a longer one fails the watch;
 * - it drops an event without an object, which ListWatch cannot take (see `onEvent`);
 * - it asks for bookmarks, so a resumed watch starts from a recent resourceVersion (fewer 410s);
 * - it sets timeoutSeconds, so the server renews each watch now and then;
 * - it aborts a watch that outlives that timeout (a half-open connection would hang forever), and
 *   one whose response headers take longer than listTimeoutMs;
 * - it turns a non-410 ERROR event into a failure (ListWatch would re-watch at once, in a loop);
 * - it aborts a watch whose request was in flight when the informer was stopped (ListWatch can
 *   only abort a request that has already answered);
 * - it turns a request that cannot be built (failing credentials) into a failure, not a rejection;
 * - it says when a watch has stayed open for `backoff.maxMs`, which is what resets the backoff;
 * - it backs off before re-opening a watch (after a 410, before the relist) after watches ended
 *   cleanly too soon, expired or were refused with HTTP 410 Gone, two or more in a row (a proxy
 *   that ends long requests, a server that ends or refuses each watch at once): ListWatch
 *   re-watches (after a 410, relists) at once, which would then be a tight loop against the API server.
 */
class ObservedWatch extends Watch {
  /** Watches in a row that ended cleanly too soon (see `watch`), and how the last one did. */
  #earlyEnds = 0;
  #earlyEnd = '';
  /** The last early end has not been waited out yet (see pauseAfterEarlyEnd). */
  #pauseDue = false;

  constructor(
    config: KubeConfig,
    private readonly timing: InformerTiming,
    /** Called for each ADDED, MODIFIED and DELETED object, with the event's type. */
    private readonly keep: (obj: unknown, phase: string) => unknown,
    private readonly events: {
      closed(): boolean;
      readonly stopSignal: AbortSignal;
      onCacheFilled(): void;
      onEstablished(): void;
      onHealthy(): void;
      /** A re-watch waits `delayMs` after `count` early clean ends in a row. */
      onEarlyEnds(message: string, delayMs: number, count: number): void;
    },
  ) {
    super(withResponseTimeout(config, timing.listTimeoutMs));
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.events.closed()) {
      // ListWatch does not re-check stop() after a list in flight; do not open a watch then.
      const idle = new AbortController();
      idle.abort();
      return idle;
    }
    // ListWatch calls watch only after it filled its cache from a list (or resumes one it has).
    this.events.onCacheFilled();
    // After a clean early end the watch resumes without a list: its wait, if any, is here.
    await this.pauseAfterEarlyEnd();
    if (this.events.closed()) {
      const idle = new AbortController();
      idle.abort();
      return idle;
    }
    const min = this.timing.minWatchTimeoutSeconds;
    const timeoutSeconds = Math.floor(min * (1 + Math.random()));
    // A clean end sooner than this is early: before half the asked timeoutSeconds (a server ends a
    // watch at it; half leaves room for clock slop) and before backoff.maxMs (a watch that long
    // cannot make a tight loop).
    const earlyBeforeMs = Math.min(this.timing.backoff.maxMs, (timeoutSeconds * 1000) / 2);
    const openedAt = Date.now();
    let serverError: string | undefined;
    let expired = false;
    let finished = false;
    let watchdog: NodeJS.Timeout | undefined;
    let healthy: NodeJS.Timeout | undefined;
    const onEvent = (phase: string, obj: unknown, raw?: unknown): void => {
      if (typeof obj !== 'object' || obj === null) {
        // An event without an object (a broken server or proxy): ListWatch's handler, an async
        // function nobody awaits, reads obj.metadata (obj.code for ERROR), and the TypeError would
        // be an unhandled rejection, which ends the process. Dropped like a line that does not parse.
        if (phase === 'ERROR') serverError = 'watch ERROR event without a Status';
        return;
      }
      if (phase === 'ERROR') {
        const status = obj as { code?: number; reason?: string; message?: string } | undefined;
        if (status?.code === 410) expired = true;
        else serverError = `watch ERROR event: ${status?.code ?? '?'} ${status?.reason ?? ''} ${status?.message ?? ''}`.trim();
      }
      // ERROR carries a Status and BOOKMARK only a resourceVersion: neither is an object to trim.
      const object = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? this.keep(obj, phase) : obj;
      // The raw event (the third argument) holds the whole object: ListWatch does not keep it.
      callback(phase, object, raw);
    };
    const onDone = (err: unknown): void => {
      finished = true;
      if (watchdog) clearTimeout(watchdog);
      if (healthy) clearTimeout(healthy);
      const lived = Date.now() - openedAt;
      // A watch that lived long enough ends a run of early ends, whether it then ended cleanly or in
      // an error (errors have their own backoff). A clean early end adds to the run, and so does a
      // watch refused with HTTP 410 Gone: ListWatch relists at once after it, as after a 410 ERROR
      // event, so a server or proxy that refuses every watch so would make a list-watch loop.
      if (lived >= earlyBeforeMs) this.#earlyEnds = 0;
      else if (isGone(err)) this.#endedEarly(`watch refused with HTTP 410 Gone after ${lived} ms (relisting)`);
      else if (!err && serverError === undefined) {
        this.#endedEarly(
          expired
            ? `watch expired (410 Gone) after ${lived} ms (relisting)`
            : `watch ended by the server after ${lived} ms, before its timeoutSeconds (${timeoutSeconds} s) (a proxy ending long requests?)`,
        );
      }
      done(err ?? (serverError !== undefined ? new Error(serverError) : null));
    };
    let controller: AbortController;
    try {
      controller = await boundedWatch(this.config, path, { ...queryParams, allowWatchBookmarks: true, timeoutSeconds }, onEvent, onDone, this.timing.maxWatchLineBytes ?? MAX_WATCH_LINE_BYTES);
    } catch (err) {
      // The request could not be built (credentials that fail: an exec plugin, an unreadable token
      // file). Watch throws instead of calling done, and ListWatch does not catch it: the rejection
      // would go unhandled and end the process. Report it as a failed watch, retried with backoff.
      onDone(err);
      const idle = new AbortController();
      idle.abort();
      return idle;
    }
    if (this.events.closed()) {
      // stop() ran while the request was in flight: ListWatch had no controller to abort yet.
      controller.abort();
      return controller;
    }
    if (!finished) {
      this.events.onEstablished();
      watchdog = setTimeout(() => controller.abort(), timeoutSeconds * 1000 + this.timing.watchGraceMs);
      watchdog.unref();
      // Accepted is not yet recovered: a server that fails each watch at once (an ERROR event)
      // would otherwise reset the backoff every time and be retried twice a second for good.
      healthy = setTimeout(() => this.events.onHealthy(), this.timing.backoff.maxMs);
      healthy.unref();
    }
    return controller;
  }

  /**
   * Waits out the backoff a run of early ends asks for (none after a single one: a lone 410
   * Expired right after a resume), once per early end. After a 410 the informer calls it before it
   * relists, not before the watch that follows the list: that watch resumes from the list's
   * resourceVersion, and during a storm that outran the server's history a wait in between let the
   * history pass it again, so every resume was expired in turn (a relist per attempt, the waits
   * growing to backoff.maxMs) until the storm ended.
   */
  async pauseAfterEarlyEnd(): Promise<void> {
    if (!this.#pauseDue) return;
    this.#pauseDue = false;
    if (this.#earlyEnds < 2) return;
    const delay = backoffDelay(this.#earlyEnds - 1, this.timing.backoff);
    this.events.onEarlyEnds(`${this.#earlyEnd}, ${this.#earlyEnds} in a row`, delay, this.#earlyEnds);
    await sleep(delay, undefined, { signal: this.events.stopSignal, ref: false }).catch(() => undefined);
  }

  #endedEarly(how: string): void {
    this.#earlyEnds++;
    this.#earlyEnd = how;
    this.#pauseDue = true;
  }
}

/**
 * Longest wait (ms) before a list answer put off by the source's list answer budget is asked for
 * again: it is asked again as soon as another answer gives back its bytes, else after this. A
 * refusal is not an API failure, so it does not take the API backoff (up to backoff.maxMs, 30 s).
 */
export const LIST_BUDGET_RETRY_MS = 1000;

/** A paged list that can never complete through this server or proxy (see PageGuard). */
class BrokenPagingError extends Error {}

/**
 * Checks the pages of one paged list against a server, or a proxy in between, that ignores
 * `continue` and answers the first page again each time: the list would never end, holding ever
 * more copies of it and asking the API server again as fast as it answers. A list that really
 * pages never repeats an object or a continue token; one that does fails (retried with backoff),
 * and so does one whose last page says objects remain (see `last`).
 */
class PageGuard {
  readonly #objects = new Set<string>();
  readonly #tokens = new Set<string>();
  #pages = 1;

  constructor(private readonly resource: string) {}

  object(item: KubernetesObject): void {
    const name = item.metadata?.name;
    if (name === undefined) return;
    const key = `${item.metadata?.namespace ?? ''}/${name}`;
    if (this.#objects.has(key)) throw this.#ignored(`page ${this.#pages} repeats ${key}`);
    this.#objects.add(key);
  }

  /**
   * The page without a continue token, which ends the list: one that still says objects remain
   * (a proxy that dropped the token from the answer) would make a partial list the cache, and every
   * node or pod left out of it would lose its endpoint's locality, weight or the endpoint itself.
   * Only a count the server sent is trusted (it may be absent or an estimate, never positive on a
   * last page).
   */
  last(remainingItemCount: number | undefined): void {
    if (remainingItemCount !== undefined && remainingItemCount > 0) {
      throw new BrokenPagingError(
        `list of ${this.resource}: page ${this.#pages} says ${remainingItemCount} more objects remain but carries no continue token: the API server, or a proxy in between, cut the list short`,
      );
    }
  }

  token(next: string): void {
    if (this.#tokens.has(next)) throw this.#ignored(`page ${this.#pages} repeats a continue token`);
    this.#tokens.add(next);
    this.#pages++;
  }

  #ignored(what: string): Error {
    return new BrokenPagingError(`list of ${this.resource}: ${what} of an earlier page: the API server, or a proxy in between, ignores the continue parameter`);
  }
}

/** Whether two kept objects are equal apart from metadata.resourceVersion. */
export function sameButVersion(a: KubernetesObject, b: KubernetesObject): boolean {
  const unversioned = (o: KubernetesObject): unknown => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return sameValue(unversioned(a), unversioned(b));
}

/**
 * Deep equality of decoded JSON, a member set to undefined being the same as an absent one. A Date
 * (a list decodes timestamps, a watch does not) equals only a Date: a difference in form is
 * reported as a change, which costs a recompute, never a missed one.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = (r: Record<string, unknown>): string[] => Object.keys(r).filter((k) => r[k] !== undefined);
  const ka = keys(ra);
  if (ka.length !== keys(rb).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && sameValue(ra[k], rb[k]));
}

/** The HTTP status of a failed list (ApiException `code`) or watch (`statusCode`), if any. */
function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; code?: unknown } | null | undefined;
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

/**
 * The time bound of the unpaged list that follows an expired continue token: listTimeoutMs for
 * each page the paged list would have read (those it read, and those its last page's
 * remainingItemCount says remained, else one), so the one request that carries the whole
 * collection gets the time its pages had, not that of one page. One listTimeoutMs made the
 * fallback fail exactly where it is needed, a collection whose pages outlast a token's life.
 */
export interface UnpagedTimeout {
  readonly ms: number;
  /** How `ms` was derived, for the error when it is hit. */
  readonly why: string;
}

/**
 * The longest bound of an unpaged fallback list, whatever the paged list's remainingItemCount
 * says (1 hour, the longest kubernetes.startMaxMs): that count comes from the API server or a
 * proxy in between, and an absurd one (1e12 objects left) gave a bound past Node's timer range
 * (2^31 - 1 ms), which fires after 1 ms and aborted the fallback at once; a huge one within that
 * range held the informer on a stalled answer for days. An unpaged answer is bounded in bytes
 * (listResponseBound('whole')), so it cannot legitimately need the time of thousands of pages.
 */
export const MAX_UNPAGED_LIST_TIMEOUT_MS = 3_600_000;

/** The unpaged fallback's bound (see UnpagedTimeout); serves the list protocol's FullListIfExpired path. */
export function unpagedTimeoutMs(listTimeoutMs: number, pagesRead: number, remainingItemCount: number | undefined, limit: number | undefined): UnpagedTimeout {
  // Only a finite positive count says how many pages remain (a negative, NaN or infinite one is no count).
  const counted = remainingItemCount !== undefined && Number.isFinite(remainingItemCount) && remainingItemCount > 0 && limit !== undefined && limit > 0;
  const left = counted ? Math.ceil(remainingItemCount / limit) : 1;
  const pages = Math.max(1, pagesRead + left);
  const ms = listTimeoutMs * pages;
  const capped = ms > MAX_UNPAGED_LIST_TIMEOUT_MS;
  return {
    ms: capped ? MAX_UNPAGED_LIST_TIMEOUT_MS : ms,
    why: `${listTimeoutMs} ms for each of the ${pages} pages of the paged list whose continue token expired: ${pagesRead} read, ${left} ${counted ? 'left' : 'or more left'}${capped ? `, at most ${MAX_UNPAGED_LIST_TIMEOUT_MS} ms` : ''}`,
  };
}

/**
 * A 410 whose Status reason is Expired (apimachinery's IsResourceExpired): on a continue request,
 * the snapshot of the list was compacted away.
 */
function isExpired(err: unknown): boolean {
  return isGone(err) && reasonOf(err) === 'Expired';
}

/** The `reason` of the Status an API error carries (an ApiException body is its JSON text), if any. */
function reasonOf(err: unknown): string | undefined {
  const body = (err as { body?: unknown } | null | undefined)?.body;
  let status: unknown = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const reason = (status as { reason?: unknown } | null | undefined)?.reason;
  return typeof reason === 'string' ? reason : undefined;
}

/** An HTTP 410 answer to the watch request itself, which ListWatch turns into a relist. */
function isGone(err: unknown): boolean {
  const e = err as { statusCode?: unknown; code?: unknown } | null | undefined;
  return e?.statusCode === 410 || e?.code === 410;
}

/**
 * The same KubeConfig, except that the fetch options it gives Watch carry a timeout: node-fetch
 * then fails a request whose response headers do not arrive in time (Watch sets none itself).
 */
function withResponseTimeout(kc: KubeConfig, timeoutMs: number): KubeConfig {
  const delegate = Object.create(kc) as KubeConfig;
  delegate.applyToFetchOptions = async (opts) => ({ ...(await kc.applyToFetchOptions(opts)), timeout: timeoutMs });
  return delegate;
}

/** A one-line description of an API error (ApiException bodies are long JSON). */
export function describeError(err: unknown): string {
  // A DOMException (a list's time bound, see listPage) carries a legacy numeric `code`, no HTTP status.
  if (err instanceof DOMException) return err.message;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; cause?: unknown };
    const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    let detail: string | undefined;
    if (typeof e.body === 'string') {
      try {
        detail = (JSON.parse(e.body) as { message?: string }).message;
      } catch {
        detail = e.body.slice(0, 200);
      }
    } else if (e.body && typeof e.body === 'object') detail = (e.body as { message?: string }).message;
    if (status !== undefined) return `HTTP ${status}${detail ? `: ${detail}` : ''}`;
    const message = typeof e.message === 'string' ? e.message.split('\n')[0]! : String(err);
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(err);
}
