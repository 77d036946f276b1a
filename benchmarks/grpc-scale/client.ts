/**
 * The benchmark's gRPC client, in a process of its own so its CPU is its own: @grpc/grpc-js-xds
 * (stock, or with `keyway/grpc`'s shard picker when argv[3] is `picker`) dials argv[2]. Commands on
 * stdin, one JSON per line, answers on stdout:
 *   {"probe": [[shard, "node-7"], ...], "timeoutMs": n} -> calls each shard (x-cache-shard) until it
 *     answers from the expected server: {"done": true, "ms": wall, "cpuMs": CPU so far}
 *   {"cpu": true} -> {"cpuMs": CPU so far}
 * CPU is the process's user + system time since the modules loaded.
 */
import { createInterface } from 'node:readline';
import { Client, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { registerShardPicker } from '../../src/grpc/index.js';

export const WHO_METHOD = '/keyway.bench.Cache/Who';
const raw = (b: Buffer): Buffer => b;
const [target, mode] = process.argv.slice(2);
if (!target) throw new Error('usage: client.ts xds:///TARGET [picker|stock]');
xds.register();
if (mode === 'picker') registerShardPicker();
const client = new Client(target, credentials.createInsecure());

const processCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
// Counted from here: loading tsx, grpc-js and grpc-js-xds is the same for both modes and no xDS work.
const loadedAt = processCpuMs();
const cpuMs = (): number => processCpuMs() - loadedAt;

function who(shard: number): Promise<string> {
  const md = new Metadata();
  md.set('x-cache-shard', String(shard));
  return new Promise((resolve) => {
    client.makeUnaryRequest(WHO_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 1000 }, (err: ServiceError | null, value?: Buffer) =>
      resolve(err ? `error: ${err.message}` : value!.toString()),
    );
  });
}

async function probe(pairs: [number, string][], timeoutMs: number): Promise<{ done: boolean; ms: number; last?: string }> {
  const start = performance.now();
  let pending = pairs;
  let last = '';
  while (pending.length > 0) {
    if (performance.now() - start > timeoutMs) return { done: false, ms: performance.now() - start, last };
    const answers = await Promise.all(pending.map(([shard]) => who(shard)));
    const left = pending.filter(([, expected], i) => answers[i] !== expected);
    if (left.length > 0) last = `shard ${left[0]![0]}: ${answers[pending.indexOf(left[0]!)]}`;
    pending = left;
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 20));
  }
  return { done: true, ms: performance.now() - start };
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const cmd = JSON.parse(line) as { probe?: [number, string][]; timeoutMs?: number; cpu?: boolean };
  if (cmd.probe) {
    void probe(cmd.probe, cmd.timeoutMs ?? 60_000).then((r) => process.stdout.write(`${JSON.stringify({ ...r, cpuMs: cpuMs() })}\n`));
  } else process.stdout.write(`${JSON.stringify({ cpuMs: cpuMs() })}\n`);
});
lines.on('close', () => {
  client.close();
  process.exit(0);
});
