/**
 * The endpoint picker's decisions and its ext_proc answers (src/extproc, docs/gateways.md): the
 * shard of a request as keyway's Envoy filter reads it, the owners primary first, the subset hint,
 * the ImmediateResponses, body pass-through per body mode, the served-endpoint count and the
 * health statuses, without a gateway.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ServingView } from '../../src/core/serving.js';
import { DEFAULT_XDS_SETTINGS, type MissingHeaderPolicy } from '../../src/core/settings.js';
import { keyBytesToShard } from '../../src/sharding/key-to-shard.js';
import { healthOf, MAX_ANY_CANDIDATES, pickEndpoints, type PickDecision, pickTable, PickerStream, ServingStatus, subsetHint, type ServedBy } from '../../src/extproc/index.js';
import { decodeHealthRequest, encodeHealthResponse } from '../../src/extproc/health.js';
import { computeShardMap, keyToShard, murmur3x86_32 } from '../../src/sharding/index.js';
import { ProcessingRequestSchema, ProcessingResponseSchema, type ProcessingRequest } from '../../src/xds/proto.js';

const S = 32;

function endpoint(i: number, address = `10.0.0.${i + 1}`): Endpoint {
  return { id: `n${i}`, address, port: 8000 + i, locality: { region: 'r', zone: 'z', subzone: `s${i}` }, weight: 1, ready: true };
}

function view(endpoints: readonly Endpoint[], missingHeader: MissingHeaderPolicy = 'any'): ServingView {
  const policy = { shardCount: S, replicas: 2, spread: 'none' as const };
  const map = computeShardMap(endpoints, policy);
  const xds = { ...DEFAULT_XDS_SETTINGS, envoy: { ...DEFAULT_XDS_SETTINGS.envoy, missingHeader } };
  return { sequence: 1, map, topology: { policy, xds, endpoints }, updatedAt: new Date(0) };
}

const NODES = [0, 1, 2, 3].map((i) => endpoint(i));
const V = view(NODES);
const addr = (id: string): string => {
  const e = NODES.find((n) => n.id === id)!;
  return `${e.address}:${e.port}`;
};
const owners = (shard: number): string[] => V.map.owners[shard]!.map(addr);
const routed = (d: PickDecision): readonly string[] | undefined => (d.kind === 'route' ? d.endpoints : undefined);
const headers = (h: Record<string, string | string[]>) => (name: string) => {
  const v = h[name];
  return v === undefined ? undefined : Array.isArray(v) ? v : [v];
};

test('the shard comes from x-cache-shard (canonical decimal in [0, S)), else from the key header; owners primary first', () => {
  const t = pickTable(V);
  for (let shard = 0; shard < S; shard++) {
    assert.deepEqual(pickEndpoints(t, headers({ 'x-cache-shard': String(shard) }), undefined), { kind: 'route', shard, endpoints: owners(shard) });
  }
  const key = 'user:{42}:cart';
  const d = pickEndpoints(t, headers({ 'x-cache-key': key }), undefined);
  assert.deepEqual(d, { kind: 'route', shard: keyToShard(key, S), endpoints: owners(keyToShard(key, S)) });
  // The shard header wins over the key, as in keyway's Envoy filter.
  assert.equal((pickEndpoints(t, headers({ 'x-cache-shard': '3', 'x-cache-key': key }), undefined) as { shard: number }).shard, 3);
  for (const bad of ['', '01', '+1', '-1', ' 1', '1.0', 'x', String(S), '99999999999', '0x1']) {
    assert.deepEqual(pickEndpoints(t, headers({ 'x-cache-shard': bad }), undefined), { kind: 'bad-request', status: 400, message: `x-cache-shard must be an integer in [0, ${S})\n` }, bad);
  }
  assert.equal(pickEndpoints(t, headers({ 'x-cache-shard': ['1', '1'] }), undefined).kind, 'bad-request');
  assert.deepEqual(pickEndpoints(t, headers({ 'x-cache-key': ['a', 'b'] }), undefined), { kind: 'bad-request', status: 400, message: 'x-cache-key must be sent once\n' });
});

test('a request naming no shard: any eligible endpoint (rotating first choice) or 400 under missingHeader reject', () => {
  const t = pickTable(V);
  const firsts = new Set<string>();
  for (let r = 0; r < 4; r++) {
    const d = pickEndpoints(t, headers({}), undefined, r);
    assert.equal(d.kind, 'route');
    if (d.kind === 'route') {
      assert.deepEqual([...d.endpoints].sort(), NODES.map((n) => `${n.address}:${n.port}`).sort());
      firsts.add(d.endpoints[0]!);
    }
  }
  assert.equal(firsts.size, 4);
  const reject = pickEndpoints(pickTable(view(NODES, 'reject')), headers({}), undefined);
  assert.equal(reject.kind, 'bad-request');
  assert.match((reject as { message: string }).message, /^missing x-cache-shard and x-cache-key headers/);
});

test('a request naming no shard in a large pool gets a bounded window of candidates, its first choice still rotating over every endpoint', () => {
  // 1200 endpoints put 18 KB in x-gateway-destination-endpoint, which upstreams refused (431).
  const pool = Array.from({ length: 1200 }, (_, i) => endpoint(i, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`));
  const t = pickTable(view(pool));
  const all = t.eligible;
  const firsts = new Set<string>();
  for (const r of [0, 1, 1199, 1190, 5000]) {
    const list = routed(pickEndpoints(t, headers({}), undefined, r))!;
    assert.equal(list.length, MAX_ANY_CANDIDATES, `rotation ${r}`);
    const start = r % all.length;
    assert.deepEqual(list, Array.from({ length: MAX_ANY_CANDIDATES }, (_, i) => all[(start + i) % all.length]), `rotation ${r}: consecutive, wrapping`);
  }
  for (let r = 0; r < all.length; r++) firsts.add(routed(pickEndpoints(t, headers({}), undefined, r))![0]!);
  assert.equal(firsts.size, all.length, 'every endpoint comes first in turn');
  const hinted = routed(pickEndpoints(t, headers({}), subsetHint({ 'envoy.lb.subset_hint': { 'x-gateway-destination-endpoint-subset': all.slice(0, 3).join(',') } }), 1));
  assert.deepEqual(hinted, [all[1], all[2], all[0]], 'a hint narrows first, then the window');
});

test('no eligible owner is 503: no ready endpoint, or a subset hint without the owners; the hint narrows the list, keeping its order', () => {
  const none = pickEndpoints(pickTable(view(NODES.map((n) => ({ ...n, ready: false })))), headers({ 'x-cache-shard': '1' }), undefined);
  assert.deepEqual(none, { kind: 'unavailable', status: 503, message: 'shard 1 has no owner\n' });
  const t = pickTable(V);
  const [primary, replica] = owners(5);
  const hint = (value: unknown) => subsetHint({ 'envoy.lb.subset_hint': { 'x-gateway-destination-endpoint-subset': value as never } });
  assert.deepEqual(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), hint([replica, '192.0.2.1:1'])), { kind: 'route', shard: 5, endpoints: [replica] });
  assert.deepEqual(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), hint(`${replica}, ${primary}`)), { kind: 'route', shard: 5, endpoints: [primary, replica] });
  // A bare IP allows every port of that host.
  assert.deepEqual(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), hint([primary!.split(':')[0]])), { kind: 'route', shard: 5, endpoints: [primary] });
  assert.equal(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), hint([])).kind, 'unavailable');
  assert.equal(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), hint(['192.0.2.1:1'])).kind, 'unavailable');
  assert.equal(subsetHint({}), undefined);
  assert.equal(subsetHint({ 'envoy.lb.subset_hint': {} }), undefined);
});

test('IPv6 endpoints are written in brackets, and a bracketed or bare IPv6 hint matches them', () => {
  const v6 = view([endpoint(0, 'fd00::1'), endpoint(1, 'fd00::2')]);
  const d = pickEndpoints(pickTable(v6), headers({ 'x-cache-shard': '0' }), undefined);
  assert.equal(d.kind, 'route');
  const list = (d as { endpoints: readonly string[] }).endpoints;
  assert.ok(list.every((e) => /^\[fd00::[12]\]:800[01]$/.test(e)), list.join());
  const hinted = (value: string) => pickEndpoints(pickTable(v6), headers({ 'x-cache-shard': '0' }), subsetHint({ 'envoy.lb.subset_hint': { 'x-gateway-destination-endpoint-subset': [value] } }));
  assert.deepEqual(routed(hinted(list[1]!)), [list[1]]);
  assert.deepEqual(routed(hinted(list[1]!.replace(/^\[(.*)\]:\d+$/, '$1'))), [list[1]]);
});

/** A ProcessingRequest as Envoy would send it (through the wire, so unknown fields are as Envoy's). */
function wire(req: ProcessingRequest, protocolConfig?: { request: number; response: number }): ProcessingRequest {
  const bytes = toBinary(ProcessingRequestSchema, req);
  if (!protocolConfig) return fromBinary(ProcessingRequestSchema, bytes);
  const inner = new BinaryWriter().tag(1, WireType.Varint).int32(protocolConfig.request).tag(2, WireType.Varint).int32(protocolConfig.response).finish();
  const extra = new BinaryWriter().tag(11, WireType.LengthDelimited).bytes(inner).finish();
  return fromBinary(ProcessingRequestSchema, new Uint8Array([...bytes, ...extra]));
}

function streamFor(events: { decided: string[]; served: ServedBy[] }) {
  return new PickerStream({
    table: () => pickTable(V),
    rotation: () => 0,
    events: { decided: (o) => events.decided.push(o), served: (b) => events.served.push(b) },
  });
}

const requestHeaders = (h: Record<string, string>, raw = true) =>
  create(ProcessingRequestSchema, {
    request: { case: 'requestHeaders', value: { headers: { headers: Object.entries(h).map(([key, v]) => (raw ? { key, rawValue: new TextEncoder().encode(v) } : { key, value: v })) } } },
  });

test('request headers: the owners go back as the header (overwritten) and as envoy.lb metadata, identical; errors as ImmediateResponse', () => {
  const events = { decided: [] as string[], served: [] as ServedBy[] };
  for (const raw of [true, false]) {
    const res = streamFor(events).answer(wire(requestHeaders({ ':path': '/', 'x-cache-shard': '7' }, raw)))!;
    const again = fromBinary(ProcessingResponseSchema, toBinary(ProcessingResponseSchema, res));
    assert.equal(again.response.case, 'requestHeaders');
    const set = again.response.case === 'requestHeaders' ? again.response.value.response!.headerMutation!.setHeaders : [];
    assert.equal(set.length, 1);
    assert.equal(set[0]!.header!.key, 'x-gateway-destination-endpoint');
    assert.equal(new TextDecoder().decode(set[0]!.header!.rawValue), owners(7).join(','));
    assert.equal(set[0]!.appendAction, 2, 'OVERWRITE_IF_EXISTS_OR_ADD');
    assert.deepEqual(again.dynamicMetadata, { 'envoy.lb': { 'x-gateway-destination-endpoint': owners(7).join(',') } });
  }
  const bad = streamFor(events).answer(wire(requestHeaders({ 'x-cache-shard': 'seven' })))!;
  assert.equal(bad.response.case, 'immediateResponse');
  if (bad.response.case === 'immediateResponse') {
    assert.equal(bad.response.value.status?.code, 400);
    assert.equal(new TextDecoder().decode(bad.response.value.body), `x-cache-shard must be an integer in [0, ${S})\n`);
  }
  const noMap = new PickerStream({ table: () => undefined, rotation: () => 0 }).answer(wire(requestHeaders({ 'x-cache-shard': '1' })))!;
  assert.equal(noMap.response.case === 'immediateResponse' ? noMap.response.value.status?.code : 0, 503);
  assert.deepEqual(events.decided, ['route', 'route', 'bad-request']);
});

test('bodies: echoed as streamed_response in FULL_DUPLEX_STREAMED (announced or assumed), an empty BodyResponse otherwise; trailers pass', () => {
  const body = new Uint8Array([1, 2, 3, 250]);
  const chunk = (s: PickerStream, first: ProcessingRequest) => {
    s.answer(first);
    return s.answer(wire(create(ProcessingRequestSchema, { request: { case: 'requestBody', value: { body, endOfStream: true } } })))!;
  };
  /** The streamed_response (BodyMutation field 3) of an answer, decoded from the wire. */
  const streamed = (res: ReturnType<PickerStream['answer']>) => {
    const bytes = toBinary(ProcessingResponseSchema, res!);
    const back = fromBinary(ProcessingResponseSchema, bytes);
    const mutation = back.response.case === 'requestBody' ? back.response.value.response?.bodyMutation : undefined;
    const field = mutation?.$unknown?.find((f) => f.no === 3);
    if (!field) return undefined;
    const r = new BinaryReader(field.data);
    const end = r.uint32() + r.pos;
    const out: { body: Uint8Array; endOfStream: boolean } = { body: new Uint8Array(), endOfStream: false };
    while (r.pos < end) {
      const [no] = r.tag();
      if (no === 1) out.body = r.bytes();
      else out.endOfStream = r.bool();
    }
    return out;
  };
  const ev = { decided: [], served: [] };
  const duplex = streamed(chunk(streamFor(ev), wire(requestHeaders({ 'x-cache-shard': '1' }), { request: 4, response: 4 })));
  assert.deepEqual(duplex, { body, endOfStream: true });
  assert.deepEqual(streamed(chunk(streamFor(ev), wire(requestHeaders({ 'x-cache-shard': '1' })))), { body, endOfStream: true }, 'assumed when not announced');
  const plain = chunk(streamFor(ev), wire(requestHeaders({ 'x-cache-shard': '1' }), { request: 1, response: 1 }));
  assert.equal(plain.response.case, 'requestBody');
  assert.equal(streamed(plain), undefined, 'STREAMED mode: no mutation');
  const withTrailers = streamFor(ev);
  withTrailers.answer(wire(requestHeaders({ 'x-cache-shard': '1' })));
  const trailers = withTrailers.answer(wire(create(ProcessingRequestSchema, { request: { case: 'requestTrailers', value: {} } })))!;
  assert.equal(trailers.response.case, 'requestTrailers');
  const observed = streamFor(ev).answer(wire(create(ProcessingRequestSchema, { ...requestHeaders({ 'x-cache-shard': '1' }), observabilityMode: true })));
  assert.equal(observed, undefined, 'observability mode expects no answer');
});

test('response headers: the served endpoint counts as primary, replica or elsewhere against the answer', () => {
  const events = { decided: [] as string[], served: [] as ServedBy[] };
  const [primary, replica] = owners(9);
  for (const served of [primary, replica, '192.0.2.9:1', undefined]) {
    const s = streamFor(events);
    s.answer(wire(requestHeaders({ 'x-cache-shard': '9' })));
    const res = s.answer(
      wire(
        create(ProcessingRequestSchema, {
          request: { case: 'responseHeaders', value: {} },
          metadataContext: { filterMetadata: served ? { 'envoy.lb': { 'x-gateway-destination-endpoint-served': served } } : {} },
        }),
      ),
    )!;
    assert.equal(res.response.case, 'responseHeaders');
  }
  assert.deepEqual(events.served, ['primary', 'replica', 'elsewhere']);
});

test('health: liveness always serves, readiness and the ext_proc service once a map is held; unknown services are unknown', () => {
  assert.equal(healthOf('liveness', false), ServingStatus.SERVING);
  for (const s of ['', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor']) {
    assert.equal(healthOf(s, true), ServingStatus.SERVING, s);
    assert.equal(healthOf(s, false), ServingStatus.NOT_SERVING, s);
  }
  assert.equal(healthOf('other', true), ServingStatus.SERVICE_UNKNOWN);
  assert.deepEqual(decodeHealthRequest(new BinaryWriter().tag(1, WireType.LengthDelimited).string('readiness').finish()), { service: 'readiness' });
  assert.deepEqual([...encodeHealthResponse(ServingStatus.NOT_SERVING)], [8, 2]);
});

test('a stream is done once both directions ended (a headers-only stream waits for Envoy), or after an ImmediateResponse', () => {
  const ev = { decided: [] as string[], served: [] as ServedBy[] };
  const headersOnly = streamFor(ev);
  headersOnly.answer(wire(requestHeaders({ 'x-cache-shard': '1' }), { request: 0, response: 0 }));
  assert.equal(headersOnly.done, false, 'response headers may still come: Envoy half-closes when they do not');
  headersOnly.answer(wire(create(ProcessingRequestSchema, { request: { case: 'responseHeaders', value: {} } })));
  assert.equal(headersOnly.done, true, 'no response body announced: done after the response headers');
  const duplex = streamFor(ev);
  duplex.answer(wire(requestHeaders({ 'x-cache-shard': '1' }), { request: 4, response: 4 }));
  const step = (c: 'requestBody' | 'responseBody', endOfStream: boolean) =>
    duplex.answer(wire(create(ProcessingRequestSchema, { request: { case: c, value: { body: new Uint8Array([1]), endOfStream } } })));
  step('requestBody', false);
  step('requestBody', true);
  duplex.answer(wire(create(ProcessingRequestSchema, { request: { case: 'responseHeaders', value: {} } })));
  step('responseBody', false);
  assert.equal(duplex.done, false, 'the response body is still streaming');
  step('responseBody', true);
  assert.equal(duplex.done, true);
  const rejected = streamFor(ev);
  rejected.answer(wire(requestHeaders({ 'x-cache-shard': 'x' }), { request: 4, response: 4 }));
  assert.equal(rejected.done, true, 'an ImmediateResponse ends the exchange');
});

test('a request body still streaming when the response headers come keeps the stream open (an early answer, a bidirectional stream)', () => {
  const ev = { decided: [] as string[], served: [] as ServedBy[] };
  for (const mode of [1, 4]) {
    // Request bodies through the picker, no response body: the response is over at its headers, the request is not.
    const s = streamFor(ev);
    s.answer(wire(requestHeaders({ 'x-cache-shard': '1' }), { request: mode, response: 0 }));
    const body = (endOfStream: boolean) => s.answer(wire(create(ProcessingRequestSchema, { request: { case: 'requestBody', value: { body: new Uint8Array([1]), endOfStream } } })));
    body(false);
    s.answer(wire(create(ProcessingRequestSchema, { request: { case: 'responseHeaders', value: {} } })));
    assert.equal(s.done, false, `mode ${mode}: request body chunks still go through keyway`);
    assert.equal(body(false)?.response.case, 'requestBody');
    body(true);
    assert.equal(s.done, true, `mode ${mode}: both directions over`);
  }
});

test('a key header is hashed as the bytes Envoy sent (raw_value), as keyway\'s Lua filter does: Latin-1 bytes and a leading BOM included', () => {
  const ev = { decided: [] as string[], served: [] as ServedBy[] };
  // `café` written as Latin-1 (what Node's http and many clients put on the wire), a key with a UTF-8 BOM, a Latin-1 tag.
  for (const bytes of [[0x63, 0x61, 0x66, 0xe9], [0xef, 0xbb, 0xbf, 0x61], [0x7b, 0xe9, 0x7d, 0x78]]) {
    const raw = new Uint8Array(bytes);
    const tagged = raw[0] === 0x7b ? raw.subarray(1, 2) : raw;
    const shard = murmur3x86_32(tagged) % S;
    assert.equal(keyBytesToShard(raw, S), shard);
    const req = create(ProcessingRequestSchema, { request: { case: 'requestHeaders', value: { headers: { headers: [{ key: 'x-cache-key', rawValue: raw }] } } } });
    const res = streamFor(ev).answer(wire(req))!;
    assert.deepEqual(res.dynamicMetadata, { 'envoy.lb': { 'x-gateway-destination-endpoint': owners(shard).join(',') } }, `bytes ${bytes.join(' ')}`);
  }
  // UTF-8 keys hash as hash contract 1 on their text.
  assert.equal(keyBytesToShard(new TextEncoder().encode('user:{42}:cart ✓'), S), keyToShard('user:{42}:cart ✓', S));
});

test('a hot shard\'s readers take turns in front, by weight (docs/hot-shards.md); the other owners follow, primary first; other shards keep the primary first', () => {
  const weighted = [0, 1, 2, 3].map((i) => ({ ...endpoint(i), weight: i + 1 }));
  const policy = { shardCount: S, replicas: 3, spread: 'none' as const };
  const plain = computeShardMap(weighted, policy);
  const map = { ...plain, readers: new Map([[5, 2]]) };
  const hot: ServingView = { sequence: 1, map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: weighted }, updatedAt: new Date(0) };
  const t = pickTable(hot);
  const address = (id: string) => `${weighted.find((e) => e.id === id)!.address}:${weighted.find((e) => e.id === id)!.port}`;
  const [p, r1, r2] = map.owners[5]!.map(address);
  const weightOf = (id: string) => weighted.find((e) => e.id === id)!.weight;
  const [wp, wr] = [weightOf(map.owners[5]![0]!), weightOf(map.owners[5]![1]!)];
  const firsts = new Map<string, number>();
  const N = 1000;
  for (let r = 0; r < N; r++) {
    const d = routed(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), undefined, r))!;
    assert.ok(d[0] === p ? d.join() === [p, r1, r2].join() : d.join() === [r1, p, r2].join(), d.join());
    firsts.set(d[0]!, (firsts.get(d[0]!) ?? 0) + 1);
    assert.equal(routed(pickEndpoints(t, headers({ 'x-cache-shard': '6' }), undefined, r))![0], address(map.owners[6]![0]!));
  }
  assert.equal(firsts.size, 2);
  const share = firsts.get(r1!)! / N;
  assert.ok(Math.abs(share - wr / (wp + wr)) < 0.02, `reader share ${share}, weights ${wp}:${wr}`);
});

test('a hot shard\'s readers are drawn by load-balancing weight, as Envoy and the shard pickers draw them (capped: large weights split evenly), and built once per table', () => {
  // Every weight here is above lbWeight's cap, so Envoy's subset LB and the gRPC pickers split 1:1.
  const weighted = [0, 1, 2, 3].map((i) => ({ ...endpoint(i), weight: (i + 1) * 10_000 }));
  const policy = { shardCount: S, replicas: 3, spread: 'none' as const };
  const map = { ...computeShardMap(weighted, policy), readers: new Map([[5, 2]]) };
  const t = pickTable({ sequence: 1, map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: weighted }, updatedAt: new Date(0) });
  assert.equal(t.readerWeights(5), t.readerWeights(5), 'the weights of a hot shard are kept, not rebuilt per request');
  const primary = t.owners(5)[0];
  const N = 1000;
  let front = 0;
  for (let r = 0; r < N; r++) if (routed(pickEndpoints(t, headers({ 'x-cache-shard': '5' }), undefined, r))![0] === primary) front++;
  assert.ok(Math.abs(front / N - 0.5) < 0.03, `primary in front ${front} of ${N}, weights ${map.owners[5]!.slice(0, 2).join(',')}`);
});
