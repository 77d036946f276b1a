/**
 * A client of keyway's REST API that keeps the shard map in the application: it learns S and every
 * shard's owners from `GET /v1/shardmap`, polls `GET /readyz` (small, carries `version`) and
 * fetches the map again only when the version changes (docs/api.md "Polling for changes").
 * On a failure it keeps the last good map and reports a KeywayError. A hot shard's requests are
 * spread over its readers (`pick`), as proxies spread them (docs/hot-shards.md).
 */
import { ERROR_CODES, KeywayError, type KeywayErrorCode } from '../core/errors.js';
import type { ReadyzBody, ShardMapBody } from '../admin/api-types.js';
import { shardFor, type CacheKey } from './shard.js';
import { adminTokenFault } from '../core/admin-token.js';
import { lbWeight } from '../core/endpoint.js';
import { MAX_PORT } from '../core/limits.js';
import { fetchFailureText } from '../core/fetch-failure.js';

/** One owner of a shard: its endpoint id and where it listens. */
export interface Owner {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

export interface ShardMapClientOptions {
  /**
   * keyway's REST base URL, e.g. `http://keyway:8080/` (a path prefix is kept); a bare `host:port`
   * gets `http://`, as the CLI's `--server` does.
   */
  readonly baseUrl: string | URL;
  /**
   * How often to poll `GET /readyz` for a new version, in ms: an integer from 0 to 2147483647;
   * 0 turns polling off (call `refresh()`). Default 1000. Each wait is drawn within ±10 %
   * (POLL_JITTER) of it, so clients started together do not poll keyway in step.
   */
  readonly pollIntervalMs?: number;
  /**
   * After failed polls the wait doubles from pollIntervalMs up to this, in ms (then ±10 %): an
   * integer from 1 to 2147483647, default 30000. A value below pollIntervalMs leaves the wait at
   * pollIntervalMs. The first good poll returns to pollIntervalMs.
   */
  readonly maxBackoffMs?: number;
  /**
   * How long a request may wait for keyway's answer, and then for each next byte of its body, in
   * ms: an integer from 1 to 2147483647. Default 5000. A body still arriving is not cut at this
   * bound (a map of tens of MB to thousands of clients at once can take longer), only by
   * MAX_TRANSFER_MS (or timeoutMs, if longer) in all.
   */
  readonly timeoutMs?: number;
  /**
   * Called with each new map (not with the first one `connect` waits for). An exception it throws
   * (or the rejection of the promise an `async` one returns, which is not awaited) does not undo
   * the update; the first one is reported with `process.emitWarning`.
   */
  readonly onUpdate?: (client: ShardMapClient) => void;
  /**
   * Called when a poll or refresh fails; the last good map stays in use. An exception it throws is
   * reported as onUpdate's is.
   */
  readonly onError?: (err: KeywayError) => void;
  /**
   * The admin bearer token, sent as `Authorization: Bearer` when keyway runs with
   * `--admin-token-file` (docs/security.md "The admin API"); a wrong or missing one fails with
   * UNAUTHENTICATED. `setToken` replaces it on a running client (a rotated token).
   */
  readonly token?: string;
}

export const DEFAULT_POLL_INTERVAL_MS = 1000;
export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
/**
 * Each poll's wait is drawn uniformly within this fraction of it either way: thousands of clients
 * started together (a deployment's rollout) would otherwise poll, and fetch a new map, in step.
 */
export const POLL_JITTER = 0.1;
/**
 * The bound of one request in all, in ms (timeoutMs when that is longer, or the time its declared
 * length takes at MIN_TRANSFER_BYTES_PER_S): a body that keeps trickling in is cut here, so a server
 * that sends a byte just within timeoutMs cannot hold a request for ever.
 */
export const MAX_TRANSFER_MS = 300_000;
/**
 * The slowest steady rate a body with a Content-Length is let arrive at, past MAX_TRANSFER_MS. The
 * clients fetching a new map at once share keyway's link: 3000 clients of a 20 MB map on 1 Gbit/s
 * get 40 KB/s each, 8 minutes in all; cut at one fixed bound together, they all fetched again
 * together and none ever finished. At this rate a 256 MiB map (MAX_SHARDMAP_BYTES) may take 4.5 h.
 */
export const MIN_TRANSFER_BYTES_PER_S = 16 * 1024;
/**
 * A map older than the one in use (its version came into force earlier: `versionSince`, or
 * `updatedAt` from a keyway without it) is not taken while a keyway replica still served the one in
 * use within this long (or 10 polls, if longer): replicas at different versions (a handoff step, an
 * informer behind) would otherwise flip the client between their maps poll after poll. Past it the
 * replicas that had the newer map are gone (or stamped it with a clock ahead), and the older map is
 * taken.
 */
export const HELD_MAP_GRACE_MS = 30_000;
/**
 * A map refused as older (HELD_MAP_GRACE_MS) is named in If-None-Match beside the held one, so a
 * replica behind answers 304 instead of sending it whole at every poll that reaches it (a replica
 * whose source is stale can stay behind for long: a map of megabytes to thousands of clients each
 * second). After this many such 304s in a row with no replica naming the held map, each fetch
 * names the held map alone until a replica names it: a change undone on the replicas (v1 -> v2 ->
 * v1) is fetched and, having come into force last, taken.
 */
export const REJECTED_MAP_RECHECK = 8;
/**
 * How many maps refused as older are named in If-None-Match (the latest ones): replicas behind at
 * different versions (one's watch cut, another still catching up) each answer 304. A replica behind
 * at yet another version sends its map whole again at each poll that reaches it.
 */
export const MAX_REJECTED_TAGS = 4;
/**
 * A poll's timer firing this much later than due (ms) means the application did not run meanwhile
 * (paused, a throttled cgroup, a long GC): that time does not count toward HELD_MAP_GRACE_MS.
 */
const STALL_MIN_MS = 1_000;
/**
 * The longest a client keeps reusing one connection to keyway, in ms: the first request after it
 * sends `Connection: close`, so the next opens a new connection and resolves keyway's name again.
 * Polls come more often than keyway's keep-alive timeout (72 s), so without it a client kept its
 * first connection for as long as that keyway process lived: a DNS change (keyway moved, the old
 * address still answering) was never followed, and a client stayed on the replica it first reached.
 */
export const MAX_CONNECTION_REUSE_MS = 300_000;
/** Node's longest timer (2^31 - 1 ms): a longer one fires after 1 ms, so polls would flood keyway. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The most bytes an answer may hold, so a wrong baseUrl that streams without end (or a hostile
 * server) costs at most this much of the application's memory, not all of it before the timeout.
 * keyway's `/readyz` is a few hundred bytes; its `/v1/shardmap` at the work budget's edge (65536
 * shards x 2 replicas, 200-character ids) is 29 MB, a few times that with every shard in transition.
 */
const MAX_READYZ_BYTES = 1 << 20;
const MAX_SHARDMAP_BYTES = 256 << 20;

/** Why a request was aborted: no answer or byte within timeoutMs, the transfer's bound in all, or close(). */
const TIMED_OUT = new Error('timed out');
const TOO_LONG = new Error('transfer too long');
const CLOSED = new Error('closed');

/** Whom a shard's requests go to, when that is not simply its primary. */
interface ShardPick {
  /** k: how many of the shard's first owners read it (`readers` of /v1/shardmap, capped at its owners). */
  readonly readers: number;
  /**
   * The owners drawn from: the first k that can serve (ready or draining); when none of them can,
   * the first owner that can, else the primary. A reader that cannot is not replaced, as proxies do.
   */
  readonly owners: readonly Owner[];
  /** upTo[i]: the weights of owners[0..i]; the last is the total. */
  readonly upTo: readonly number[];
}

/** A shard map as the client holds it: owner lists resolved to addresses, equal lists shared. */
interface HeldMap {
  readonly version: string;
  /**
   * When the map's version came into force on the replica that sent it (epoch ms): its
   * `versionSince`, else (an older keyway) its `updatedAt`; NaN when it sends neither. Orders maps
   * of different replicas.
   */
  readonly sinceMs: number;
  /** The answer's `ETag`, sent back in `If-None-Match` so a replica with this map answers 304. */
  readonly etag: string | undefined;
  readonly shardCount: number;
  readonly owners: readonly (readonly Owner[])[];
  /**
   * Only shards with k >= 2 readers or a primary that cannot serve: shard -> whom to pick. Equal
   * (owner list, k) pairs share one.
   */
  readonly picks: ReadonlyMap<number, ShardPick>;
}

/**
 * `ShardMapClient` of `keyway/client` (docs/clients.md): routes keys in the application by the
 * key-to-shard contract, so a client needs no proxy to find a shard's owners.
 */
export class ShardMapClient {
  private readonly base: URL;
  private readonly pollIntervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxBackoffMs: number;
  /** Polls failed in a row: the backoff's exponent. */
  private failures = 0;
  private map: HeldMap | undefined;
  /** When (performance.now()) a keyway replica last said it has the map in use: an answer, a 304 or `/readyz`. */
  private heldSeenAt = 0;
  /**
   * The `ETag`s of the last MAX_REJECTED_TAGS maps not taken as older than the one in use
   * (olderThanHeld), latest first. Named in If-None-Match beside the held map's while the hold
   * lasts, so a replica behind answers 304, not the whole map again at every poll that reaches it,
   * for as long as it stays behind.
   */
  private rejectedEtags: string[] = [];
  /**
   * 304s to a refused map's tag since a replica last said it has the one in use. A map refused
   * again does not reset it: that is a recheck (the held map named alone) reaching a replica
   * behind, and the next fetch must recheck again, not wait for REJECTED_MAP_RECHECK more 304s.
   */
  private rejectedHits = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When (performance.now()) the poll's timer is due. */
  private pollDueAt = Infinity;
  private closed = false;
  /** The map fetch in flight. */
  private inflight: Promise<boolean> | undefined;
  /**
   * The fetch that follows it, shared by the refresh() calls made while it runs: they may know of a
   * newer version than the one it will bring, so they wait for one that starts after them.
   */
  private followUp: FollowUp | undefined;
  private error: KeywayError | undefined;
  /** When (performance.now()) the client last asked keyway to close a connection (MAX_CONNECTION_REUSE_MS). */
  private connectionSince = performance.now();
  /** The admin token sent with each request: `opts.token`, then what `setToken` gave. */
  private token: string | undefined;
  /** The requests in flight, so close() can end them (an open socket keeps the process alive). */
  private readonly requests = new Set<AbortController>();
  /** The callbacks whose exception was already reported. */
  private readonly warned = new Set<'onUpdate' | 'onError'>();

  /**
   * Creates a client that has no map yet and does not poll; `connect` is the usual way in.
   * @throws KeywayError BAD_ARGUMENT naming the option: a baseUrl that is not an http(s) URL or
   *   `host:port`, or pollIntervalMs, timeoutMs or maxBackoffMs out of range
   */
  constructor(private readonly opts: ShardMapClientOptions) {
    this.base = baseUrlOf(opts.baseUrl);
    checkToken(opts.token);
    this.token = opts.token;
    this.pollIntervalMs = millis('pollIntervalMs', opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, 0);
    this.timeoutMs = millis('timeoutMs', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1);
    this.maxBackoffMs = millis('maxBackoffMs', opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS, 1);
  }

  /**
   * Fetches the map once, then polls for changes (unless `pollIntervalMs` is 0).
   * @throws KeywayError when the first map cannot be had (KEYWAY_UNAVAILABLE, or keyway's own code
   *   such as SOURCE_UNAVAILABLE while it has no map); nothing is left running then
   */
  static async connect(opts: ShardMapClientOptions): Promise<ShardMapClient> {
    const client = new ShardMapClient(opts);
    await client.refresh();
    client.schedule();
    return client;
  }

  /** The version of the map in use, undefined before the first one. */
  get version(): string | undefined {
    return this.map?.version;
  }

  /** S, the deployment's shard count, undefined before the first map. */
  get shardCount(): number | undefined {
    return this.map?.shardCount;
  }

  /** The error of the latest poll or refresh, cleared by the next success. */
  get lastError(): KeywayError | undefined {
    return this.error;
  }

  /** The shard of `key` under the map's S. @throws KeywayError SOURCE_UNAVAILABLE before the first map */
  shardFor(key: CacheKey): number {
    return shardFor(key, this.held().shardCount);
  }

  /** The owners of `key`'s shard, primary first (empty when no endpoint is ready). */
  owners(key: CacheKey): readonly Owner[] {
    const map = this.held();
    return map.owners[shardFor(key, map.shardCount)]!;
  }

  /** The owners of shard `shard`, primary first. @throws KeywayError BAD_ARGUMENT outside [0, S) */
  ownersOfShard(shard: number): readonly Owner[] {
    return this.held().owners[this.checkedShard(shard)]!;
  }

  /**
   * How many of `key`'s shard's owners share its requests: k >= 2 for a hot shard
   * (docs/hot-shards.md), 1 otherwise, 0 when the shard has no owner (as `GET /v1/lookup` says).
   */
  readers(key: CacheKey): number {
    return this.readersOfShard(this.shardFor(key));
  }

  /** `readers` of shard `shard`. @throws KeywayError BAD_ARGUMENT outside [0, S) */
  readersOfShard(shard: number): number {
    const map = this.held();
    const s = this.checkedShard(shard);
    return map.picks.get(s)?.readers ?? Math.min(1, map.owners[s]!.length);
  }

  /**
   * The owner to send a request for `key` to, as proxies choose it: for a hot shard one of its
   * first k owners (its readers) drawn by endpoint weight, else the primary; an owner keyway lists
   * as neither ready nor draining is passed over, as proxies pass it over. Undefined when the shard
   * has no owner. `random` gives numbers in [0, 1) (default Math.random).
   */
  pick(key: CacheKey, random: () => number = Math.random): Owner | undefined {
    return this.pickForShard(this.shardFor(key), random);
  }

  /** `pick` for shard `shard`. @throws KeywayError BAD_ARGUMENT outside [0, S) */
  pickForShard(shard: number, random: () => number = Math.random): Owner | undefined {
    const map = this.held();
    const s = this.checkedShard(shard);
    const draw = map.picks.get(s);
    if (!draw) return map.owners[s]![0];
    const x = random() * draw.upTo[draw.upTo.length - 1]!;
    for (let i = 0; i < draw.upTo.length; i++) if (x < draw.upTo[i]!) return draw.owners[i];
    // x at the total (random() gave 1) or NaN: the last reader, never past k.
    return draw.owners[draw.owners.length - 1];
  }

  /**
   * Fetches `GET /v1/shardmap` now and uses it. Resolves true when the version in use changed since
   * the call. The answer always comes from a request started at or after the call: calls made while
   * a fetch is in flight share one more fetch, started when it ends.
   * @throws KeywayError on failure; the last good map stays in use
   */
  refresh(): Promise<boolean> {
    if (!this.inflight) return this.startFetch();
    const before = this.map?.version;
    this.followUp ??= deferred();
    // Its fetch compares with the map the one in flight brings, not with the one held at this call.
    return this.followUp.promise.then(() => this.map?.version !== before);
  }

  /**
   * Replaces the admin bearer token (the `token` option; undefined sends none) for every request
   * that starts from now on, polls included: keyway reads its token file at start, so a rotation
   * reaches its replicas as they restart, and an application that holds a client for weeks takes
   * the new token without building a new client (which would drop the map, the polling state and
   * every reference to the client it handed out). A request in flight keeps the token it was sent
   * with; if keyway refuses it (401), it is sent again once with the new token, so no
   * UNAUTHENTICATED is reported for a token already replaced. It starts no request: `refresh()`
   * fetches with the new token at once, without waiting for a poll the failures with the old one
   * have backed off.
   * @throws KeywayError BAD_ARGUMENT (field `token`) for a token the `token` option refuses; the
   *   token in use is then kept
   */
  setToken(token: string | undefined): void {
    checkToken(token);
    this.token = token;
  }

  /**
   * Stops polling and ends the requests in flight (a `refresh()` pending then rejects). The map in
   * hand stays readable.
   */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // A follow-up not yet started never starts: it would fetch after close().
    const followUp = this.followUp;
    this.followUp = undefined;
    followUp?.reject(new KeywayError('KEYWAY_UNAVAILABLE', `GET ${new URL('v1/shardmap', this.base).href}: the client was closed`));
    for (const request of this.requests) request.abort(CLOSED);
  }

  private checkedShard(shard: number): number {
    const S = this.held().shardCount;
    if (!Number.isInteger(shard) || shard < 0 || shard >= S) {
      throw new KeywayError('BAD_ARGUMENT', `shard must be an integer in [0, ${S}), got ${String(shard)}`, { field: 'shard' });
    }
    return shard;
  }

  private held(): HeldMap {
    if (!this.map) throw new KeywayError('SOURCE_UNAVAILABLE', `no shard map yet from keyway at ${this.base.href}`);
    return this.map;
  }

  private schedule(): void {
    if (this.closed || this.pollIntervalMs === 0) return;
    const delay = pollDelay(this.pollIntervalMs, this.failures, this.maxBackoffMs, Math.random);
    this.pollDueAt = performance.now() + delay;
    this.timer = setTimeout(() => void this.poll(), delay);
    this.timer.unref();
  }

  /**
   * The poll came late: the application did not run since it was due (paused, a throttled cgroup, a
   * VM migrating), and heard from no replica meanwhile. That time does not age the held map's hold:
   * counted, a client resumed after HELD_MAP_GRACE_MS took the map of the first replica behind its
   * poll reached, going back to an older map (and to the newer again at the next poll).
   */
  private discountStall(): void {
    const late = performance.now() - this.pollDueAt;
    this.pollDueAt = Infinity;
    if (late >= STALL_MIN_MS) this.heldSeenAt = Math.min(performance.now(), this.heldSeenAt + late);
  }

  /** One poll: `/readyz`, then the map only if its version differs from the one in hand. */
  private async poll(): Promise<void> {
    this.discountStall();
    let version: string;
    try {
      version = readyzVersion((await this.get<unknown>('readyz', [200, 503], MAX_READYZ_BYTES)).body, new URL('readyz', this.base));
    } catch (err) {
      this.fail(err);
      this.failures++;
      return this.schedule();
    }
    if (this.closed) return;
    if (version === this.map?.version) {
      this.sawHeld();
      this.error = undefined;
      this.failures = 0;
    } else {
      // fetchMap reported a failure and reset `failures` on success.
      await this.refresh().catch(() => this.failures++);
    }
    this.schedule();
  }

  /**
   * Starts a map fetch as the one in flight. When it ends, the follow-up waiting on it (if any)
   * starts at once, before any caller resumes, so a caller that refreshes again queues behind it.
   */
  private startFetch(): Promise<boolean> {
    const fetched = this.fetchMap();
    this.inflight = fetched;
    const next = (): void => {
      this.inflight = undefined;
      const followUp = this.followUp;
      this.followUp = undefined;
      if (followUp) this.startFetch().then(followUp.resolve, followUp.reject);
    };
    fetched.then(next, next);
    return fetched;
  }

  private async fetchMap(): Promise<boolean> {
    const held = this.map;
    let next: HeldMap | undefined;
    // The maps refused as older are named too only while they would still be refused (past the hold
    // they come in full and are taken), and until REJECTED_MAP_RECHECK answers in a row came without
    // the held map: from then on the held map is named alone until a replica says it has it, so a
    // change undone on the replicas (v1 -> v2 -> v1, the v1 refused from a replica behind) is
    // fetched and taken at the first such fetch that reaches a replica that undid it.
    const rejected = held && this.heldRecently() && this.rejectedHits < REJECTED_MAP_RECHECK ? this.rejectedEtags : [];
    let answered: string | undefined;
    try {
      // If-None-Match: a replica that has the map in use (or one refused) answers 304 and no body (docs/api.md).
      const tags = [held?.etag, ...rejected].filter((tag) => tag !== undefined).join(', ');
      const answer = await this.get<unknown>('v1/shardmap', [200, 304], MAX_SHARDMAP_BYTES, tags === '' ? undefined : tags);
      if (answer.status === 200) next = decodeShardMap(answer.body, this.base, answer.etag);
      else if (!held) throw new KeywayError('KEYWAY_UNAVAILABLE', `GET ${this.base.href}v1/shardmap answered 304 to a request that named no ETag: is it keyway's REST API?`);
      answered = answer.etag;
    } catch (err) {
      throw this.fail(err);
    }
    this.error = undefined;
    this.failures = 0;
    if (!next) {
      // A 304 says the held map only when it names it (or when only the held map was named).
      if (rejected.length === 0 || (answered !== undefined && held!.etag !== undefined && sameTag(answered, held!.etag))) this.sawHeld();
      else this.rejectedHits++;
      return false;
    }
    if (next.version === held?.version) {
      this.sawHeld();
      return false;
    }
    if (held && this.olderThanHeld(next, held)) {
      this.refused(next.etag);
      return false;
    }
    this.map = next;
    this.rejectedEtags = [];
    this.sawHeld();
    if (held && !this.closed) this.callback('onUpdate', () => this.opts.onUpdate?.(this));
    return true;
  }

  /**
   * `next` is older than the map in use (its version came into force before) while a replica still
   * served the one in use lately (HELD_MAP_GRACE_MS): a replica behind the one the client followed.
   */
  private olderThanHeld(next: HeldMap, held: HeldMap): boolean {
    return next.sinceMs < held.sinceMs && this.heldRecently();
  }

  /** Remembers the tag of a map refused as older, latest first, at most MAX_REJECTED_TAGS. */
  private refused(etag: string | undefined): void {
    if (etag === undefined) return;
    this.rejectedEtags = [etag, ...this.rejectedEtags.filter((tag) => !sameTag(tag, etag))].slice(0, MAX_REJECTED_TAGS);
  }

  /** A keyway replica said it has the map in use (an answer, a 304 or `/readyz`). */
  private sawHeld(): void {
    this.heldSeenAt = performance.now();
    this.rejectedHits = 0;
  }

  /** A keyway replica served the map in use within HELD_MAP_GRACE_MS (or 10 polls, if longer). */
  private heldRecently(): boolean {
    return performance.now() - this.heldSeenAt < Math.max(HELD_MAP_GRACE_MS, 10 * this.pollIntervalMs);
  }

  private fail(err: unknown): KeywayError {
    const e =
      err instanceof KeywayError ? err : new KeywayError('KEYWAY_UNAVAILABLE', `keyway at ${this.base.href}: ${String(err)}`, {}, { cause: err });
    this.error = e;
    if (!this.closed) this.callback('onError', () => this.opts.onError?.(e));
    return e;
  }

  /**
   * Runs a user callback. What it throws is the application's bug, not keyway's failure: the map
   * stands and polling goes on (a throw out of a poll's timer would end the process). The first
   * exception of each callback becomes a process warning; later ones are dropped, as a poll a
   * second would otherwise flood the log.
   */
  private callback(name: 'onUpdate' | 'onError', run: () => unknown): void {
    const failed = (err: unknown): void => {
      if (this.warned.has(name)) return;
      this.warned.add(name);
      const { text, detail } = describeThrown(err);
      process.emitWarning(`ShardMapClient: ${name} threw (later exceptions of it are not reported): ${text}`, { type: 'KeywayWarning', ...(detail !== undefined && { detail }) });
    };
    try {
      const result = run();
      // An async callback's rejection is its throw: unhandled, it ended the process.
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') Promise.resolve(result as PromiseLike<unknown>).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  /**
   * GETs a JSON body; statuses outside `accept` become the API's own error code when it sends one.
   * A 304 (asked for with `ifNoneMatch`) has no body.
   */
  private async get<T>(route: string, accept: readonly number[], maxBytes: number, ifNoneMatch?: string): Promise<Answer<T>> {
    const url = new URL(route, this.base);
    let res: Response;
    let text: string;
    // One controller per request, aborted when keyway is silent for timeoutMs (no answer, then no
    // byte of the body), at the transfer's bound in all, or by close().
    const request = new AbortController();
    /** Answers and body chunks read so far: a late timer's verdict checks nothing came meanwhile. */
    let progress = 0;
    /** The silence timer was armed again after a late fire, and nothing was read since. */
    let waitedAgain = false;
    let verdict: NodeJS.Immediate | undefined;
    const silence = (): NodeJS.Timeout => {
      const due = performance.now() + this.timeoutMs;
      return setTimeout(() => {
        if (performance.now() - due < STALL_MIN_MS) return void request.abort(TIMED_OUT);
        // Fired STALL_MIN_MS late: the process did not run (paused, a throttled cgroup), and timers
        // run before I/O, so an answer that came meanwhile is still unread: judge after the I/O
        // phase (setImmediate). Still nothing: wait timeoutMs again once, as that time was not
        // keyway's silence; a second late fire in a row with nothing read ends the request, else a
        // process whose every timer is late (CPU-starved, an event loop blocked for seconds at a
        // time) never timed out a silent keyway before the transfer's bound (5 minutes, or hours).
        const seen = progress;
        verdict = setImmediate(() => {
          if (progress !== seen) return;
          if (waitedAgain) return void request.abort(TIMED_OUT);
          waitedAgain = true;
          idle = silence();
        }).unref();
      }, this.timeoutMs).unref();
    };
    let idle = silence();
    const progressed = (): void => {
      progress++;
      waitedAgain = false;
      clearTimeout(idle);
      idle = silence();
    };
    const started = performance.now();
    let totalMs = Math.max(MAX_TRANSFER_MS, this.timeoutMs);
    let total = setTimeout(() => request.abort(TOO_LONG), totalMs).unref();
    /** A body of `length` bytes gets the time it takes at MIN_TRANSFER_BYTES_PER_S, if longer. */
    const declared = (length: number): void => {
      const atFloorMs = Math.ceil((length / MIN_TRANSFER_BYTES_PER_S) * 1000);
      if (!(atFloorMs > totalMs)) return;
      totalMs = Math.min(atFloorMs, MAX_TIMER_MS);
      clearTimeout(total);
      total = setTimeout(() => request.abort(TOO_LONG), Math.max(1, totalMs - (performance.now() - started))).unref();
    };
    this.requests.add(request);
    let answered = false;
    const sentToken = this.token;
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (sentToken !== undefined) headers.authorization = `Bearer ${sentToken}`;
      if (ifNoneMatch !== undefined) headers['if-none-match'] = ifNoneMatch;
      if (performance.now() - this.connectionSince >= MAX_CONNECTION_REUSE_MS) {
        headers.connection = 'close';
        this.connectionSince = performance.now();
      }
      res = await fetch(url, { headers, signal: request.signal });
      answered = true;
      progressed();
      // Past maxBytes it is refused at once (readText), so a declared length never sets a longer bound than that.
      const length = Number(res.headers.get('content-length'));
      if (Number.isFinite(length) && length <= maxBytes) declared(length);
      text = await readText(res, maxBytes, progressed);
    } catch (err) {
      const aborted: unknown = request.signal.aborted ? request.signal.reason : undefined;
      const reason =
        aborted === CLOSED
          ? 'the client was closed'
          : aborted === TIMED_OUT
            ? answered ? `no byte of the answer for ${this.timeoutMs} ms` : `no answer within ${this.timeoutMs} ms`
            : aborted === TOO_LONG
              ? `the answer took over ${totalMs} ms in all (the bound of a transfer)`
              : fetchFailureText(err);
      throw new KeywayError('KEYWAY_UNAVAILABLE', `GET ${url.href}: ${reason}`, {}, { cause: err });
    } finally {
      clearTimeout(idle);
      clearImmediate(verdict);
      clearTimeout(total);
      this.requests.delete(request);
    }
    if (res.status === 304 && accept.includes(304)) return { status: 304, body: undefined, etag: res.headers.get('etag') ?? undefined };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new KeywayError('KEYWAY_UNAVAILABLE', `GET ${url.href} answered ${res.status} with a body that is not JSON: is it keyway's REST API?`);
    }
    if (!accept.includes(res.status)) {
      // Refused a token setToken replaced while the request was in flight (a rotation): that is no
      // failure of the token in use, so send it again with the new one rather than report
      // UNAUTHENTICATED (onError, a backoff step) for a token the application already replaced.
      if (res.status === 401 && sentToken !== this.token && !this.closed) return this.get(route, accept, maxBytes, ifNoneMatch);
      const api = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      const code = (ERROR_CODES as readonly unknown[]).includes(api?.code) ? (api!.code as KeywayErrorCode) : 'KEYWAY_UNAVAILABLE';
      const detail = typeof api?.message === 'string' ? api.message : text.slice(0, 200);
      throw new KeywayError(code, `GET ${url.href} answered ${res.status}: ${detail}`);
    }
    return { status: res.status, body: body as T, etag: res.headers.get('etag') ?? undefined };
  }
}

/**
 * What a callback threw, for its warning. Never throws itself: a value String() cannot convert (an
 * object without a prototype, a throwing toString or `stack` getter, a revoked Proxy) threw out of
 * the warning, so out of a failed poll's timer or an async callback's catch: an unhandled rejection
 * that ended the application's process, and polling stopped.
 */
function describeThrown(err: unknown): { text: string; detail: string | undefined } {
  let text = 'a value that does not convert to a string';
  let detail: string | undefined;
  // Apart: an Error whose own `stack` getter throws still converts, and its message is reported.
  try {
    text = String(err);
  } catch {
    // text stays the placeholder
  }
  try {
    const stack: unknown = err instanceof Error ? err.stack : undefined;
    if (typeof stack === 'string' && stack !== '') detail = stack;
  } catch {
    // no detail
  }
  return { text, detail };
}

/** An answer of a GET: its status, body (none for a 304) and ETag. */
interface Answer<T> {
  readonly status: number;
  readonly body: T | undefined;
  readonly etag: string | undefined;
}

/** A promise with its settling functions (Node 20 has no Promise.withResolvers). */
interface FollowUp {
  readonly promise: Promise<boolean>;
  readonly resolve: (changed: boolean) => void;
  readonly reject: (err: KeywayError) => void;
}

function deferred(): FollowUp {
  let resolve!: FollowUp['resolve'];
  let reject!: FollowUp['reject'];
  const promise = new Promise<boolean>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Weak comparison of two entity tags (RFC 9110 §8.8.3.2): a `W/` prefix on either side is ignored. */
function sameTag(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** The body of `res` as UTF-8, refused (and the transfer stopped) past `maxBytes`; `progressed` after each chunk. */
async function readText(res: Response, maxBytes: number, progressed: () => void): Promise<string> {
  const over = (): Error => new Error(`the answer is over the ${maxBytes}-byte limit: is it keyway's REST API?`);
  if (Number(res.headers.get('content-length')) > maxBytes) {
    await res.body?.cancel();
    throw over();
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.byteLength;
    // Leaving the loop cancels the body, which ends the transfer.
    if (total > maxBytes) throw over();
    chunks.push(chunk);
    progressed();
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * The `version` of a `/readyz` body. keyway answers one whenever it has a map; without one it is
 * not a success: keyway's own not-ready answer (restarted, no map yet) is SOURCE_UNAVAILABLE, as
 * `/v1/shardmap` would say, and anything else is not keyway.
 */
function readyzVersion(body: unknown, url: URL): string {
  const r = body as Partial<ReadyzBody> | null;
  if (typeof r?.version === 'string') return r.version;
  if (r?.ready === false && r.status === 'not-ready' && typeof r.reason === 'string') {
    throw new KeywayError('SOURCE_UNAVAILABLE', `GET ${url.href}: keyway is not ready: ${r.reason}`);
  }
  throw new KeywayError('KEYWAY_UNAVAILABLE', `GET ${url.href} answered without a version: is it keyway's REST API?`);
}

/**
 * The wait before the next poll: pollIntervalMs, doubled for each poll failed in a row up to
 * maxBackoffMs (so thousands of clients do not hammer a keyway that is down), then drawn within
 * ±POLL_JITTER of it with `random` in [0, 1).
 */
export function pollDelay(intervalMs: number, failures: number, maxBackoffMs: number, random: () => number): number {
  const cap = Math.max(intervalMs, maxBackoffMs);
  const base = Math.min(cap, intervalMs * 2 ** Math.min(failures, 32));
  const jittered = base * (1 + POLL_JITTER * (2 * random() - 1));
  return Math.min(MAX_TIMER_MS, Math.max(1, Math.round(jittered)));
}

/** An option in ms: an integer from `min` to Node's longest timer. */
function millis(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_TIMER_MS) {
    const got = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new KeywayError('BAD_ARGUMENT', `must be an integer from ${min} to ${MAX_TIMER_MS} (ms), got ${got}`, { field });
  }
  return value;
}

/**
 * keyway's REST base URL from the `baseUrl` option: an http(s) URL, or a bare `host:port` that
 * gets `http://` as the CLI's `--server` does. A path prefix is kept (routes resolve below it).
 */
function baseUrlOf(raw: unknown): URL {
  const bad = (why: string): KeywayError => new KeywayError('BAD_ARGUMENT', why, { field: 'baseUrl' });
  const text = raw instanceof URL ? raw.href : raw;
  if (typeof text !== 'string') throw bad(`must be a URL (a string or a URL object), got ${String(raw)}`);
  const example = `an http:// or https:// URL such as http://keyway:8080, or host:port`;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw bad(`must be ${example}, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`must be ${example}, got ${JSON.stringify(text)}`);
  // Not quoted: the part before @ may be a password. fetch refuses such a URL anyway.
  if (url.username !== '' || url.password !== '') throw bad('must not hold a user name or password (user:password@host): pass the admin token as `token`');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * The `token` option holds to the rule of keyway's token file (src/core/admin-token.ts): one that
 * breaks it could never be accepted, and fetch would refuse the header as a network error.
 */
function checkToken(token: unknown): void {
  if (token === undefined) return;
  const bad = (why: string): KeywayError => new KeywayError('BAD_ARGUMENT', why, { field: 'token' });
  if (typeof token !== 'string' || token === '') throw bad('must be a non-empty string');
  const fault = adminTokenFault(token);
  // Says where, never what the token is: it is a secret.
  if (fault !== undefined) throw bad(`must be one word of visible ASCII characters, as keyway's --admin-token-file holds; character ${fault.position} is ${fault.what}`);
}

/** Checks a `/v1/shardmap` body and resolves owner ids to addresses. */
function decodeShardMap(body: unknown, base: URL, etag: string | undefined): HeldMap {
  const bad = (what: string): never => {
    throw new KeywayError('KEYWAY_UNAVAILABLE', `GET ${base.href}v1/shardmap: not a shard map: ${what}`);
  };
  const m = body as Partial<ShardMapBody> | null;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return bad('not an object');
  if (typeof m.version !== 'string') return bad('no version');
  const S: unknown = m.shardCount;
  // Quoted unless a number: `shardCount "3"` (a string) must not read as the number 3.
  if (typeof S !== 'number' || !Number.isSafeInteger(S) || S < 1) return bad(`shardCount ${typeof S === 'number' ? String(S) : (JSON.stringify(S) ?? 'undefined')}`);
  // Only an array's length counts: a string's would say "1 shards" for `shards: "3"`.
  if (!Array.isArray(m.shards) || m.shards.length !== S) return bad(`${Array.isArray(m.shards) ? m.shards.length : 'undefined'} shards for shardCount ${S}`);
  if (!Array.isArray(m.endpoints)) return bad('no endpoints');
  const byId = new Map<string, Owner>();
  const weightOf = new Map<Owner, number>();
  // Ready or draining (a body without the fields: both taken as serving).
  const serving = new Set<Owner>();
  for (const e of m.endpoints) {
    if (typeof e?.id !== 'string' || typeof e.address !== 'string' || typeof e.port !== 'number') return bad('an endpoint without id, address or port');
    // A port keyway can give (its config takes 1 to MAX_PORT): 1.5 or 1e400 is no address to dial.
    if (!Number.isInteger(e.port) || e.port < 1 || e.port > MAX_PORT) return bad(`endpoint ${e.id}: port ${JSON.stringify(e.port)}`);
    const w: unknown = e.weight;
    if (w !== undefined && (typeof w !== 'number' || !Number.isFinite(w) || w < 0)) return bad(`endpoint ${e.id}: weight ${JSON.stringify(w)}`);
    const owner = Object.freeze({ id: e.id, address: e.address, port: e.port });
    byId.set(e.id, owner);
    // The load-balancing weight proxies spread by, so a weight of 0 still takes a share.
    weightOf.set(owner, w === undefined ? 1 : lbWeight(w));
    if (e.ready !== false || e.draining === true) serving.add(owner);
  }
  // Many shards share an owner list (at most N^R distinct lists): keep one array per list, and one
  // draw per (list, readers), so memory follows the map's distinct lists, not S.
  const lists = new Map<string, readonly Owner[]>();
  const draws = new Map<string, ShardPick>();
  const owners = new Array<readonly Owner[]>(S);
  const picks = new Map<number, ShardPick>();
  for (const s of m.shards) {
    if (!Number.isInteger(s?.shard) || s.shard < 0 || s.shard >= S || owners[s.shard] || !Array.isArray(s.owners)) return bad(`shard entry ${JSON.stringify(s)}`);
    const ids: readonly unknown[] = s.owners;
    // Keyed by JSON, which cannot collide, and only a list of strings is looked up (a list with
    // another value is refused below at its first unknown owner): joined with '\n', ["a\nb"] was
    // taken as ["a","b"], [1] as ["1"] and [null] as [], so a shard got another list's owners.
    const name = JSON.stringify(ids);
    let list = ids.every((id) => typeof id === 'string') ? lists.get(name) : undefined;
    if (!list) {
      list = Object.freeze(ids.map((id) => (typeof id === 'string' ? byId.get(id) : undefined) ?? bad(`shard ${s.shard}: unknown owner ${JSON.stringify(id) ?? String(id)}`)));
      lists.set(name, list);
    }
    owners[s.shard] = list;
    const r: unknown = s.readers;
    if (r !== undefined && (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1)) return bad(`shard ${s.shard}: readers ${JSON.stringify(r)}`);
    // keyway caps readers at the owners it lists (shardReaders); so does the client.
    const k = Math.min(r ?? 1, list.length);
    if (k < 2 && (list.length === 0 || serving.has(list[0]!))) continue;
    const drawName = `${k}\n${name}`;
    let draw = draws.get(drawName);
    if (!draw) draws.set(drawName, (draw = shardPick(list, k, serving, weightOf)));
    picks.set(s.shard, draw);
  }
  return { version: m.version, sinceMs: sinceMsOf(m), etag, shardCount: S, owners, picks };
}

/**
 * When a map's version came into force (epoch ms): `versionSince`, kept across republishes of one
 * version. `updatedAt` is stamped at every publish, so a replica behind that republishes its older
 * map (a reload, a handoff step) looks newer by it: only a keyway that sends no `versionSince` is
 * ordered by it. Neither a date: NaN, which orders nothing (the map is taken).
 */
function sinceMsOf(m: Partial<ShardMapBody>): number {
  const since = isoDateMs(m.versionSince);
  return Number.isNaN(since) ? isoDateMs(m.updatedAt) : since;
}

/**
 * The ISO forms Date.parse reads (the ECMAScript date time string format, with what V8 adds: a
 * lower-case t or z, a space for T, an offset without its colon). keyway sends toISOString(),
 * `2026-12-08T01:00:00.000Z`.
 */
const ISO_DATE = /^(?:[+-]\d{6}|\d{4})(?:-\d{2}(?:-\d{2})?)?(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Epoch ms of an ISO date (ISO_DATE), NaN for anything else: Date.parse alone also reads V8's
 * other forms (`2026/12/08` in local time, `Dec 8 2026`, `"0"` as the year 2000, `2026-1-8`), so a
 * map was refused as older on text keyway never sends. The Python and Go clients read the same forms.
 */
function isoDateMs(text: unknown): number {
  return typeof text === 'string' && ISO_DATE.test(text) ? Date.parse(text) : NaN;
}

/**
 * Whom requests for a shard with owners `list` and `k` readers go to, weighted as proxies weigh
 * them: the translator's serving owners and readers (src/xds/translator/serving.ts).
 */
function shardPick(list: readonly Owner[], k: number, serving: ReadonlySet<Owner>, weightOf: ReadonlyMap<Owner, number>): ShardPick {
  let to = list.slice(0, k).filter((o) => serving.has(o));
  if (to.length === 0) to = [list.find((o) => serving.has(o)) ?? list[0]!];
  let total = 0;
  const upTo = to.map((o) => (total += weightOf.get(o)!));
  return { readers: k, owners: Object.freeze(to), upTo };
}
