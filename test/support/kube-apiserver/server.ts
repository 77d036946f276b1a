/**
 * An in-process Kubernetes API server for tests. It speaks the real list and watch protocol for
 * the resources keyway reads (pods, nodes, discovery.k8s.io/v1 endpointslices), so the real
 * @kubernetes/client-node informers run against it unchanged:
 *
 * - list: `{kind: <Kind>List, apiVersion, metadata: {resourceVersion}, items}`, with labelSelector;
 *   paged with `limit` and `continue` (every page of one snapshot, `metadata.continue` and
 *   `remainingItemCount` while more remain; a continue token whose snapshot was compacted away
 *   answers HTTP 410 Expired, as etcd does, and so does one for page `continueExpiresAtPage` or later); without
 *   `limit`, one answer of the whole collection (the unpaged list client-go falls back to);
 * - watch (`?watch=true&resourceVersion=X`): newline-delimited `{type, object}` events
 *   (ADDED, MODIFIED, DELETED, BOOKMARK with `allowWatchBookmarks=true`, ERROR), replayed from X;
 *   objects entering or leaving a label selector arrive as ADDED or DELETED, as on a real server;
 * - a watch from a compacted resourceVersion gets HTTP 200 then an ERROR event carrying
 *   `Status{code: 410, reason: "Expired"}` and the stream ends (what kube-apiserver's watch cache does);
 * - `timeoutSeconds` ends a watch cleanly after that long;
 * - errors are `Status` objects with the HTTP code (400, 403, 404, 405, 503); a throttled
 *   resource answers 429 as API Priority and Fairness does (plain text, `Retry-After` header).
 *
 * Test controls: upsert/remove objects, expireWatches(), failWatches(), compact(), expireContinueAtPage(n), goDown()/comeUp(),
 * forbid(resource), throttle(resource), holdLists(resource)/releaseList(resource) (list pages
 * answered one at a time, when the test says), sendBookmarks(), and a log of every request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort } from '../../../e2e/support/ports.js';
import { matchesLabels, parseLabelSelector, type LabelSelector } from './label-selector.js';
import { apiVersionOf, resolvePath, resourceByKind, type ResourceType } from './resources.js';
import { ObjectStore, type StoredObject, type StoreEvent } from './store.js';

export interface KubeApiServerOptions {
  /** Watch length when the client sends no timeoutSeconds (a real server picks 30-60 min). */
  readonly defaultWatchTimeoutSeconds?: number;
  /** Send a BOOKMARK to every watch that asked for them this often; 0 = only on sendBookmarks(). */
  readonly bookmarkIntervalMs?: number;
  /** Events kept for watch replay before the oldest are compacted away. */
  readonly historyLimit?: number;
  /**
   * A list answer sends its headers at once and its body this many ms per item later (a large
   * list takes long to read and serialize); default 0.
   */
  readonly listItemDelayMs?: number;
  /**
   * A continue token for this page of a list or a later one (the first page is 1) answers 410
   * Expired, as etcd's compaction (every 5 minutes by default) expires the snapshot of a list whose
   * pages take longer than that. Counted in pages, not in time, so a test's outcome does not depend
   * on how fast a loaded machine serves the pages; default never (only compact() expires tokens).
   * See expireContinueAtPage().
   */
  readonly continueExpiresAtPage?: number;
}

/** One request as received, for tests that check what a client asked for (verbs, paths, RBAC). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** `list`, `watch` or `get`; undefined for paths this server does not serve. */
  readonly verb?: 'list' | 'watch' | 'get';
  readonly resource?: string;
  readonly group?: string;
  readonly namespace?: string;
  /** The HTTP status answered (200 for a watch that started streaming). */
  status: number;
  /** When it arrived (epoch ms). */
  readonly at: number;
}

/**
 * `refuse`: the port is closed (connection refused); `unavailable`: every request gets 503;
 * `hang`: connections stay open but nothing is answered or streamed any more (a partition, a
 * wedged server): only a client-side timeout can notice.
 */
export type OutageMode = 'refuse' | 'unavailable' | 'hang';

interface OpenWatch {
  readonly type: ResourceType;
  readonly namespace?: string;
  readonly selector: LabelSelector;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  readonly timer: NodeJS.Timeout;
}

export class KubeApiServer {
  readonly store: ObjectStore;
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<OpenWatch>();
  private readonly forbidden = new Set<string>();
  /** Throttled resources (plural) and the Retry-After each answers with (undefined: no header). */
  private readonly throttled = new Map<string, string | undefined>();
  /** Held resources (plural) and their list requests not answered yet, oldest first (see holdLists). */
  private readonly heldListRequests = new Map<string, (() => void)[]>();
  /** Requests received during a `hang` outage, never answered. */
  private readonly hung = new Set<ServerResponse>();
  private readonly unsubscribe: () => void;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private outage: OutageMode | undefined;
  private continueExpiresAtPage: number | undefined;
  private port = 0;
  private closed = false;

  private constructor(private readonly options: KubeApiServerOptions) {
    this.store = new ObjectStore(options.historyLimit);
    this.continueExpiresAtPage = options.continueExpiresAtPage;
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.unsubscribe = this.store.subscribe((e) => this.broadcast(e));
    if (options.bookmarkIntervalMs) {
      this.bookmarkTimer = setInterval(() => this.sendBookmarks(), options.bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
  }

  /**
   * Starts a server on a free port of 127.0.0.1 below the ephemeral range, so that during a
   * `refuse` outage no port-0 listener beside the test can take the port it comes back on.
   */
  static async start(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const s = new KubeApiServer(options);
    await s.listen(await freePort());
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A KubeConfig pointing at this server: plain HTTP, no credentials. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    // client-node only allows http:// servers when skipTLSVerify is set.
    kc.loadFromOptions({
      clusters: [{ name: 'in-process', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'in-process', cluster: 'in-process', user: 'anonymous' }],
      currentContext: 'in-process',
    });
    return kc;
  }

  /** Creates or replaces an object (kind decides the resource); returns it as stored. */
  upsert<T extends StoredObject>(object: T): T {
    return this.store.upsert(object) as T;
  }

  /** Deletes an object; returns false when it did not exist. */
  remove(kind: string, namespace: string | undefined, name: string): boolean {
    return this.store.delete(kind, namespace, name);
  }

  get(kind: string, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.store.get(resourceByKind(kind), namespace, name);
  }

  /** Number of watch streams currently open, optionally of one resource (plural). */
  openWatches(plural?: string): number {
    return [...this.watches].filter((w) => plural === undefined || w.type.plural === plural).length;
  }

  /**
   * Expires every watch the way a real server does when its history no longer reaches a watcher:
   * compacts the history, then sends each open watch an ERROR event with Status 410 Expired and
   * ends it. A client that tries to resume from its old resourceVersion gets 410 again; it must relist.
   */
  expireWatches(): void {
    this.store.compact();
    for (const w of [...this.watches]) {
      this.writeEvent(w, { type: 'ERROR', object: expiredStatus(this.store.currentRv() - 1, this.store.currentRv()) });
      this.endWatch(w);
    }
  }

  /**
   * Ends every open watch with an ERROR event carrying Status `code` (not 410): what a real
   * server sends when its watch fails for another reason (e.g. 500 from the watch cache).
   */
  failWatches(code: number, reason: string, message: string): void {
    for (const w of [...this.watches]) {
      this.writeEvent(w, { type: 'ERROR', object: status(code, reason, message) });
      this.endWatch(w);
    }
  }

  /** From now on, a continue token for page `page` of a list or a later one answers 410 Expired; undefined: never. */
  expireContinueAtPage(page: number | undefined): void {
    this.continueExpiresAtPage = page;
  }

  /** Drops the event history without touching open watches (a later resume from an old rv gets 410). */
  compact(): void {
    this.store.compact();
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      this.writeEvent(w, {
        type: 'BOOKMARK',
        object: { kind: w.type.kind, apiVersion: apiVersionOf(w.type), metadata: { resourceVersion: String(this.store.currentRv()) } },
      });
    }
  }

  /** Answers 403 Forbidden for a resource (plural), as when RBAC lacks a rule; `false` lifts it. */
  forbid(plural: string, on = true): void {
    if (on) this.forbidden.add(plural);
    else this.forbidden.delete(plural);
  }

  /**
   * Answers every request for a resource (plural) with 429 Too Many Requests, as API Priority and
   * Fairness does when the request's priority level is full: the body is plain text and
   * `retryAfter` (seconds or an HTTP date) is sent as the `Retry-After` header, none when undefined.
   */
  throttle(plural: string, retryAfter: string | undefined): void {
    this.throttled.set(plural, retryAfter);
  }

  /**
   * Holds every list request (each page) of a resource (plural) unanswered until releaseList: a
   * test then decides when each page of a slow list arrives, without waiting on a clock.
   * `false` stops holding and answers what is held.
   */
  holdLists(plural: string, on = true): void {
    if (on) {
      if (!this.heldListRequests.has(plural)) this.heldListRequests.set(plural, []);
      return;
    }
    const held = this.heldListRequests.get(plural) ?? [];
    this.heldListRequests.delete(plural);
    for (const answer of held) answer();
  }

  /** List requests of `plural` held and not answered yet (a closed one is dropped when released). */
  heldLists(plural: string): number {
    return this.heldListRequests.get(plural)?.length ?? 0;
  }

  /** Answers the oldest held list request of `plural`, from the store as it is now; false if none. */
  releaseList(plural: string): boolean {
    const answer = this.heldListRequests.get(plural)?.shift();
    answer?.();
    return answer !== undefined;
  }

  /** Lifts throttle(plural). */
  unthrottle(plural: string): void {
    this.throttled.delete(plural);
  }

  /**
   * Takes the server away. `refuse` (default) and `unavailable` cut every open connection, then
   * refuse new ones or answer them 503; `hang` leaves connections open and silent (see
   * OutageMode). The store keeps accepting changes meanwhile, so a client that comes back has
   * missed events.
   */
  async goDown(mode: OutageMode = 'refuse'): Promise<void> {
    if (this.outage) return;
    this.outage = mode;
    if (mode === 'hang') {
      // Open watches freeze: no events, no bookmarks, no end at timeoutSeconds.
      for (const w of this.watches) clearTimeout(w.timer);
      return;
    }
    for (const w of [...this.watches]) this.dropWatch(w);
    for (const s of [...this.sockets]) s.destroy();
    if (mode === 'refuse') await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Ends an outage: listens again on the same port (or stops answering 503). */
  async comeUp(): Promise<void> {
    const mode = this.outage;
    if (!mode) return;
    this.outage = undefined;
    if (mode === 'hang') {
      // What was stuck is reset, as the connections of a wedged server eventually are.
      for (const w of [...this.watches]) this.dropWatch(w);
      for (const res of this.hung) res.socket?.destroy();
      this.hung.clear();
    }
    if (mode === 'refuse') await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    for (const w of [...this.watches]) this.dropWatch(w);
    for (const res of this.hung) res.socket?.destroy();
    for (const s of [...this.sockets]) s.destroy();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        if (addr && typeof addr === 'object') this.port = addr.port;
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://in-process');
    const query = Object.fromEntries(url.searchParams);
    const resolved = resolvePath(url.pathname);
    const watch = query.watch === 'true' || query.watch === '1';
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      ...(resolved
        ? {
            verb: resolved.name !== undefined ? 'get' : watch ? 'watch' : 'list',
            resource: resolved.type.plural,
            group: resolved.type.group,
            ...(resolved.namespace !== undefined ? { namespace: resolved.namespace } : {}),
          }
        : {}),
      status: 0,
      at: Date.now(),
    };
    this.requests.push(record);
    if (this.outage === 'hang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    const fail = (code: number, reason: string, message: string): void => {
      record.status = code;
      sendJson(res, code, status(code, reason, message));
    };

    if (this.outage === 'unavailable') return fail(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    if (!resolved) return fail(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    if (req.method !== 'GET') return fail(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    const { type, namespace, name } = resolved;
    if (this.forbidden.has(type.plural)) {
      const scope = namespace !== undefined ? ` in the namespace "${namespace}"` : ' at the cluster scope';
      return fail(403, 'Forbidden', `${type.plural}${type.group ? `.${type.group}` : ''} is forbidden: User "system:anonymous" cannot ${record.verb} resource "${type.plural}" in API group "${type.group}"${scope}`);
    }
    if (this.throttled.has(type.plural)) {
      record.status = 429;
      const retryAfter = this.throttled.get(type.plural);
      const text = 'Too many requests, please try again later.\n';
      res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...(retryAfter !== undefined ? { 'Retry-After': retryAfter } : {}) });
      res.end(text);
      return;
    }
    if (query.fieldSelector) return fail(400, 'BadRequest', `field selectors are not supported by the in-process server`);
    let selector: LabelSelector;
    try {
      selector = parseLabelSelector(query.labelSelector ?? '');
    } catch (err) {
      return fail(400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`);
    }

    if (name !== undefined) {
      const object = this.store.get(type, namespace, name);
      if (!object) return fail(404, 'NotFound', `${type.plural} "${name}" not found`);
      record.status = 200;
      return sendJson(res, 200, object);
    }

    if (!watch) {
      const held = this.heldListRequests.get(type.plural);
      if (!held) return this.list(res, record, { type, namespace, selector, query });
      const answer = (): void => {
        if (!res.destroyed && !res.writableEnded) this.list(res, record, { type, namespace, selector, query });
      };
      held.push(answer);
      res.on('close', () => {
        const i = held.indexOf(answer);
        if (i >= 0) held.splice(i, 1);
      });
      return;
    }

    const rvParam = query.resourceVersion ?? '';
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) return fail(400, 'BadRequest', `invalid resource version: ${rvParam}`);
    const timeoutSeconds = query.timeoutSeconds !== undefined ? Number(query.timeoutSeconds) : (this.options.defaultWatchTimeoutSeconds ?? 1800);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) return fail(400, 'BadRequest', `invalid timeoutSeconds: ${query.timeoutSeconds}`);

    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const w: OpenWatch = {
      type,
      ...(namespace !== undefined ? { namespace } : {}),
      selector,
      bookmarks: query.allowWatchBookmarks === 'true',
      res,
      timer: setTimeout(() => this.endWatch(w), timeoutSeconds * 1000),
    };
    res.on('close', () => {
      clearTimeout(w.timer);
      this.watches.delete(w);
    });

    if (rvParam === '' || rvParam === '0') {
      // No resourceVersion: synthetic ADDED events for the current state, then live events.
      for (const o of this.store.list(type, namespace)) {
        if (matchesLabels(selector, o.metadata.labels)) this.writeEvent(w, { type: 'ADDED', object: o });
      }
    } else {
      const rv = Number(rvParam);
      const backlog = this.store.eventsSince(rv);
      if (!backlog) {
        this.writeEvent(w, { type: 'ERROR', object: expiredStatus(rv, this.store.oldestWatchableRv()) });
        res.end();
        return;
      }
      for (const e of backlog) this.deliver(w, e);
    }
    if (!res.writableEnded) this.watches.add(w);
  }

  /**
   * A list, paged when `limit` is given: a continue token names the snapshot (the first page's
   * resourceVersion) and the last key sent, so every page is of that snapshot.
   */
  private list(
    res: ServerResponse,
    record: RecordedRequest,
    req: { type: ResourceType; namespace: string | undefined; selector: LabelSelector; query: Record<string, string> },
  ): void {
    const { type, namespace, selector, query } = req;
    const fail = (code: number, reason: string, message: string): void => {
      record.status = code;
      sendJson(res, code, status(code, reason, message));
    };
    const limit = query.limit !== undefined ? Number(query.limit) : 0;
    if (!Number.isInteger(limit) || limit < 0) return fail(400, 'BadRequest', `invalid limit: ${query.limit}`);
    let rv = this.store.currentRv();
    let after: string | undefined;
    let page = 1;
    let tooOld = false;
    if (query.continue) {
      const token = decodeContinue(query.continue);
      if (!token) return fail(400, 'BadRequest', 'continue key is not valid');
      ({ rv, after, page } = token);
      tooOld = this.continueExpiresAtPage !== undefined && page >= this.continueExpiresAtPage;
    }
    const snapshot = tooOld ? undefined : query.continue ? this.store.listAt(type, namespace, rv) : this.store.list(type, namespace);
    if (!snapshot) {
      return fail(
        410,
        'Expired',
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
      );
    }
    const matching = snapshot
      .filter((o) => matchesLabels(selector, o.metadata.labels))
      // A real list omits kind/apiVersion on items: they are implied by the list's kind.
      .map(({ kind: _k, apiVersion: _a, ...rest }) => rest)
      .filter((o) => after === undefined || objectKey(o).localeCompare(after) > 0);
    const items = limit > 0 ? matching.slice(0, limit) : matching;
    const remaining = matching.length - items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (remaining > 0) {
      metadata.continue = encodeContinue(rv, objectKey(items[items.length - 1]!), page + 1);
      metadata.remainingItemCount = remaining;
    }
    record.status = 200;
    const body = { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata, items };
    const delayMs = (this.options.listItemDelayMs ?? 0) * items.length;
    if (delayMs === 0) return sendJson(res, 200, body);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const timer = setTimeout(() => res.end(JSON.stringify(body)), delayMs);
    res.on('close', () => clearTimeout(timer));
  }

  private broadcast(e: StoreEvent): void {
    for (const w of this.watches) this.deliver(w, e);
  }

  /** Sends `e` to `w` if it concerns it, turning selector entry/exit into ADDED/DELETED. */
  private deliver(w: OpenWatch, e: StoreEvent): void {
    if (e.resource !== w.type) return;
    if (w.namespace !== undefined && e.object.metadata.namespace !== w.namespace) return;
    const now = e.type !== 'DELETED' && matchesLabels(w.selector, e.object.metadata.labels);
    const before = e.previous !== undefined && matchesLabels(w.selector, e.previous.metadata.labels);
    if (e.type === 'DELETED') {
      if (before) this.writeEvent(w, { type: 'DELETED', object: e.object });
    } else if (now && before) this.writeEvent(w, { type: 'MODIFIED', object: e.object });
    else if (now) this.writeEvent(w, { type: 'ADDED', object: e.object });
    else if (before) this.writeEvent(w, { type: 'DELETED', object: { ...e.object, metadata: { ...e.previous!.metadata, resourceVersion: e.object.metadata.resourceVersion } } });
  }

  private writeEvent(w: OpenWatch, event: { type: string; object: unknown }): void {
    if (this.outage === 'hang') return;
    if (!w.res.writableEnded && !w.res.destroyed) w.res.write(`${JSON.stringify(event)}\n`);
  }

  /** Ends a watch cleanly (the client sees the stream end). */
  private endWatch(w: OpenWatch): void {
    clearTimeout(w.timer);
    this.watches.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  /** Cuts a watch's connection (the client sees an error or an abrupt end). */
  private dropWatch(w: OpenWatch): void {
    clearTimeout(w.timer);
    this.watches.delete(w);
    w.res.socket?.destroy();
  }
}

/** The key lists are sorted and paged by. */
function objectKey(o: { metadata: { namespace?: string; name: string } }): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** A continue token: the snapshot (rv), the last key sent, and the page it asks for (the first is 1). */
function encodeContinue(rv: number, after: string, page: number): string {
  return Buffer.from(JSON.stringify({ rv, after, page })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; after: string; page: number } | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv?: unknown; after?: unknown; page?: unknown };
    return typeof t.rv === 'number' && typeof t.after === 'string' && typeof t.page === 'number' ? { rv: t.rv, after: t.after, page: t.page } : undefined;
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function expiredStatus(requested: number, oldest: number): Record<string, unknown> {
  return status(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}
