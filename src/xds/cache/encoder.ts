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
  private byContent = new Map<string, EncodedResource>();
  private byObject = new WeakMap<object, EncodedResource>();
  private encodes = 0;

  /** Returns the shared EncodedResource for `resource` of `kind`. */
  encode(kind: ResourceKind, resource: TranslatedResource): EncodedResource {
    const known = this.byObject.get(resource.message);
    if (known && known.name === resource.name && known.kind === kind) {
      this.byContent.set(memoKey(known), known);
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
      this.encodes++;
    }
    this.byObject.set(resource.message, encoded);
    return encoded;
  }

  /** Forgets every encoding not in `live`, so the memo holds only what current snapshots serve. */
  retain(live: Iterable<EncodedResource>): void {
    const next = new Map<string, EncodedResource>();
    for (const r of live) next.set(memoKey(r), r);
    this.byContent = next;
  }

  /** How many distinct resources were packed so far (for tests and metrics). */
  get packedCount(): number {
    return this.encodes;
  }

  /** How many encodings the memo holds now. */
  get size(): number {
    return this.byContent.size;
  }
}

function memoKey(r: EncodedResource): string {
  return `${r.kind}\0${r.name}\0${r.version}`;
}
