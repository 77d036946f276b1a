/**
 * The `keyway.shard_picker` load-balancing policy for grpc-js (gRFC A52 custom policies; the
 * shard-picker contract, docs/xds.md "The shard picker"). grpc-js-xds hands it the picker
 * cluster's EDS endpoints and the policy config from CDS; it keeps one pick_first child per
 * endpoint, all connected, and picks per call: the shard from the call's metadata, then the first
 * READY owner in the config's owner table. An ownership change replaces the table only: no child
 * is torn down, no per-cluster state is rebuilt, which is what makes it cheap at any shard count.
 */
import type * as grpcJs from '@grpc/grpc-js';
import type { experimental } from '@grpc/grpc-js';
import { decodeOwners, SHARD_PICKER_POLICY, type OwnerTable, type ShardPickerConfig } from '../core/shard-picker.js';
import { canonicalAddress } from './endpoint-address.js';
import { readShardPickerConfig } from './read-config.js';
import { chooseOwner, chooseShard, type OwnerState } from './shard-choice.js';

type Experimental = typeof experimental;
type Endpoint = experimental.Endpoint;
type LeafLoadBalancer = InstanceType<Experimental['LeafLoadBalancer']>;

/** The parts of @grpc/grpc-js the policy uses: the application's copy, so it registers where its channels look. */
export type GrpcJs = Pick<typeof grpcJs, 'experimental' | 'connectivityState' | 'status' | 'Metadata'>;

/** What registerLoadBalancerType takes: the policy class and its config class, bound to one grpc-js. */
export interface ShardPickerTypes {
  readonly Balancer: Parameters<Experimental['registerLoadBalancerType']>[1];
  readonly Config: Parameters<Experimental['registerLoadBalancerType']>[2];
}

/** Builds the policy's classes over `grpc` (see GrpcJs for why it is a parameter). */
export function shardPickerTypes(grpc: GrpcJs): ShardPickerTypes {
  const { experimental: x, connectivityState: State, status: Status, Metadata } = grpc;

  class ShardPickerConfigObject implements experimental.TypedLoadBalancingConfig {
    readonly owners: OwnerTable;
    /** Each endpoint's socket in one spelling, by index: how EDS endpoints are matched to the table. */
    readonly sockets: readonly string[];
    constructor(readonly config: ShardPickerConfig) {
      this.owners = decodeOwners(config);
      this.sockets = config.endpoints.map(socketKey);
    }
    getLoadBalancerName(): string {
      return SHARD_PICKER_POLICY;
    }
    toJsonObject(): object {
      return { [SHARD_PICKER_POLICY]: this.config };
    }
    /** @throws KeywayError BAD_ARGUMENT: grpc-js-xds then rejects (NACKs) the cluster. */
    static createFromJson(obj: unknown): ShardPickerConfigObject {
      return new ShardPickerConfigObject(readShardPickerConfig(obj));
    }
  }

  class ShardPicker implements experimental.Picker {
    #next = 0;
    constructor(
      private readonly config: ShardPickerConfigObject,
      /** By endpoint index of the config: that endpoint's child, undefined until EDS lists it. */
      private readonly children: readonly (LeafLoadBalancer | undefined)[],
      private readonly ready: readonly LeafLoadBalancer[],
      /** Some endpoint is connecting (or IDLE, about to): a call without a shard may wait for it. */
      private readonly waiting: boolean,
      /** EDS lists no endpoint at all (as grpc-go's picker tells apart). */
      private readonly noEndpoints: boolean,
    ) {}

    pick(args: experimental.PickArgs): experimental.PickResult {
      const { config, owners } = this.config;
      // Every value of the header (a repeated one is refused); a `-bin` key's are Buffers, its bytes the key.
      const choice = chooseShard(config, (name) => args.metadata.get(name));
      if (choice.kind === 'invalid') return drop(Status.INVALID_ARGUMENT, choice.message);
      if (choice.kind === 'any') {
        // missingHeader any: round robin over the READY endpoints, no shard affinity. None READY:
        // wait while one connects, else fail (a queued fail-fast call would hang to its deadline).
        if (this.ready.length === 0) return this.waiting ? queue() : failure(Status.UNAVAILABLE, 'no endpoint is reachable');
        const child = this.ready[this.#next++ % this.ready.length]!;
        return child.getPicker().pick(args);
      }
      // With no endpoint in EDS at all nothing is about to connect: an owner not listed yet is down,
      // not pending, or a fail-fast call would wait out its deadline.
      const owner = chooseOwner(owners, choice.shard, (e) => (this.noEndpoints ? 'down' : stateOf(this.children[e])));
      if (owner.kind === 'owner') return this.children[owner.endpoint]!.getPicker().pick(args);
      if (owner.kind === 'queue') return queue();
      return failure(Status.UNAVAILABLE, owner.message);
    }
  }

  /**
   * The options without the resolver's config selector, which grpc-js puts among them as a new
   * object on every xDS update. The subchannel pool matches options by identity, so handed on to
   * the children it gave every endpoint a new connection on every CDS or EDS update.
   */
  function subchannelOptions(options: grpcJs.ChannelOptions): grpcJs.ChannelOptions {
    // The literal for a grpc-js copy that predates the export (an application may pass its own).
    const key = (x.CHANNEL_ARGS_CONFIG_SELECTOR_KEY as string | undefined) ?? 'grpc.internal.config_selector';
    if (!(key in options)) return options;
    const { [key]: _selector, ...rest } = options;
    return rest;
  }

  /** An address as grpc-go's picker matches it (`[2001:DB8::1]:80` is `[2001:db8::1]:80`); as given when not ip:port. */
  function socketKey(address: string): string {
    return canonicalAddress(address) ?? address;
  }

  function stateOf(child: LeafLoadBalancer | undefined): OwnerState {
    if (child === undefined) return 'pending';
    const s = child.getConnectivityState();
    if (s === State.READY) return 'ready';
    return s === State.TRANSIENT_FAILURE || s === State.SHUTDOWN ? 'down' : 'connecting';
  }
  const queue = (): experimental.PickResult => ({ pickResultType: x.PickResultType.QUEUE, subchannel: null, status: null, onCallStarted: null, onCallEnded: null });
  // DROP fails wait-for-ready calls too: a malformed shard header does not heal by waiting. grpc-js
  // reports INVALID_ARGUMENT from a policy as INTERNAL, the original in the message (gRFC A54).
  const drop = (code: grpcJs.status, details: string): experimental.PickResult => ({
    pickResultType: x.PickResultType.DROP,
    subchannel: null,
    status: { code, details: `${SHARD_PICKER_POLICY}: ${details}`, metadata: new Metadata() },
    onCallStarted: null,
    onCallEnded: null,
  });
  const failure = (code: grpcJs.status, details: string): experimental.PickResult => ({
    ...drop(code, details),
    pickResultType: x.PickResultType.TRANSIENT_FAILURE,
  });

  class ShardPickerBalancer implements experimental.LoadBalancer {
    /** One pick_first child per endpoint address (`ip:port`, `[ip6]:port`). */
    #children = new Map<string, LeafLoadBalancer>();
    #config: ShardPickerConfigObject | undefined;
    #paused = false;
    readonly #helper: experimental.ChannelControlHelper;
    readonly #childHelper: experimental.ChannelControlHelper;

    constructor(helper: experimental.ChannelControlHelper) {
      this.#helper = helper;
      this.#childHelper = x.createChildChannelControlHelper(helper, { updateState: () => this.#publish() });
    }

    updateAddressList(
      update: experimental.StatusOr<Endpoint[]> | Endpoint[],
      lbConfig: experimental.TypedLoadBalancingConfig,
      options: grpcJs.ChannelOptions,
      note: string,
    ): boolean {
      if (!(lbConfig instanceof ShardPickerConfigObject)) return false;
      // grpc-js 1.12 and 1.13 (and grpc-js-xds 1.13) hand the list itself, 1.14 a StatusOr; a list
      // read as a StatusOr threw a TypeError on every update and no call was ever picked.
      const endpoints: experimental.StatusOr<Endpoint[]> = Array.isArray(update) ? { ok: true, value: update } : update;
      this.#config = lbConfig;
      options = subchannelOptions(options);
      if (!endpoints.ok) {
        if (this.#children.size === 0) this.#helper.updateState(State.TRANSIENT_FAILURE, new x.UnavailablePicker(endpoints.error), endpoints.error.details);
        else this.#publish(); // keep the endpoints we have; the owner table may have changed
        return true;
      }
      this.#paused = true;
      const seen = new Set<string>();
      for (const endpoint of endpoints.value) {
        const address = endpoint.addresses[0];
        if (address === undefined) continue;
        const key = socketKey(x.subchannelAddressToString(address));
        seen.add(key);
        const child = this.#children.get(key);
        if (child) child.updateEndpoint(endpoint, options);
        else {
          const fresh = new x.LeafLoadBalancer(endpoint, this.#childHelper, options, note);
          this.#children.set(key, fresh);
          // Every endpoint stays connected: failover to a replica must not wait for a handshake.
          fresh.startConnecting();
        }
      }
      for (const [key, child] of this.#children) {
        if (!seen.has(key)) {
          child.destroy();
          this.#children.delete(key);
        }
      }
      this.#paused = false;
      this.#publish();
      return true;
    }

    /** Reports the aggregate state with a picker over the current table and children. */
    #publish(): void {
      const config = this.#config;
      if (this.#paused || config === undefined) return;
      const all = [...this.#children.values()];
      for (const c of all) if (c.getConnectivityState() === State.IDLE) c.exitIdle();
      const ready = all.filter((c) => c.getConnectivityState() === State.READY);
      const byIndex = config.sockets.map((a) => this.#children.get(a));
      const waiting = all.some((c) => stateOf(c) === 'connecting');
      const picker = new ShardPicker(config, byIndex, ready, waiting, all.length === 0);
      if (ready.length > 0) this.#helper.updateState(State.READY, picker, null);
      else if (waiting) this.#helper.updateState(State.CONNECTING, picker, null);
      else {
        const message = `${SHARD_PICKER_POLICY}: no endpoint is reachable`;
        this.#helper.updateState(State.TRANSIENT_FAILURE, picker, message);
      }
    }

    exitIdle(): void {
      for (const c of this.#children.values()) c.exitIdle();
    }
    resetBackoff(): void {
      // pick_first children own their backoff.
    }
    destroy(): void {
      for (const c of this.#children.values()) c.destroy();
      this.#children.clear();
    }
    getTypeName(): string {
      return SHARD_PICKER_POLICY;
    }
  }

  return { Balancer: ShardPickerBalancer, Config: ShardPickerConfigObject };
}
