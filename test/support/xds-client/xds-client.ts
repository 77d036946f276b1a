/**
 * A protocol-checking xDS test client: a real @grpc/grpc-js client on one ADS or per-type stream
 * (state of the world or delta) that lets a test send requests, ACKs and NACKs by hand and checks
 * every response against the xDS protocol (nonces unique and non-empty, type URLs, Any payloads,
 * only subscribed names, per-resource versions in delta, ...). A violation fails the next `next()`.
 */
import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, type ChannelCredentials, type ClientDuplexStream, type StatusObject, type Client } from '@grpc/grpc-js';
import type { DescService, Message } from '@bufbuild/protobuf';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  NodeSchema,
  StatusSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../../src/xds/proto.js';
import { kindOfTypeUrl, TYPE_URL, type ResourceKind } from '../../../src/xds/resources.js';
import { AggregatedDiscoveryService, grpcServiceDefinition, PER_TYPE_SERVICES } from '../../../src/xds/server/index.js';
import { check, decodeAny, nameInside, ProtocolViolation } from './checks.js';

export interface TestNode {
  readonly id: string;
  readonly cluster?: string;
  readonly userAgentName?: string;
  readonly locality?: { region?: string; zone?: string; subZone?: string };
}

export interface XdsClientOptions {
  readonly port: number;
  readonly node: TestNode;
  readonly protocol?: 'sotw' | 'delta';
  /** `ads` (default) or the kind of a per-type service. */
  readonly service?: 'ads' | ResourceKind;
  /** TLS or mTLS to keyway (docs/security.md); default plaintext. */
  readonly credentials?: ChannelCredentials;
}

export interface ReceivedResource {
  readonly name: string;
  /** Delta only: the per-resource version. */
  readonly version?: string;
  readonly message: Message;
}

export interface Received {
  readonly kind: ResourceKind;
  /** version_info (SotW) or system_version_info (delta). */
  readonly version: string;
  readonly nonce: string;
  readonly resources: readonly ReceivedResource[];
  /** Delta only. */
  readonly removed: readonly string[];
}

interface TypeState {
  /** SotW: names of the latest request. Delta: names subscribed. */
  names: Set<string>;
  wildcard: boolean;
  legacyWildcard: boolean;
  requested: boolean;
  last?: Received;
  /** Version the client would report as applied (SotW version_info). */
  applied: string;
}

type Duplex = ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse | DeltaDiscoveryResponse>;

const ALL_KINDS: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route'];

export class XdsTestClient {
  readonly #client: Client;
  readonly #call: Duplex;
  readonly #queue: Received[] = [];
  readonly #waiters: { resolve: (r: Received) => void; reject: (e: Error) => void }[] = [];
  readonly #nonces = new Set<string>();
  readonly #types = new Map<ResourceKind, TypeState>();
  readonly protocol: 'sotw' | 'delta';
  readonly service: 'ads' | ResourceKind;
  readonly node: TestNode;
  #violation: Error | undefined;
  #ended: StatusObject | undefined;
  #sentNode = false;
  /** Every response received, in order. */
  readonly history: Received[] = [];
  /** Resolves with the stream's final status. */
  readonly finished: Promise<StatusObject>;

  constructor(opts: XdsClientOptions) {
    this.protocol = opts.protocol ?? 'sotw';
    this.service = opts.service ?? 'ads';
    this.node = opts.node;
    const desc: DescService =
      this.service === 'ads' ? AggregatedDiscoveryService : PER_TYPE_SERVICES.find((s) => s.kind === this.service)!.service;
    const Ctor = makeGenericClientConstructor(grpcServiceDefinition(desc), desc.name);
    this.#client = new Ctor(`127.0.0.1:${opts.port}`, opts.credentials ?? credentials.createInsecure());
    const method = desc.methods.find((m) => m.methodKind === 'bidi_streaming' && (this.protocol === 'delta') === m.name.startsWith('Delta'))!;
    const start = (this.#client as unknown as Record<string, () => Duplex>)[method.name]!;
    this.#call = start.call(this.#client);
    this.#call.on('data', (msg: DiscoveryResponse | DeltaDiscoveryResponse) => this.#receive(msg));
    this.finished = new Promise((resolve) => {
      this.#call.on('status', (s: StatusObject) => {
        this.#ended = s;
        this.#failWaiters(new Error(`stream ended: ${s.code} ${s.details}`));
        resolve(s);
      });
    });
    this.#call.on('error', () => {
      /* reported through 'status' */
    });
  }

  // ---- state of the world

  /**
   * Sends a SotW DiscoveryRequest for `names`. Like a real client it carries the latest nonce and
   * applied version of the type unless `extra` says otherwise.
   */
  request(
    kind: ResourceKind,
    names: readonly string[] = [],
    extra: { nonce?: string; version?: string; error?: string; ignoredByServer?: boolean } = {},
  ): void {
    check(this.protocol === 'sotw', 'request() on a delta stream');
    const t = this.#type(kind);
    // A request the server must ignore (stale nonce) leaves the subscription as it was.
    if (!extra.ignoredByServer) {
      if (names.length === 0) {
        t.wildcard = (kind === 'cluster' || kind === 'listener') && (!t.requested || t.legacyWildcard);
        t.legacyWildcard = t.wildcard;
      } else {
        t.wildcard = names.includes('*');
        t.legacyWildcard = false;
      }
      t.requested = true;
      t.names = new Set(names.filter((n) => n !== '*'));
    }
    this.#call.write(
      create(DiscoveryRequestSchema, {
        node: this.#node(),
        typeUrl: this.service === 'ads' ? TYPE_URL[kind] : '',
        resourceNames: [...names],
        versionInfo: extra.version ?? t.applied,
        responseNonce: extra.nonce ?? t.last?.nonce ?? '',
        ...(extra.error !== undefined && { errorDetail: create(StatusSchema, { code: 3, message: extra.error }) }),
      }),
    );
  }

  /** Sends a DiscoveryRequest exactly as given (for types keyway does not serve, malformed requests). */
  raw(req: Partial<Pick<DiscoveryRequest, 'typeUrl' | 'resourceNames' | 'responseNonce' | 'versionInfo'>>): void {
    this.#call.write(create(DiscoveryRequestSchema, { node: this.#node(), ...req }));
  }

  /** ACKs the latest response of `kind` (same names, its version and nonce). */
  ack(kind: ResourceKind): void {
    const t = this.#type(kind);
    check(t.last, `ack(${kind}) before any ${kind} response`);
    t.applied = t.last.version;
    if (this.protocol === 'delta') this.delta(kind, { nonce: t.last.nonce });
    else this.request(kind, this.#names(t), { nonce: t.last.nonce });
  }

  /** NACKs the latest response of `kind`: error_detail set, version_info left at the last applied one. */
  nack(kind: ResourceKind, message: string): void {
    const t = this.#type(kind);
    check(t.last, `nack(${kind}) before any ${kind} response`);
    if (this.protocol === 'delta') this.delta(kind, { nonce: t.last.nonce, error: message });
    else this.request(kind, this.#names(t), { nonce: t.last.nonce, error: message });
  }

  // ---- delta

  /** Sends a DeltaDiscoveryRequest. */
  delta(
    kind: ResourceKind,
    req: { subscribe?: readonly string[]; unsubscribe?: readonly string[]; initial?: Record<string, string>; nonce?: string; error?: string } = {},
  ): void {
    check(this.protocol === 'delta', 'delta() on a SotW stream');
    const t = this.#type(kind);
    if (!t.requested && (req.subscribe ?? []).length === 0 && (kind === 'cluster' || kind === 'listener' || kind === 'assignment')) t.wildcard = true;
    t.requested = true;
    for (const n of req.subscribe ?? []) if (n === '*') t.wildcard = true; else t.names.add(n);
    for (const n of req.unsubscribe ?? []) if (n === '*') t.wildcard = false; else t.names.delete(n);
    this.#call.write(
      create(DeltaDiscoveryRequestSchema, {
        node: this.#node(),
        typeUrl: this.service === 'ads' ? TYPE_URL[kind] : '',
        resourceNamesSubscribe: [...(req.subscribe ?? [])],
        resourceNamesUnsubscribe: [...(req.unsubscribe ?? [])],
        initialResourceVersions: req.initial ?? {},
        responseNonce: req.nonce ?? '',
        ...(req.error !== undefined && { errorDetail: create(StatusSchema, { code: 3, message: req.error }) }),
      }),
    );
  }

  // ---- receiving

  /** The next response, in arrival order; rejects on a protocol violation, a stream end or after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<Received> {
    if (this.#violation) return Promise.reject(this.#violation);
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(new Error(`stream ended: ${this.#ended.code} ${this.#ended.details}`));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (r: Received) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The next response, which must be of `kind`. */
  async expect(kind: ResourceKind, timeoutMs = 5000): Promise<Received> {
    const r = await this.next(timeoutMs);
    if (r.kind !== kind) throw new Error(`expected a ${kind} response, got ${r.kind} (version ${r.version}, nonce ${r.nonce})`);
    return r;
  }

  /** Responses received and not yet taken by next(). */
  get pending(): number {
    return this.#queue.length;
  }

  /** The latest response of `kind`. */
  last(kind: ResourceKind): Received | undefined {
    return this.#types.get(kind)?.last;
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }

  #node() {
    if (this.#sentNode) return undefined;
    this.#sentNode = true;
    const n = this.node;
    return create(NodeSchema, {
      id: n.id,
      cluster: n.cluster ?? 'test',
      userAgentName: n.userAgentName ?? 'envoy',
      ...(n.locality && { locality: { region: '', zone: '', subZone: '', ...n.locality } }),
    });
  }

  #type(kind: ResourceKind): TypeState {
    let t = this.#types.get(kind);
    if (!t) {
      t = { names: new Set(), wildcard: false, legacyWildcard: false, requested: false, applied: '' };
      this.#types.set(kind, t);
    }
    return t;
  }

  #names(t: TypeState): string[] {
    return t.legacyWildcard ? [] : [...(t.wildcard ? ['*'] : []), ...t.names];
  }

  #receive(msg: DiscoveryResponse | DeltaDiscoveryResponse): void {
    let received: Received;
    try {
      received = this.protocol === 'delta' ? this.#checkDelta(msg as DeltaDiscoveryResponse) : this.#checkSotw(msg as DiscoveryResponse);
    } catch (err) {
      this.#violation = err instanceof Error ? err : new Error(String(err));
      this.#failWaiters(this.#violation);
      return;
    }
    this.#type(received.kind).last = received;
    this.history.push(received);
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(received);
    else this.#queue.push(received);
  }

  #checkCommon(typeUrl: string, nonce: string): ResourceKind {
    const kind = kindOfTypeUrl(typeUrl);
    check(kind, `response with unknown type_url "${typeUrl}"`);
    if (this.service !== 'ads') check(kind === this.service, `a ${kind} response on the ${this.service} service`);
    check(this.#types.get(kind)?.requested, `unsolicited ${kind} response (never requested)`);
    check(nonce !== '', `${kind} response without a nonce`);
    check(!this.#nonces.has(nonce), `${kind} response reuses nonce ${nonce} on this stream`);
    this.#nonces.add(nonce);
    return kind;
  }

  #checkSotw(msg: DiscoveryResponse): Received {
    const kind = this.#checkCommon(msg.typeUrl, msg.nonce);
    const t = this.#types.get(kind)!;
    check(msg.versionInfo !== '', `${kind} response without version_info`);
    const seen = new Set<string>();
    const resources = msg.resources.map((any, i) => {
      const message = decodeAny(kind, any, `${kind} response resource ${i}`);
      const name = nameInside(kind, message);
      check(name !== '', `${kind} resource ${i} without a name`);
      check(!seen.has(name), `${kind} response lists "${name}" twice`);
      seen.add(name);
      check(t.wildcard || t.names.has(name), `${kind} response carries "${name}", which is not subscribed`);
      return { name, message };
    });
    return { kind, version: msg.versionInfo, nonce: msg.nonce, resources, removed: [] };
  }

  #checkDelta(msg: DeltaDiscoveryResponse): Received {
    const kind = this.#checkCommon(msg.typeUrl, msg.nonce);
    const t = this.#types.get(kind)!;
    const seen = new Set<string>();
    const resources = msg.resources.map((r, i) => {
      check(r.name !== '', `${kind} delta resource ${i} without a name`);
      check(r.version !== '', `${kind} delta resource "${r.name}" without a version`);
      check(!seen.has(r.name), `${kind} delta response lists "${r.name}" twice`);
      seen.add(r.name);
      const message = decodeAny(kind, r.resource, `${kind} delta resource "${r.name}"`);
      check(nameInside(kind, message) === r.name, `${kind} delta resource "${r.name}" holds "${nameInside(kind, message)}"`);
      check(t.wildcard || t.names.has(r.name), `${kind} delta response carries "${r.name}", which is not subscribed`);
      return { name: r.name, version: r.version, message };
    });
    for (const name of msg.removedResources) check(!seen.has(name), `${kind} delta response both sends and removes "${name}"`);
    return { kind, version: msg.systemVersionInfo, nonce: msg.nonce, resources, removed: [...msg.removedResources] };
  }

  #failWaiters(err: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}

export { ProtocolViolation, ALL_KINDS };
