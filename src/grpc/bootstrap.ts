/**
 * The xDS bootstrap side of the shard-picker contract: a client says it carries the picker with
 * `node.metadata["keyway.shard_picker"] = "v1"` (keyway's classifyProxy reads it; docs/xds.md
 * "The shard picker"). Without it keyway serves the stock per-shard routes.
 */
import { SHARD_PICKER_METADATA_KEY, SHARD_PICKER_VERSION } from '../core/shard-picker.js';

/** A gRPC xDS bootstrap (gRFC A27) as JSON; only `node.metadata` is read and written here. */
export interface XdsBootstrap {
  readonly node?: { readonly metadata?: Readonly<Record<string, unknown>>; readonly [field: string]: unknown };
  readonly [field: string]: unknown;
}

/**
 * A copy of `bootstrap` whose `node.metadata` also says `keyway.shard_picker: "v1"`; everything
 * else is kept. Put the result in GRPC_XDS_BOOTSTRAP_CONFIG (or the file GRPC_XDS_BOOTSTRAP names)
 * before the first `xds:` channel resolves.
 */
export function withShardPicker<B extends XdsBootstrap>(bootstrap: B): B {
  const node = bootstrap.node ?? {};
  return { ...bootstrap, node: { ...node, metadata: { ...node.metadata, [SHARD_PICKER_METADATA_KEY]: SHARD_PICKER_VERSION } } };
}
