/**
 * Registers keyway's shard picker with grpc-js (gRFC A52: grpc-js-xds takes the first policy of a
 * cluster's `load_balancing_policy` list that the channel's registry knows, so a client that has
 * not registered it falls back to round robin, with no shard affinity).
 */
import * as defaultGrpc from '@grpc/grpc-js';
import { KeywayError } from '../core/errors.js';
import { SHARD_PICKER_POLICY } from '../core/shard-picker.js';
import { shardPickerTypes, type GrpcJs } from './shard-picker-balancer.js';

const registered = new WeakSet<object>();

/**
 * Registers the `keyway.shard_picker` load-balancing policy in `grpc`'s registry (default: the
 * @grpc/grpc-js keyway resolves; pass your own `import * as grpc from '@grpc/grpc-js'` when your
 * application resolves another copy, since grpc-js-xds looks policies up in the copy it uses).
 * Idempotent per grpc-js copy. Call it before the first `xds:` channel resolves, with
 * `register()` of @grpc/grpc-js-xds, and give the bootstrap the picker's node metadata
 * ({@link withShardPicker}) so keyway serves this client the one-cluster resources.
 * @throws KeywayError BAD_ARGUMENT when `grpc` is not a grpc-js module (no `experimental.registerLoadBalancerType`)
 */
export function registerShardPicker(grpc: GrpcJs = defaultGrpc): void {
  // Another module (@grpc/grpc-js-xds, whose register() is called beside this one) failed with
  // "Cannot read properties of undefined (reading 'registerLoadBalancerType')".
  if (typeof (grpc as Partial<GrpcJs> | null)?.experimental?.registerLoadBalancerType !== 'function') {
    const got = grpc === null ? 'null' : typeof grpc === 'object' ? 'an object without experimental.registerLoadBalancerType (@grpc/grpc-js-xds is not it)' : typeof grpc;
    throw new KeywayError('BAD_ARGUMENT', `must be the @grpc/grpc-js module your channels use (import * as grpc from '@grpc/grpc-js'), got ${got}`, { field: 'grpc' });
  }
  if (registered.has(grpc.experimental)) return;
  const { Balancer, Config } = shardPickerTypes(grpc);
  grpc.experimental.registerLoadBalancerType(SHARD_PICKER_POLICY, Balancer, Config);
  registered.add(grpc.experimental);
}
