/**
 * The runner's side of warm handoff (docs/ownership.md "Two-phase moves"): it holds the planner's
 * last step, the warm reports heard and the timer of the next deadline, and asks the runner to
 * publish each step that changes something. The planning itself is the pure `stepHandoff`.
 */
import type { Logger } from 'pino';
import type { HandoffSettings, ShardTransition, WarmReport, WarmReportOutcome, WarmReportSink } from '../core/handoff.js';
import type { ChangeCause } from '../core/serving.js';
import type { ShardMap } from '../core/shard-map.js';
import { nextHandoffDeadline, sameHandoff, stepHandoff, warmReportsSince, type HandoffStep } from '../sharding/handoff.js';
import { WarmLedger } from '../sharding/warm-ledger.js';
import { endpointIds } from '../core/shard-map.js';

/**
 * The first wait before a step that threw is tried again, doubled on each failure in a row up to
 * {@link HANDOFF_RETRY_MAX_MS}: without it a failed deadline step left its moves waiting until the
 * next input, however long that took.
 */
export const HANDOFF_RETRY_MS = 1000;
export const HANDOFF_RETRY_MAX_MS = 30_000;

/**
 * Most deadlines remembered per move under way. A move's deadline changes only when the warming
 * node's stream opens or closes or `handoff:` settings change, and a report naming any deadline the
 * move had still counts (the node may have reported before the newer one reached it).
 */
const MAX_DEADLINES_PER_MOVE = 8;

/**
 * How far the wall clock may move against the monotonic clock before the driver takes it for a
 * step (an NTP correction, a VM resumed, a manual `date`) and moves its deadlines, drain ends and
 * warm reports by it (docs/ownership.md "Clock steps"). Both clocks are read to the millisecond
 * and slewed alike, so only a step moves one against the other by this much.
 */
export const HANDOFF_CLOCK_STEP_MS = 1000;

/** Monotonic time between the reads around a wall-clock read past which that read is not judged for a step. */
const PAUSED_READ_MS = 100;

/** setTimeout's longest delay: Node fires a longer one after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The shortest wait between two sweeps of warm reports no move took (`#armExpiry`). */
export const EXPIRY_MIN_GAP_MS = 1_000;

/** The two clocks the driver reads: the wall clock (epoch ms) and a monotonic one (ms). */
export interface HandoffClock {
  readonly wall: () => number;
  readonly mono: () => number;
}

const SYSTEM_CLOCK: HandoffClock = { wall: () => Date.now(), mono: () => performance.now() };

/** A move under way as this replica told the warming node of it: the deadlines it sent. */
interface SentMove {
  readonly warming: string;
  readonly startedAt: number;
  readonly deadlines: readonly number[];
}

export interface HandoffDriverOptions {
  readonly logger: Logger;
  /** The topology's `handoff:` settings in force. */
  readonly settings: () => HandoffSettings;
  /** Nodes with an ownership stream open on this replica: the ones a move may wait for. */
  readonly warmers: () => ReadonlySet<string>;
  /** Publishes a step (the runner's serving state). */
  readonly publish: (step: HandoffStep, cause: ChangeCause) => void;
  /** Runs a job in the runner's queue, after the changes already queued; the runner logs a job that throws. */
  readonly enqueue: (what: string, job: () => void) => void;
  /** The clocks (tests); `Date.now` and `performance.now` by default. */
  readonly clock?: HandoffClock;
}

/**
 * Where ReportWarm lands in `keyway serve` (docs/ownership.md "Flip ticks"): reports wait for the
 * next flip tick, so a trickle of them changes the routed map once per tick, not once per report.
 */
export class HandoffDriver implements WarmReportSink {
  readonly #opts: HandoffDriverOptions;
  readonly #ledger = new WarmLedger();
  #step: HandoffStep | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pending: NodeJS.Timeout | undefined;
  /** Wakes to forget warm reports no move took within warmTimeoutMs (`#armExpiry`). */
  #expiry: NodeJS.Timeout | undefined;
  /**
   * How many transitions of `#step`, from the first, have their warm report in the ledger: `#allWarm`
   * resumes there. Checking every transition at every report cost O(moves) a report, O(moves^2) a
   * join (13 000 moves reported one by one: 2.4 s of the event loop, 52 000: about 40 s).
   */
  #warmPrefix = 0;
  /** The warmTimeoutMs `#warmPrefix` was counted with. */
  #warmPrefixTimeoutMs = -1;
  #closed = false;
  /** Some node has had an ownership stream open on this replica: the fleet runs agents. */
  #agentsSeen = false;
  /** Steps in a row that threw (the retry's backoff). */
  #failures = 0;
  /**
   * The cause of `#step` while its publish has not succeeded: the step stays (its warm reports
   * are taken from the ledger), and the next `#advance` publishes it even when nothing changed since.
   */
  #unpublished: ChangeCause | undefined;
  /** The moves of `#step` by shard, with every deadline sent for each: what a report's `moves` must name. */
  #sent: ReadonlyMap<number, SentMove> = new Map();
  #staleReports = 0;
  readonly #clock: HandoffClock;
  /** Wall minus monotonic clock when last read, to tell a step of the wall clock. */
  #offset: number | undefined;
  /** The wall clock stepped since `#step` was published: its deadlines moved, and are published anew. */
  #stepped = false;

  constructor(opts: HandoffDriverOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? SYSTEM_CLOCK;
  }

  /** The last target map: the sharding stage continues from it, not from the routed map. */
  target(): ShardMap | undefined {
    return this.#step?.state.target;
  }

  /**
   * Plans and publishes the routed map for a new target map. If the publish throws, the driver
   * stays on the step it had: the runner keeps the previous target too, so a later step must not
   * publish the failed one.
   */
  plan(target: ShardMap, cause: ChangeCause): void {
    const now = this.#now();
    const [step, unpublished, sent, stepped] = [this.#step, this.#unpublished, this.#sent, this.#stepped];
    // The warm reports the step takes go back if it is not published: the step in force still needs them.
    this.#ledger.checkpoint();
    try {
      this.#publish(this.#next(target, now), cause);
      this.#ledger.commit();
    } catch (err) {
      this.#ledger.rollback();
      [this.#step, this.#unpublished, this.#sent, this.#stepped] = [step, unpublished, sent, stepped];
      this.#warmPrefix = 0;
      this.#armExpiry(now);
      throw err;
    }
  }

  /**
   * Warm reports from the ownership stream: recorded now, applied at the next flip tick
   * (`handoff.flipIntervalMs`, aligned to the epoch so replicas share ticks; 0: the next turn of the
   * event loop). A trickle of reports then changes the routed map once per tick. A report that
   * leaves no transition waiting is applied at once: no later report could share its map change.
   * A shard of `report.moves` counts only if it names a move of the shard to the node that is under
   * way here, by a deadline this replica sent for it; the rest are ignored (returned as `stale`):
   * a report of a cancelled warm-up, delivered late, must not complete a later move to the node.
   */
  reportWarm(report: WarmReport): WarmReportOutcome {
    if (this.#closed) return { stale: [] };
    const now = this.#now();
    const { shards, stale } = this.#takeMoves(report);
    if (stale.length > 0) {
      this.#staleReports += stale.length;
      this.#opts.logger.debug({ node: report.node, shards: stale }, 'warm report names a move this replica is not running; ignored');
    }
    if (shards.length === 0) return { stale };
    const target = this.#step?.state.target;
    const listed = target === undefined || endpointIds(target).has(report.node);
    const recorded = this.#ledger.record(report.node, shards, now, listed);
    this.#armExpiry(now);
    if (recorded < shards.length) {
      // A node the map does not list may be a client inventing ids: not a warning per report.
      this.#opts.logger[listed ? 'warn' : 'debug'](
        { node: report.node, dropped: shards.length - recorded },
        'warm reports beyond the limit dropped; those shards flip at their deadline',
      );
    }
    const wait = this.#allWarm() ? 0 : untilNextTick(now, this.#opts.settings().flipIntervalMs);
    if (this.#pending && wait === 0) {
      clearTimeout(this.#pending);
      this.#pending = undefined;
    }
    this.#pending ??= setTimeout(() => {
      this.#pending = undefined;
      this.#opts.enqueue('warm report', () => this.#advance('shards warm'));
    }, wait);
    return { stale };
  }

  /** Warm-report shards of `report.moves` ignored so far because they named no move under way here. */
  get staleWarmReports(): number {
    return this.#staleReports;
  }

  /** Warm reports held for moves not taken yet (one per node and shard). */
  get heldWarmReports(): number {
    return this.#ledger.size;
  }

  /** The shards of a report that count: all of `shards`, and those of `moves` naming a move under way (`stale`: the others). */
  #takeMoves(report: WarmReport): { shards: number[]; stale: number[] } {
    if (!report.moves || report.moves.length === 0) return { shards: [...report.shards], stale: [] };
    const current = new Set<number>();
    const other = new Set<number>();
    for (const m of report.moves) {
      const sent = this.#sent.get(m.shard);
      (sent?.warming === report.node && sent.deadlines.includes(m.untilUnixMs) ? current : other).add(m.shard);
    }
    // A shard also in `shards` is judged by its entry alone (the old form is there for older keyways).
    const plain = report.shards.filter((s) => !current.has(s) && !other.has(s));
    return { shards: [...new Set([...plain, ...current])], stale: [...other].filter((s) => !current.has(s)) };
  }

  /**
   * Every transition under way has its warm report in hand (as the planner will count it). Between
   * steps the ledger only gains reports, so the transitions found warm stay warm: each is checked
   * once per step, however many reports come.
   */
  #allWarm(): boolean {
    const transitions = this.#step?.state.transitions ?? [];
    const settings = this.#opts.settings();
    // A reload that shortens warmTimeoutMs can make a report found in time too old now.
    if (settings.warmTimeoutMs !== this.#warmPrefixTimeoutMs) [this.#warmPrefix, this.#warmPrefixTimeoutMs] = [0, settings.warmTimeoutMs];
    while (this.#warmPrefix < transitions.length) {
      const t = transitions[this.#warmPrefix]!;
      if (!this.#ledger.has(t.warming, t.shard, warmReportsSince(t, settings))) break;
      this.#warmPrefix++;
    }
    return transitions.length > 0 && this.#warmPrefix === transitions.length;
  }

  /**
   * Forgets, warmTimeoutMs after they came, the warm reports no move took (a shard the node was
   * never given, a report of the old form for a move that did not start): they can complete no
   * move any more, and without a later step nothing pruned them, up to MAX_WARM_REPORTS of them.
   */
  #armExpiry(now: number): void {
    if (this.#expiry || this.#closed) return;
    const oldest = this.#ledger.oldest();
    if (oldest === undefined) return;
    const { warmTimeoutMs } = this.#opts.settings();
    // At most one sweep a second: each is a pass over the ledger, and reports coming one by one
    // would otherwise wake it once per report.
    const wait = Math.min(MAX_TIMER_MS, Math.max(EXPIRY_MIN_GAP_MS, oldest + warmTimeoutMs + 1 - now));
    this.#expiry = setTimeout(() => {
      this.#expiry = undefined;
      this.#opts.enqueue('warm reports expired', () => {
        if (this.#closed) return;
        const at = this.#now();
        this.#ledger.prune(at - this.#opts.settings().warmTimeoutMs);
        this.#warmPrefix = 0;
        this.#armExpiry(at);
      });
    }, wait);
    this.#expiry.unref();
  }

  /**
   * A node's ownership stream opened: when moves wait for it, re-plans at once, so their deadline
   * grows from `agentWaitMs` to `warmTimeoutMs` before the node's warm-ups run against the shorter one.
   */
  ownershipStreamOpened(node: string): void {
    if (this.#closed) return;
    this.#forgetReports(node, 'opened a new ownership stream');
    if (!this.#step?.state.transitions.some((t) => t.warming === node)) return;
    this.#opts.enqueue('ownership stream opened', () => this.#advance('ownership stream opened'));
  }

  /**
   * A node's last ownership stream closed: when moves wait for it, re-plans at once, so they flip
   * (`agent-lost`) by `agentWaitMs` from their start unless a stream opens again, as for a node
   * whose stream never opened, rather than at the warm-up deadline.
   */
  ownershipStreamClosed(node: string): void {
    if (this.#closed) return;
    this.#forgetReports(node, 'closed its last ownership stream');
    if (!this.#step?.state.transitions.some((t) => t.warming === node)) return;
    this.#opts.enqueue('ownership stream closed', () => this.#advance('ownership stream closed'));
  }

  /**
   * A node's last ownership stream ended, before the reconnect grace that keeps it a warmer
   * (docs/ownership.md "Two-phase moves"): the warm reports it sent are forgotten at once, so a
   * flip tick within the grace does not flip its shards to a node that may be restarting with an
   * empty cache. No re-plan: the grace's end (`ownershipStreamClosed`) does that. For the xDS stage
   * to call where a node's last stream goes, before the grace.
   */
  ownershipStreamEnded(node: string): void {
    if (this.#closed) return;
    this.#forgetReports(node, 'ended its last ownership stream');
  }

  /**
   * A warm report counts only while the node's ownership stream that followed it stays open
   * (docs/ownership.md "Two-phase moves"): a node that restarted between its report and the flip
   * tick (or the close's re-plan) comes back with an empty cache, and the report flipped its shards
   * to it cold. The agent reports again, on its new stream, what it still holds warm. Synchronous,
   * so a report the new stream's agent sends after it opened is never the one forgotten.
   */
  #forgetReports(node: string, why: string): void {
    const forgotten = this.#ledger.forgetNode(node);
    if (forgotten === 0) return;
    // The ledger lost reports: the prefix of transitions found warm is counted again.
    this.#warmPrefix = 0;
    this.#opts.logger.info({ node, shards: forgotten }, `warm reports of a node that ${why} forgotten; it reports again what it still holds warm`);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#pending);
    clearTimeout(this.#expiry);
  }

  #next(target: ShardMap, now: number): HandoffStep {
    const warmers = this.#opts.warmers();
    this.#agentsSeen ||= warmers.size > 0;
    const settings = this.#opts.settings();
    return stepHandoff({ previous: this.#step, target, warm: this.#ledger, warmers, agentsExpected: this.#agentsSeen, settings, now });
  }

  #publish(step: HandoffStep, cause: ChangeCause): void {
    this.#step = step;
    this.#warmPrefix = 0;
    this.#sent = sentMoves(this.#sent, step.state.transitions);
    this.#unpublished = cause;
    this.#opts.publish(step, cause);
    this.#unpublished = undefined;
    this.#stepped = false;
    this.#failures = 0;
    this.#warnAgentLost(step);
    this.#schedule();
  }

  /** Names the nodes whose moves flipped cold for want of an ownership stream (docs/configuration.md "Warnings"). */
  #warnAgentLost(step: HandoffStep): void {
    const lost = new Map<string, number>();
    for (const c of step.state.completed) if (c.outcome === 'agent-lost') lost.set(c.warming, (lost.get(c.warming) ?? 0) + 1);
    const { agentWaitMs } = this.#opts.settings();
    for (const [node, shards] of [...lost].sort(([a], [b]) => (a < b ? -1 : 1))) {
      this.#opts.logger.warn({ node, shards, agentWaitMs }, 'no ownership stream from the node within handoff.agentWaitMs: its moves flipped without a warm-up');
    }
  }

  /** Re-plans with the same target after warm reports or a deadline; publishes only what changed. */
  #advance(reason: string): void {
    if (!this.#step || this.#closed) return;
    try {
      const now = this.#now();
      // Read after the clock: a step just noticed moved its deadlines.
      const step = this.#step;
      this.#ledger.prune(now - this.#opts.settings().warmTimeoutMs);
      this.#warmPrefix = 0;
      const next = this.#next(step.state.target, now);
      // After a clock step the deadlines moved: published, so nodes warm to the moved ones.
      if (!this.#stepped && sameHandoff(next, step)) {
        // A step computed but not published (its publish threw): published now.
        if (this.#unpublished) return this.#publish(step, this.#unpublished);
        this.#failures = 0;
        return this.#schedule();
      }
      const at = new Date(now);
      this.#publish(next, { source: 'handoff', reason, detectedAt: at, computeStartedAt: at, computeSeconds: 0, mode: 'unchanged' });
    } catch (err) {
      this.#retry();
      throw err;
    }
  }

  /** After a step that threw: tries again later, so moves and drains still end without new input. */
  #retry(): void {
    if (this.#closed) return;
    const wait = Math.min(HANDOFF_RETRY_MAX_MS, HANDOFF_RETRY_MS * 2 ** Math.min(this.#failures, 16));
    this.#failures++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#opts.enqueue('handoff retry', () => this.#advance('handoff retry')), wait);
    this.#timer.unref();
  }

  /** Arms the timer for the next warm-up deadline or drain end, so they take effect without new input. */
  #schedule(): void {
    const now = this.#now();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const at = this.#step ? nextHandoffDeadline(this.#step.state) : undefined;
    if (at === undefined || this.#closed) return;
    // Clamped: past MAX_TIMER_MS Node fires after 1 ms, and each wake would re-arm it every millisecond.
    // Deadlines moved by a clock step are published at once.
    const wait = this.#stepped ? 0 : Math.min(MAX_TIMER_MS, Math.max(0, at - now));
    this.#timer = setTimeout(() => this.#opts.enqueue('handoff deadline', () => this.#advance('handoff deadline')), wait);
    this.#timer.unref();
  }

  /**
   * The wall clock (epoch ms: deadlines cross processes as `until_unix_ms`, and flip ticks are
   * aligned to the epoch), with the times in force moved by any step it took since the last read,
   * so that each move, drain and warm report keeps the time it had left.
   */
  #now(): number {
    // The wall clock read between two monotonic reads: a process paused between the reads (a long
    // GC) would otherwise look like a step back, then forward again at the next read.
    const before = this.#clock.mono();
    const wall = this.#clock.wall();
    const after = this.#clock.mono();
    if (after - before > PAUSED_READ_MS) return wall;
    const offset = wall - (before + after) / 2;
    // Whole ms: deadlines go out as integers (until_unix_ms).
    const step = this.#offset === undefined ? 0 : Math.round(offset - this.#offset);
    if (this.#offset === undefined || Math.abs(step) >= HANDOFF_CLOCK_STEP_MS) this.#offset = offset;
    if (Math.abs(step) >= HANDOFF_CLOCK_STEP_MS) this.#rebase(step);
    return wall;
  }

  /**
   * The wall clock stepped by `ms`: deadlines, drain ends and warm reports move with it. Kept on
   * the old clock, a step back of X held every move and drain X longer and dropped the warm
   * reports heard after it as older than their move (past 24.8 days the deadline timer re-armed
   * every millisecond), and a step forward timed out every move at once, cold.
   */
  #rebase(ms: number): void {
    this.#ledger.shift(ms);
    const step = this.#step;
    if (!step) return;
    const { transitions, drains } = step.state;
    this.#opts.logger.warn(
      { stepMs: ms, transitions: transitions.length, drains: drains.length },
      'the wall clock stepped; handoff deadlines and drain ends moved with it, keeping the time each had left',
    );
    if (transitions.length === 0 && drains.length === 0) return;
    this.#warmPrefix = 0;
    this.#step = {
      ...step,
      state: {
        ...step.state,
        transitions: transitions.map((t) => ({ ...t, startedAt: t.startedAt + ms, deadline: t.deadline + ms })),
        drains: drains.map((d) => ({ ...d, until: d.until + ms })),
      },
    };
    // The deadlines sent stay the moves' names (a report in flight names one); the starts move.
    this.#sent = new Map([...this.#sent].map(([shard, m]) => [shard, { ...m, startedAt: m.startedAt + ms }]));
    // Published soon, not from here: the callers plan and publish next, or arm the timer.
    this.#stepped = true;
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#opts.enqueue('clock step', () => this.#advance('clock step')), 0);
    this.#timer.unref();
  }
}

/**
 * The moves of `transitions` with every deadline sent for each: a move is the same while its
 * warming node and start stay, and a cancelled move that starts again is a new one.
 */
function sentMoves(before: ReadonlyMap<number, SentMove>, transitions: readonly ShardTransition[]): ReadonlyMap<number, SentMove> {
  const after = new Map<number, SentMove>();
  for (const t of transitions) {
    const was = before.get(t.shard);
    const same = was !== undefined && was.warming === t.warming && was.startedAt === t.startedAt;
    if (same && was.deadlines.includes(t.deadline)) after.set(t.shard, was);
    else after.set(t.shard, { warming: t.warming, startedAt: t.startedAt, deadlines: same ? [...was.deadlines, t.deadline].slice(-MAX_DEADLINES_PER_MOVE) : [t.deadline] });
  }
  return after;
}

/** Milliseconds from `now` to the next multiple of `interval` since the epoch (0 when `interval` is 0). */
export function untilNextTick(now: number, interval: number): number {
  return interval > 0 ? interval - (now % interval) : 0;
}
