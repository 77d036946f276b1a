/**
 * The picker writes each endpoint as Envoy spells that host's address: Envoy's override_host
 * policy looks the picked `ip:port` up by that exact string among the pool's hosts, so an IPv6
 * address spelled otherwise in the topology (`2001:DB8:0::1`, `0:0:0:0:0:0:0:1`) matched no host
 * and every request went to the fallback policy's choice (any pool endpoint), the subset hint a
 * gateway wrote in its own spelling allowed no owner (503), and every served response counted as
 * `elsewhere`. Checked against the spellings Envoy 1.40 printed for these hosts (`/clusters`), then
 * on real Envoy.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { startEnvoy, envoySkipReason, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { gatewayBootstrap } from '../../e2e/support/ext-proc-gateway.js';
import { freePorts } from '../../e2e/support/ports.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ServingView } from '../../src/core/serving.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { hostPort, pickEndpoints, pickTable, startExtProcServer, subsetHint, type ExtProcServer, type ServedBy } from '../../src/extproc/index.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { oneNodeState } from './three-nodes.js';

/** Topology spelling, and the host Envoy 1.40 listed for it in `/clusters` (glibc inet_ntop). */
const ENVOY_SPELLINGS: readonly (readonly [string, string])[] = [
  ['2001:DB8:0:0::1', '[2001:db8::1]:7000'],
  ['0:0:0:0:0:0:0:1', '[::1]:7000'],
  ['2001:db8:0:1:0:0:0:5', '[2001:db8:0:1::5]:7000'],
  ['1:0:0:2:0:0:3:4', '[1::2:0:0:3:4]:7000'],
  ['1:2:3:4:5:6:7:0', '[1:2:3:4:5:6:7:0]:7000'],
  ['0:0:0:0:0:1:0:0', '[::1:0:0]:7000'],
  ['::ffff:10.0.0.1', '[::ffff:10.0.0.1]:7000'],
  ['::FFFF:a00:1', '[::ffff:10.0.0.1]:7000'],
  ['::ffff:0:5', '[::ffff:0.0.0.5]:7000'],
  ['::ffff:5', '[::255.255.0.5]:7000'],
  ['::102:304', '[::1.2.3.4]:7000'],
  ['::102:0', '[::1.2.0.0]:7000'],
  ['::5', '[::5]:7000'],
  ['10.0.0.1', '10.0.0.1:7000'],
];

test('an endpoint is written as Envoy spells its host, whatever spelling the topology used', () => {
  for (const [address, envoy] of ENVOY_SPELLINGS) assert.equal(hostPort(address, 7000), envoy, address);
});

test('a subset hint matches the owners however the gateway spelled their addresses', () => {
  const endpoints: Endpoint[] = [{ id: 'n0', address: '2001:DB8:0:0::1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true }];
  const policy = { shardCount: 4, replicas: 1, spread: 'none' as const };
  const view: ServingView = { sequence: 1, map: computeShardMap(endpoints, policy), topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints }, updatedAt: new Date(0) };
  const header = (name: string) => (name === 'x-cache-shard' ? ['0'] : undefined);
  for (const entry of ['[2001:db8::1]:7000', '[2001:DB8:0:0::1]:7000', '2001:db8::1', '[2001:0db8::1]', '2001:DB8:0:0:0:0:0:1']) {
    const hint = subsetHint({ 'envoy.lb.subset_hint': { 'x-gateway-destination-endpoint-subset': [entry] } });
    assert.deepEqual(pickEndpoints(pickTable(view), header, hint), { kind: 'route', shard: 0, endpoints: ['[2001:db8::1]:7000'] }, entry);
  }
  const other = subsetHint({ 'envoy.lb.subset_hint': { 'x-gateway-destination-endpoint-subset': ['[2001:db8::1]:7001', '2001:db8::2'] } });
  assert.equal(pickEndpoints(pickTable(view), header, other).kind, 'unavailable');
});

const skip = envoySkipReason();
const servers: http.Server[] = [];
let picker: ExtProcServer | undefined;
let envoy: EnvoyProcess | undefined;
const served: ServedBy[] = [];
const ports = { plain: 0, hinted: 0 };
let owner = 0;

/** An upstream on ::1 that answers with its own port and reports itself as Envoy names it. */
function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const port = (server.address() as AddressInfo).port;
    req.resume();
    res.writeHead(200, { 'x-served-by': `[::1]:${port}` });
    res.end(String(port));
  });
  return new Promise((resolve) => server.listen(0, '::1', () => resolve(server)));
}

before(async () => {
  if (skip) return;
  for (let i = 0; i < 2; i++) servers.push(await startUpstream());
  owner = (servers[0]!.address() as AddressInfo).port;
  // The only endpoint: ::1, spelled out in full as a topology file may write it.
  const state = oneNodeState('0:0:0:0:0:0:0:1', owner);
  picker = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }), events: { decided: () => undefined, served: (by) => served.push(by) } });
  [ports.plain, ports.hinted] = (await freePorts(2)) as [number, number];
  const doc = gatewayBootstrap({
    listeners: [
      { name: 'plain', port: ports.plain, picker: 'picker' },
      // A gateway that allows the owner, in Envoy's own spelling.
      { name: 'hinted', port: ports.hinted, picker: 'picker', subsetHint: [`[::1]:${owner}`] },
    ],
    pickers: { picker: picker.port },
    // The pool: the owner and another endpoint, which override_host's fallback (round robin) would also take.
    backends: servers.map((s) => ({ address: '::1', port: (s.address() as AddressInfo).port })),
    servedHeader: 'x-served-by',
  });
  envoy = await startEnvoy({ bootstrap: doc });
});

after(async () => {
  await envoy?.stop();
  await picker?.close();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function get(port: number, shard: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { 'x-cache-shard': String(shard) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

test('behind real Envoy, a topology spelling ::1 in full routes every request to its owner and counts it as the primary', { skip, timeout: 60_000 }, async () => {
  for (const [name, port] of Object.entries(ports)) {
    for (let i = 0; i < 8; i++) {
      const r = await get(port, i % 4);
      assert.equal(r.status, 200, `${name}: ${r.body}`);
      assert.equal(r.body, String(owner), `${name}, request ${i}: served by the owner, not the fallback's choice`);
    }
  }
  assert.deepEqual(new Set(served), new Set(['primary']));
});
