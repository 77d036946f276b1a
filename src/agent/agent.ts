/**
 * The ownership agent (docs/ownership.md "The agent library"): runs in a cache node, holds one
 * ownership stream per keyway replica, exposes the node's shard assignments, pre-warms the shards
 * the node is gaining through the node's `warm` function and reports them warm to every replica,
 * counts the node's requests per shard and reports them to every replica once per load window
 * (docs/load-reports.md), and tells a shutdown hook when the node has handed every shard off.
 */
import type { ChannelCredentials } from '@grpc/grpc-js';
import { sameAssignment, type Assignment } from './assignment.js';
import { ServerLink, type AgentLog, type LinkHooks, type LinkTiming, type WarmedMove } from './server-link.js';
import { lookupAll, parseDnsTarget, ReplicaName, type ResolveHost } from './replica-names.js';
import { LoadCounter } from './load-counter.js';
import { windowStart, type LoadReport } from '../core/load.js';

export interface OwnershipAgentOptions {
  /** The endpoint id keyway knows the node by. */
  readonly nodeId: string;
  /**
   * Every keyway replica's xDS address, "host:port", or "dns:///HOST:PORT" for a name standing for
   * every replica (a headless Service): one stream per address it resolves to, kept up to date.
   */
  readonly servers: readonly string[];
  /** Resolves the HOST of a "dns:///" entry to every address it has; default: the OS resolver (A and AAAA). */
  readonly resolveHost?: ResolveHost;
  /** Pre-warms a shard the node is gaining; when it resolves the agent reports warm to every server. */
  readonly warm?: (assignment: Assignment, signal: AbortSignal) => Promise<void>;
  /** After every change of the merged assignments. Not awaited; what it throws (or an `async` one rejects with) is logged as `onChange failed`. */
  readonly onChange?: (assignments: ReadonlyMap<number, Assignment>) => void;
  readonly log?: (record: Record<string, unknown>) => void;
  /** Reconnect, staleness and report settings; the defaults suit production (docs/ownership.md). */
  readonly timing?: Partial<AgentTiming>;
  /**
   * How to reach keyway's xDS port: `credentials.createSsl(ca)` when keyway serves TLS. Under mTLS
   * (the certificate must name `nodeId`), grpc-js's `experimental.createCertificateProviderChannelCredentials`
   * with a `FileWatcherCertificateProvider`: it re-reads rotated files, where `createSsl(ca, key, cert)`
   * keeps its certificate, and every reconnect fails once that expires (docs/ownership.md
   * "TLS credentials"). Default: plaintext.
   */
  readonly credentials?: ChannelCredentials;
}

export interface AgentTiming extends LinkTiming {
  /** ReportWarm attempts per replica before the agent gives up on it (keyway then flips at the deadline). */
  readonly reportAttempts: number;
  /** Delay before the second attempt; doubles per attempt, up to `backoffMaxMs`; each drawn from half of it to all of it. */
  readonly reportRetryMs: number;
  /**
   * Length of a load window (docs/load-reports.md); must equal keyway's `hotShards.windowMs`
   * (keyway refuses other lengths with INVALID_ARGUMENT, logged once). 0 turns load reports off.
   */
  readonly loadWindowMs: number;
  /** How often a "dns:///" entry of `servers` is resolved again (also soon after a link to one of its addresses fails). */
  readonly dnsRefreshMs: number;
}

export const DEFAULT_AGENT_TIMING: AgentTiming = {
  backoffInitialMs: 250,
  backoffMaxMs: 30_000,
  dropAfterMs: 60_000,
  reportDeadlineMs: 5_000,
  reportAttempts: 5,
  reportRetryMs: 500,
  loadWindowMs: 10_000,
  dnsRefreshMs: 30_000,
};

/**
 * The wait after failed ReportWarm attempt `attempt` (from 1): `reportRetryMs` doubled per attempt
 * up to `backoffMaxMs`, then drawn from half of it to all of it, as the reconnect delay is. A
 * replica whose connection drops fails every node's report in flight in the same instant; a fixed
 * schedule then sent all those nodes' retries in the same instants too.
 */
export function reportRetryDelay(timing: Pick<AgentTiming, 'reportRetryMs' | 'backoffMaxMs'>, attempt: number, random: () => number): number {
  return Math.min(timing.backoffMaxMs, timing.reportRetryMs * 2 ** Math.min(attempt - 1, 30)) * (0.5 + random() / 2);
}

/** After a window closes, the agent waits at least this long before reporting it (requests in flight at the boundary finish). */
const LOAD_REPORT_DELAY_MS = 20;

/**
 * The share of keyway's settle time (its wait after a window's end before reading the window,
 * min(1 s, window / 4), src/sources/load/local.ts) over which nodes spread their reports; the rest
 * is for the call to arrive, so a report is never late for the read.
 */
export const LOAD_REPORT_SPREAD = 0.5;

/**
 * How long after a window's end the agent reports it: from LOAD_REPORT_DELAY_MS to
 * LOAD_REPORT_SPREAD of keyway's settle time (500 ms with 10 s windows), drawn anew each window.
 * A fixed delay sent a whole fleet's reports (epoch-aligned windows, NTP clocks) to every replica
 * in the same millisecond: 2000 nodes, 2000 calls of up to 256 shards each at once.
 */
export function loadReportDelay(windowMs: number, random: () => number): number {
  const settleMs = Math.min(1_000, windowMs / 4);
  return LOAD_REPORT_DELAY_MS + random() * Math.max(0, LOAD_REPORT_SPREAD * settleMs - LOAD_REPORT_DELAY_MS);
}

/** Statuses a repeated ReportWarm cannot fix. */
const FINAL_CODES: ReadonlySet<number> = new Set([3 /* INVALID_ARGUMENT */, 12 /* UNIMPLEMENTED */]);

interface WarmJob {
  readonly controller: AbortController;
  /** The deadline the job runs to: the latest `until_unix_ms` keyway sent for the shard. */
  untilUnixMs: number;
  timer: NodeJS.Timeout | undefined;
  /** Aborted by its deadline: a later deadline starts the warm-up again. */
  expired: boolean;
  /** `warm` resolved or threw: no deadline applies any more. */
  settled: boolean;
  /** `warm` resolved: the shard is reported to each replica that gives it as WARMING. */
  warmed: boolean;
}

/** One `servers` entry: a replica's address, or a name resolved to every replica's. */
type ServerEntry = { readonly address: string } | { readonly name: ReplicaName };

/** setTimeout's longest delay; a deadline further out is re-armed when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const EMPTY: ReadonlyMap<number, Assignment> = new Map();

/**
 * Refuses settings the timers cannot honour: setTimeout fires at once for NaN, Infinity or more
 * than MAX_TIMER_MS (dropAfterMs: Infinity dropped the assignments 1 ms after a stream ended), and
 * a backoff of 0 reconnected in a busy loop while keyway was down.
 */
function checkTiming(t: AgentTiming): void {
  const bounds: [keyof AgentTiming, number][] = [
    ['backoffInitialMs', 1],
    ['backoffMaxMs', 1],
    ['dropAfterMs', 0],
    ['reportDeadlineMs', 1],
    ['reportRetryMs', 0],
    ['loadWindowMs', 0],
    ['dnsRefreshMs', 1],
  ];
  for (const [name, min] of bounds) {
    const v = t[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_TIMER_MS) {
      throw new TypeError(`OwnershipAgent: timing.${name} must be a whole number of ms from ${min} to ${MAX_TIMER_MS}, got ${String(v)}`);
    }
  }
  if (!Number.isSafeInteger(t.reportAttempts) || t.reportAttempts < 1) {
    throw new TypeError(`OwnershipAgent: timing.reportAttempts must be a whole number >= 1, got ${String(t.reportAttempts)}`);
  }
}

/**
 * `keyway/agent`, the node side of the ownership contract (docs/ownership.md "Several replicas"):
 * assignments come from the first replica up, since all compute the same view; warm and load
 * reports go to every replica, since each plans on its own.
 */
export class OwnershipAgent {
  readonly #opts: OwnershipAgentOptions;
  readonly #timing: AgentTiming;
  readonly #log: AgentLog;
  /** The links in `servers` order (a name's addresses sorted), one per distinct address. */
  #links: ServerLink[] = [];
  readonly #byAddress = new Map<string, ServerLink>();
  /**
   * Links whose address left DNS, kept while they hold assignments (until `dropAfterMs` after they
   * went down, as for a failed stream), in case no other replica answers sooner or the address returns.
   */
  readonly #departed = new Map<string, ServerLink>();
  readonly #entries: ServerEntry[] = [];
  readonly #names: ReplicaName[] = [];
  #merged: ReadonlyMap<number, Assignment> = EMPTY;
  #synced = false;
  #started = false;
  #closed = false;
  /** Shards being warmed (or warmed) in their current WARMING period. */
  readonly #jobs = new Map<number, WarmJob>();
  /**
   * Per replica, the shards reported warm to it and the `until_unix_ms` (its name of the move) each
   * report named: a replica is told again when it names the move anew (a later deadline, or a new
   * move). Entries go when the replica no longer gives the shard as WARMING.
   */
  readonly #told = new Map<ServerLink, Map<number, number>>();
  /**
   * Per replica, the stream `#told` counts for: keyway forgets a node's warm reports when the node
   * opens a new stream (a restarted node's cache is empty), so a replica is told everything again
   * once its new stream is up (docs/ownership.md "Two-phase moves").
   */
  readonly #toldOn = new Map<ServerLink, number>();
  /** The link the exposed assignments come from. */
  #source: ServerLink | undefined;
  /** Orders the events below: one step per recompute. */
  #step = 0;
  /** Per shard the node reads (SERVING as a reader, by the exposed assignments), the step it began. */
  readonly #readSince = new Map<number, number>();
  /** Per link, the step at which it began to give each shard as WARMING (held while it does). */
  readonly #warmingSince = new Map<ServerLink, Map<number, number>>();
  /** Shards whose warm-up resolved, kept while the node warms or reads them: warm after the flip too. */
  readonly #warmDone = new Set<number>();
  #flush: NodeJS.Immediate | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #waiters = new Set<(done: boolean) => void>();
  readonly #load: LoadCounter | undefined;
  #loadTimer: NodeJS.Timeout | undefined;
  /** S from the last assignments seen, kept when none is left, so load reports list only shards below it. */
  #knownShardCount: number | undefined;
  /** Per server, the last load-report failure logged (each distinct failure is logged once). */
  readonly #loadFailures = new Map<string, string>();

  constructor(opts: OwnershipAgentOptions) {
    // A JavaScript caller's undefined id streamed as "" (keyway refuses it at every reconnect), and
    // a string for servers was read character by character ("k" is not host:port).
    if (typeof opts.nodeId !== 'string' || opts.nodeId === '') {
      throw new TypeError(`OwnershipAgent: nodeId must be the endpoint id keyway knows the node by (a non-empty string), got ${describe(opts.nodeId)}`);
    }
    if (!Array.isArray(opts.servers)) {
      throw new TypeError(`OwnershipAgent: servers must be an array of keyway xDS addresses (["host:port"] or ["dns:///HOST:PORT"]), got ${describe(opts.servers)}`);
    }
    if (opts.servers.length === 0) throw new TypeError('OwnershipAgent: servers must list at least one keyway xDS address');
    this.#opts = opts;
    this.#timing = { ...DEFAULT_AGENT_TIMING, ...opts.timing };
    checkTiming(this.#timing);
    this.#log = guardedLog(opts.log);
    const resolveHost = opts.resolveHost ?? lookupAll;
    for (const s of new Set(opts.servers)) {
      const target = parseDnsTarget(s);
      if (typeof target === 'string') throw new TypeError(`OwnershipAgent: servers: ${target}`);
      if (target) {
        const name = new ReplicaName(target, resolveHost, this.#timing, () => this.#reconcileLinks(), this.#log);
        this.#names.push(name);
        this.#entries.push({ name });
      } else if (/^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$/.test(s) && validPort(s)) {
        this.#entries.push({ address: s });
      } else {
        // A port out of range (a typo of 18000) failed every stream, never a clear error.
        throw new TypeError(`OwnershipAgent: servers: ${JSON.stringify(s)} is not host:port or dns:///HOST:PORT (a port in 1..65535)`);
      }
    }
    // Names resolve at start(): until then only the host:port entries have links.
    this.#reconcileLinks();
    this.#load = this.#timing.loadWindowMs > 0 ? new LoadCounter(opts.nodeId, this.#timing.loadWindowMs, Date.now(), () => this.#knownShardCount, performance.now()) : undefined;
  }

  /**
   * Counts `n` requests the node served for `shard` (docs/load-reports.md): the agent reports the
   * window's counts to every keyway replica when the window closes. O(1); call it per request.
   * `n` may be a request's work in a unit the whole fleet shares ("What a node counts"); a whole
   * number, since reports carry integers: anything else throws a TypeError. A `shard` outside
   * [0, S) counts in the window's total but is not listed: keyway refuses a report listing one.
   */
  recordRequest(shard: number, n = 1): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`recordRequest: n must be a whole number >= 0 (requests or work units), got ${n}`);
    this.#load?.record(shard, n, Date.now(), performance.now());
  }

  /** Connects (and reconnects with backoff) to every server. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    for (const link of this.#links) link.connect();
    for (const name of this.#names) name.start();
    this.#scheduleLoadReport();
  }

  /** Closes every stream, aborts warm-ups in progress and resolves pending `waitForHandoff` calls with false. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const name of this.#names) name.close();
    for (const link of this.#links) link.close();
    for (const link of this.#departed.values()) link.close();
    this.#departed.clear();
    for (const [shard, job] of this.#jobs) this.#endJob(shard, job);
    if (this.#flush) clearImmediate(this.#flush);
    clearTimeout(this.#loadTimer);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const w of [...this.#waiters]) w(false);
  }

  /** The node's assignments by shard, from the first server whose stream is up. */
  assignments(): ReadonlyMap<number, Assignment> {
    return this.#merged;
  }

  /** S, from the assignments; undefined before the first assignment arrives. */
  shardCount(): number | undefined {
    for (const a of this.#merged.values()) return a.shardCount;
    return undefined;
  }

  /** At least one server stream is up. */
  connected(): boolean {
    return this.#links.some((l) => l.up);
  }

  /** Now while a server stream is up, else when the last one went down (epoch ms); undefined if none ever was up. */
  lastConnectedMs(): number | undefined {
    let last: number | undefined;
    // A departed link's outage counts too: its assignments may be the ones exposed.
    for (const l of [...this.#links, ...this.#departed.values()]) {
      const t = l.lastUpMs;
      if (t !== undefined && (last === undefined || t > last)) last = t;
    }
    return last;
  }

  /**
   * Resolves true once this node serves no shard (every assignment is draining, or there is none)
   * according to a server that answered and every other server whose stream is up, false after
   * `timeoutMs` or on close: for a preStop hook.
   */
  waitForHandoff(timeoutMs: number): Promise<boolean> {
    // Not a number (a call without one, "60s"): the wait re-armed a NaN timer every millisecond, with no timeout.
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
      throw new TypeError(`waitForHandoff: timeoutMs must be a number of milliseconds (Infinity: until handed off or closed), got ${describe(timeoutMs)}`);
    }
    if (this.#handedOff()) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    // On the monotonic clock: a wall clock stepped back by X held a preStop hook X longer.
    const end = performance.now() + Math.max(0, timeoutMs);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (result: boolean): void => {
        clearTimeout(timer);
        if (timer) this.#timers.delete(timer);
        this.#waiters.delete(done);
        resolve(result);
      };
      // setTimeout fires at once past MAX_TIMER_MS (about 24.8 days), so a longer wait, or Infinity, re-arms.
      const arm = (): void => {
        if (timer) this.#timers.delete(timer);
        const left = end - performance.now();
        if (left <= 0) return done(false);
        timer = setTimeout(arm, Math.min(MAX_TIMER_MS, left));
        this.#timers.add(timer);
      };
      this.#waiters.add(done);
      arm();
    });
  }

  /**
   * Makes the links those of the addresses `servers` stands for now: a new address gets a link
   * (connected once the agent has started; it is told the shards warmed once it gives them as
   * WARMING, as every link is); a
   * link whose address is gone stops streaming, but what it holds counts as a failed stream's
   * does until `dropAfterMs` (docs/ownership.md "Several replicas"); an address back before that
   * reconnects its link.
   */
  #reconcileLinks(): void {
    if (this.#closed) return;
    const wanted = new Map<string, LinkHooks>();
    for (const e of this.#entries) {
      if ('address' in e) {
        if (!wanted.has(e.address)) wanted.set(e.address, {});
        continue;
      }
      const { host, port } = e.name.target;
      for (const address of e.name.addresses) {
        if (!wanted.has(address)) wanted.set(address, { ended: (delay) => this.#linkEnded(address, delay), serverName: { host, port } });
      }
    }
    const removed: string[] = [];
    for (const [address, link] of this.#byAddress) {
      if (wanted.has(address)) continue;
      this.#byAddress.delete(address);
      this.#loadFailures.delete(address);
      removed.push(address);
      if (link.holds) {
        this.#departed.set(address, link);
        link.depart();
      } else {
        link.close();
      }
    }
    const added: ServerLink[] = [];
    this.#links = [...wanted].map(([address, hooks]) => {
      const known = this.#byAddress.get(address);
      if (known) return known;
      const back = this.#departed.get(address);
      if (back) {
        // Back within the grace: the link reconnects, announcing what it still holds.
        this.#departed.delete(address);
        this.#byAddress.set(address, back);
        back.rejoin();
        added.push(back);
        return back;
      }
      const link = new ServerLink(address, this.#opts.nodeId, this.#timing, () => this.#recompute(), this.#log, this.#opts.credentials, hooks);
      this.#byAddress.set(address, link);
      added.push(link);
      return link;
    });
    if (added.length > 0 && this.#started) for (const link of added) link.connect();
    if (this.#started && (added.length > 0 || removed.length > 0)) {
      this.#log({ level: 'info', msg: 'keyway replicas changed', added: added.map((l) => l.address), removed, links: this.#links.length });
    }
    if (removed.length > 0) this.#recompute();
  }

  /** A stream to a resolved address ended: the replica may be gone, so its name is resolved again soon. */
  #linkEnded(address: string, retryInMs: number): void {
    for (const name of this.#names) if (name.addresses.includes(address)) name.soon(retryInMs);
  }

  /**
   * Every replica whose stream is up says the node serves no shard (and one answered). Each replica
   * flips and drains on its own clock and warm reports (docs/ownership.md "Replicas agree"): with
   * the first replica's word alone, a node stopped while another still routed its shards to it.
   */
  #handedOff(): boolean {
    if (!this.#synced || ![...this.#merged.values()].every((a) => a.phase === 'draining')) return false;
    return this.#links.every((l) => !(l.up && l.holds) || l.handedOff());
  }

  /** A link changed: recompute the exposed assignments, then warm-ups and waiters. */
  #recompute(): void {
    if (this.#closed) return;
    // A departed link whose assignments were dropped is done with.
    for (const [address, link] of this.#departed) {
      if (link.holds) continue;
      link.close();
      this.#departed.delete(address);
    }
    const source = this.#links.find((l) => l.up && l.holds) ?? this.#links.find((l) => l.holds) ?? [...this.#departed.values()].find((l) => l.holds);
    this.#source = source;
    this.#synced = source !== undefined;
    const next = source ? source.assignments() : EMPTY;
    const changed = next.size !== this.#merged.size || [...next].some(([shard, a]) => {
      const before = this.#merged.get(shard);
      return !before || !sameAssignment(before, a);
    });
    const step = ++this.#step;
    this.#trackWarming(step);
    if (changed) {
      this.#merged = next;
      this.#knownShardCount = this.shardCount() ?? this.#knownShardCount;
      this.#trackReads(step);
      this.#reconcileWarm();
      if (this.#opts.onChange) {
        const failed = (err: unknown): void => this.#log({ level: 'error', msg: 'onChange failed', err: String(err) });
        try {
          // An async onChange's rejection is its throw: unhandled, it ended the process.
          catchRejection(this.#opts.onChange(next), failed);
        } catch (err) {
          failed(err);
        }
      }
    }
    // Also when nothing changed: a first answer with no assignment hands a node off that holds none.
    if (this.#handedOff()) for (const w of [...this.#waiters]) w(true);
    // A replica may have started a move of a shard the node holds warm already: it is told now.
    if (this.#opts.warm) this.#flush ??= setImmediate(() => this.#report());
  }

  /**
   * Starts one warm-up per shard entering WARMING; aborts those of shards that left it. A job runs
   * to the shard's latest deadline: keyway extends it when a node's stream opens after the move
   * began (docs/ownership.md "Why wait for a stream"), so a new `until_unix_ms` re-arms the job's
   * timer instead of starting it again, and a job its deadline stopped starts again on a later one.
   */
  #reconcileWarm(): void {
    for (const [shard, job] of this.#jobs) {
      const a = this.#merged.get(shard);
      if (a?.phase === 'warming' && !(job.expired && a.untilUnixMs > job.untilUnixMs)) {
        if (!job.expired && a.untilUnixMs !== job.untilUnixMs) this.#armDeadline(shard, job, a.untilUnixMs);
        continue;
      }
      this.#endJob(shard, job);
    }
    const warm = this.#opts.warm;
    if (!warm) return;
    for (const a of this.#merged.values()) {
      if (a.phase !== 'warming' || this.#jobs.has(a.shard)) continue;
      const job: WarmJob = { controller: new AbortController(), untilUnixMs: a.untilUnixMs, timer: undefined, expired: false, settled: false, warmed: false };
      this.#jobs.set(a.shard, job);
      this.#armDeadline(a.shard, job, a.untilUnixMs);
      const signal = job.controller.signal;
      this.#log({ level: 'info', msg: 'warming shard', shard: a.shard, from: a.servingOwners.map((p) => p.id), untilUnixMs: a.untilUnixMs });
      // Called on the next microtask (a synchronous throw becomes a rejection): not at all once the
      // job ended meanwhile (close() from onChange, a later change in the same tick), or warm ran after close().
      Promise.resolve()
        .then(() => (signal.aborted ? undefined : warm(a, signal)))
        .finally(() => {
          job.settled = true;
          clearTimeout(job.timer);
        })
        .then(
          () => {
            if (signal.aborted || this.#closed || this.#jobs.get(a.shard) !== job) return;
            job.warmed = true;
            this.#warmDone.add(a.shard);
            this.#flush ??= setImmediate(() => this.#report());
          },
          (err: unknown) => {
            if (signal.aborted || this.#closed) return;
            // Not reported: keyway flips the route at the deadline (docs/ownership.md "Phases").
            this.#log({ level: 'warn', msg: 'warm failed; not reported', shard: a.shard, err: err instanceof Error ? err.message : String(err) });
          },
        );
    }
  }

  /** Aborts the job's signal with a TimeoutError once `untilUnixMs` passes (keyway flips the route then). */
  #armDeadline(shard: number, job: WarmJob, untilUnixMs: number): void {
    clearTimeout(job.timer);
    job.untilUnixMs = untilUnixMs;
    if (job.settled) return;
    const left = untilUnixMs - Date.now();
    job.timer = setTimeout(() => {
      if (Date.now() < job.untilUnixMs) return this.#armDeadline(shard, job, job.untilUnixMs);
      job.timer = undefined;
      job.expired = true;
      this.#log({ level: 'warn', msg: 'warm-up deadline passed; not reported', shard, untilUnixMs: job.untilUnixMs });
      job.controller.abort(new DOMException(`shard ${shard}: the warm-up deadline (until_unix_ms ${job.untilUnixMs}) passed`, 'TimeoutError'));
    }, Math.min(MAX_TIMER_MS, Math.max(0, left)));
    job.timer.unref();
  }

  #endJob(shard: number, job: WarmJob): void {
    clearTimeout(job.timer);
    job.controller.abort();
    this.#jobs.delete(shard);
  }

  /** Notes, per link, when it began to give each shard as WARMING (for `#holdsWarm`). */
  #trackWarming(step: number): void {
    for (const link of this.#warmingSince.keys()) if (!this.#links.includes(link)) this.#warmingSince.delete(link);
    for (const link of this.#links) {
      const warming = link.warming();
      const since = this.#warmingSince.get(link) ?? new Map<number, number>();
      for (const shard of since.keys()) if (!warming.has(shard)) since.delete(shard);
      for (const shard of warming.keys()) if (!since.has(shard)) since.set(shard, step);
      if (since.size > 0) this.#warmingSince.set(link, since);
      else this.#warmingSince.delete(link);
    }
  }

  /** Notes when the node began to read each shard; forgets warm-ups of shards it neither warms nor reads any more. */
  #trackReads(step: number): void {
    const reads = (a: Assignment | undefined): boolean => a?.phase === 'serving' && a.reader;
    for (const shard of this.#readSince.keys()) if (!reads(this.#merged.get(shard))) this.#readSince.delete(shard);
    for (const a of this.#merged.values()) if (reads(a) && !this.#readSince.has(a.shard)) this.#readSince.set(a.shard, step);
    for (const shard of this.#warmDone) {
      const a = this.#merged.get(shard);
      if (a?.phase !== 'warming' && !reads(a)) this.#warmDone.delete(shard);
    }
  }

  /**
   * The node holds `shard` warm for `link`'s move of it: its current warm-up of it resolved, or it
   * reads the shard (the replica exposed routes its requests here) and
   * - a warm-up of it resolved before, and the node has warmed or read it since (the flip came first there);
   * - or the replica exposed flipped it on the stream the node is on now (WARMING, then SERVING):
   *   it routes the shard here by its own deadline, and `link`, which started the move later, is
   *   told at once rather than flipping at its own deadline;
   * - or the node read it before `link` began the move: the shard's requests warmed it.
   * Reading it is not enough otherwise: a replica that restarted routes its first map without
   * transitions, so it gives a shard still warming elsewhere as SERVING, and telling the other
   * replicas flipped all their moves cold. A node that restarted itself knows of no warm-up.
   */
  #holdsWarm(shard: number, link: ServerLink): boolean {
    const a = this.#merged.get(shard);
    if (a?.phase === 'warming') return this.#jobs.get(shard)?.warmed === true;
    if (a?.phase !== 'serving' || !a.reader) return false;
    if (this.#warmDone.has(shard) || this.#source?.flippedOnStream(shard) === true) return true;
    const read = this.#readSince.get(shard);
    const warming = this.#warmingSince.get(link)?.get(shard);
    return read !== undefined && warming !== undefined && read < warming;
  }

  /**
   * Reports to every server each shard it gives as WARMING that the node holds warm, unless that
   * server was told already of that move (docs/ownership.md "ReportWarm"); one report per server,
   * each retried on its own. A report names each shard's move by that server's own deadline, so a
   * server that has not seen the change yet is told once it gives the shard as WARMING. A server
   * is told only while its stream is up, and told again on each new stream (keyway forgets a
   * node's reports when it opens one).
   */
  #report(): void {
    this.#flush = undefined;
    if (this.#closed) return;
    // A link gone (its address left DNS) is told nothing more; one that rejoins is told again.
    for (const link of this.#told.keys()) if (!this.#links.includes(link)) this.#told.delete(link);
    for (const link of this.#toldOn.keys()) if (!this.#links.includes(link)) this.#toldOn.delete(link);
    for (const link of this.#links) {
      // Not before its stream is up: a report keyway hears before the stream's opening would be
      // forgotten by it. The link's coming up recomputes, and reports then.
      if (!link.up) continue;
      if (this.#toldOn.get(link) !== link.stream) {
        this.#told.delete(link);
        this.#toldOn.set(link, link.stream);
      }
      const told = this.#told.get(link) ?? new Map<number, number>();
      const warming = link.warming();
      for (const shard of told.keys()) if (!warming.has(shard)) told.delete(shard);
      if (told.size > 0) this.#told.set(link, told);
      else this.#told.delete(link);
      const due = [...warming].filter(([shard, until]) => told.get(shard) !== until && this.#holdsWarm(shard, link)).map(([shard]) => shard);
      if (due.length > 0) void this.#reportTo(link, due.sort((x, y) => x - y), 1);
    }
  }

  /**
   * Reports `shards` to one server, retried with backoff. Each attempt names, per shard, the move
   * the server gives now (its WARMING `until_unix_ms`), and carries only the shards the node still
   * holds warm and the server still gives as WARMING: keyway ignores a report naming a move it does
   * not run, and a warm-up that ended (a cancelled move) is not reported, so a late report cannot
   * complete a later move of the shard to this node before its new warm-up finished.
   */
  async #reportTo(link: ServerLink, shards: readonly number[], attempt: number): Promise<void> {
    const moves: WarmedMove[] = [];
    const told = this.#told.get(link) ?? new Map<number, number>();
    for (const shard of shards) {
      const until = link.warmingUntil(shard);
      if (until === undefined || !this.#holdsWarm(shard, link)) continue;
      moves.push({ shard, untilUnixMs: until });
      told.set(shard, until);
    }
    if (told.size > 0) this.#told.set(link, told);
    if (moves.length < shards.length) {
      const ended = shards.filter((shard) => !moves.some((m) => m.shard === shard));
      this.#log({ level: 'info', msg: 'warm report not sent: the warm-up ended', server: link.address, shards: ended, attempt });
    }
    if (moves.length === 0) return;
    const sent = moves.map((m) => m.shard);
    try {
      const reply = await link.reportWarm(moves);
      this.#log({ level: 'info', msg: 'reported warm', server: link.address, shards: sent, accepted: reply.accepted });
    } catch (err) {
      // A link whose replica left DNS since is not retried.
      if (this.#closed || link.closed || link.departed) return;
      const code = (err as { code?: number }).code;
      const final = (code !== undefined && FINAL_CODES.has(code)) || attempt >= this.#timing.reportAttempts;
      const error = err instanceof Error ? err.message : String(err);
      if (final) {
        this.#log({ level: 'warn', msg: 'warm report failed; giving up on this server', server: link.address, shards: sent, attempt, err: error });
        return;
      }
      const delay = reportRetryDelay(this.#timing, attempt, Math.random);
      this.#log({ level: 'warn', msg: 'warm report failed; retrying', server: link.address, shards: sent, attempt, err: error, retryInMs: Math.round(delay) });
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        void this.#reportTo(link, sent, attempt + 1);
      }, delay);
      this.#timers.add(timer);
    }
  }

  /** Wakes after the current load window closes (spread, `loadReportDelay`) and reports it (and every window after). */
  #scheduleLoadReport(): void {
    const load = this.#load;
    if (!load || this.#closed) return;
    const now = Date.now();
    const at = windowStart(now, load.windowMs) + load.windowMs + loadReportDelay(load.windowMs, Math.random);
    this.#loadTimer = setTimeout(() => {
      for (const report of load.take(Date.now(), performance.now())) for (const link of this.#links) void this.#reportLoadTo(link, report);
      const unreported = load.takeUnreported();
      if (unreported.length > 0) {
        this.#log({ level: 'warn', msg: 'the clock went back: load windows counted but not reported', windowStartsMs: unreported });
      }
      this.#scheduleLoadReport();
    }, at - now);
    this.#loadTimer.unref();
  }

  /** One attempt per window and replica: the next window's report supersedes a lost one. */
  async #reportLoadTo(link: ServerLink, report: LoadReport): Promise<void> {
    try {
      await link.reportLoad(report);
      if (this.#loadFailures.delete(link.address)) this.#log({ level: 'info', msg: 'load reports accepted again', server: link.address });
    } catch (err) {
      if (this.#closed || link.closed || link.departed) return;
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { code?: number }).code;
      const key = failureKey(code, message);
      if (this.#loadFailures.get(link.address) === key) return;
      this.#loadFailures.set(link.address, key);
      this.#log({ level: code === 3 ? 'error' : 'warn', msg: 'load report failed (logged once until it changes)', server: link.address, windowStartMs: report.windowStartMs, err: message });
    }
  }
}

/**
 * The caller's `log`, made safe to call from gRPC's events and timers: what it throws (a logger
 * without a method for the record's `level`, say) crashed the process as an uncaught exception or
 * an unhandled rejection. The first exception becomes a process warning; the agent carries on.
 */
function guardedLog(log: OwnershipAgentOptions['log']): AgentLog {
  if (!log) return () => {};
  let warned = false;
  const failed = (err: unknown): void => {
    if (warned) return;
    warned = true;
    process.emitWarning(`OwnershipAgent: log threw (later exceptions of it are not reported): ${String(err)}`, { type: 'KeywayWarning' });
  };
  return (record) => {
    try {
      // An async logger's rejection too: unhandled, it ended the process.
      catchRejection(log(record), failed);
    } catch (err) {
      failed(err);
    }
  };
}

/** Hands the rejection of `result` to `failed` when a callback typed `=> void` returned a promise (an `async` function). */
function catchRejection(result: unknown, failed: (err: unknown) => void): void {
  if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') return;
  Promise.resolve(result as PromiseLike<unknown>).catch(failed);
}

/** The port of a `host:port` entry is in 1..65535, as for a `dns:///` one. */
function validPort(hostPort: string): boolean {
  const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  return port >= 1 && port <= 65535;
}

/** A value as an error message shows what the caller passed. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined || value === null) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' || typeof value === 'function' ? typeof value : `${typeof value} ${String(value)}`;
}

/**
 * What makes two load-report failures the same, to log one once: gRPC's texts carry timings and
 * times ("Deadline exceeded after 5.001s,remote_addr=..."), and keyway's refusals the window
 * start, so a hung replica or a skewed clock was logged again at every window. A refusal
 * (INVALID_ARGUMENT) is told apart by its text without the numbers, anything else by its code.
 */
function failureKey(code: number | undefined, message: string): string {
  if (code === undefined) return `? ${message}`;
  return code === 3 ? `3 ${message.replace(/\d+(\.\d+)?/g, '#')}` : String(code);
}
