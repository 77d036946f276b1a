/**
 * Make-before-break for stock proxyless gRPC clients (docs/xds.md "Make-before-break for stock gRPC
 * clients"): a per-class step between the translator and the snapshot cache. When a change creates
 * owner-tuple clusters, each gRPC class is first served the `add` set (grpc-staged-sets.ts), then,
 * once every stream of the class holds and ACKed the clusters, endpoints and routes of that snapshot
 * (or the bounded wait ran out), the `switch` set, then the translator's set. Per class, not per
 * stream: every stream of a class shares one snapshot, so the step costs one extra snapshot per
 * phase whatever the number of clients; a client that joins mid-change simply gets the staged set.
 * Envoy classes go through the same steps (xds-stage.ts), without staging routes.
 */
import type { Logger } from 'pino';
import { envLimit } from '../core/env-limit.js';
import { compareStrings } from '../core/order.js';
import { MAX_TIMER_MS } from '../core/limits.js';
import type { ResourceSet } from '../xds/resources.js';
import { GRPC_MAX_MESSAGE_BYTES } from '../xds/translator/grpc-size.js';
import { firstPhase, largestStagedResponse, nextPhase, routableBase, routedClusters, stagedSet, type StagePhase } from './grpc-staged-sets.js';

/** Default bound on one phase's wait for the class's ACKs (KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS). */
export const DEFAULT_GRPC_STAGE_TIMEOUT_MS = 5_000;
/** Environment variable of the bound; 0 turns make-before-break off (routes switch at once). */
export const GRPC_STAGE_TIMEOUT_ENV = 'KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS';
/**
 * How long leaving clusters stay once the class ACKed the routes that no longer use them. A gRPC
 * client ACKs a route configuration when it reads it and applies it a moment later; a call that
 * chose a leaving cluster just before is still being picked when the cluster's removal arrives,
 * and grpc-js-xds fails it ("Cluster resource ... does not exist"; seen on a loaded machine).
 */
export const GRPC_STAGE_LINGER_MS = 1_000;
/**
 * The stager's timer firing at least this late (ms, or the bound if longer) means the process did
 * not run meanwhile (paused, a throttled cgroup): phases then wait their bound anew, once each. A
 * busy event loop's lag stays below it, so it cannot hold a phase back again and again.
 */
const STALL_MIN_MS = 100;

export interface GrpcStagerOptions {
  /** Bound on each phase's wait, ms; 0: off, the translator's set is served at once. */
  readonly timeoutMs: number;
  /** Leaving clusters' grace once the class is in sync with the `switch` routes (default GRPC_STAGE_LINGER_MS). */
  readonly lingerMs?: number;
  readonly logger: Logger;
  /** Does every gRPC stream of the class hold and ACK the class's current snapshot? */
  readonly synced: (classKey: string) => boolean;
  /** Rebuilds the snapshot cache (a phase moved on); the stager's build runs inside it. */
  readonly rebuild: () => void;
}

interface Change {
  /** What the class was served when the change began (a staged set itself if one was in force). */
  readonly base: ResourceSet;
  readonly target: ResourceSet;
  phase: StagePhase;
  /** When the current phase gives up waiting ({@link monotonicMs}). */
  deadline: number;
  /** `switch`: when the class was first seen in sync with it; clusters leave lingerMs later. */
  syncedAt?: number;
  /**
   * The clusters the class's clients may still route to: those of the real routes of every set
   * served since the class was last in sync (or since a phase gave up waiting for it).
   */
  mayRoute: ReadonlySet<string>;
  /** The phase last found to fit in a gRPC message (each phase is sized once). */
  fits?: StagePhase;
  /** The phase whose wait a stall of the process restarted (once per phase). */
  stallRestarted?: StagePhase;
  /**
   * The set last served for the change, and its phase: a rebuild in the same phase (another
   * class's step, a push that left this class's target as it was) gets the same object, so the
   * snapshot cache sees no change and neither checks nor encodes the class's resources again.
   */
  out?: { readonly phase: StagePhase; readonly set: ResourceSet };
}

/** The stager of the xDS stage; `build` wraps the translator for gRPC classes. */
export class GrpcStager {
  readonly #opts: GrpcStagerOptions;
  /** The set each gRPC class was last given, by class key. */
  readonly #served = new Map<string, ResourceSet>();
  readonly #changes = new Map<string, Change>();
  /** Classes built since the last `rebuilt`. */
  #builtSince = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** When `#timer` is due ({@link monotonicMs}); Infinity when none is armed. */
  #timerDue = Infinity;
  #checking: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(opts: GrpcStagerOptions) {
    this.#opts = opts;
  }

  /**
   * What class `classKey` is served now, given the translator's `target` for it. A target other
   * than the one of the change in progress starts a new change from what is served now.
   */
  build(classKey: string, target: ResourceSet): ResourceSet {
    this.#builtSince.add(classKey);
    if (this.#opts.timeoutMs <= 0) {
      this.#served.set(classKey, target);
      return target;
    }
    // A class new to the stager may hold clients already: those the topology just moved out of
    // another class (the first node of their zone joined, the last one left), in the push that
    // changes the routes. They hold what that class was served, so the change starts from there.
    const own = this.#served.get(classKey);
    const from = own === undefined ? this.#predecessorOf(classKey) : { served: own, change: this.#changes.get(classKey) };
    if (from === undefined) {
      this.#served.set(classKey, target);
      return target;
    }
    const served = from.served;
    let change = this.#changes.get(classKey);
    if (change?.target !== target) {
      // During another change: from what clients may still route to of the staged set in force.
      const during = from.change?.phase !== 'done' ? from.change : undefined;
      const mayRoute = new Set([...(during?.mayRoute ?? []), ...routedClusters(served)]);
      const base = during ? routableBase(served, mayRoute) : served;
      const phase = firstPhase(base, target);
      // The routes in force stay held back no longer than one bound in all: a change arriving
      // during an `add` phase keeps its deadline, or changes coming faster than the bound (with a
      // client that never ACKs) would keep the clients on the first routes for as long as they come.
      // It keeps the phase's one restart by a stall too: else each change followed by a stall past
      // the bound (a long translation) gave the deadline kept its bound anew.
      const held = change?.phase === 'add' && phase === 'add' ? change : undefined;
      const deadline = held ? held.deadline : monotonicMs() + this.#opts.timeoutMs;
      change = { base, target, phase, deadline, mayRoute, ...(held?.stallRestarted ? { stallRestarted: held.stallRestarted } : {}) };
      this.#changes.set(classKey, change);
    }
    if (!this.#fits(classKey, change)) change.phase = 'done';
    // stagedSet copies the route configurations: a fresh set per build would be re-checked and
    // re-encoded by the cache for every staged class on each rebuild any class's step causes.
    const out = change.out?.phase === change.phase ? change.out.set : stagedSet(change.base, target, change.phase, keyParts(classKey)[0] === 'grpc');
    if (change.phase === 'done') this.#changes.delete(classKey);
    else change.out = { phase: change.phase, set: out };
    this.#served.set(classKey, out);
    return out;
  }

  /**
   * Does the set of `change`'s phase reach the class's clients? A stock gRPC client takes at most
   * GRPC_MAX_MESSAGE_BYTES per message: a staged set holds the clusters and endpoints of both
   * maps, and one whose target is just under the limit can pass it. Past it the client's stream
   * ends before it reads any of it, so the phase can only run out its bound, and so can the next
   * (it holds the same clusters), after which the target goes out anyway. Splitting the change
   * would need routes that mix both maps; instead it is not staged: the target goes out at once,
   * as with make-before-break off (calls routed to a new cluster may fail while the client fetches
   * it), a bound or two sooner, and warned of. Envoy raises no such limit on its xDS stream.
   */
  #fits(classKey: string, change: Change): boolean {
    if (change.phase === 'done' || change.fits === change.phase || keyParts(classKey)[0] !== 'grpc') return true;
    const largest = largestStagedResponse(change.base, change.target, change.phase);
    if (largest.bytes <= GRPC_MAX_MESSAGE_BYTES) {
      change.fits = change.phase;
      return true;
    }
    this.#opts.logger.warn(
      { proxyClass: classKey, phase: change.phase, kind: largest.kind, bytes: largest.bytes, limit: GRPC_MAX_MESSAGE_BYTES },
      "the staged xDS resources would pass gRPC's message limit; serving the new routes and clusters at once, not make-before-break (requests may fail)",
    );
    return false;
  }

  /**
   * What the clients of class `classKey`, new to the stager, may hold: what is served to the class
   * they most likely came from, and its change in progress (a change of the new class continues
   * it, as a change arriving during another does). A client's class only loses or gains its
   * place's parts (served-class.ts), so that is its zone's class without a fabric, then the class
   * without a place, then any class of its flavor (routes and clusters are the same for all of
   * them; only assignments are ordered per place). Undefined when no class of its flavor is
   * served: nobody holds anything yet.
   */
  #predecessorOf(classKey: string): { served: ResourceSet; change: Change | undefined } | undefined {
    const [flavor, zone] = keyParts(classKey);
    const family = [...this.#served.keys()].filter((k) => k !== classKey && keyParts(k)[0] === flavor).sort(compareStrings);
    const key = [`${flavor}|${zone}|`, `${flavor}||`].find((k) => this.#served.has(k) && k !== classKey) ?? family[0];
    return key === undefined ? undefined : { served: this.#served.get(key)!, change: this.#changes.get(key) };
  }

  /**
   * After each rebuild: forget classes the cache dropped, then look at the changes in progress. A
   * class built since the last call is live too: the rebuild's report lists the classes it rebuilt,
   * not those it created for the clients it moved to a new class (the first node of their zone).
   */
  rebuilt(liveClasses: ReadonlySet<string>): void {
    const built = this.#builtSince;
    this.#builtSince = new Set();
    for (const key of [...this.#served.keys()]) {
      if (liveClasses.has(key) || built.has(key)) continue;
      this.#served.delete(key);
      this.#changes.delete(key);
    }
    this.check();
  }

  /** Something a change may wait for happened (an ACK, a stream gone): checks on the next turn. */
  check(): void {
    if (this.#closed || this.#changes.size === 0) return;
    this.#checking ??= setImmediate(() => {
      this.#checking = undefined;
      this.#advance();
    });
  }

  /** Classes with a change in progress and its phase (status pages, tests). */
  inProgress(): { classKey: string; phase: StagePhase }[] {
    return [...this.#changes].map(([classKey, c]) => ({ classKey, phase: c.phase }));
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#checking) clearImmediate(this.#checking);
  }

  #advance(): void {
    if (this.#closed) return;
    const now = monotonicMs();
    this.#discountStall(now);
    let moved = false;
    for (const [classKey, change] of this.#changes) {
      if (change.phase === 'done') continue;
      const synced = this.#opts.synced(classKey);
      if (!synced && now < change.deadline) continue;
      if (synced && change.phase === 'switch') {
        change.syncedAt ??= now;
        if (now < this.#lingerEnd(change)!) continue;
      }
      if (!synced) {
        this.#opts.logger.warn(
          { proxyClass: classKey, phase: change.phase, timeoutMs: this.#opts.timeoutMs },
          'proxies of the class did not ACK the staged xDS resources in time; moving on (requests may fail)',
        );
      }
      const from = change.phase;
      // In sync with the set served now (or no longer waited for): its routes are the ones in use.
      change.mayRoute = new Set(routedClusters(this.#served.get(classKey) ?? change.base));
      change.phase = nextPhase(change.phase, change.base, change.target);
      this.#opts.logger.debug({ proxyClass: classKey, from, to: change.phase, synced }, 'gRPC make-before-break step');
      change.deadline = now + this.#opts.timeoutMs;
      moved = true;
    }
    if (moved) this.#opts.rebuild();
    this.#arm(now);
  }

  /**
   * The timer is overdue: the process did not run for a while (SIGSTOP, a throttled cgroup, a VM
   * migrating), so no ACK could be read, and a response written just before may not have left.
   * How much of each phase's wait the stall took is unknown: each waits its bound anew from now.
   * Counted as waited, a replica resumed past the bound moved every staged class on before reading
   * the ACKs waiting in its sockets (its timers run first), warning of clients that had ACKed, or
   * before clients could fetch the new clusters.
   */
  #discountStall(now: number): void {
    const late = now - this.#timerDue;
    if (!(late >= Math.max(STALL_MIN_MS, this.#opts.timeoutMs))) return;
    this.#timerDue = now;
    for (const change of this.#changes.values()) {
      if (change.phase === 'done' || change.stallRestarted === change.phase) continue;
      change.stallRestarted = change.phase;
      change.deadline = Math.max(change.deadline, now + this.#opts.timeoutMs);
    }
    this.#opts.logger.info({ stalledMs: Math.round(late), timeoutMs: this.#opts.timeoutMs }, 'the process did not run for a while: make-before-break phases wait for ACKs anew');
  }

  /** When a `switch` phase in sync may end: its leaving clusters have lingered (undefined: not in sync yet). */
  #lingerEnd(change: Change): number | undefined {
    return change.syncedAt === undefined ? undefined : change.syncedAt + (this.#opts.lingerMs ?? GRPC_STAGE_LINGER_MS);
  }

  /**
   * A timer at the earliest deadline (or end of a linger), so a phase nobody ACKs still ends.
   * `judgedAt` is when #advance judged the changes: every change it left waiting has one of the
   * two ahead of that instant (a passed one ended its wait). Not the time now: the rebuild it ran
   * may have taken longer than a linger had left, and a wake filtered out by the later time would
   * leave that phase waiting for its deadline (60 s and more).
   */
  #arm(judgedAt: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = Infinity;
    const wakes = [...this.#changes.values()].filter((c) => c.phase !== 'done').flatMap((c) => [c.deadline, this.#lingerEnd(c) ?? 0]).filter((t) => t > judgedAt);
    if (wakes.length === 0 || this.#closed) return;
    // Clamped: a longer delay would fire after 1 ms, and #advance would re-arm it every millisecond.
    const delay = Math.min(Math.max(1, Math.min(...wakes) - monotonicMs() + 1), MAX_TIMER_MS);
    this.#timerDue = monotonicMs() + delay;
    this.#timer = setTimeout(() => this.#advance(), delay);
    this.#timer.unref();
  }
}

/**
 * The stager's clock, ms: monotonic, so that a step of the wall clock (an NTP correction, a VM
 * resumed) neither ends phases early nor holds one for as long as the clock went back.
 */
function monotonicMs(): number {
  return performance.now();
}

/**
 * The parts of a class key (proxyClassKey: flavor, zone, subzone, ... joined by `|`, where `\\` escapes
 * `|` and `\\`), each as written in the key (still escaped), so that parts join back into a key.
 */
function keyParts(classKey: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < classKey.length; i++) {
    if (classKey[i] === '\\') i++;
    else if (classKey[i] === '|') {
      parts.push(classKey.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(classKey.slice(start));
  return parts;
}

/**
 * The make-before-break bound from `env` (GRPC_STAGE_TIMEOUT_ENV, a non-negative integer of ms, at
 * most MAX_TIMER_MS: past it the stager's timer would fire every millisecond).
 * @throws KeywayError BAD_ARGUMENT naming the variable when it is malformed or too large
 */
export function grpcStageTimeoutFromEnv(env: NodeJS.ProcessEnv): number {
  return envLimit(env, GRPC_STAGE_TIMEOUT_ENV, DEFAULT_GRPC_STAGE_TIMEOUT_MS, { min: 0, ms: true });
}
