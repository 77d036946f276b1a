/**
 * The snapshot cache (docs/architecture.md "The pipeline"): one consistent snapshot per proxy class, built
 * from a `build(proxyClass)` function, versioned by content, with per-kind watches so that an
 * endpoint-only change wakes only endpoint subscriptions. Coalescing bursts of input is the
 * caller's (the xDS stage debounces shard maps and calls rebuild()).
 */
import { type Logger, pino } from 'pino';
import { KeywayError } from '../../core/errors.js';
import { compareStrings } from '../../core/order.js';
import { KIND_ORDER, proxyClassKey, resourcesOf, type ProxyClass, type ResourceKind, type ResourceSet } from '../resources.js';
import type { ConsistencyCheck } from './consistency.js';
import { ResourceEncoder, type EncodedResource } from './encoder.js';
import { buildSnapshot, changedKinds, type Snapshot } from './snapshot.js';

/** Produces every resource of one proxy class (the translator, bound to the current input). */
export type BuildFn = (proxyClass: ProxyClass) => ResourceSet;

/** Called when `kind`'s version changed for the watched class; receives the new snapshot. */
export type SnapshotListener = (snapshot: Snapshot) => void;

/** What the xDS server needs from a cache: the current snapshot of a class and per-kind watches. */
export interface SnapshotSource {
  /** The class's snapshot, built on first use; undefined while there is no build or no consistent one. */
  snapshot(proxyClass: ProxyClass): Snapshot | undefined;
  /** Calls `listener` each time `kind`'s version changes for `proxyClass`. Returns the unsubscribe. */
  watch(proxyClass: ProxyClass, kind: ResourceKind, listener: SnapshotListener): () => void;
  /** The class whose snapshot `proxyClass` is served (proxies that differ only in what the build ignores share one). */
  servedClass?(proxyClass: ProxyClass): ProxyClass;
}

export interface SnapshotCacheOptions {
  /** The first build function; without it, snapshot() answers undefined until rebuild(). */
  readonly build?: BuildFn;
  /** What a snapshot must satisfy to be served: the translator's `checkConsistency`. */
  readonly checkConsistency: ConsistencyCheck;
  readonly logger?: Logger;
  /**
   * Maps a proxy's class to the class it is served, e.g. the translator's `effectiveProxyClass`
   * (Envoy output ignores locality, so every Envoy shares one snapshot). Default: identity.
   */
  readonly servedClass?: (proxyClass: ProxyClass) => ProxyClass;
  /**
   * Watchers told of a change per turn of the event loop (default DEFAULT_FAN_OUT_SLICE). A change
   * seen by more watchers is announced in slices that yield to the event loop between them, so the
   * responses of the first streams go out (and their ACKs come in) while later ones are built.
   */
  readonly fanOutSlice?: number;
  /** Stock gRPC classes past which a warning is logged (default DEFAULT_GRPC_CLASS_WARNING). */
  readonly grpcClassWarning?: number;
}

/**
 * Stock gRPC classes (one per place, zone and fabric, whose clients get their own replica order)
 * past which the cache logs a warning. Each is a translation of every shard's route and owner
 * tuple at every map change and a snapshot of its own: at S = 16384, R = 3 and 200 nodes, some
 * 50 MiB of heap and 0.35 s of the event loop per class and change (10 classes: 570 to 790 MiB,
 * 3.5 s a change), so eight of them fill the 384 MiB heap limit of the base manifest. With R = 2
 * every place is one class unless a hot shard is moved past its owners (served-class.ts); the shard picker's clients share one class too.
 */
export const DEFAULT_GRPC_CLASS_WARNING = 8;

/** Class keys a warning names at most. */
const WARNING_NAMES = 10;

/**
 * 128 streams per turn: on this project's 2-core benchmark machine (docs/benchmarks.md "xDS fan-out"),
 * each stream's turn costs some 20-40 µs, so a slice holds the event loop for a few ms; with 5000
 * Envoys the first bytes leave after one slice instead of after all 5000.
 */
export const DEFAULT_FAN_OUT_SLICE = 128;

/**
 * How long one slice of `prebuild` may hold the event loop, ms, before it yields (setImmediate). A
 * map change that moves every shard re-encodes S x R ownership assignments, 1 to 1.5 s of CPU at
 * S = 65536, R = 2 on the 2-core benchmark machine (docs/benchmarks.md "A map change that moves
 * every shard"); in 10 ms slices the xDS streams, probes and the admin API are answered in
 * between. A class is not split, so a slice runs over by at most one class's build (one agent's
 * assignments, or one Envoy or gRPC class's translation).
 */
export const DEFAULT_REBUILD_SLICE_MS = 10;

/** Calls made at the head of the fan-out queue past which they are cut off it (when they are half of it). */
const COMPACT_QUEUE_AT = 1024;

/**
 * What `prebuild` translates ahead for a class: its set under the coming input, or undefined to
 * leave the class to `rebuild` (a build with side effects, such as a make-before-break stager's).
 */
export type PrebuildFn = (proxyClass: ProxyClass) => ResourceSet | undefined;

/** A class's snapshot built ahead by `prebuild`, taken by `rebuild` when its build hands back the same resources. */
interface Prebuilt {
  readonly set: ResourceSet;
  /** Its encodings are held (counted once) until `rebuild` takes or drops it. */
  readonly snapshot?: Snapshot;
  readonly error?: Error;
}

/** Outcome of one rebuild, per active proxy class. */
export interface RebuildReport {
  readonly classes: readonly {
    readonly classKey: string;
    /** Kinds whose version changed (empty: same content as before). */
    readonly changed: readonly ResourceKind[];
    /** Why the class kept its previous snapshot (SNAPSHOT_INCONSISTENT, or what build threw). */
    readonly error?: Error;
  }[];
  /** Watchers (a stream's kind) moved to another class, told of its snapshot: the report lists neither class. */
  readonly rehomed: number;
  /**
   * Set when the watchers are told in slices (more than `fanOutSlice` of them): resolves once every
   * watcher of this rebuild was called. Absent: all were called before rebuild() returned.
   */
  readonly fanOut?: Promise<void>;
}

/** Status of one proxy class in the cache, for admin pages. */
export interface ClassStatus {
  readonly classKey: string;
  readonly proxyClass: ProxyClass;
  readonly snapshot: Snapshot | undefined;
  readonly watchers: number;
  readonly lastError: Error | undefined;
}

/** One watch: the class the proxy asked with (its served class may change with the input) and its listener. */
interface Watcher {
  readonly requested: ProxyClass;
  readonly listener: SnapshotListener;
  /** Key of the class entry it is registered in. */
  entryKey: string;
}

/** One watcher call waiting for its slice; `live` is cleared when a later rebuild moves it. */
interface QueuedCall {
  readonly watcher: Watcher;
  readonly kind: ResourceKind;
  live: boolean;
}

/** A watcher call of one rebuild; `first`: its kind is the first one its class changed. */
type Call = readonly [watcher: Watcher, kind: ResourceKind, first: boolean];

interface ClassEntry {
  readonly proxyClass: ProxyClass;
  snapshot: Snapshot | undefined;
  /** The set `snapshot` was built from: a build that hands back the same resource objects changes nothing. */
  built: ResourceSet | undefined;
  error: Error | undefined;
  readonly watchers: Record<ResourceKind, Set<Watcher>>;
}

/**
 * The xDS server's SnapshotSource (docs/xds-protocol.md "Snapshots and versions"): versions come from
 * content only, so a restarted or second replica serves the same versions and proxies see no churn.
 */
export class SnapshotCache implements SnapshotSource {
  readonly #encoder = new ResourceEncoder();
  readonly #classes = new Map<string, ClassEntry>();
  readonly #check: ConsistencyCheck;
  readonly #log: Logger;
  readonly #servedClass: (proxyClass: ProxyClass) => ProxyClass;
  #build: BuildFn | undefined;
  readonly #slice: number;
  /** Watcher calls waiting for their slice, in make-before-break order per watched class. */
  #queue: QueuedCall[] = [];
  #queueHead = 0;
  /** The queued call of each watcher not called yet: one is enough, a call sends the latest snapshot. */
  readonly #pending = new Map<Watcher, QueuedCall>();
  #draining: Promise<void> | undefined;
  /** Per class object asked with, its entry since the last rebuild. */
  #entryMemo = new WeakMap<ProxyClass, ClassEntry>();
  readonly #grpcWarning: number;
  /** Stock gRPC classes in #classes; whether the warning was logged since they last fitted. */
  #grpcClasses = 0;
  #grpcWarned = false;
  /**
   * While #rehome runs the classes it empties still count (they go after it): a warning then named
   * classes gone by the time rebuild() returned. rebuild() checks the count after the drop instead.
   */
  #rehoming = false;
  /** Snapshots `prebuild` made for the next rebuild, per class entry. */
  #prebuilt = new Map<ClassEntry, Prebuilt>();
  /**
   * Snapshots `prebuild` made for classes the coming input moves watchers to and that have no entry
   * yet (the agents of nodes joining the map), per class key: the entry the rebuild's re-home makes
   * takes its own.
   */
  #prebuiltNew = new Map<string, Prebuilt>();
  /** Counts prebuild() calls: a run still slicing stops once a later one started. */
  #prebuildRun = 0;
  /**
   * A prebuild is slicing: a rebuild meanwhile (a make-before-break phase, under the input in
   * force) takes what matches its sets and leaves the rest for the rebuild the prebuild is for.
   */
  #prebuilding = false;
  /** Snapshots replaced by prebuilt ones, whose encodings are released after the rebuild, in slices. */
  #retired: Snapshot[] = [];
  #releasing = false;
  #sliceMs = DEFAULT_REBUILD_SLICE_MS;

  constructor(opts: SnapshotCacheOptions) {
    this.#build = opts.build;
    this.#check = opts.checkConsistency;
    this.#log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'snapshot-cache' });
    this.#servedClass = opts.servedClass ?? ((c) => c);
    this.#slice = Math.max(1, opts.fanOutSlice ?? DEFAULT_FAN_OUT_SLICE);
    this.#grpcWarning = opts.grpcClassWarning ?? DEFAULT_GRPC_CLASS_WARNING;
  }

  /** The class's current snapshot, building it on first use. Undefined if no consistent one exists yet. */
  snapshot(proxyClass: ProxyClass): Snapshot | undefined {
    // Every stream asks on every push with its own class object: its entry is remembered until the
    // next rebuild (which may serve the class elsewhere), not worked out again per stream and push.
    let entry = this.#entryMemo.get(proxyClass);
    if (!entry) {
      entry = this.#entry(proxyClass);
      this.#entryMemo.set(proxyClass, entry);
    }
    return entry.snapshot;
  }

  /**
   * Watches one kind of one class: `listener` runs after each rebuild that changed that kind's
   * version (and when the class gets its first snapshot). Kinds changed by one rebuild are
   * announced in make-before-break order: cluster, endpoint, listener, route.
   */
  watch(proxyClass: ProxyClass, kind: ResourceKind, listener: SnapshotListener): () => void {
    const key = proxyClassKey(this.servedClass(proxyClass));
    const watcher: Watcher = { requested: proxyClass, listener, entryKey: key };
    this.#entry(proxyClass).watchers[kind].add(watcher);
    return () => {
      this.#classes.get(watcher.entryKey)?.watchers[kind].delete(watcher);
    };
  }

  /**
   * Rebuilds every active class now with `build` (or the current build function). A class whose new set is inconsistent, or
   * whose build throws, keeps its previous snapshot; the error is in the report and in classes().
   * Classes nobody watches any more are dropped (rebuilt on next use, with the same versions).
   */
  rebuild(build?: BuildFn): RebuildReport {
    if (build) this.#build = build;
    this.#entryMemo = new WeakMap();
    const notify: [ClassEntry, ResourceKind[]][] = [];
    const classes: RebuildReport['classes'][number][] = [];
    for (const [key, entry] of [...this.#classes].sort(([a], [b]) => compareStrings(a, b))) {
      if (this.#dropIfUnwatched(key, entry)) continue;
      const before = entry.snapshot;
      this.#refresh(entry);
      if (entry.error && entry.snapshot === before) {
        classes.push({ classKey: key, changed: [], error: entry.error });
        continue;
      }
      const changed = entry.snapshot ? changedKinds(before, entry.snapshot) : [];
      classes.push({ classKey: key, changed });
      if (changed.length > 0) notify.push([entry, changed]);
    }
    const moved = this.#rehome();
    // Classes the re-home emptied go now, not at the next change: a stock gRPC class at S = 16384
    // holds some 50 MiB, and places merged into one class left every old one behind until then.
    const dropped = new Set([...this.#classes].filter(([key, entry]) => this.#dropIfUnwatched(key, entry)).map(([key]) => key));
    const report = dropped.size === 0 ? classes : classes.filter((c) => !dropped.has(c.classKey));
    if (!this.#prebuilding) this.#dropPrebuilt();
    this.#encoder.sweep();
    this.#releaseRetired();
    this.#checkGrpcClasses();
    // A moved watcher is told of every kind of its new class, in order, before the changes of that
    // class: its stream holds the old class's clusters, which a changed route may not name.
    for (const [watcher, kind] of moved) this.#call(watcher, kind);
    const calls: Call[] = [];
    for (const [entry, changed] of notify) this.#notify(entry, changed, calls);
    const fanOut = this.#fanOut(calls);
    return { classes: report, rehomed: moved.length, ...(fanOut ? { fanOut } : {}) };
  }

  /**
   * Builds ahead, in slices that yield to the event loop, the snapshots the next `rebuild` will
   * serve (docs/ownership.md "Cost"): for each active class, `prebuild(proxyClass)` gives the set
   * the coming build function will hand back (the same resource objects), and its snapshot is
   * checked and encoded now. Nothing is served or announced: the snapshots in force stay until
   * `rebuild`, which takes each prebuilt snapshot whose build hands back those very resources and
   * builds the rest (classes made meanwhile, sets that differ) itself, then swaps every class in
   * one turn. So a change reaches no proxy until all of it is built, as a change built by `rebuild`
   * alone, and what is served is the same.
   *
   * Returns undefined when every class was built within `sliceMs` (call `rebuild` now, in this
   * turn); else a promise that settles once the rest is built, `sliceMs` at a time, each slice
   * after a turn of the event loop. `cancelled()`, read before each slice, stops it early (the
   * promise resolves; `rebuild` builds what is missing).
   *
   * `servedClass`, the served-class rule of the coming input (the one `rebuild` will run under),
   * also builds ahead the classes that input moves watchers to and that do not exist yet: the agents
   * of nodes joining the map share one class until then, and each gets its own at the rebuild (1000
   * joining nodes at S = 65536 made a 0.7 s swap turn when they were built there).
   */
  prebuild(
    prebuild: PrebuildFn,
    opts: { readonly sliceMs?: number; readonly cancelled?: () => boolean; readonly servedClass?: (proxyClass: ProxyClass) => ProxyClass } = {},
  ): Promise<void> | undefined {
    this.#dropPrebuilt();
    this.#prebuilding = false;
    const run = ++this.#prebuildRun;
    const sliceMs = (this.#sliceMs = Math.max(0, opts.sliceMs ?? DEFAULT_REBUILD_SLICE_MS));
    const entries = [...this.#classes.values()];
    // The classes the coming input moves watchers to, found as each entry is reached (a pass over
    // its watchers), built after the entries.
    const coming = opts.servedClass;
    const joining: ProxyClass[] = [];
    const planned = new Set<string>();
    let at = 0;
    let next = 0;
    const slice = (): boolean => {
      if (run !== this.#prebuildRun) return true; // a later prebuild replaced this one
      const start = performance.now();
      while (at < entries.length || next < joining.length) {
        if (at < entries.length) {
          const entry = entries[at++]!;
          const key = proxyClassKey(entry.proxyClass);
          if (this.#classes.get(key) === entry) {
            this.#prebuildOne(entry, prebuild);
            if (coming) this.#planJoining(key, entry, coming, planned, joining);
          }
        } else {
          const proxyClass = joining[next++]!;
          const key = proxyClassKey(proxyClass);
          const entry = this.#classes.get(key);
          // Made meanwhile (a proxy of the input in force connected): built ahead as an entry.
          if (entry) {
            if (!this.#prebuilt.has(entry)) this.#prebuildOne(entry, prebuild);
          } else this.#prebuildJoining(proxyClass, key, prebuild);
        }
        if (performance.now() - start >= sliceMs) break;
      }
      // What a refused build encoded, now rather than all at once in rebuild: every other encoding
      // made so far is held (by a prebuilt or a served snapshot).
      this.#encoder.sweep();
      return at >= entries.length && next >= joining.length;
    };
    if (slice()) return undefined;
    this.#prebuilding = true;
    return new Promise<void>((resolve) => {
      const next = (): void => {
        if (opts.cancelled?.() || slice()) {
          if (run === this.#prebuildRun) this.#prebuilding = false;
          return resolve();
        }
        setImmediate(next);
      };
      setImmediate(next);
    });
  }

  /** Builds `entry`'s snapshot of `prebuild`'s set, unless its build would change nothing. */
  #prebuildOne(entry: ClassEntry, prebuild: PrebuildFn): void {
    let set: ResourceSet | undefined;
    try {
      set = prebuild(entry.proxyClass);
    } catch {
      return; // the build throws again in rebuild, which reports it
    }
    if (!set || (entry.snapshot && entry.built && sameResources(entry.built, set))) return;
    try {
      const snapshot = buildSnapshot(entry.proxyClass, set, this.#encoder, this.#check);
      this.#encoder.hold(resourcesIn(snapshot));
      this.#prebuilt.set(entry, { set, snapshot });
    } catch (err) {
      this.#prebuilt.set(entry, { set, error: err instanceof Error ? err : new KeywayError('SNAPSHOT_INCONSISTENT', String(err)) });
    }
  }

  /** Adds to `joining` the classes `coming` serves `entry`'s watchers that have no entry yet, each once. */
  #planJoining(key: string, entry: ClassEntry, coming: (proxyClass: ProxyClass) => ProxyClass, planned: Set<string>, joining: ProxyClass[]): void {
    for (const kind of KIND_ORDER) {
      for (const w of entry.watchers[kind]) {
        const target = normalClass(coming(w.requested));
        const targetKey = proxyClassKey(target);
        if (targetKey === key || planned.has(targetKey) || this.#classes.has(targetKey)) continue;
        planned.add(targetKey);
        joining.push(target);
      }
    }
  }

  /** Builds the snapshot of a class that has no entry yet, for the entry the next rebuild makes (`#entry`). */
  #prebuildJoining(proxyClass: ProxyClass, key: string, prebuild: PrebuildFn): void {
    let set: ResourceSet | undefined;
    try {
      set = prebuild(proxyClass);
    } catch {
      return; // the build throws again in rebuild, which reports it
    }
    if (!set) return;
    try {
      const snapshot = buildSnapshot(proxyClass, set, this.#encoder, this.#check);
      this.#encoder.hold(resourcesIn(snapshot));
      this.#prebuiltNew.set(key, { set, snapshot });
    } catch (err) {
      this.#prebuiltNew.set(key, { set, error: err instanceof Error ? err : new KeywayError('SNAPSHOT_INCONSISTENT', String(err)) });
    }
  }

  /** Releases the retired snapshots' encodings, `#sliceMs` at a time, each slice after a turn of the event loop. */
  #releaseRetired(): void {
    if (this.#releasing || this.#retired.length === 0) return;
    this.#releasing = true;
    const slice = (): void => {
      const start = performance.now();
      do this.#encoder.release(resourcesIn(this.#retired.pop()!));
      while (this.#retired.length > 0 && performance.now() - start < this.#sliceMs);
      if (this.#retired.length > 0) return void setImmediate(slice);
      this.#releasing = false;
    };
    setImmediate(slice);
  }

  /** Forgets what `prebuild` made and `rebuild` did not take, releasing its encodings. */
  #dropPrebuilt(): void {
    for (const p of this.#prebuilt.values()) if (p.snapshot) this.#encoder.release(resourcesIn(p.snapshot));
    this.#prebuilt.clear();
    for (const p of this.#prebuiltNew.values()) if (p.snapshot) this.#encoder.release(resourcesIn(p.snapshot));
    this.#prebuiltNew.clear();
  }

  /** The class whose snapshot a proxy of `proxyClass` is served. */
  servedClass(proxyClass: ProxyClass): ProxyClass {
    return normalClass(this.#servedClass(proxyClass));
  }

  /** Every active class with its snapshot, watcher count and last error. */
  classes(): ClassStatus[] {
    return [...this.#classes].map(([classKey, e]) => ({
      classKey,
      proxyClass: e.proxyClass,
      snapshot: e.snapshot,
      watchers: KIND_ORDER.reduce((n, k) => n + e.watchers[k].size, 0),
      lastError: e.error,
    }));
  }

  /** Encodings the memo holds now: those of the live snapshots (and, for a few turns after a rebuild that took prebuilt ones, of the snapshots they replaced). */
  get encodingsHeld(): number {
    return this.#encoder.size;
  }

  /** Distinct resources packed so far: unchanged or shared resources are packed once. */
  get packedCount(): number {
    return this.#encoder.packedCount;
  }

  #entry(requested: ProxyClass): ClassEntry {
    const proxyClass = this.servedClass(requested);
    const key = proxyClassKey(proxyClass);
    let entry = this.#classes.get(key);
    if (!entry) {
      entry = {
        proxyClass,
        snapshot: undefined,
        built: undefined,
        error: undefined,
        watchers: { cluster: new Set(), endpoint: new Set(), listener: new Set(), route: new Set(), assignment: new Set() },
      };
      this.#classes.set(key, entry);
      // Built ahead for the coming input (a node joining the map): #refresh takes it if the build
      // hands back the same resources, and a later rebuild does if this one runs under the input in force.
      const early = this.#prebuiltNew.get(key);
      if (early) {
        this.#prebuiltNew.delete(key);
        this.#prebuilt.set(entry, early);
      }
      if (isStockGrpc(proxyClass)) {
        this.#grpcClasses++;
        if (!this.#rehoming) this.#checkGrpcClasses();
      }
      this.#refresh(entry);
    }
    return entry;
  }

  /** Drops `entry` if no proxy watches it any more (rebuilt on next use, with the same versions). */
  #dropIfUnwatched(key: string, entry: ClassEntry): boolean {
    if (!KIND_ORDER.every((k) => entry.watchers[k].size === 0)) return false;
    this.#classes.delete(key);
    if (isStockGrpc(entry.proxyClass)) this.#grpcClasses--;
    if (entry.snapshot) this.#encoder.release(resourcesIn(entry.snapshot));
    return true;
  }

  /** Logs once each time the stock gRPC classes grow past the warning threshold. */
  #checkGrpcClasses(): void {
    if (this.#grpcClasses <= this.#grpcWarning) {
      this.#grpcWarned = false;
      return;
    }
    if (this.#grpcWarned) return;
    this.#grpcWarned = true;
    const names = [...this.#classes.values()].filter((e) => isStockGrpc(e.proxyClass)).map((e) => proxyClassKey(e.proxyClass));
    this.#log.warn(
      { grpcClasses: this.#grpcClasses, threshold: this.#grpcWarning, classes: names.slice(0, WARNING_NAMES) },
      'many stock gRPC proxy classes: each place (zone, fabric) whose clients get their own replica order is translated and held apart at every map change; ' +
        'replicas 2 or fewer, the shard picker, or fewer client localities make fewer (docs/security.md "xDS streams")',
    );
  }

  /** Builds `entry` anew; keeps the previous snapshot (same object) when the content is unchanged or the build fails. */
  #refresh(entry: ClassEntry): void {
    if (!this.#build) return;
    try {
      const set = this.#build(entry.proxyClass);
      // The translator hands back its earlier resource objects for what did not change (messages
      // are immutable once handed over), so the same objects mean the same snapshot: with one class
      // per ownership agent, most classes of a map change are this case.
      if (entry.snapshot && entry.built && sameResources(entry.built, set)) {
        entry.error = undefined;
        return;
      }
      // Built ahead by prebuild() from the very same resource objects: the same snapshot, already held once.
      const ahead = this.#prebuilt.get(entry);
      const taken = ahead && sameResources(ahead.set, set) ? ahead : undefined;
      if (taken) this.#prebuilt.delete(entry);
      if (taken?.error) throw taken.error;
      const next = taken?.snapshot ?? buildSnapshot(entry.proxyClass, set, this.#encoder, this.#check);
      if (entry.snapshot?.version !== next.version) {
        if (!taken) this.#encoder.hold(resourcesIn(next));
        // After a prebuild every class is replaced in this one turn: the encodings they held are
        // let go in slices after it (bookkeeping only, nothing served reads them).
        if (entry.snapshot) {
          if (taken) this.#retired.push(entry.snapshot);
          else this.#encoder.release(resourcesIn(entry.snapshot));
        }
        entry.snapshot = next;
      } else if (taken) this.#encoder.release(resourcesIn(next));
      entry.built = set;
      entry.error = undefined;
    } catch (err) {
      entry.error = err instanceof Error ? err : new KeywayError('SNAPSHOT_INCONSISTENT', String(err));
      this.#log.error(
        { err: entry.error, proxyClass: proxyClassKey(entry.proxyClass), kept: entry.snapshot?.version ?? null },
        'snapshot rejected; the previous one stays in force',
      );
    }
  }

  /**
   * Moves each watcher whose served class changed with the new input (e.g. an agent whose node
   * now has assignments, a zone the topology now knows) to its new class; returns them, to be
   * told of the new class's snapshot.
   */
  #rehome(): [Watcher, ResourceKind][] {
    const moved: [Watcher, ResourceKind][] = [];
    this.#rehoming = true;
    try {
      for (const [key, entry] of [...this.#classes]) {
        for (const kind of KIND_ORDER) {
          for (const w of [...entry.watchers[kind]]) {
            const target = proxyClassKey(this.servedClass(w.requested));
            if (target === key) continue;
            entry.watchers[kind].delete(w);
            this.#entry(w.requested).watchers[kind].add(w);
            w.entryKey = target;
            moved.push([w, kind]);
          }
        }
      }
    } finally {
      this.#rehoming = false;
    }
    return moved;
  }

  #call(watcher: Watcher, kind: ResourceKind): void {
    const snapshot = this.#classes.get(watcher.entryKey)?.snapshot;
    if (!snapshot) return;
    try {
      watcher.listener(snapshot);
    } catch (err) {
      this.#log.error({ err, kind, proxyClass: snapshot.classKey }, 'snapshot watcher failed');
    }
  }

  /**
   * Adds the watchers of `entry`'s changed kinds to `calls`, in make-before-break order. A watcher
   * of a later kind still queued from an earlier rebuild is added too: its call reads the latest
   * snapshot, so it must come after this change's earlier kinds (a route naming a new cluster
   * must not reach a stream before that cluster does).
   */
  #notify(entry: ClassEntry, changed: readonly ResourceKind[], calls: Call[]): void {
    if (!entry.snapshot) return;
    const first = KIND_ORDER.find((k) => changed.includes(k));
    let afterFirst = false;
    for (const kind of KIND_ORDER) {
      if (changed.includes(kind)) {
        for (const watcher of entry.watchers[kind]) calls.push([watcher, kind, kind === first]);
      } else if (afterFirst && this.#pending.size > 0) {
        for (const watcher of entry.watchers[kind]) if (this.#pending.has(watcher)) calls.push([watcher, kind, false]);
      }
      if (kind === first) afterFirst = true;
    }
  }

  /**
   * Calls the watchers: at once when they fit in one slice and nothing is queued, else queued behind
   * what earlier rebuilds still have to announce. A watcher reads the current snapshot when called,
   * so a watcher queued already is not queued twice: each watcher waits once, however many
   * rebuilds come while it drains. Its call keeps its place if its kind is the first its class
   * changed now; else it moves behind this change's earlier kinds (its old place is skipped).
   * Calls made leave the queue as it drains (#drainSlice). Returns when the queue drains.
   */
  #fanOut(calls: readonly Call[]): Promise<void> | undefined {
    if (!this.#draining && calls.length <= this.#slice) {
      for (const [watcher, kind] of calls) this.#call(watcher, kind);
      return undefined;
    }
    for (const [watcher, kind, first] of calls) {
      const queued = this.#pending.get(watcher);
      if (queued) {
        if (first) continue;
        queued.live = false;
      }
      const call: QueuedCall = { watcher, kind, live: true };
      this.#queue.push(call);
      this.#pending.set(watcher, call);
    }
    if (!this.#draining) {
      this.#drainSlice();
      this.#draining = new Promise<void>((resolve) => {
        const next = (): void => {
          if (this.#queueHead >= this.#queue.length) {
            this.#queue = [];
            this.#queueHead = 0;
            this.#draining = undefined;
            resolve();
            return;
          }
          this.#drainSlice();
          setImmediate(next);
        };
        setImmediate(next);
      });
    }
    return this.#draining;
  }

  #drainSlice(): void {
    let made = 0;
    while (made < this.#slice && this.#queueHead < this.#queue.length) {
      const { watcher, kind, live } = this.#queue[this.#queueHead++]!;
      if (!live) continue; // moved behind a later change's earlier kinds
      this.#pending.delete(watcher);
      made++;
      // A watcher removed meanwhile (its stream closed) is skipped.
      if (this.#classes.get(watcher.entryKey)?.watchers[kind].has(watcher)) this.#call(watcher, kind);
    }
    // The queue is emptied only once it drains, and rebuilds that each come before the previous
    // fan-out is over (a big fleet, a flip tick every second in a rollout) keep it from draining:
    // the calls made are dropped here instead, or each would hold its watcher, and the stream
    // behind it, closed or not, for as long as that lasts. Amortized O(1) per call.
    if (this.#queueHead >= COMPACT_QUEUE_AT && this.#queueHead * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }
}

/** A proxyless gRPC class without the shard picker: a full translation of its own per place. */
function isStockGrpc(c: ProxyClass): boolean {
  return c.flavor === 'grpc' && c.picker !== true;
}

/** Every resource of a snapshot, kind by kind. */
function* resourcesIn(snapshot: Snapshot): Iterable<EncodedResource> {
  for (const kind of KIND_ORDER) yield* snapshot.kinds[kind].resources.values();
}

/** `c` with only the fields a class has, so equal classes give equal keys and objects. */
function normalClass(c: ProxyClass): ProxyClass {
  return { flavor: c.flavor, zone: c.zone, subzone: c.subzone, ...(c.node !== undefined && { node: c.node }), ...(c.picker === true && { picker: true as const }) };
}

/** Do two builds hold the very same resource objects, kind by kind and in order? */
function sameResources(a: ResourceSet, b: ResourceSet): boolean {
  for (const kind of KIND_ORDER) {
    const x = resourcesOf(a, kind);
    const y = resourcesOf(b, kind);
    if (x === y) continue;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}
