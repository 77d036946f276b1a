/**
 * Encodes translated resources once per content (docs/xds-protocol.md "Snapshots and versions": each resource is
 * encoded once per version and the bytes are shared by every stream). Identical resources, in
 * successive snapshots or in the snapshots of different proxy classes, map to one EncodedResource
 * object, so every stream sends the very same bytes.
 */
import { create, toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
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
  /** The resource packed in a google.protobuf.Any (what DiscoveryResponse.resources holds). */
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
  private readonly byContent = new Map<string, EncodedResource>();
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
      const key = memoKey(known);
      if (!this.byContent.has(key)) {
        this.byContent.set(key, known);
        this.unheld.push(known);
      }
      return known;
    }
    const typeUrl = TYPE_URL[kind];
    const value = toBinary(resource.schema, resource.message);
    const version = contentVersion(typeUrl, value);
    const key = `${kind}\0${resource.name}\0${version}`;
    let encoded = this.byContent.get(key);
    if (!encoded) {
      const any = create(AnySchema, { typeUrl, value });
      encoded = Object.freeze({
        kind,
        name: resource.name,
        typeUrl,
        version,
        any,
        bytes: toBinary(AnySchema, any),
        schema: resource.schema,
        message: resource.message,
        references: Object.freeze(referencedNames(resource.message)),
      });
      this.byContent.set(key, encoded);
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
    const key = memoKey(r);
    if (this.byContent.get(key) === r) this.byContent.delete(key);
  }
}

function memoKey(r: EncodedResource): string {
  return `${r.kind}\0${r.name}\0${r.version}`;
}
