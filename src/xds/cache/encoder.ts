/**
 * Encodes translated resources once per content (docs/xds-protocol.md "Snapshots and versions": each resource is
 * encoded once per version and the bytes are shared by every stream). Identical resources, in
 * successive snapshots or in the snapshots of different proxy classes, map to one EncodedResource
 * object, so every stream sends the very same bytes.
 */
import { fromBinary, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import { TYPE_URL, type ResourceKind, type TranslatedResource } from '../resources.js';
import { contentVersion } from './version.js';
import { referencedNames } from '../references.js';

/** One resource ready for the wire: immutable, shared by every snapshot and stream that serves it. */
export interface EncodedResource {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly typeUrl: string;
  /** Content hash of the encoded resource (the delta xDS per-resource version). */
  readonly version: string;
  /**
   * The resource packed in a google.protobuf.Any (what DiscoveryResponse.resources holds), decoded
   * from `bytes` on each read (config dumps, tests): its `value` is a view of `bytes`, not a copy.
   */
  readonly any: Any;
  /** `any` serialized: the bytes written into every response that carries this resource. */
  readonly bytes: Uint8Array;
  /** The decoded resource and its schema, for consistency checks and config dumps. */
  readonly schema: DescMessage;
  readonly message: Message;
  /** EDS names (a cluster) or RDS names (a listener) this resource makes a proxy ask for. */
  readonly references: readonly string[];
}

/**
 * Memo of encoded resources. `encode` serializes the message to hash it; when that content was
 * seen before it returns the earlier object. A message object seen before is not even serialized
 * again (the translator may reuse unchanged messages; they must not be mutated once handed over).
 */
export class ResourceEncoder {
  private readonly byContent = new ContentMemo();
  private byObject = new WeakMap<object, EncodedResource>();
  /** How many live snapshots hold each encoding (hold/release). */
  private readonly holders = new Map<EncodedResource, number>();
  /** Encodings put in the memo since the last sweep, which may end up held by no snapshot. */
  private unheld: EncodedResource[] = [];
  private encodes = 0;

  /** Returns the shared EncodedResource for `resource` of `kind`. */
  encode(kind: ResourceKind, resource: TranslatedResource): EncodedResource {
    const known = this.byObject.get(resource.message);
    if (known && known.name === resource.name && known.kind === kind) {
      // Held by a live snapshot: recorded in the memo when it was encoded.
      if (this.holders.has(known)) return known;
      if (!this.byContent.get(kind, known.name, known.version)) {
        this.byContent.set(known);
        this.unheld.push(known);
      }
      return known;
    }
    const typeUrl = TYPE_URL[kind];
    const value = toBinary(resource.schema, resource.message);
    const version = contentVersion(typeUrl, value);
    let encoded = this.byContent.get(kind, resource.name, version);
    if (!encoded) {
      encoded = new Encoded(kind, resource.name, typeUrl, version, anyBytes(typeUrl, value), resource.schema, resource.message);
      this.byContent.set(encoded);
      this.unheld.push(encoded);
      this.encodes++;
    }
    this.byObject.set(resource.message, encoded);
    return encoded;
  }

  /**
   * Counts `resources` as held by one more live snapshot. The memo keeps what some live snapshot
   * holds, so a map change costs work in proportion to the snapshots it replaces, not to all of them.
   */
  hold(resources: Iterable<EncodedResource>): void {
    for (const r of resources) this.holders.set(r, (this.holders.get(r) ?? 0) + 1);
  }

  /** Counts `resources` as held by one snapshot less; what no snapshot holds any more is forgotten. */
  release(resources: Iterable<EncodedResource>): void {
    for (const r of resources) {
      const n = (this.holders.get(r) ?? 0) - 1;
      if (n > 0) {
        this.holders.set(r, n);
        continue;
      }
      this.holders.delete(r);
      this.forget(r);
    }
  }

  /** Forgets what was encoded since the last sweep but is held by no snapshot (a rejected build's). */
  sweep(): void {
    for (const r of this.unheld) if (!this.holders.has(r)) this.forget(r);
    this.unheld = [];
  }

  /** How many distinct resources were packed so far (for tests and metrics). */
  get packedCount(): number {
    return this.encodes;
  }

  /** How many encodings the memo holds now. */
  get size(): number {
    return this.byContent.size;
  }

  private forget(r: EncodedResource): void {
    this.byContent.delete(r);
  }
}

const NO_REFERENCES: readonly string[] = Object.freeze([]);

/** The UTF-8 bytes of each type URL, made once. */
const typeUrlBytes = new Map<string, Uint8Array>();

/**
 * `google.protobuf.Any{type_url, value}` serialized, byte for byte what protobuf-es's
 * `toBinary(AnySchema, create(AnySchema, {typeUrl, value}))` gives (field 1, then field 2 when not
 * empty, each length-delimited), written straight into one buffer: an Any object and a second pass
 * of the general encoder (its growing writer) per resource were much of the CPU of a change that
 * moves every shard, which encodes S x R ShardAssignments (docs/ownership.md "Cost").
 * test/xds/cache/any-bytes.test.ts compares the two.
 */
export function anyBytes(typeUrl: string, value: Uint8Array): Uint8Array {
  let url = typeUrlBytes.get(typeUrl);
  if (!url) typeUrlBytes.set(typeUrl, (url = new TextEncoder().encode(typeUrl)));
  const size = (url.length > 0 ? 1 + varintSize(url.length) + url.length : 0) + (value.length > 0 ? 1 + varintSize(value.length) + value.length : 0);
  const out = new Uint8Array(size);
  let at = 0;
  if (url.length > 0) {
    out[at++] = 0x0a; // field 1, length-delimited
    at = writeVarint(out, at, url.length);
    out.set(url, at);
    at += url.length;
  }
  if (value.length > 0) {
    out[at++] = 0x12; // field 2, length-delimited
    at = writeVarint(out, at, value.length);
    out.set(value, at);
  }
  return out;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/**
 * An EncodedResource as kept: one per resource of every snapshot (at S = 16384 and R = 2 the
 * ownership agents alone hold 32768), so it keeps the serialized Any only. An Any object beside it
 * held a second copy of the encoded message in a buffer of its own (some 300 bytes a resource with
 * the Any); it is decoded from `bytes` when read instead, which only config dumps do.
 */
class Encoded implements EncodedResource {
  readonly references: readonly string[];

  constructor(
    readonly kind: ResourceKind,
    readonly name: string,
    readonly typeUrl: string,
    readonly version: string,
    readonly bytes: Uint8Array,
    readonly schema: DescMessage,
    readonly message: Message,
  ) {
    const references = referencedNames(message);
    this.references = references.length === 0 ? NO_REFERENCES : Object.freeze(references);
    Object.freeze(this);
  }

  get any(): Any {
    return fromBinary(AnySchema, this.bytes);
  }
}

/**
 * The memo's encodings by kind, name and version, keyed by the version: a string each encoding
 * holds anyway, where a key joining kind, name and version was one more string per resource of
 * every snapshot. Every kind's resources carry their name in their bytes, so one version with two
 * names is rare (a hash collision, or a message whose name is not in it); such a second encoding
 * is kept in a map keyed by all three.
 */
class ContentMemo {
  readonly #byVersion = new Map<string, EncodedResource>();
  readonly #others = new Map<string, EncodedResource>();

  get(kind: ResourceKind, name: string, version: string): EncodedResource | undefined {
    const r = this.#byVersion.get(version);
    if (r !== undefined && r.kind === kind && r.name === name) return r;
    return this.#others.size === 0 ? undefined : this.#others.get(fullKey(kind, name, version));
  }

  /** Records `r`, which get() does not find yet. */
  set(r: EncodedResource): void {
    if (this.#byVersion.has(r.version)) this.#others.set(fullKey(r.kind, r.name, r.version), r);
    else this.#byVersion.set(r.version, r);
  }

  delete(r: EncodedResource): void {
    if (this.#byVersion.get(r.version) === r) this.#byVersion.delete(r.version);
    else if (this.#others.size > 0) {
      const key = fullKey(r.kind, r.name, r.version);
      if (this.#others.get(key) === r) this.#others.delete(key);
    }
  }

  get size(): number {
    return this.#byVersion.size + this.#others.size;
  }
}

function fullKey(kind: ResourceKind, name: string, version: string): string {
  return `${kind}\0${name}\0${version}`;
}
