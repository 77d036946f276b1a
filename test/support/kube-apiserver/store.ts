/**
 * The object store behind the in-process API server, modelled on etcd plus the watch cache: one
 * global, increasing resourceVersion across every resource type; an event history that watches
 * replay from a given resourceVersion; and compaction, after which older resourceVersions are
 * "too old" (a watch from one gets 410 Gone).
 */
import { randomUUID } from 'node:crypto';
import { apiVersionOf, resourceByKind, type ResourceType } from './resources.js';

/** The parts of an object the store reads; everything else is kept as given. */
export interface StoredObject {
  kind?: string;
  apiVersion?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as stored in the history. `previous` lets label-filtered watches see objects leave. */
export interface StoreEvent {
  readonly rv: number;
  readonly type: EventType;
  readonly resource: ResourceType;
  readonly object: StoredObject;
  readonly previous?: StoredObject;
}

export class ObjectStore {
  private rv = 0;
  /** Events with rv > compactedRv are in `history`; a watch from an older rv is expired. */
  private compactedRv = 0;
  private readonly history: StoreEvent[] = [];
  private readonly objects = new Map<string, StoredObject>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(private readonly historyLimit = 10_000) {}

  /** The newest resourceVersion handed out (what a list answers with). */
  currentRv(): number {
    return this.rv;
  }

  oldestWatchableRv(): number {
    return this.compactedRv;
  }

  /** Creates or replaces an object (ADDED or MODIFIED); stamps resourceVersion, uid, creationTimestamp. */
  upsert(input: StoredObject): StoredObject {
    const type = resourceByKind(requireKind(input));
    const key = keyOf(type, input.metadata.namespace, input.metadata.name);
    if (type.namespaced && !input.metadata.namespace) throw new Error(`${type.kind} ${input.metadata.name} needs a namespace`);
    const previous = this.objects.get(key);
    const object = structuredClone(input);
    object.kind = type.kind;
    object.apiVersion = apiVersionOf(type);
    if (!type.namespaced) delete object.metadata.namespace;
    object.metadata.uid = previous?.metadata.uid ?? object.metadata.uid ?? randomUUID();
    object.metadata.creationTimestamp =
      previous?.metadata.creationTimestamp ?? object.metadata.creationTimestamp ?? new Date().toISOString();
    object.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, object);
    this.record({ rv: this.rv, type: previous ? 'MODIFIED' : 'ADDED', resource: type, object, ...(previous ? { previous } : {}) });
    return structuredClone(object);
  }

  /** Deletes an object (DELETED, carrying its last state at a new resourceVersion); false if absent. */
  delete(kind: string, namespace: string | undefined, name: string): boolean {
    const type = resourceByKind(kind);
    const key = keyOf(type, namespace, name);
    const previous = this.objects.get(key);
    if (!previous) return false;
    this.objects.delete(key);
    const object = structuredClone(previous);
    object.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: type, object, previous });
    return true;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): StoredObject | undefined {
    const o = this.objects.get(keyOf(type, namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  /** Current objects of a type, optionally in one namespace, sorted by namespace/name. */
  list(type: ResourceType, namespace?: string): StoredObject[] {
    return [...this.objects.values()]
      .filter((o) => o.kind === type.kind && (namespace === undefined || o.metadata.namespace === namespace))
      .sort((a, b) => keyOf(type, a.metadata.namespace, a.metadata.name).localeCompare(keyOf(type, b.metadata.namespace, b.metadata.name)))
      .map((o) => structuredClone(o));
  }

  /**
   * Objects of a type as they were at `rv` (the snapshot a paged list continues from), sorted like
   * list(); undefined when the history no longer reaches back to `rv` (410, as etcd after compaction).
   */
  listAt(type: ResourceType, namespace: string | undefined, rv: number): StoredObject[] | undefined {
    if (rv < this.compactedRv) return undefined;
    const objects = new Map(this.list(type, namespace).map((o) => [keyOf(type, o.metadata.namespace, o.metadata.name), o]));
    // Undo, newest first, every change made after rv.
    for (let i = this.history.length - 1; i >= 0 && this.history[i]!.rv > rv; i--) {
      const e = this.history[i]!;
      if (e.resource !== type || (namespace !== undefined && e.object.metadata.namespace !== namespace)) continue;
      const key = keyOf(type, e.object.metadata.namespace, e.object.metadata.name);
      if (e.type === 'ADDED') objects.delete(key);
      else objects.set(key, structuredClone(e.previous!));
    }
    return [...objects.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, o]) => o);
  }

  /** Events after `rv`, oldest first; undefined when `rv` is older than the history reaches (410). */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  /** Drops the whole history: any watch from a resourceVersion older than now is expired. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private record(e: StoreEvent): void {
    this.history.push(e);
    while (this.history.length > this.historyLimit) this.compactedRv = this.history.shift()!.rv;
    for (const fn of [...this.listeners]) fn(e);
  }
}

function requireKind(o: StoredObject): string {
  if (typeof o.kind !== 'string') throw new Error(`object ${o.metadata?.name} has no kind`);
  return o.kind;
}

function keyOf(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${type.kind}/${type.namespaced ? (namespace ?? '') : ''}/${name}`;
}
