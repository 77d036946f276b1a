import { writeFileSync, renameSync } from 'node:fs';
import { startServer } from '../src/app/runner.js';
import { serveStages } from '../src/app/wiring.js';
import { XdsTestClient } from '../test/support/xds-client/xds-client.js';
function topology(shards: number, replicas: number, n: number): string {
  const lines = [`shards: ${shards}`, `replicas: ${replicas}`, 'endpoints:'];
  for (let i = 0; i < n; i++) lines.push(`  - {id: cache-${i}, address: 10.0.${(i >> 8) & 255}.${i & 255}, port: 7000, locality: {region: r, zone: z${i % 3}, subzone: f${i % 12}}}`);
  return lines.join('\n') + '\n';
}
const file = '/tmp/budget/gap.yaml';
writeFileSync(file, topology(1024, 2, 12));
const server = await startServer({ configFile: file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', stages: serveStages(), fileWatch: { pollIntervalMs: 100 } });
const envoy = new XdsTestClient({ port: server.listening.xdsPort!, node: { id: 'e', userAgentName: 'envoy' } });
envoy.request('listener'); await envoy.expect('listener'); envoy.ack('listener');
const [S, R, N] = process.argv[2]!.split('x').map(Number);
const { Session } = await import('node:inspector/promises');
const session = new Session(); session.connect();
await session.post('Profiler.enable'); await session.post('Profiler.start');
let last = performance.now(); let worst = 0;
const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; }, 5);
writeFileSync('/tmp/budget/gap.tmp', topology(S!, R!, N!)); renameSync('/tmp/budget/gap.tmp', file);
const t0 = performance.now();
while (server.state.current()?.map.policy.shardCount !== S) await new Promise((r) => setTimeout(r, 20));
await envoy.expect('listener', 60000);
await new Promise((r) => setTimeout(r, 500));
clearInterval(timer);
const { profile } = await session.post('Profiler.stop');
console.log(`converged in ${(performance.now() - t0).toFixed(0)} ms, worst loop gap ${worst.toFixed(0)} ms`);
// self time per function
const self = new Map<string, number>();
const dt = profile.timeDeltas!; const samples = profile.samples!;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
samples.forEach((id, i) => { const n = byId.get(id)!; const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + (dt[i] ?? 0) / 1000); });
console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => `${v.toFixed(0)}ms ${k}`).join('\n'));
envoy.close(); await server.close();
