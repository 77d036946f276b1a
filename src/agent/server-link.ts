/**
 * The agent's link to one keyway replica (docs/ownership.md "The agent library"): one delta ADS
 * stream for `keyway.v1.ShardAssignment` (node.id = the node's endpoint id, user_agent_name
 * `keyway-agent`, wildcard), every response ACKed or NACKed, reconnects with capped exponential
 * backoff that announce what the link holds (`initial_resource_versions`, so keyway resends only
 * what changed), and `ReportWarm` and `ReportLoad` calls to the same replica.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  Client,
  connectivityState,
  credentials,
  status as GrpcStatus,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  LoadReportReplySchema,
  LoadReportSchema,
  WarmReportReplySchema,
  WarmReportSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type LoadReportMessage,
  type LoadReportReply,
  type WarmReport,
  type WarmReportReply,
} from '../xds/proto.js';
import { AGENT_USER_AGENT, TYPE_URL } from '../xds/resources.js';
import type { LoadReport } from '../core/load.js';
import { decodeAssignment, type Assignment } from './assignment.js';

const DELTA_ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
const REPORT_WARM = '/keyway.v1.ShardOwnership/ReportWarm';
const REPORT_LOAD = '/keyway.v1.ShardOwnership/ReportLoad';

/** Reconnect and staleness settings of a link (defaults in docs/ownership.md "The agent library"). */
export interface LinkTiming {
  /** First reconnect delay; doubles per failed attempt (with jitter), up to `backoffMaxMs`. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** A link down this long stops contributing assignments (its held set is dropped). */
  readonly dropAfterMs: number;
  /** Deadline of one ReportWarm or ReportLoad call. */
  readonly reportDeadlineMs: number;
}

export type AgentLog = (record: Record<string, unknown>) => void;

/** A shard warmed for the move this replica named by `untilUnixMs` (its WARMING deadline). */
export interface WarmedMove {
  readonly shard: number;
  readonly untilUnixMs: number;
}

/** What the agent adds to a link to an address it resolved (docs/ownership.md "Several replicas"). */
export interface LinkHooks {
  /** After each stream end, with the delay before the next attempt. */
  readonly ended?: (retryInMs: number) => void;
  /**
   * The name the address was resolved from: TLS checks keyway's certificate against it (and
   * `:authority` carries it), as for a `host:port` entry, instead of against the pod's IP.
   */
  readonly serverName?: { readonly host: string; readonly port: number };
}

interface Held {
  readonly version: string;
  readonly assignment: Assignment;
}

/**
 * The largest ownership response the agent takes: keyway's per-stream buffer cap (64 MiB,
 * docs/security.md), past which keyway could not deliver it anyway. gRPC's default of 4 MiB is
 * one node's assignments of about 40 000 shards, within the work budget (a node of S = 65536,
 * R = 2 on two nodes gets 5.9 MB): the stream failed at every reconnect and the node never
 * learned its shards.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * The most held assignments a reconnect announces in `initial_resource_versions`: keyway's default
 * cap on the names of one subscription (KEYWAY_XDS_MAX_NAMES_PER_SUBSCRIPTION, docs/security.md).
 * A node holding more (S up to 131072 fits the work budget) was refused at every reconnect.
 */
export const MAX_ANNOUNCED = 100_000;

/**
 * How long a stream keyway has not answered must stay open to count as up. keyway (or a sidecar in
 * front of it) refuses a stream within a round trip, on a channel that is connected all along;
 * counting such a stream as up at once kept a refusing replica's stale assignments alive for ever
 * and flipped the node between them and another replica's at every retry. A resumed stream keyway
 * has nothing to send for stays open, so an answer cannot be awaited instead.
 */
export const STREAM_SETTLE_MS = 1_000;

const serialize = (m: DeltaDiscoveryRequest): Buffer => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, m));
const deserialize = (b: Buffer): DeltaDiscoveryResponse => fromBinary(DeltaDiscoveryResponseSchema, b);

/**
 * keyway refused the stream over its cap on the names of one subscription (docs/security.md "Names
 * per subscription"): RESOURCE_EXHAUSTED with the text keyway gives that limit alone. Its other
 * RESOURCE_EXHAUSTED refusals (streams per replica, connection or node id) say `already holds`.
 */
function refusedForNames(s: Pick<StatusObject, 'code' | 'details'>): boolean {
  return s.code === GrpcStatus.RESOURCE_EXHAUSTED && NAMES_CAP_REFUSAL.test(s.details);
}

/** keyway's text for a subscription over its names cap (`... subscription of N names exceeds the limit of M names ...`). */
const NAMES_CAP_REFUSAL = /subscription of \d+ names exceeds the limit/;

/** How long one connectivity watch waits for a state change before it looks again. */
const WATCH_DEADLINE_MS = 60_000;

/**
 * The drop timer firing at least this late (ms) means the process did not run meanwhile (paused, a
 * throttled cgroup, a VM migrating): that time does not count toward `dropAfterMs`.
 */
const STALL_MIN_MS = 1_000;

/** A run of failed streams this long is logged at warn once (the failures are debug lines otherwise). */
export const FAILING_REPORT_AFTER_MS = 10_000;

/**
 * The agent's ownership stream to one replica (docs/ownership.md "The ownership stream"); a link
 * down longer than `dropAfterMs` stops holding assignments, so the agent turns to another replica.
 */
export class ServerLink {
  readonly #client: Client;
  readonly #held = new Map<string, Held>();
  #call: ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> | undefined;
  #up = false;
  /** When the link last went down after being up (epoch ms). */
  #downAt: number | undefined;
  /** When the current run of failed streams began (on `now`), and whether it was reported at warn. */
  #failingSince: number | undefined;
  #failingReported = false;
  #holds = false;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #drop: NodeJS.Timeout | undefined;
  /** Marks the current stream up once it has stayed open STREAM_SETTLE_MS on a connected channel. */
  #settle: NodeJS.Timeout | undefined;
  /** A connectivity watch is pending (`#watchReady`); it looks at whichever stream is current when it fires. */
  #watching = false;
  #closed = false;
  /** The address left DNS: no stream, no reconnect; what the link holds counts until the drop. */
  #departed = false;
  /** Cleared when keyway refused a stream that announced what the link holds (a lower names cap). */
  #announce = true;
  /** The current stream announced what the link holds. */
  #announced = false;
  /** The current stream announced nothing though the link holds assignments: keyway's first answer is the whole set. */
  #resync = false;
  /** keyway answered on the current stream. */
  #answered = false;
  /** Shards this replica gave as WARMING in an answer on the current stream. */
  readonly #warmingOnStream = new Set<number>();
  /**
   * Shards this replica flipped to the node on the current stream: WARMING in an answer on it,
   * then SERVING as a reader. A flip across a reconnect is left out: a replica that restarted
   * routes its first map without transitions, and its answer looks the same.
   */
  readonly #flippedOnStream = new Set<number>();
  /** Streams opened so far (`stream`). */
  #streamSerial = 0;
  /** ReportWarm and ReportLoad calls in flight: `close()` cancels them. */
  readonly #unary = new Set<ClientUnaryCall>();

  constructor(
    readonly address: string,
    private readonly nodeId: string,
    private readonly timing: LinkTiming,
    private readonly changed: () => void,
    private readonly log: AgentLog,
    /** TLS or mTLS to keyway; default plaintext. */
    channelCredentials: ChannelCredentials = credentials.createInsecure(),
    private readonly hooks: LinkHooks = {},
    /**
     * The clock a run of failed streams is timed on, ms: monotonic, so a wall clock stepped back does
     * not hold the `keyway unreachable` warning back by the step, nor one stepped forward say the
     * step's length at once.
     */
    private readonly now: () => number = () => performance.now(),
  ) {
    // Pings notice a keyway replica that vanished without closing the connection. The channel's
    // own reconnect backoff (grpc-js: from 1 s by 1.6x up to 120 s) would otherwise outlast the
    // agent's: a stream opened while the channel waits fails at once with the last error, so after
    // a long outage the node stayed away for up to two minutes after keyway was back.
    this.#client = new Client(address, channelCredentials, {
      'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': timing.backoffInitialMs,
      'grpc.max_reconnect_backoff_ms': timing.backoffMaxMs,
      ...(hooks.serverName && {
        'grpc.ssl_target_name_override': hooks.serverName.host,
        'grpc.default_authority': hooks.serverName.host.includes(':') ? `[${hooks.serverName.host}]:${hooks.serverName.port}` : `${hooks.serverName.host}:${hooks.serverName.port}`,
      }),
    });
  }

  /**
   * keyway answered on the stream, or it has stayed open STREAM_SETTLE_MS on a connected channel.
   * (After a reconnect that announced current versions keyway has nothing to send, so an answer
   * cannot be awaited.)
   */
  get up(): boolean {
    return this.#up;
  }

  /** Now while the link is up, else when it last went down (epoch ms); undefined if it never was up. */
  get lastUpMs(): number | undefined {
    return this.#up ? Date.now() : this.#downAt;
  }

  /** The link holds keyway's answer: it answered once and the link was not down for `dropAfterMs` since. */
  get holds(): boolean {
    return this.#holds;
  }

  /**
   * Which stream of the link is current (1 for the first): keyway forgets a node's warm reports
   * when it opens a new stream (docs/ownership.md "Two-phase moves"), so the agent reports again
   * on each new stream once it is up.
   */
  get stream(): number {
    return this.#streamSerial;
  }

  /** `close()` was called: the agent no longer uses this link. */
  get closed(): boolean {
    return this.#closed;
  }

  /** `depart()` was called and not undone by `rejoin()`. */
  get departed(): boolean {
    return this.#departed;
  }

  /** What this replica assigns the node, by shard. */
  assignments(): Map<number, Assignment> {
    return new Map([...this.#held.values()].map((h) => [h.assignment.shard, h.assignment]));
  }

  /** Every assignment this replica holds for the node is draining (or there is none). */
  handedOff(): boolean {
    for (const h of this.#held.values()) if (h.assignment.phase !== 'draining') return false;
    return true;
  }

  /** Opens the stream (again). */
  connect(): void {
    if (this.#closed || this.#departed) return;
    this.#retry = undefined;
    this.#announced = this.#announce && this.#held.size > 0 && this.#held.size <= MAX_ANNOUNCED;
    this.#resync = !this.#announced && this.#held.size > 0;
    this.#answered = false;
    this.#streamSerial++;
    this.#warmingOnStream.clear();
    this.#flippedOnStream.clear();
    const call = this.#client.makeBidiStreamRequest(DELTA_ADS, serialize, deserialize);
    this.#call = call;
    call.on('data', (res: DeltaDiscoveryResponse) => this.#onResponse(call, res));
    call.on('status', (s: StatusObject) => this.#onEnd(call, s));
    call.on('error', () => {
      /* reported through 'status' */
    });
    this.#watchReady();
    call.write(
      create(DeltaDiscoveryRequestSchema, {
        node: { id: this.nodeId, userAgentName: AGENT_USER_AGENT },
        typeUrl: TYPE_URL.assignment,
        resourceNamesSubscribe: ['*'],
        initialResourceVersions: this.#announced ? Object.fromEntries([...this.#held].map(([name, h]) => [name, h.version])) : {},
      }),
    );
  }

  /** The shards this replica gives as WARMING, with their `until_unix_ms`. */
  warming(): Map<number, number> {
    const out = new Map<number, number>();
    for (const { assignment: a } of this.#held.values()) if (a.phase === 'warming') out.set(a.shard, a.untilUnixMs);
    return out;
  }

  /** This replica turned `shard` from WARMING to SERVING as a reader of the node on the current stream (and still gives it so). */
  flippedOnStream(shard: number): boolean {
    return this.#flippedOnStream.has(shard);
  }

  /** The `until_unix_ms` this replica gives `shard` while it gives it as WARMING; undefined otherwise. */
  warmingUntil(shard: number): number | undefined {
    const a = this.#held.get(String(shard))?.assignment;
    return a?.phase === 'warming' ? a.untilUnixMs : undefined;
  }

  /**
   * Calls ReportWarm on this replica; rejects with the gRPC error (its `code`) on failure. Each
   * shard is named with its move (`warmed`) and listed in `shards` too, for a keyway older than
   * `warmed` (one that knows it judges such a shard by its `warmed` entry only).
   */
  reportWarm(moves: readonly WarmedMove[]): Promise<WarmReportReply> {
    const report: WarmReport = create(WarmReportSchema, {
      nodeId: this.nodeId,
      shards: moves.map((m) => m.shard),
      warmed: moves.map((m) => ({ shard: m.shard, untilUnixMs: BigInt(m.untilUnixMs) })),
    });
    return this.#unaryCall(REPORT_WARM, (m: WarmReport) => Buffer.from(toBinary(WarmReportSchema, m)), (b: Buffer) => fromBinary(WarmReportReplySchema, b), report);
  }

  /** Calls ReportLoad on this replica (docs/load-reports.md); rejects with the gRPC error (its `code`) on failure. */
  reportLoad(report: LoadReport): Promise<LoadReportReply> {
    const message: LoadReportMessage = create(LoadReportSchema, {
      nodeId: this.nodeId,
      windowStartUnixMs: BigInt(report.windowStartMs),
      windowMs: report.windowMs,
      totalRequests: BigInt(report.totalRequests),
      shards: report.shards.map((s) => ({ shard: s.shard, requests: BigInt(s.requests) })),
    });
    return this.#unaryCall(REPORT_LOAD, (m: LoadReportMessage) => Buffer.from(toBinary(LoadReportSchema, m)), (b: Buffer) => fromBinary(LoadReportReplySchema, b), message);
  }

  /**
   * One unary call of the ShardOwnership service, bounded by `reportDeadlineMs` and held in
   * `#unary` until it settles, so `close()` can cancel it: left to its deadline, a call in flight
   * kept a closed agent's process alive for up to `reportDeadlineMs` (5 s by default) after
   * `close()` resolved, a third of a 30 s SIGTERM grace for a replica that answered slowly.
   */
  #unaryCall<Req, Res>(path: string, serialize: (m: Req) => Buffer, deserialize: (b: Buffer) => Res, message: Req): Promise<Res> {
    if (this.#closed) return Promise.reject(Object.assign(new Error('the link is closed'), { code: GrpcStatus.CANCELLED }));
    return new Promise((resolve, reject) => {
      const call = this.#client.makeUnaryRequest(path, serialize, deserialize, message, { deadline: Date.now() + this.timing.reportDeadlineMs }, (err: ServiceError | null, reply?: Res) => {
        this.#unary.delete(call);
        if (err || !reply) reject(err ?? new Error('no reply'));
        else resolve(reply);
      });
      this.#unary.add(call);
    });
  }

  /**
   * The address left DNS (docs/ownership.md "Several replicas"): the stream ends and is not
   * reopened, but what the link holds counts as a failed stream's does, until `dropAfterMs` after
   * the link went down. A replica replaced in a rolling update left the node with no assignment
   * from it until its successor answered, when its link was closed at once.
   */
  depart(): void {
    if (this.#closed || this.#departed) return;
    this.#departed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    clearTimeout(this.#settle);
    this.#settle = undefined;
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    const wasUp = this.#up;
    this.#up = false;
    if (wasUp) this.#downAt = Date.now();
    // A link that went down earlier keeps the drop clock of that outage. The agent recomputes
    // once all links are reconciled (no `changed` here, which would see them half done).
    if (this.#holds) this.#armDrop();
  }

  /** The address is back in DNS before the drop: `connect()` reconnects, announcing what the link still holds. */
  rejoin(): void {
    this.#departed = false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#drop);
    clearTimeout(this.#settle);
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
    // Reports in flight are cancelled, not awaited (docs/ownership.md "The agent library", close()):
    // a warm report from a node that is going away would only flip shards to it, and a load
    // report is one window of a node whose load is leaving with it.
    const inFlight = [...this.#unary];
    this.#unary.clear();
    for (const c of inFlight) c.cancel();
    if (inFlight.length > 0) this.log({ level: 'debug', msg: 'reports in flight cancelled by close()', server: this.address, calls: inFlight.length });
    this.#client.close();
  }

  /**
   * Marks the link up once the current stream has stayed open STREAM_SETTLE_MS on a connected
   * channel. One connectivity watch at a time serves every stream: the channel stays in
   * TRANSIENT_FAILURE while keyway refuses connections, so a watch per reconnect fired only at its
   * deadline, and they piled up (with a timer each) at every attempt for a minute.
   */
  #watchReady(): void {
    if (this.#watching) return;
    const channel = this.#client.getChannel();
    const check = (): void => {
      this.#watching = false;
      const call = this.#call;
      if (call === undefined || this.#closed || this.#settle !== undefined) return;
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) {
        this.#settle = setTimeout(() => {
          this.#settle = undefined;
          if (call === this.#call && !this.#closed) this.#markUp();
        }, STREAM_SETTLE_MS);
        return;
      }
      if (state === connectivityState.SHUTDOWN) return;
      this.#watching = true;
      channel.watchConnectivityState(state, Date.now() + WATCH_DEADLINE_MS, check);
    };
    check();
  }

  /** keyway took the stream: it ends the outage, so the drop clock and the backoff start over. */
  #markUp(): void {
    clearTimeout(this.#drop);
    this.#drop = undefined;
    clearTimeout(this.#settle);
    this.#settle = undefined;
    this.#attempt = 0;
    this.#failingSince = undefined;
    this.#failingReported = false;
    if (this.#up) return;
    this.#up = true;
    this.changed();
  }

  #onResponse(call: ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, res: DeltaDiscoveryResponse): void {
    if (call !== this.#call || this.#closed) return;
    if (res.typeUrl !== TYPE_URL.assignment) {
      this.log({ level: 'warn', msg: 'response of a type the agent did not ask for; ignored', server: this.address, typeUrl: res.typeUrl });
      return;
    }
    const decoded: [string, string, Assignment][] = [];
    const problems: string[] = [];
    for (const r of res.resources) {
      const a = decodeAssignment(r.name, r.resource);
      if (typeof a === 'string') problems.push(a);
      else decoded.push([r.name, r.version, a]);
    }
    this.#answered = true;
    this.#announce = true;
    // Unannounced, what the link held is not keyway's to remove: its first answer lists all there
    // is. Also when that answer is NACKed: keyway counts what it sent as held, so a name it did
    // not list would never be removed (the rest of a NACKed answer is not applied).
    let dropped = false;
    if (this.#resync) {
      const listed = new Set(res.resources.map((r) => r.name));
      for (const name of [...this.#held.keys()]) if (!listed.has(name)) dropped = this.#held.delete(name) || dropped;
      this.#resync = false;
    }
    if (problems.length > 0) {
      // The whole response is rejected; keyway counts its versions as held and resends a resource only when it changes.
      this.log({ level: 'warn', msg: 'assignments rejected (NACK)', server: this.address, error: problems.join('; ') });
      call.write(
        create(DeltaDiscoveryRequestSchema, {
          typeUrl: TYPE_URL.assignment,
          responseNonce: res.nonce,
          errorDetail: { code: GrpcStatus.INVALID_ARGUMENT, message: problems.join('; ') },
        }),
      );
      this.#markUp();
      if (dropped) this.changed();
      return;
    }
    for (const [name, version, assignment] of decoded) {
      this.#noteFlip(assignment);
      this.#held.set(name, { version, assignment });
    }
    for (const name of res.removedResources) {
      const shard = this.#held.get(name)?.assignment.shard;
      if (shard !== undefined) this.#forgetFlip(shard);
      this.#held.delete(name);
    }
    this.#holds = true;
    call.write(create(DeltaDiscoveryRequestSchema, { typeUrl: TYPE_URL.assignment, responseNonce: res.nonce }));
    this.#up = true;
    this.#markUp();
    this.changed();
  }

  /** Tracks, before `a` replaces what the link holds for its shard, whether it is a flip seen on this stream. */
  #noteFlip(a: Assignment): void {
    if (a.phase === 'warming') {
      this.#warmingOnStream.add(a.shard);
      this.#flippedOnStream.delete(a.shard);
    } else if (a.phase === 'serving' && a.reader) {
      const before = this.#held.get(String(a.shard))?.assignment;
      if (before?.phase === 'warming' && this.#warmingOnStream.has(a.shard)) this.#flippedOnStream.add(a.shard);
    } else {
      this.#forgetFlip(a.shard);
    }
  }

  #forgetFlip(shard: number): void {
    this.#warmingOnStream.delete(shard);
    this.#flippedOnStream.delete(shard);
  }

  #onEnd(call: ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, s: StatusObject): void {
    if (call !== this.#call || this.#closed) return;
    this.#call = undefined;
    clearTimeout(this.#settle);
    this.#settle = undefined;
    // A stream that never counted as up (refused) leaves the drop clock of the outage running.
    const wasUp = this.#up;
    this.#up = false;
    if (wasUp) this.#downAt = Date.now();
    const delay = Math.min(this.timing.backoffMaxMs, this.timing.backoffInitialMs * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    // A refusal (the certificate does not name the node id) repeats on every retry: say it loudly.
    const refused = s.code === GrpcStatus.PERMISSION_DENIED || s.code === GrpcStatus.UNAUTHENTICATED;
    // Over the names cap of a keyway that lowered it: the next stream announces nothing. Only that
    // refusal: one at a stream cap (a replica, connection or node holding too many streams) would
    // otherwise have keyway resend the node's whole set exactly when it is overloaded.
    if (this.#announced && !this.#answered && refusedForNames(s)) this.#announce = false;
    const now = this.now();
    this.#failingSince ??= now;
    // Failures after the first are debug lines, but a run that lasts (a client certificate keyway
    // rejects after the TLS 1.3 handshake shows as UNAVAILABLE, not as a refusal) is said once at
    // warn, long before `dropAfterMs` drops the assignments.
    const lasting = !wasUp && !refused && !this.#failingReported && now - this.#failingSince >= FAILING_REPORT_AFTER_MS;
    if (lasting) this.#failingReported = true;
    const level = refused ? 'error' : wasUp || lasting ? 'warn' : 'debug';
    const msg = refused ? 'keyway refused the ownership stream; retrying' : lasting ? `keyway unreachable for ${Math.round((now - this.#failingSince) / 1000)} s; still retrying (logged once until a stream is up)` : 'ownership stream ended; reconnecting';
    this.log({ level, msg, server: this.address, code: s.code, details: s.details, retryInMs: Math.round(delay) });
    this.#retry = setTimeout(() => this.connect(), delay);
    this.hooks.ended?.(delay);
    if (wasUp) {
      this.#armDrop();
      this.changed();
    }
  }

  /**
   * Drops what the link holds once it has been down `dropAfterMs` (unless it came up again). Time
   * the process did not run does not count: a node paused while its link was down had not tried
   * keyway meanwhile, and on resume its timers run before any answer is read, so the drop emptied
   * the node's assignments just as the reconnect they fired was about to restore them.
   */
  #armDrop(delayMs = this.timing.dropAfterMs): void {
    if (this.#drop) return;
    const due = this.now() + delayMs;
    this.#drop = setTimeout(() => {
      this.#drop = undefined;
      if (this.#up || !this.#holds) return;
      const late = this.now() - due;
      if (late >= STALL_MIN_MS) {
        // At most dropAfterMs more: of the time the process ran, the link had been down less than
        // that. Waiting the whole stall again (a VM suspended for hours) kept a gone server's
        // assignments for hours of time the node did run.
        const more = Math.min(late, this.timing.dropAfterMs);
        this.log({ level: 'info', msg: 'the process did not run for a while; the drop of a down stream\'s assignments waits longer', server: this.address, stalledMs: Math.round(late), waitMs: Math.round(more) });
        return this.#armDrop(more);
      }
      this.log({ level: 'warn', msg: 'ownership stream down too long; its assignments are dropped', server: this.address, afterMs: this.timing.dropAfterMs });
      this.#held.clear();
      this.#warmingOnStream.clear();
      this.#flippedOnStream.clear();
      this.#holds = false;
      // A stream still settling announced what was just dropped, so keyway would send none of it:
      // a new stream announces nothing and gets the whole set.
      const settling = this.#call;
      if (settling && this.#announced) {
        this.#call = undefined;
        clearTimeout(this.#settle);
        this.#settle = undefined;
        settling.cancel();
        this.connect();
      }
      this.changed();
    }, delayMs);
  }
}
