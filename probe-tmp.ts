import { connect } from 'node:net';
import { buildAdminApp } from './src/admin/index.js';
import { ServingState } from './src/app/serving-state.js';
import { computeShardMap } from './src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS } from './src/core/settings.js';
const state = new ServingState();
const policy = { shardCount: 8, replicas: 1, spread: 'none' as const };
const map = computeShardMap([{ id: 'a', address: '10.0.0.1', port: 1, locality: { region: '', zone: '', subzone: '' }, weight: 1, ready: true }], policy);
state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
const app = await buildAdminApp(state);
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as { port: number }).port;
function raw(req: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(req));
    let out = ''; s.on('data', (d) => (out += d.toString())); s.on('close', () => resolve(out)); s.on('error', () => resolve(out + '[err]'));
    setTimeout(() => s.destroy(), 1500);
  });
}
const cases: [string, string][] = [
  ['bad url route', 'GET /v1/shards/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['bad url none', 'GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['long param', `GET /v1/shards/${'1'.repeat(150)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
  ['star', 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['absolute', 'GET http://x/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['no slash', 'GET healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['431', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\nConnection: close\r\n\r\n`],
  ['garbage', 'HELLO\r\n\r\n'],
  ['post body', 'POST /v1/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":'],
  ['lookup bad q', 'GET /v1/lookup?key=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['get body big', `GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n${'a'.repeat(100)}`],
];
for (const [n, r] of cases) { const out = await raw(r); console.log('==', n, '\n', out.split('\r\n')[0], '|', out.split('\r\n\r\n')[1]?.slice(0, 200)); }
await app.close();
