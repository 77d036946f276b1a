// A hot shard's spread in real grpc-js channels (docs/hot-shards.md "What proxies get", docs/xds.md
// "Hot shards"): a shard listed in `readers` with k readers sends each call to one of its first k
// READY owners, drawn by `weights`. Real local servers answer with their name; the shares are
// checked against the documented ones with a Hoeffding bound at 1e-9 (union over the servers), so
// a test run cannot flake, yet "all calls to one reader" or "equal instead of weighted" fails.
// A parent policy hands the picker a new config the way grpc-js-xds does on a CDS update, so the
// spread's end and a wait-for-ready call during a change run in the same channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Metadata, credentials, experimental, type ServiceError } from '@grpc/grpc-js';
import { registerShardPicker } from '../../src/grpc/index.js';
import { encodeOwners, SHARD_PICKER_POLICY, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { restartableWho, WHO_METHOD, type RestartableWho } from '../support/grpc-who.js';
import { eventually } from '../support/eventually.js';

const raw = (b: Buffer): Buffer => b;
const PARENT = 'keyway.test.swap_parent';
/** The picker config as the registered policy reads it (its own config class, which its balancer checks). */
const pickerConfig = (config: object): experimental.TypedLoadBalancingConfig => experimental.parseLoadBalancingConfig({ [SHARD_PICKER_POLICY]: config });

/** The parents alive, so a test can hand the picker a new config as a CDS update would. */
const parents = new Set<SwapParent>();

class ParentConfig implements experimental.TypedLoadBalancingConfig {
  constructor(readonly child: experimental.TypedLoadBalancingConfig) {}
  getLoadBalancerName(): string {
    return PARENT;
  }
  toJsonObject(): object {
    return { [PARENT]: { child: this.child.toJsonObject() } };
  }
  static createFromJson(obj: { child: object }): ParentConfig {
    return new ParentConfig(pickerConfig(obj.child));
  }
}

/** Passes everything to a `keyway.shard_picker` child; `push` gives it a new config on the last endpoints. */
class SwapParent implements experimental.LoadBalancer {
  readonly #child: experimental.LoadBalancer;
  #last: [experimental.StatusOr<experimental.Endpoint[]>, object, string] | undefined;
  constructor(helper: experimental.ChannelControlHelper) {
    this.#child = new experimental.ChildLoadBalancerHandler(helper);
    parents.add(this);
  }
  updateAddressList(endpoints: experimental.StatusOr<experimental.Endpoint[]>, config: experimental.TypedLoadBalancingConfig, options: object, note: string): boolean {
    this.#last = [endpoints, options, note];
    return this.#child.updateAddressList(endpoints, (config as ParentConfig).child, options, note);
  }
  push(config: ShardPickerConfig): void {
    const [endpoints, options, note] = this.#last!;
    this.#child.updateAddressList(endpoints, pickerConfig(config), options, note);
  }
  exitIdle(): void {
    this.#child.exitIdle();
  }
  resetBackoff(): void {
    this.#child.resetBackoff();
  }
  destroy(): void {
    parents.delete(this);
    this.#child.destroy();
  }
  getTypeName(): string {
    return PARENT;
  }
}

function call(client: Client, shard: string, waitForReady = false, timeoutMs = 2000): Promise<string> {
  const md = new Metadata();
  md.set('x-cache-shard', shard);
  if (waitForReady) md.setOptions({ waitForReady: true });
  return new Promise((resolve) =>
    client.makeUnaryRequest(WHO_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, v?: Buffer) =>
      resolve(err ? `${err.code} ${err.details}` : v!.toString()),
    ),
  );
}

const CALLS = 4000;

/** Answers of `n` calls for `shard`, by server name, 200 in flight at a time. */
async function tally(client: Client, shard: string, n = CALLS): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let done = 0; done < n; done += 200) {
    const answers = await Promise.all(Array.from({ length: Math.min(200, n - done) }, () => call(client, shard)));
    for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  return counts;
}

/**
 * Each server's share within the Hoeffding bound: P(|X/n - p| >= t) <= 2 exp(-2 n t^2), at 1e-9
 * for all of them together. n = 4000 and four servers: t = 0.053, far below the 0.25 that tells
 * 1:1 from 1:3 apart.
 */
function assertShares(counts: Map<string, number>, expected: Record<string, number>, n = CALLS): void {
  const names = Object.keys(expected);
  const total = names.reduce((s, k) => s + expected[k]!, 0);
  const t = Math.sqrt(Math.log((2 * names.length) / 1e-9) / (2 * n));
  const got = Object.fromEntries([...counts].map(([k, v]) => [k, v / n]));
  for (const [answer, c] of counts) assert.ok(answer in expected, `a call answered ${JSON.stringify(answer)} (${c} times): ${JSON.stringify(got)}`);
  for (const name of names) {
    const p = expected[name]! / total;
    const share = (counts.get(name) ?? 0) / n;
    assert.ok(Math.abs(share - p) <= t, `${name}: share ${share.toFixed(3)}, expected ${p.toFixed(3)} +- ${t.toFixed(3)}: ${JSON.stringify(got)}`);
  }
}

interface Fleet {
  readonly servers: Record<string, RestartableWho>;
  readonly endpoints: string[];
  /** Index in `endpoints` of a server by name. */
  at(name: string): number;
  /** The picker config: `owners` by shard (names, primary first), `readers` pairs, weights by name. */
  config(owners: string[][], readers?: number[], weights?: Record<string, number>): ShardPickerConfig;
  client(config: ShardPickerConfig): Client;
}

async function fleet(t: { after(fn: () => unknown): void }, names: string[]): Promise<Fleet> {
  const servers: Record<string, RestartableWho> = {};
  for (const n of names) servers[n] = await restartableWho(n);
  t.after(() => Promise.all(Object.values(servers).map((s) => s.stop())));
  const endpoints = names.map((n) => `127.0.0.1:${servers[n]!.port}`).sort();
  const at = (name: string): number => endpoints.indexOf(`127.0.0.1:${servers[name]!.port}`);
  return {
    servers,
    endpoints,
    at,
    config(owners, readers, weights) {
      const replicas = Math.max(...owners.map((o) => o.length));
      const w = weights ? { weights: endpoints.map((_, i) => weights[names.find((n) => at(n) === i)!] ?? 1) } : {};
      return {
        shardCount: owners.length,
        shardHeader: 'x-cache-shard',
        keyHeader: '',
        missingHeader: 'reject',
        endpoints,
        owners: encodeOwners(owners.map((o) => o.map(at)), replicas),
        ...(readers ? { readers } : {}),
        ...w,
      };
    },
    client(config) {
      const client = new Client(`ipv4:${endpoints.join(',')}`, credentials.createInsecure(), {
        'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [PARENT]: { child: config } }] }),
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 200,
      });
      t.after(() => client.close());
      return client;
    },
  };
}

/** Waits until every server of `names` has answered a call for `shard` (all connected). */
async function allAnswer(client: Client, shard: string, names: string[]): Promise<void> {
  const seen = new Set<string>();
  await eventually(`shard ${shard} reaches ${names.join(', ')}`, async () => {
    seen.add(await call(client, shard));
    return names.every((n) => seen.has(n));
  }, { timeoutMs: 15_000, intervalMs: 1 });
}

let registered = false;
function register(): void {
  if (registered) return;
  registerShardPicker();
  experimental.registerLoadBalancerType(PARENT, SwapParent, ParentConfig);
  registered = true;
}

test('a hot shard spreads over k = 2 and k = 4 readers by weight, 1:1 and 1:3, in a grpc-js channel', async (t) => {
  register();
  const f = await fleet(t, ['a', 'b', 'c', 'd']);
  const owners = [['a', 'b', 'c', 'd'], ['c', 'd', 'a', 'b'], ['a', 'b', 'c', 'd'], ['b', 'a', 'c', 'd']];
  // Shard 0: k = 4; shard 1: k = 2 over c, d; shard 2: k = 2 over a, b; shard 3 not hot.
  const readers = [0, 4, 1, 2, 2, 2];

  const equal = f.client(f.config(owners, readers, { a: 1, b: 1, c: 1, d: 1 }));
  await allAnswer(equal, '0', ['a', 'b', 'c', 'd']);
  assertShares(await tally(equal, '0'), { a: 1, b: 1, c: 1, d: 1 });
  assertShares(await tally(equal, '1'), { c: 1, d: 1 });
  assertShares(await tally(equal, '3', 200), { b: 1 }, 200);

  const weighted = f.client(f.config(owners, readers, { a: 1, b: 3, c: 1, d: 3 }));
  await allAnswer(weighted, '0', ['a', 'b', 'c', 'd']);
  assertShares(await tally(weighted, '0'), { a: 1, b: 3, c: 1, d: 3 });
  assertShares(await tally(weighted, '1'), { c: 1, d: 3 });
  assertShares(await tally(weighted, '2'), { a: 1, b: 3 });
});

test('a reader down: its share goes to the other readers by weight; back up, it takes its share again', async (t) => {
  register();
  const f = await fleet(t, ['a', 'b', 'c', 'd']);
  const client = f.client(f.config([['a', 'b', 'c', 'd']], [0, 4], { a: 1, b: 3, c: 1, d: 3 }));
  await allAnswer(client, '0', ['a', 'b', 'c', 'd']);
  await f.servers['b']!.stop();
  await eventually('b out of the draw', () => tally(client, '0', 200), { accept: (c) => !c.has('b') && [...c.keys()].every((k) => /^[acd]$/.test(k)), timeoutMs: 15_000 });
  assertShares(await tally(client, '0'), { a: 1, c: 1, d: 3 });
  await f.servers['b']!.start();
  await allAnswer(client, '0', ['a', 'b', 'c', 'd']);
  assertShares(await tally(client, '0'), { a: 1, b: 3, c: 1, d: 3 });
});

test('the spread ends with a new config: calls return to the primary alone', async (t) => {
  register();
  const f = await fleet(t, ['a', 'b', 'c']);
  const owners = [['b', 'a', 'c']];
  const client = f.client(f.config(owners, [0, 3], { a: 1, b: 1, c: 1 }));
  await allAnswer(client, '0', ['a', 'b', 'c']);
  for (const p of parents) p.push(f.config(owners));
  assertShares(await tally(client, '0', 1000), { b: 1 }, 1000);
  // And spread again, as a config that lists the shard's readers anew.
  for (const p of parents) p.push(f.config(owners, [0, 2], { a: 1, b: 1, c: 1 }));
  assertShares(await tally(client, '0'), { a: 1, b: 1 });
});

test('a wait-for-ready call for a spread shard whose readers are all down waits, and a new table serves it', async (t) => {
  register();
  const f = await fleet(t, ['a', 'b', 'c']);
  const client = f.client(f.config([['a', 'b'], ['c']], [0, 2], { a: 1, b: 1, c: 1 }));
  await allAnswer(client, '0', ['a', 'b']);
  assert.equal(await call(client, '1'), 'c');
  await f.servers['a']!.stop();
  await f.servers['b']!.stop();
  await eventually('shard 0 unavailable', () => call(client, '0'), { accept: (v) => v.startsWith('14 '), timeoutMs: 15_000 });
  const waiting = call(client, '0', true, 15_000);
  await new Promise((r) => setTimeout(r, 300));
  // The shard moves to c, spread with nobody: the queued call is picked again under the new table.
  for (const p of parents) p.push(f.config([['c', 'a'], ['c']], undefined));
  assert.equal(await waiting, 'c');
  // A wait-for-ready call during the spread's return: a and b back, the shard spread over them again.
  await f.servers['a']!.start();
  await f.servers['b']!.start();
  for (const p of parents) p.push(f.config([['a', 'b'], ['c']], [0, 2], { a: 1, b: 1, c: 1 }));
  await allAnswer(client, '0', ['a', 'b']);
  assertShares(await tally(client, '0'), { a: 1, b: 1 });
});

