/**
 * The `local` load snapshot source (docs/load-reports.md "Sharing the snapshot"): the snapshots of
 * the reports this replica received itself. Right for one replica (and tests); with several
 * replicas each one's reports can differ by a lost call, so `prometheus` is the shared source.
 */
import { windowStart, type LoadSnapshot, type LoadSnapshotSource } from '../../core/load.js';
import type { LoadAggregate } from './aggregate.js';

export interface LocalLoadSourceOptions {
  readonly aggregate: LoadAggregate;
  /** The load window in force; undefined before the first map. */
  readonly windowMs: () => number | undefined;
  /**
   * The shard count S in force. After it changes, only windows begun after the change are read:
   * the earlier ones count shard numbers that name other keys now. Undefined: every window is read.
   */
  readonly shardCount?: () => number | undefined;
  /** Wait after a window closes before announcing it, for the nodes' reports to arrive; default min(1 s, window / 4). */
  readonly settleMs?: number;
  readonly now?: () => number;
  /** A monotonic clock, ms (default performance.now): how late a wake-up came, so time this process did not run is told from silence. */
  readonly monoNow?: () => number;
}

/**
 * `snapshots` (oldest first) when one of them starts within the `recent` windows before `end` (the
 * exclusive end of the span read), else none: a source asked for a long span must not keep
 * serving load from before reports stopped. `recent` undefined: `snapshots` as they are.
 */
export function onlyIfRecent(snapshots: LoadSnapshot[], end: number, windowMs: number, recent: number | undefined, stalledSince: (ms: number) => number = () => 0): LoadSnapshot[] {
  if (recent === undefined || snapshots.length === 0) return snapshots;
  const newestEnd = snapshots[snapshots.length - 1]!.windowStartMs + windowMs;
  // `stalledSince`: time this process did not run since the newest window's end (paused, a long
  // GC): no report could reach it then, so that time is not silence of the nodes.
  return end - newestEnd - stalledSince(newestEnd) <= (recent - 1) * windowMs ? snapshots : [];
}

/**
 * A wake-up this late (ms) counts as a stall of the process (paused, a long GC): shorter lags of a
 * busy event loop are not worth remembering.
 */
const STALL_MIN_MS = 100;
/** Stalls remembered (the newest): enough for the span read, bounded whatever the process goes through. */
const MAX_STALLS = 16;

/** Debounce of announcements of late reports for windows already read. */
const LATE_REPORT_DEBOUNCE_MS = 50;

/**
 * Settle time by default: the wait after a window's end before its first read, for the nodes'
 * reports (sent just after the end) to arrive.
 */
function defaultSettleMs(windowMs: number): number {
  return Math.min(1_000, windowMs / 4);
}

/**
 * The local source. `onChange` fires once per window (its end plus the settle time) and after a
 * report for a window already read, at most once per settle time; `latest(h)` reads the aggregate.
 */
export class LocalLoadSource implements LoadSnapshotSource {
  readonly #opts: LocalLoadSourceOptions;
  readonly #now: () => number;
  readonly #listeners = new Set<() => void>();
  #tick: NodeJS.Timeout | undefined;
  #late: NodeJS.Timeout | undefined;
  /** When the last late report was (or will be) announced: the next waits a settle time after it. */
  #lateAnnouncedAt = -Infinity;
  #closed = false;
  /** The shard count last seen, and the start of the first window begun after it took effect. */
  #shardCount: number | undefined;
  #countedFrom = -Infinity;
  readonly #mono: () => number;
  /** When the tick is due on the monotonic clock, and up to when a stall past it was counted. */
  #tickDueMono = Infinity;
  #stallCountedTo = -Infinity;
  /**
   * Stalls of this process, oldest first: when each ended (the `now` clock) and how long it was.
   * A replica paused for a minute (SIGSTOP, a throttled cgroup, a VM migrating) received no report
   * meanwhile; counted as the nodes' silence, its first read after it found no recent window and
   * dropped the hot-shard decision for plain rendezvous, undoing every hot shard's moves and readers.
   */
  readonly #stalls: { readonly endMs: number; readonly ms: number }[] = [];

  constructor(opts: LocalLoadSourceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#mono = opts.monoNow ?? (() => performance.now());
    this.#shardCount = opts.shardCount?.();
    this.#schedule();
  }

  latest(windows: number, recentWindows?: number): Promise<readonly LoadSnapshot[]> {
    // A read that comes before the overdue tick (another timer fired first after a stall) counts the stall too.
    this.#noteStall();
    const now = this.#now();
    const w = this.#opts.windowMs();
    if (w !== undefined) this.#noteShardCount(now, w);
    const all = this.#opts.aggregate.closed(now, windows).filter((s) => s.windowStartMs >= this.#countedFrom);
    return Promise.resolve(w === undefined ? all : onlyIfRecent(all, windowStart(now, w), w, recentWindows, (from) => this.#stalledSince(from)));
  }

  /** Counts how far past its due time the tick is: time this process did not run. */
  #noteStall(): void {
    const mono = this.#mono();
    const late = mono - Math.max(this.#tickDueMono, this.#stallCountedTo);
    if (!(late >= STALL_MIN_MS)) return;
    this.#stallCountedTo = mono;
    this.#stalls.push({ endMs: this.#now(), ms: late });
    if (this.#stalls.length > MAX_STALLS) this.#stalls.shift();
  }

  /** How long this process stalled after `fromMs` (the `now` clock). */
  #stalledSince(fromMs: number): number {
    let ms = 0;
    for (const s of this.#stalls) if (s.endMs > fromMs) ms += Math.min(s.ms, s.endMs - fromMs);
    return ms;
  }

  /**
   * A new S (noticed at the first read after the reload: the load driver reads at once) starts
   * the windows read anew from the next window: the window under way mixes requests counted
   * under both, as nodes learn the new S from their assignments.
   */
  #noteShardCount(now: number, w: number): void {
    const s = this.#opts.shardCount?.();
    if (s === undefined || s === this.#shardCount) return;
    if (this.#shardCount !== undefined) this.#countedFrom = windowStart(now, w) + w;
    this.#shardCount = s;
  }

  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /**
   * The aggregate took a report: announce it when its window was already read, at most once per
   * settle time (a report held back is announced when that time has passed). Each announcement is
   * a re-read, and a window read before that changed replays the hot-shard policy whole (up to a
   * quarter of a second with 2000 endpoints): announced per report, the reports every node sends
   * just after a window's end re-read it every 50 ms until its own read, and one node re-reporting
   * a closed window kept the event loop replaying without end.
   */
  reported(windowStartMs: number): void {
    const w = this.#opts.windowMs();
    if (this.#closed || w === undefined || this.#late !== undefined) return;
    const now = this.#now();
    const settle = this.#opts.settleMs ?? defaultSettleMs(w);
    // Not read yet: the window's own read (its end plus the settle time) takes it in.
    if (now < windowStartMs + w + settle) return;
    // A clock stepped back does not hold announcements back for as long as it stepped.
    const last = this.#lateAnnouncedAt <= now ? this.#lateAnnouncedAt : -Infinity;
    const at = Math.max(now + LATE_REPORT_DEBOUNCE_MS, last + settle);
    this.#lateAnnouncedAt = at;
    this.#late = setTimeout(() => {
      this.#late = undefined;
      this.#emit();
    }, at - now);
  }

  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#tick);
    clearTimeout(this.#late);
    this.#listeners.clear();
    return Promise.resolve();
  }

  #emit(): void {
    for (const cb of [...this.#listeners]) cb();
  }

  /** Wakes at the next window end plus the settle time (re-reading the window length each time). */
  #schedule(): void {
    if (this.#closed) return;
    const w = this.#opts.windowMs() ?? 1_000;
    const settle = this.#opts.settleMs ?? defaultSettleMs(w);
    const now = this.#now();
    let at = windowStart(now, w) + settle;
    if (at <= now) at += w;
    this.#tickDueMono = this.#mono() + (at - now);
    this.#tick = setTimeout(() => {
      this.#noteStall();
      this.#emit();
      this.#schedule();
    }, at - now);
    this.#tick.unref();
  }
}
