/**
 * The Kubernetes source (docs/kubernetes-discovery.md): EndpointSlices of the configured
 * Services, the Pods they point at and the Nodes those run on, each kept by a real
 * @kubernetes/client-node informer; a debounced recompute turns them into the endpoint list.
 * While the API server is unreachable the last known endpoints stay in force and status() says
 * they are stale (contract: docs/kubernetes-discovery.md).
 */
import {
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { type Logger, pino } from 'pino';
import { KeywayError } from '../../core/errors.js';
import type { Endpoint } from '../../core/endpoint.js';
import { debounce } from '../debounce.js';
import type { Source, SourceStatus } from '../source.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { withCredentialTimeout } from './credentials.js';
import { KUBERNETES_DEFAULTS, type KubernetesSourceConfig } from './config.js';
import { type DiscoveredEndpoints, discoverEndpoints } from './endpoints.js';
import { type InformerState, type InformerTiming, type ListProgress, ResourceInformer, type WatchedResource } from './informer.js';
import { ListAnswerBudget, listResponseBound } from './bounded-http.js';
import { nodeTrim, podTrim, sliceTrim } from './trim.js';
import { problemKey, type SourceProblem } from './problem.js';
import { SERVICE_NAME_LABEL } from './well-known.js';

export const DEFAULT_INFORMER_TIMING: InformerTiming = {
  backoff: DEFAULT_BACKOFF,
  listTimeoutMs: 30_000,
  // client-go's page size: a 5000-node cluster's Nodes arrive in 10 requests of at most 30 s each.
  listPageSize: 500,
  // Short enough that a silently dead watch is noticed within about 2.5 minutes; renewing three
  // watches that often costs the API server next to nothing (and bookmarks avoid relists).
  minWatchTimeoutSeconds: 60,
  watchGraceMs: 15_000,
};

/**
 * Problems listed in status() (and so in /readyz and /v1/shardmap), the first in sort order: a
 * bad annotation on thousands of pods must not make every probe answer megabytes. Each new problem
 * is still logged, up to this many per recompute (then one line with the count).
 */
export const MAX_LISTED_PROBLEMS = 100;

/**
 * How long start() waits for a resource's first list while no page of it arrives (the
 * `kubernetes.startTimeoutMs` default).
 */
export const DEFAULT_INITIAL_SYNC_TIMEOUT_MS = KUBERNETES_DEFAULTS.startTimeoutMs;

/** The timers start() runs on; tests pass a fake one to drive a slow list without waiting. */
export interface StartClock {
  /** Milliseconds from any fixed origin, never stepped (not the wall clock). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: StartClock = {
  // Monotonic, as the timers are: on Date.now a step of the wall clock during the start (NTP
  // stepping a freshly booted node's clock) moved both timeouts, by an hour for an hour's step.
  now: () => Math.floor(performance.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface KubernetesSourceOptions {
  readonly logger?: Logger;
  /** Where the API server is and how to authenticate; default: in-cluster, else ~/.kube/config. */
  readonly kubeConfig?: KubeConfig;
  /** Overrides `config.startTimeoutMs` (tests go below the setting's 1 s minimum). */
  readonly startTimeoutMs?: number;
  /** Overrides `config.startMaxMs`. */
  readonly startMaxMs?: number;
  /** The clock of start()'s timeouts; default the real one. */
  readonly clock?: StartClock;
  /** Retry, list and watch timing (tests shorten it). */
  readonly timing?: Partial<InformerTiming>;
}

/** One watched resource in status(): what it is and how its informer is doing. */
export interface ResourceStatus extends InformerState {
  readonly resource: string;
  readonly path: string;
}

export interface KubernetesSourceStatus extends SourceStatus {
  readonly kind: 'kubernetes';
  /** Since when the endpoints in force may lag the cluster (the first API error of this outage). */
  readonly staleSince?: Date;
  /** Problems found in cluster objects (bad annotations, missing pods...), sorted. */
  readonly problems: readonly SourceProblem[];
  readonly resources: readonly ResourceStatus[];
}

type Listener = (endpoints: readonly Endpoint[]) => void;

/** Implements {@link Source} over EndpointSlices, Pods and Nodes. */
export class KubernetesSource implements Source {
  readonly #config: KubernetesSourceConfig;
  readonly #log: Logger;
  readonly #startTimeoutMs: number;
  readonly #startMaxMs: number;
  readonly #clock: StartClock;
  /**
   * During start: when each informer last made progress (or start began): a list page that took
   * a list further than any earlier list of it in this start, a 429, or an unpaged list begun
   * after a continue token expired. The start timeout counts from it.
   */
  readonly #lastAnswerAt = new Map<ResourceInformer<KubernetesObject>, number>();
  /** During start: when each informer's last list page arrived, and its furthest list. */
  readonly #lastPageAt = new Map<ResourceInformer<KubernetesObject>, number>();
  readonly #furthest = new Map<ResourceInformer<KubernetesObject>, ListProgress>();
  /** During start: the most pages and the most objects any list of each informer reached (see #listPage). */
  readonly #reached = new Map<ResourceInformer<KubernetesObject>, ListProgress>();
  /** During start: pages that took no list further, since the last that did (see #listPage). */
  readonly #repeatedPages = new Map<ResourceInformer<KubernetesObject>, number>();
  /** During start: when each informer's unpaged fallback list must have arrived (see #unpagedList). */
  readonly #unpagedDue = new Map<ResourceInformer<KubernetesObject>, number>();
  /** During start: how many list answers of each informer the list answer budget put off, and when the last was (see #putOff). */
  readonly #putOffs = new Map<ResourceInformer<KubernetesObject>, { count: number; at: number }>();
  readonly #slices: ResourceInformer<V1EndpointSlice>;
  readonly #pods: ResourceInformer<V1Pod>;
  readonly #nodes: ResourceInformer<V1Node>;
  readonly #informers: readonly ResourceInformer<KubernetesObject>[];
  readonly #listeners = new Set<Listener>();
  readonly #errorListeners = new Set<(err: Error) => void>();
  readonly #publish: ReturnType<typeof debounce>;
  #endpoints: readonly Endpoint[] = [];
  #signature = '[]';
  /** What status() lists: the first MAX_LISTED_PROBLEMS of #allProblems. */
  #problems: readonly SourceProblem[] = [];
  #allProblems: readonly SourceProblem[] = [];
  #problemKeys = new Set<string>();
  #lastUpdate: Date | undefined;
  /** Object changes since the last recompute, for the debug line that shows how many a recompute coalesced. */
  #eventsSinceRecompute = 0;
  /**
   * The pods and nodes the slices named at the last recompute. A change to any other cannot change
   * the endpoints (a slice that comes to name one triggers a recompute itself, which reads it), so
   * it does not re-arm the debounce: pods of other workloads in the namespace and nodes of other
   * pools come and go all the time in a large cluster, and each re-armed the hold-off.
   */
  #read: DiscoveredEndpoints['read'] = { pods: new Set(), nodes: new Set() };
  #synced = false;
  #started = false;
  #stopped = false;
  #wasStale = false;
  /** Each informer's `connected` as last seen, to tell when one reaches the API server again. */
  readonly #wasConnected = new Map<ResourceInformer<KubernetesObject>, boolean>();
  /** Informers still failing when another recovered, with their failure count then: see #catchUp. */
  readonly #catchingUp = new Map<ResourceInformer<KubernetesObject>, number>();
  /** Informers #catchUp made retry early since they last stayed connected (once per outage each). */
  readonly #hurried = new Set<ResourceInformer<KubernetesObject>>();
  /** A recompute came due while informers were catching up; it runs once they all answered. */
  #heldRecompute = false;
  #syncWaiter: { resolve(): void; reject(err: Error): void } | undefined;

  constructor(config: KubernetesSourceConfig, options: KubernetesSourceOptions = {}) {
    this.#config = config;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ source: 'kubernetes', namespace: config.namespace });
    this.#startTimeoutMs = options.startTimeoutMs ?? config.startTimeoutMs;
    this.#startMaxMs = Math.max(options.startMaxMs ?? config.startMaxMs, this.#startTimeoutMs);
    this.#clock = options.clock ?? REAL_CLOCK;
    const timing: InformerTiming = { ...DEFAULT_INFORMER_TIMING, ...options.timing };
    // Credentials are bounded like the requests they are for: a hung exec plugin is an API error.
    const kc = withCredentialTimeout(options.kubeConfig ?? defaultKubeConfig(), timing.listTimeoutMs);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const ns = config.namespace;
    const labelSelector =
      config.services.length === 1
        ? `${SERVICE_NAME_LABEL}=${config.services[0]}`
        : `${SERVICE_NAME_LABEL} in (${config.services.join(',')})`;
    const hooks = {
      onStateChange: () => this.#stateChanged(),
      onRetry: (resource: string, error: string, delayMs: number, failures: number) => {
        this.#log.warn({ resource, error, retryInMs: delayMs, failures }, `Kubernetes API error on ${resource}; keeping the last known endpoints and retrying`);
        this.#reportError(new KeywayError('SOURCE_UNAVAILABLE', `Kubernetes API error on ${resource}: ${error}`));
      },
      // Not an API error: the API server answered, and the answer waits for a larger one to be trimmed.
      onPutOff: (resource: string, error: string, delayMs: number) => {
        this.#log.info({ resource, error, retryInMs: delayMs }, `Kubernetes list answer on ${resource} put off by the list answer budget; asking again once a larger answer is trimmed`);
      },
    };
    // One budget of list answer bytes for the three informers, which list at the same time (see ListAnswerBudget).
    const budget = timing.listAnswerBudget ?? new ListAnswerBudget(timing.maxListResponseBytes ?? listResponseBound('page'));
    const make = <T extends KubernetesObject>(r: WatchedResource<T>, matters: (obj: KubernetesObject) => boolean = () => true): ResourceInformer<T> => {
      const informer: ResourceInformer<T> = new ResourceInformer<T>(kc, r, timing, {
        ...hooks,
        onObjectChange: (obj) => matters(obj) && this.#objectChanged(),
        onListPage: (progress) => this.#listPage(informer as unknown as ResourceInformer<KubernetesObject>, progress),
        onThrottled: () => this.#throttled(informer as unknown as ResourceInformer<KubernetesObject>),
        onUnpagedList: (timeoutMs) => this.#unpagedList(informer as unknown as ResourceInformer<KubernetesObject>, timeoutMs),
        onPutOff: (resource, error, delayMs) => {
          hooks.onPutOff(resource, error, delayMs);
          this.#putOff(informer as unknown as ResourceInformer<KubernetesObject>);
        },
      }, Date.now, budget);
      return informer;
    };
    this.#slices = make<V1EndpointSlice>({
      name: 'endpointslices',
      path: `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      labelSelector,
      keep: sliceTrim,
      list: (page, o) => discovery.listNamespacedEndpointSlice({ namespace: ns, labelSelector, ...page }, o),
    });
    // Every object is kept trimmed to the fields the source reads (trim.ts): kept whole, 2000 GPU
    // nodes with their pods held over 120 MB (docs/kubernetes-discovery.md "Memory").
    this.#pods = make<V1Pod>(
      { name: 'pods', path: `/api/v1/namespaces/${ns}/pods`, keep: podTrim(config), list: (page, o) => core.listNamespacedPod({ namespace: ns, ...page }, o) },
      (pod) => this.#read.pods.has(`${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`),
    );
    this.#nodes = make<V1Node>(
      { name: 'nodes', path: '/api/v1/nodes', keep: nodeTrim(config), list: (page, o) => core.listNode({ ...page }, o) },
      (node) => this.#read.nodes.has(node.metadata?.name ?? ''),
    );
    this.#informers = [this.#slices, this.#pods, this.#nodes] as unknown as ResourceInformer<KubernetesObject>[];
    this.#publish = debounce(() => this.#recomputeWhenCaughtUp(), { holdOffMs: config.holdOffMs, maxDelayMs: config.maxDelayMs });
  }

  /**
   * Starts the informers and resolves once each has listed its resource once, with `current()`
   * computed from that view. API errors meanwhile are retried with backoff. A list still receiving
   * pages is waited for, as client-go's WaitForCacheSync waits: a large collection or a slow,
   * throttled API server takes long, and giving up on it made keyway's start fail in a loop.
   * @throws KeywayError SOURCE_UNAVAILABLE when a resource without a complete list has received no
   *   list page (nor a 429, see #throttled) for `startTimeoutMs` (from the start for its first
   *   page: the API server does not answer, or refuses), when the lists have not all completed
   *   within `startMaxMs`, or when stop() is called first. The message names the resources, how
   *   far each list came and the last API error.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('KubernetesSource.start() called twice');
    this.#started = true;
    const synced = new Promise<void>((resolve, reject) => (this.#syncWaiter = { resolve, reject }));
    const clock = this.#clock;
    const startedAt = clock.now();
    for (const i of this.#informers) this.#lastAnswerAt.set(i, startedAt);
    for (const i of this.#informers) i.start();
    let timer: unknown;
    const check = (): void => {
      timer = undefined;
      if (this.#synced || !this.#syncWaiter) return;
      const now = clock.now();
      const pending = this.#informers.filter((i) => !i.state().synced);
      const names = pending.map((i) => i.resource.name).join(', ');
      const details = (): string => pending.map((i) => `${i.resource.name}: ${this.#pendingDetail(i, now)}`).join('; ');
      const idle = (i: ResourceInformer<KubernetesObject>): number => now - (this.#lastAnswerAt.get(i) ?? startedAt);
      const stalled = pending.filter((i) => idle(i) >= this.#startTimeoutMs && !this.#awaitingUnpaged(i, now));
      if (stalled.length > 0) {
        // A resource whose lists kept answering pages, but only pages an earlier list had read (a
        // proxy that drops `continue`, a list that fails at the same page each time), is named so.
        const repeating = stalled.filter((i) => (this.#repeatedPages.get(i) ?? 0) > 0);
        const silent = stalled.filter((i) => !repeating.includes(i));
        const what = [
          ...(silent.length > 0 ? [`no list page of ${silent.map((i) => i.resource.name).join(', ')}`] : []),
          ...repeating.map((i) => {
            const reached = this.#reached.get(i)!;
            return `no list of ${i.resource.name} went further than ${reached.objects} objects in ${reached.pages} pages (${this.#repeatedPages.get(i)} pages since read only what an earlier list had read)`;
          }),
        ].join(', ');
        this.#syncWaiter.reject(
          new KeywayError('SOURCE_UNAVAILABLE', `no complete list of ${names} from the Kubernetes API: ${what} in ${this.#startTimeoutMs} ms (kubernetes.startTimeoutMs) (${details()})`),
        );
        return;
      }
      if (now - startedAt >= this.#startMaxMs) {
        this.#syncWaiter.reject(new KeywayError('SOURCE_UNAVAILABLE', `no complete list of ${names} from the Kubernetes API within ${this.#startMaxMs} ms (kubernetes.startMaxMs) (${details()})`));
        return;
      }
      // Still paging (or throttled): say so, about once per startTimeoutMs, so a long start is not a silent one.
      this.#log.info({ elapsedMs: now - startedAt, startMaxMs: this.#startMaxMs }, `first list of ${names} still under way (${details()})`);
      const next = Math.min(
        startedAt + this.#startMaxMs,
        ...pending.map((i) => (this.#awaitingUnpaged(i, now) ? now : (this.#lastAnswerAt.get(i) ?? startedAt)) + this.#startTimeoutMs),
      );
      timer = clock.setTimeout(check, Math.max(1, next - now));
    };
    timer = clock.setTimeout(check, this.#startTimeoutMs);
    this.#stateChanged();
    try {
      await synced;
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      this.#syncWaiter = undefined;
      this.#lastAnswerAt.clear();
      this.#lastPageAt.clear();
      this.#furthest.clear();
      this.#reached.clear();
      this.#repeatedPages.clear();
      this.#unpagedDue.clear();
      this.#putOffs.clear();
    }
  }

  /**
   * A list page arrived. During start, it defers the start timeout unless the informer's last list
   * failed because paging is broken (a server or proxy that drops `continue` answers page 1 every
   * time) and the page takes no list of the resource further than an earlier one got in this
   * start (more pages, or more objects): counted as progress, such pages kept a start that could
   * not complete waiting for startMaxMs (10 minutes) instead of startTimeoutMs. Pages read again
   * after any other failure (a timeout at page 6 of a slow list) are progress: that list can
   * complete, and re-reading five slow pages may take longer than startTimeoutMs.
   */
  #listPage(informer: ResourceInformer<KubernetesObject>, progress: ListProgress): void {
    if (this.#syncWaiter === undefined) return;
    const now = this.#clock.now();
    this.#lastPageAt.set(informer, now);
    const furthest = this.#furthest.get(informer);
    if (furthest === undefined || progress.objects >= furthest.objects) this.#furthest.set(informer, progress);
    const reached = this.#reached.get(informer);
    if (reached !== undefined && progress.pages <= reached.pages && progress.objects <= reached.objects && informer.pagingBroken()) {
      this.#repeatedPages.set(informer, (this.#repeatedPages.get(informer) ?? 0) + 1);
      return;
    }
    this.#reached.set(informer, { pages: Math.max(progress.pages, reached?.pages ?? 0), objects: Math.max(progress.objects, reached?.objects ?? 0) });
    this.#repeatedPages.delete(informer);
    this.#lastAnswerAt.set(informer, now);
    this.#unpagedDue.delete(informer);
  }

  /**
   * A continue token expired and the whole collection is asked for in one request, which has
   * `timeoutMs` to arrive (longer than startTimeoutMs for a large collection). During start the
   * 410 Expired counts as an answer, and the start timeout does not run while that request is
   * within its own bound: it would fail the one list that can complete.
   */
  #unpagedList(informer: ResourceInformer<KubernetesObject>, timeoutMs: number): void {
    if (this.#syncWaiter === undefined) return;
    const now = this.#clock.now();
    this.#lastAnswerAt.set(informer, now);
    this.#unpagedDue.set(informer, now + timeoutMs);
  }

  /** Whether the informer's unpaged fallback list is under way and within its bound. */
  #awaitingUnpaged(informer: ResourceInformer<KubernetesObject>, now: number): boolean {
    const due = this.#unpagedDue.get(informer);
    return due !== undefined && now < due && informer.listProgress()?.unpaged === true;
  }

  /**
   * A request refused with 429 during start: API Priority and Fairness sheds load, and a loaded API
   * server may do so for minutes. It answered, so the start timeout counts from here, as from a
   * page; startMaxMs still bounds the start. Failing the start would only restart keyway into
   * the same queue, adding to the load.
   */
  #throttled(informer: ResourceInformer<KubernetesObject>): void {
    if (this.#syncWaiter !== undefined) this.#lastAnswerAt.set(informer, this.#clock.now());
  }

  /**
   * A list answer put off by the list answer budget during start. It sets no lastError (it is no
   * API failure), so without this a failed start named a resource the API server kept answering
   * "no answer yet", pointing at the API server, RBAC or the network instead of the budget.
   */
  #putOff(informer: ResourceInformer<KubernetesObject>): void {
    if (this.#syncWaiter === undefined) return;
    this.#putOffs.set(informer, { count: (this.#putOffs.get(informer)?.count ?? 0) + 1, at: this.#clock.now() });
  }

  /**
   * Why a resource has no complete list yet: how far its list came (the one under way, else the
   * furthest an earlier attempt came before it failed or started again) and its last error. A list
   * still paging is not "no answer": the collection is large or the API server slow to serve it.
   */
  #pendingDetail(informer: ResourceInformer<KubernetesObject>, now: number): string {
    const progress = informer.listProgress();
    const furthest = this.#furthest.get(informer);
    const ago = `the last page ${now - (this.#lastPageAt.get(informer) ?? now)} ms ago`;
    const lastError = informer.state().lastError;
    const putOff = this.#putOffs.get(informer);
    const putOffNote =
      putOff !== undefined ? `${putOff.count} list answer${putOff.count === 1 ? '' : 's'} put off by the list answer budget beside a larger answer, the last ${now - putOff.at} ms ago` : undefined;
    if (progress?.unpaged === true && progress.pages === 0) {
      const due = this.#unpagedDue.get(informer);
      const listing = `listing without paging after a continue token expired${due !== undefined ? `, ${Math.max(0, due - now)} ms left` : ''}`;
      return furthest ? `${listing} (the paged list read ${furthest.objects} objects in ${furthest.pages} pages, ${ago})` : listing;
    }
    if (progress && progress.pages > 0) {
      const listing = `still listing (${progress.objects} objects in ${progress.pages} pages read so far, ${ago}${putOffNote !== undefined ? `, ${putOffNote}` : ''})`;
      return lastError !== undefined ? `${listing}, after ${lastError}` : listing;
    }
    // No page yet is no answer yet, unless the budget put answers off.
    const base = lastError ?? putOffNote ?? 'no answer yet';
    return furthest ? `${base} (an earlier list read ${furthest.objects} objects in ${furthest.pages} pages, ${ago})` : base;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#publish.cancel();
    this.#syncWaiter?.reject(new KeywayError('SOURCE_UNAVAILABLE', 'the Kubernetes source was stopped before its first complete list'));
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  current(): readonly Endpoint[] {
    return this.#endpoints;
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` on every Kubernetes API failure that an informer retries (each retry counts). */
  onError(listener: (err: Error) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  status(): KubernetesSourceStatus {
    const resources = this.#informers.map((i) => ({ resource: i.resource.name, path: i.resource.path, ...i.state() }));
    const failing = resources.filter((r) => !r.connected && r.failingSince !== undefined);
    const stale = this.#synced && failing.length > 0;
    const latestError = resources
      .filter((r) => r.lastError !== undefined)
      .sort((a, b) => (b.lastErrorAt ?? 0) - (a.lastErrorAt ?? 0))[0];
    return {
      kind: 'kubernetes',
      healthy: this.#synced && resources.every((r) => r.connected),
      stale,
      ...(stale ? { staleSince: new Date(Math.min(...failing.map((r) => r.failingSince!))) } : {}),
      ...(latestError ? { lastError: `${latestError.resource}: ${latestError.lastError}` } : {}),
      ...(this.#lastUpdate ? { lastUpdate: this.#lastUpdate } : {}),
      problems: this.#problems,
      ...(this.#allProblems.length > this.#problems.length ? { problemsTotal: this.#allProblems.length } : {}),
      resources,
    };
  }

  #objectChanged(): void {
    this.#eventsSinceRecompute++;
    if (this.#synced && !this.#stopped) this.#publish.trigger();
  }

  #stateChanged(): void {
    this.#catchUp();
    if (!this.#synced && this.#informers.every((i) => i.state().synced)) {
      this.#synced = true;
      this.#recompute(false);
      this.#log.info({ endpoints: this.#endpoints.length }, 'Kubernetes source synced');
      this.#syncWaiter?.resolve();
    }
    if (!this.#synced) return;
    const { stale, staleSince } = this.status();
    if (stale && !this.#wasStale) this.#log.warn({ staleSince }, 'Kubernetes API unreachable; serving the last known endpoints (stale)');
    if (!stale && this.#wasStale) this.#log.info('Kubernetes API reachable again; endpoints are current');
    this.#wasStale = stale;
  }

  /**
   * After an outage the informers come back on their own backoff timers, up to 15 s apart at the
   * 30 s step. A map built from slices that caught up and pods that did not (or the reverse) would
   * leave out every pod recreated meanwhile (its uid changed): its shards would move away and
   * back. So when one informer reaches the API server again, the others that are failing retry at
   * once, and recomputes wait until each of them has answered (connected, or failed again: at
   * most listTimeoutMs, so a resource that stays unreachable holds nothing for long). An informer
   * is hurried so once per outage: against a server that accepts each watch and fails it at once,
   * the informers would otherwise keep cutting each other's backoff short.
   */
  #catchUp(): void {
    const recovered = this.#informers.some((i) => i.state().connected && this.#wasConnected.get(i) === false);
    for (const i of this.#informers) {
      this.#wasConnected.set(i, i.state().connected);
      if (i.state().failures === 0) this.#hurried.delete(i);
    }
    if (recovered && this.#synced) {
      for (const i of this.#informers) {
        const st = i.state();
        if (st.connected || st.failingSince === undefined || this.#catchingUp.has(i)) continue;
        if (i.waiting()) {
          // Already hurried in this outage: it waits out its backoff, and recomputes do not wait for it.
          if (this.#hurried.has(i)) continue;
          this.#hurried.add(i);
          i.retryNow();
        }
        this.#catchingUp.set(i, st.failures);
      }
    }
    for (const [i, failuresThen] of this.#catchingUp) {
      if (i.state().connected || i.state().failures > failuresThen) this.#catchingUp.delete(i);
    }
    if (this.#catchingUp.size === 0 && this.#heldRecompute) {
      this.#heldRecompute = false;
      if (!this.#stopped) this.#publish.trigger();
    }
  }

  #recomputeWhenCaughtUp(): void {
    if (this.#catchingUp.size > 0) this.#heldRecompute = true;
    else this.#recompute();
  }

  /** Recomputes the endpoints from the informer caches; notifies listeners if they changed. */
  #recompute(notify = true): void {
    if (this.#stopped) return;
    const { endpoints, problems, read } = discoverEndpoints(
      { slices: this.#slices.list(), pods: this.#pods.list(), nodes: this.#nodes.list() },
      this.#config,
    );
    this.#read = read;
    this.#lastUpdate = new Date();
    this.#logProblems(problems);
    const signature = JSON.stringify(endpoints);
    const events = this.#eventsSinceRecompute;
    this.#eventsSinceRecompute = 0;
    this.#log.debug({ events, endpoints: endpoints.length, changed: signature !== this.#signature }, 'Kubernetes endpoints recomputed');
    if (signature === this.#signature) return;
    this.#signature = signature;
    this.#endpoints = endpoints;
    if (!notify) return;
    this.#log.info({ endpoints: endpoints.length, ready: endpoints.filter((e) => e.ready).length }, 'Kubernetes endpoints changed');
    for (const l of this.#listeners) {
      try {
        l(endpoints);
      } catch (err) {
        this.#log.error({ err }, 'an endpoint listener failed');
      }
    }
  }

  #reportError(err: Error): void {
    for (const l of this.#errorListeners) {
      try {
        l(err);
      } catch (e) {
        this.#log.error({ err: e }, 'an error listener failed');
      }
    }
  }

  #logProblems(next: readonly SourceProblem[]): void {
    const before = this.#problemKeys;
    const after = new Set(next.map(problemKey));
    const added = next.filter((p) => !before.has(problemKey(p)));
    for (const p of added.slice(0, MAX_LISTED_PROBLEMS)) this.#log.warn({ problem: p }, `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}: ${p.message}`);
    if (added.length > MAX_LISTED_PROBLEMS) this.#log.warn({ newProblems: added.length }, `${added.length - MAX_LISTED_PROBLEMS} more new problems in cluster objects not logged one by one`);
    const resolved = this.#allProblems.filter((p) => !after.has(problemKey(p)));
    for (const p of resolved.slice(0, MAX_LISTED_PROBLEMS)) this.#log.info({ problem: p }, `resolved: ${p.kind} ${p.name} ${p.reason}`);
    if (resolved.length > MAX_LISTED_PROBLEMS) this.#log.info({ resolvedProblems: resolved.length }, `${resolved.length - MAX_LISTED_PROBLEMS} more problems resolved`);
    if (next.length > MAX_LISTED_PROBLEMS && this.#allProblems.length <= MAX_LISTED_PROBLEMS) {
      this.#log.warn({ problems: next.length }, `${next.length} problems in cluster objects; status lists the first ${MAX_LISTED_PROBLEMS}`);
    }
    this.#allProblems = next;
    this.#problemKeys = after;
    this.#problems = next.length > MAX_LISTED_PROBLEMS ? next.slice(0, MAX_LISTED_PROBLEMS) : next;
  }
}

/**
 * Creates the Kubernetes source from a validated `kubernetes:` section (see
 * parseKubernetesSourceConfig). Nothing talks to the API server until start().
 */
export function createKubernetesSource(config: KubernetesSourceConfig, options: KubernetesSourceOptions = {}): KubernetesSource {
  return new KubernetesSource(config, options);
}

/** In a pod: the service account and the in-cluster API server; elsewhere: KUBECONFIG or ~/.kube/config. */
function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
