/**
 * Random sequences of topology changes for the snapshot cache's differential tests
 * (differential.test.ts): a fleet state, one change at a time (a node's field, a node joining or
 * leaving, ownership moves, hot-shard readers, a handoff step, the xDS settings), turned into the
 * translator's input and the proxy classes that would be connected to it.
 */
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { HandoffState, ShardDrain, ShardTransition } from '../../../src/core/handoff.js';
import type { ShardMap } from '../../../src/core/shard-map.js';
import { DEFAULT_XDS_SETTINGS, type XdsSettings } from '../../../src/core/settings.js';
import { compareStrings } from '../../../src/core/order.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import type { TranslatorInput } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import type { Rng } from '../../support/seeded-random.js';

/** Everything a step is made from; plain data, so it can be sent to another process as JSON. */
export interface FleetState {
  readonly nodes: readonly Endpoint[];
  readonly shardCount: number;
  readonly replicas: number;
  /** Hand-made owner lists (ids, primary first), or null: computed by hash contract 2. */
  readonly owners: readonly (readonly string[])[] | null;
  /** Hot shards: [shard, readers] pairs. */
  readonly readers: readonly (readonly [number, number])[];
  readonly transitions: readonly ShardTransition[];
  readonly drains: readonly ShardDrain[];
  readonly xds: XdsSettings;
}

const IDS = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'odd/id:1', 'Z.last'];
const ZONES = ['', 'za', 'zb', 'zc'];
const SUBZONES = ['', 'nvl-1', 'nvl-2', 'nvl-3'];

function address(rng: Rng, i: number): string {
  return rng.pick([`10.0.0.${i + 1}`, `10.0.1.${i + 1}`, `fd00::${i + 1}`, `::ffff:10.0.2.${i + 1}`, `10.0.0.${(i % 3) + 1}`]);
}

function node(rng: Rng, id: string, i: number): Endpoint {
  const ready = rng.chance(0.85);
  return {
    id,
    address: address(rng, i),
    port: rng.pick([8080, 8081, 1, 65535]),
    locality: { region: rng.pick(['r', 'r2']), zone: rng.pick(ZONES), subzone: rng.pick(SUBZONES) },
    weight: rng.pick([1, 2, 0.5, 0, 1.004, 1.006, 1e7]),
    ready,
    ...(!ready && rng.chance(0.5) ? { draining: true } : {}),
  };
}

export function initialState(rng: Rng): FleetState {
  const n = 2 + rng.int(5);
  const nodes = IDS.slice(0, n).map((id, i) => node(rng, id, i));
  return { nodes, shardCount: rng.pick([4, 8, 16]), replicas: 1 + rng.int(3), owners: null, readers: [], transitions: [], drains: [], xds: DEFAULT_XDS_SETTINGS };
}

/** A random list of owners: known ids mostly, sometimes one the map does not list. */
function ownerList(rng: Rng, state: FleetState): string[] {
  const pool = [...state.nodes.map((e) => e.id), 'ghost'];
  const out: string[] = [];
  const want = rng.int(state.replicas + 2);
  for (let i = 0; i < want; i++) {
    const id = rng.pick(pool);
    if (!out.includes(id)) out.push(id);
  }
  return out;
}

function currentOwners(state: FleetState): readonly (readonly string[])[] {
  return state.owners ?? mapOf(state).owners;
}

/** One random change to the fleet; its name says what it changed (for failure messages). */
export function nextState(rng: Rng, state: FleetState): { state: FleetState; change: string } {
  const nodes = [...state.nodes];
  const pick = (): number => rng.int(nodes.length);
  switch (rng.int(14)) {
    case 0: {
      const i = pick();
      nodes[i] = { ...nodes[i]!, weight: rng.pick([1, 2, 0.5, 0, 1.004, 1.006, 3]) };
      return { state: { ...state, nodes }, change: `weight of ${nodes[i]!.id}` };
    }
    case 1: {
      const i = pick();
      nodes[i] = { ...nodes[i]!, address: address(rng, i), port: rng.pick([8080, 8081]) };
      return { state: { ...state, nodes }, change: `address of ${nodes[i]!.id}` };
    }
    case 2: {
      const i = pick();
      const l = nodes[i]!.locality;
      // Locality strings are free text: two whose fields joined with NUL are one text, now and then.
      const odd = rng.chance(0.2) ? rng.pick([{ ...l, zone: 'za\u0000nvl-1', subzone: '' }, { ...l, zone: 'za', subzone: 'nvl-1\u0000' }]) : undefined;
      nodes[i] = { ...nodes[i]!, locality: odd ?? (rng.chance(0.5) ? { ...l, zone: rng.pick(ZONES) } : { ...l, subzone: rng.pick(SUBZONES) }) };
      return { state: { ...state, nodes }, change: `locality of ${nodes[i]!.id}` };
    }
    case 3: {
      const i = pick();
      const ready = !nodes[i]!.ready;
      const { draining: _, ...rest } = nodes[i]!;
      nodes[i] = { ...rest, ready, ...(!ready && rng.chance(0.5) ? { draining: true } : {}) };
      return { state: { ...state, nodes }, change: `readiness of ${nodes[i]!.id}` };
    }
    case 4: {
      const free = IDS.filter((id) => !nodes.some((e) => e.id === id));
      if (free.length === 0) return nextState(rng, state);
      const id = rng.pick(free);
      nodes.push(node(rng, id, IDS.indexOf(id)));
      return { state: { ...state, nodes }, change: `${id} joins` };
    }
    case 5: {
      if (nodes.length <= 1) return nextState(rng, state);
      const [gone] = nodes.splice(pick(), 1);
      return { state: { ...state, nodes }, change: `${gone!.id} leaves` };
    }
    case 6:
    case 7: {
      const owners = currentOwners(state).map((o) => [...o]);
      const moved = 1 + rng.int(3);
      for (let i = 0; i < moved; i++) owners[rng.int(owners.length)] = ownerList(rng, state);
      return { state: { ...state, owners }, change: `${moved} shards move` };
    }
    case 8:
      return { state: { ...state, owners: null }, change: 'owners by hash contract 2' };
    case 9: {
      const readers = new Map(state.readers);
      const shard = rng.int(state.shardCount);
      if (readers.has(shard) && rng.chance(0.5)) readers.delete(shard);
      else readers.set(shard, 2 + rng.int(2));
      return { state: { ...state, readers: [...readers].sort((a, b) => a[0] - b[0]) }, change: `readers of shard ${shard}` };
    }
    case 10: {
      // A handoff step: some shards warming on a node, some drains (the agents' resources).
      const owners = currentOwners(state);
      const transitions: ShardTransition[] = [];
      const drains: ShardDrain[] = [];
      for (let shard = 0; shard < state.shardCount; shard++) {
        if (rng.chance(0.2)) {
          const warming = rng.pick(nodes).id;
          transitions.push({ shard, from: owners[shard] ?? [], to: [warming], warming, startedAt: 1000, deadline: rng.pick([31_000, 32_000]) });
        } else if (rng.chance(0.1)) {
          drains.push({ shard, node: rng.pick(nodes).id, until: rng.pick([40_000, 41_000]) });
        }
      }
      return { state: { ...state, transitions, drains }, change: `handoff: ${transitions.length} transitions, ${drains.length} drains` };
    }
    case 11: {
      const envoy = state.xds.envoy;
      const next = rng.pick([
        { ...envoy, missingHeader: envoy.missingHeader === 'any' ? ('reject' as const) : ('any' as const) },
        { ...envoy, routeShape: envoy.routeShape === 'table' ? ('subset' as const) : ('table' as const) },
        { ...envoy, upstreamProtocol: envoy.upstreamProtocol === 'http1' ? ('http2' as const) : ('http1' as const) },
        { ...envoy, listenerPort: envoy.listenerPort === 10000 ? 10001 : 10000 },
        { ...envoy }, // a reload that changes nothing: a new object, the same content
      ]);
      return { state: { ...state, xds: { ...state.xds, envoy: next } }, change: 'envoy settings' };
    }
    case 12: {
      const xds = rng.chance(0.5)
        ? { ...state.xds, service: state.xds.service === 'keyway-cache' ? 'svc.b' : 'keyway-cache' }
        : { ...state.xds, routing: { keyHeader: state.xds.routing.keyHeader === 'x-cache-key' ? 'x-key' : 'x-cache-key' } };
      return { state: { ...state, xds }, change: 'service or key header' };
    }
    default: {
      // S and R change together with the whole map (a new deployment).
      return { state: { ...state, shardCount: rng.pick([4, 8, 16]), replicas: 1 + rng.int(3), owners: null, readers: [], transitions: [], drains: [] }, change: 'S and R' };
    }
  }
}

export function mapOf(state: FleetState): ShardMap {
  const policy = { shardCount: state.shardCount, replicas: state.replicas, spread: 'none' as const };
  const sorted = [...state.nodes].sort((a, b) => compareStrings(a.id, b.id));
  const base: ShardMap = state.owners
    ? { version: 'hand', policy, endpoints: sorted, owners: state.owners.slice(0, state.shardCount), warnings: [] }
    : computeShardMap(sorted, policy);
  const owners = Array.from({ length: state.shardCount }, (_, s) => base.owners[s] ?? []);
  const readers = state.readers.filter(([s]) => s < state.shardCount);
  return { ...base, owners, ...(readers.length > 0 ? { readers: new Map(readers) } : {}) };
}

/** The translator's input of `state`; every object new, as a fresh parse of the same files gives. */
export function inputOf(state: FleetState): TranslatorInput {
  const shardMap = mapOf(state);
  const handoff: HandoffState | undefined =
    state.transitions.length + state.drains.length > 0
      ? {
          enabled: true,
          target: shardMap,
          transitions: state.transitions.filter((t) => t.shard < state.shardCount),
          drains: state.drains.filter((d) => d.shard < state.shardCount),
          started: [],
          completed: [],
        }
      : undefined;
  const xds: XdsSettings = { service: state.xds.service, envoy: { ...state.xds.envoy }, routing: { ...state.xds.routing } };
  return { shardMap, topology: { policy: shardMap.policy, endpoints: state.nodes, xds }, handoff };
}

/** The proxies connected at every step: every flavor, every zone and fabric (known or not), every node's agent. */
export function proxyClasses(): ProxyClass[] {
  const out: ProxyClass[] = [{ flavor: 'envoy', zone: 'za', subzone: 'nvl-1' }, { flavor: 'grpc', zone: '', subzone: '', picker: true }];
  for (const zone of [...ZONES, 'nowhere']) for (const subzone of [...SUBZONES, 'nvl-9']) out.push({ flavor: 'grpc', zone, subzone });
  out.push({ flavor: 'grpc', zone: 'za\u0000nvl-1', subzone: '' }, { flavor: 'grpc', zone: 'za', subzone: 'nvl-1\u0000' });
  for (const node of [...IDS, 'ghost']) out.push({ flavor: 'agent', zone: '', subzone: '', node });
  return out;
}
