/**
 * The xDS bootstrap side of the shard-picker contract: a client says it carries the picker with
 * `node.metadata["keyway.shard_picker"] = "v1"` (keyway's classifyProxy reads it; docs/xds.md
 * "The shard picker"). Without it keyway serves the stock per-shard routes.
 */
import { KeywayError } from '../core/errors.js';
import { SHARD_PICKER_METADATA_KEY, SHARD_PICKER_VERSION } from '../core/shard-picker.js';

/** Where the client runs, as the bootstrap's `node.locality` (gRFC A27). */
export interface XdsLocality {
  readonly region?: string;
  readonly zone?: string;
  readonly sub_zone?: string;
}

/** A gRPC xDS bootstrap (gRFC A27) as JSON; only `node.metadata` and `node.locality` are read and written here. */
export interface XdsBootstrap {
  readonly node?: {
    readonly metadata?: Readonly<Record<string, unknown>>;
    readonly locality?: XdsLocality;
    readonly [field: string]: unknown;
  };
  readonly [field: string]: unknown;
}

/**
 * A copy of `bootstrap` whose `node.metadata` also says `keyway.shard_picker: "v1"`, and whose
 * `node.locality` is `{}` when it has none (grpc-js-xds 1.14 refuses a node without one, and every
 * call on the channel then fails UNAVAILABLE); everything else is kept. Put the result in
 * GRPC_XDS_BOOTSTRAP_CONFIG (or the file GRPC_XDS_BOOTSTRAP names) before the first `xds:`
 * channel resolves.
 * @throws KeywayError BAD_ARGUMENT when `node`, `node.metadata` or `node.locality` is there but not a
 * JSON object, `node.id` is not a non-empty string, or `node.cluster` or a `node.locality` field
 * (`region`, `zone`, `sub_zone`) is there but not a string (grpc-js-xds or keyway refuses such a
 * node, and every call fails)
 */
export function withShardPicker<B extends XdsBootstrap>(bootstrap: B): B {
  // A JavaScript caller (or JSON.parse of an empty file's "null") gets keyway's error, not a TypeError.
  if ((bootstrap as unknown) === undefined) throw new KeywayError('BAD_ARGUMENT', 'must be a JSON object, got undefined', { field: 'bootstrap' });
  jsonObject(bootstrap as unknown, 'bootstrap');
  const node = jsonObject(bootstrap.node, 'node') ?? {};
  if (typeof node['id'] !== 'string' || node['id'] === '') {
    // Not made up here: keyway lists proxies by node id, and under mTLS the id must match the certificate.
    const id = node['id'];
    const got = id === undefined ? 'missing' : id === '' ? 'empty' : `must be a string, got ${JSON.stringify(id) ?? typeof id}`;
    throw new KeywayError('BAD_ARGUMENT', `${got}; grpc-js-xds refuses a node without a string id and keyway one with an empty id (every call fails UNAVAILABLE)`, { field: 'node.id' });
  }
  const metadata = jsonObject(node.metadata, 'node.metadata');
  const locality = jsonObject(node.locality, 'node.locality') ?? {};
  // grpc-js-xds refuses the whole bootstrap for any of these that is not a string.
  for (const [value, field] of [[locality.region, 'node.locality.region'], [locality.zone, 'node.locality.zone'], [locality.sub_zone, 'node.locality.sub_zone'], [node['cluster'], 'node.cluster']] as const) {
    if (value !== undefined && typeof value !== 'string') {
      throw new KeywayError('BAD_ARGUMENT', `must be a string, got ${JSON.stringify(value) ?? typeof value}; grpc-js-xds refuses such a bootstrap (every call fails UNAVAILABLE)`, { field });
    }
  }
  return { ...bootstrap, node: { ...node, locality, metadata: { ...metadata, [SHARD_PICKER_METADATA_KEY]: SHARD_PICKER_VERSION } } };
}

/** `value` when it is a JSON object, undefined when absent; anything else would be mangled by a spread. */
function jsonObject<T>(value: T | undefined, field: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : (JSON.stringify(value) ?? typeof value);
    throw new KeywayError('BAD_ARGUMENT', `must be a JSON object, got ${got}`, { field });
  }
  return value;
}
