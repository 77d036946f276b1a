// The policy under the grpc-js 1.12 and 1.13 calling convention: their parent policies (and
// grpc-js-xds 1.13's) hand updateAddressList the endpoint list itself, where 1.14 hands a StatusOr.
// An application with such a copy passes it to registerShardPicker(grpc); read as a StatusOr, every
// update threw a TypeError (uncaught, in grpc-js's resolver callback) and every call waited out its
// deadline. A parent policy registered here calls the picker the 1.13 way inside a real grpc-js
// channel (this repository installs grpc-js 1.14 only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Client, Metadata, credentials, experimental, type ServiceError } from '@grpc/grpc-js';
import { shardPickerTypes } from '../../src/grpc/shard-picker-balancer.js';
import { encodeOwners, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { startWhoServer, WHO_METHOD } from '../support/grpc-who.js';
import { eventually } from '../support/eventually.js';

const grpc = createRequire(import.meta.url)('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
const { Balancer, Config } = shardPickerTypes(grpc);
const PARENT = 'keyway.test.list_parent';
const raw = (b: Buffer): Buffer => b;

/** `{ "keyway.test.list_parent": { child: <picker config> } }`: the picker config, parsed by the picker. */
class ParentConfig implements experimental.TypedLoadBalancingConfig {
  constructor(readonly child: experimental.TypedLoadBalancingConfig) {}
  getLoadBalancerName(): string {
    return PARENT;
  }
  toJsonObject(): object {
    return { [PARENT]: { child: this.child.toJsonObject() } };
  }
  static createFromJson(obj: { child: unknown }): ParentConfig {
    return new ParentConfig(Config.createFromJson(obj.child));
  }
}

/** A parent that hands its child the endpoint list itself and no resolution note, as grpc-js 1.13's policies do. */
class ListParent implements experimental.LoadBalancer {
  readonly #child: experimental.LoadBalancer;
  constructor(helper: experimental.ChannelControlHelper) {
    this.#child = new Balancer(helper);
  }
  updateAddressList(endpoints: experimental.StatusOr<experimental.Endpoint[]>, config: experimental.TypedLoadBalancingConfig, options: object): boolean {
    const list = endpoints.ok ? endpoints.value : [];
    const asOlder = this.#child.updateAddressList as unknown as (l: experimental.Endpoint[], c: experimental.TypedLoadBalancingConfig, o: object) => boolean;
    return asOlder.call(this.#child, list, (config as ParentConfig).child, options);
  }
  exitIdle(): void {
    this.#child.exitIdle();
  }
  resetBackoff(): void {
    this.#child.resetBackoff();
  }
  destroy(): void {
    this.#child.destroy();
  }
  getTypeName(): string {
    return PARENT;
  }
}

function pickerConfig(endpoints: string[], owners: number[][]): ShardPickerConfig {
  return { shardCount: owners.length, shardHeader: 'x-cache-shard', keyHeader: '', missingHeader: 'reject', endpoints, owners: encodeOwners(owners, 1) };
}

function call(client: Client, shard: string): Promise<string> {
  const md = new Metadata();
  md.set('x-cache-shard', shard);
  return new Promise((resolve) =>
    client.makeUnaryRequest(WHO_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 1000 }, (err: ServiceError | null, v?: Buffer) =>
      resolve(err ? `${err.code} ${err.details}` : v!.toString()),
    ),
  );
}

test('the grpc-js 1.13 calling convention (a plain endpoint list): calls reach their shard owners', async (t) => {
  grpc.experimental.registerLoadBalancerType(PARENT, ListParent, ParentConfig);
  const a = await startWhoServer('a');
  const b = await startWhoServer('b');
  t.after(() => [a, b].forEach((s) => s.server.forceShutdown()));
  const endpoints = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort();
  const at = (port: number): number => endpoints.indexOf(`127.0.0.1:${port}`);
  const client = new Client(`ipv4:${endpoints.join(',')}`, credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [PARENT]: { child: pickerConfig(endpoints, [[at(a.port)], [at(b.port)]]) } }] }),
  });
  t.after(() => client.close());
  await eventually('shard 0 on a', () => call(client, '0'), { accept: (v) => v === 'a', timeoutMs: 10_000 });
  for (let i = 0; i < 3; i++) {
    assert.equal(await call(client, '0'), 'a');
    assert.equal(await call(client, '1'), 'b');
  }
});

test('the grpc-js 1.13 calling convention with no endpoint: a shard call fails UNAVAILABLE, no TypeError', () => {
  const published: experimental.Picker[] = [];
  const helper = {
    createSubchannel: () => {
      throw new Error('no endpoint, no subchannel');
    },
    updateState: (_state: number, picker: experimental.Picker) => published.push(picker),
    requestReresolution: () => undefined,
    addChannelzChild: () => undefined,
    removeChannelzChild: () => undefined,
  } as unknown as experimental.ChannelControlHelper;
  const lb = new Balancer(helper);
  const asOlder = lb.updateAddressList as unknown as (l: experimental.Endpoint[], c: experimental.TypedLoadBalancingConfig, o: object) => boolean;
  asOlder.call(lb, [], Config.createFromJson(pickerConfig(['127.0.0.1:1'], [[0]])), {});
  const md = new Metadata();
  md.set('x-cache-shard', '0');
  const result = published.at(-1)!.pick({ metadata: md, extraPickInfo: {} });
  assert.equal(result.status?.code, grpc.status.UNAVAILABLE);
  assert.match(result.status!.details, /no owner of shard 0 is reachable/);
});
