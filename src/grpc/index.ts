/**
 * keyway/grpc: the shard picker for grpc-js proxyless xDS clients (docs/xds.md "The shard
 * picker"). `registerShardPicker()` adds the `keyway.shard_picker` load-balancing policy to
 * grpc-js; `withShardPicker(bootstrap)` marks the client in its xDS bootstrap so keyway sends it
 * one route and one cluster whose policy carries the owner table, whatever the shard count.
 */
export { registerShardPicker } from './register.js';
export { withShardPicker, type XdsBootstrap, type XdsLocality } from './bootstrap.js';
export { chooseShard, chooseOwner, type ShardChoice, type OwnerChoice, type OwnerState } from './shard-choice.js';
export { shardPickerTypes, type GrpcJs, type ShardPickerTypes } from './shard-picker-balancer.js';
export {
  SHARD_PICKER_POLICY,
  SHARD_PICKER_METADATA_KEY,
  SHARD_PICKER_VERSION,
  NO_OWNER,
  decodeOwners,
  type ShardPickerConfig,
  type OwnerTable,
} from '../core/shard-picker.js';
// The picker's own reader, which refuses what grpc-go's picker refuses (read-config.ts).
export { readShardPickerConfig as parseShardPickerConfig } from './read-config.js';
export { KeywayError, ERROR_CODES, type KeywayErrorCode } from '../core/errors.js';
